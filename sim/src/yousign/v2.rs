//! The legacy v2 API at the root: `GET /users` (a plain array of `UserOutput`),
//! `GET /procedures` (page-number pagination with the `X-Yousign-Pagination-*` headers, date
//! filters, `order[createdAt]`) and `GET /members?procedure=…`, in the v2.1 Swagger's names
//! with IRI ids (`/users/…`, `/procedures/…`). Procedures mirror the v3 requests (a v2
//! procedure has no `canceled` status, so canceled requests are not listed).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::YousignSim;
use super::json::ts;
use super::model::{Org, Request, SignerStatus};

type Pairs = Query<Vec<(String, String)>>;

fn bad(detail: &str) -> Response {
    let body = json!({"type": "https://tools.ietf.org/html/rfc2616#section-10", "title": "An error occurred", "detail": detail});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn procedure_status(r: &Request) -> Option<&'static str> {
    match r.status {
        "draft" => Some("draft"),
        "ongoing" => Some("active"),
        "done" => Some("finished"),
        "expired" => Some("expired"),
        "declined" => Some("refused"),
        _ => None,
    }
}

/// `GET /users`.
pub(super) async fn users(State(sim): State<YousignSim>) -> Response {
    let data: Vec<Value> = {
        let org = sim.org();
        org.users
            .iter()
            .map(|u| {
                json!({
                    "id": format!("/users/{}", u.id),
                    "firstname": u.first_name,
                    "lastname": u.last_name,
                    "fullName": format!("{} {}", u.first_name, u.last_name),
                    "email": u.email,
                    "status": if u.status == "completed" { "activated" } else { "not_activated" },
                    "organization": format!("/organizations/{}", org.organization_id),
                    "workspaces": org.workspaces.iter().map(|w| json!({"id": w, "name": "Main workspace"})).collect::<Vec<_>>(),
                    "permission": if u.role == "member" { "ROLE_USER" } else { "ROLE_ADMIN" },
                    "group": {
                        "id": super::seed::uuid(org.seed, "group", &[u64::from(u.role == "member")]),
                        "name": if u.role == "member" { "Member" } else { "Administrator" },
                        "permissions": if u.role == "member" { json!(["procedure_write", "sign"]) } else { json!(["procedure_write", "sign", "user", "api_key", "workspace"]) },
                    },
                    "createdAt": ts(u.created_at),
                    "updatedAt": ts(u.updated_at),
                    "deleted": false,
                    "config": {},
                    "notifications": {"procedure": true},
                    "fastSign": false,
                })
            })
            .collect()
    };
    sim.served("v2 users", data.len());
    Json(data).into_response()
}

fn members_of(r: &Request) -> Vec<Value> {
    r.signers
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let status = match s.status {
                SignerStatus::Signed => "done",
                SignerStatus::Declined => "refused",
                SignerStatus::Notified if s.link_opened_at.is_some() => "processing",
                _ => "pending",
            };
            let modes: Vec<&str> = match s.auth_mode {
                "otp_sms" => vec!["sms"],
                "otp_email" => vec!["email"],
                _ => Vec::new(),
            };
            let mut m = json!({
                "id": format!("/members/{}", s.id),
                "type": "signer",
                "firstname": s.first_name,
                "lastname": s.last_name,
                "email": s.email,
                "phone": s.phone,
                "position": k + 1,
                "createdAt": ts(r.created_at),
                "updatedAt": ts(s.signed_at.or(s.link_opened_at).unwrap_or(r.created_at)),
                "status": status,
                "fileObjects": [],
                "procedure": format!("/procedures/{}", r.id),
                "operationLevel": if modes.is_empty() { "none" } else { "custom" },
                "operationCustomModes": modes,
            });
            if let Some((_, reason)) = r.decline.filter(|(d, _)| *d == k) {
                m["comment"] = json!(reason);
            }
            m
        })
        .collect()
}

fn procedure(org: &Org, r: &Request, status: &str) -> Value {
    let creator = org.users.get(r.sender);
    let finished = match status {
        "finished" => r.completed_at,
        "refused" => r.declined_at,
        _ => None,
    };
    let workspace = format!("/workspaces/{}", r.workspace_id);
    let creator_iri = format!("/users/{}", creator.map(|u| u.id.clone()).unwrap_or_default());
    json!({
        "id": format!("/procedures/{}", r.id),
        "name": r.name,
        "createdAt": ts(r.created_at),
        "updatedAt": ts(r.updated_at),
        "finishedAt": finished.map(ts),
        "expiresAt": ts(r.expiration_date),
        "status": status,
        "creator": creator_iri,
        "creatorFirstName": creator.map(|u| u.first_name).unwrap_or_default(),
        "creatorLastName": creator.map(|u| u.last_name).unwrap_or_default(),
        "workspace": workspace,
        "template": false,
        "ordered": false,
        "metadata": {},
        "config": {},
        "members": members_of(r),
        "files": r.documents.iter().map(|(id, sha)| json!({
            "id": format!("/files/{id}"),
            "name": format!("{}.pdf", r.name),
            "type": "signable",
            "contentType": "application/pdf",
            "createdAt": ts(r.created_at),
            "updatedAt": ts(r.created_at),
            "workspace": workspace,
            "creator": creator_iri,
            "sha256": sha,
            "position": 0,
        })).collect::<Vec<_>>(),
        "relatedFilesEnable": false,
        "archive": false,
    })
}

/// A v2 date bound: `YYYY-MM-DD` (midnight UTC) or, as this simulator also accepts, a full
/// RFC 3339 date-time.
fn bound(key: &str, v: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(v).map(|t| t.with_timezone(&Utc)).map_err(|_| format!("{key}: invalid date \"{v}\"."))
}

/// `GET /procedures`.
pub(super) async fn procedures(State(sim): State<YousignSim>, Query(q): Pairs) -> Response {
    let mut checks: Vec<(&str, &str, DateTime<Utc>)> = Vec::new();
    let (mut paginate, mut per_page, mut page, mut desc, mut status) = (false, 100usize, 1usize, false, None);
    for (k, v) in &q {
        match k.as_str() {
            "pagination" => paginate = v == "true" || v == "1",
            "itemsPerPage" => match v.parse() {
                Ok(n) if n >= 1 => per_page = n,
                _ => return bad("itemsPerPage must be a positive integer."),
            },
            "page" => match v.parse() {
                Ok(n) if n >= 1 => page = n,
                _ => return bad("page must be a positive integer."),
            },
            "order[createdAt]" => desc = v.eq_ignore_ascii_case("desc"),
            "status" => status = Some(v.clone()),
            _ => {
                let Some((field, op)) = k.split_once('[').and_then(|(f, r)| Some((f, r.strip_suffix(']')?))) else {
                    continue;
                };
                let (Some(field), Some(op)) = (
                    ["createdAt", "updatedAt", "expiresAt"].into_iter().find(|f| *f == field),
                    ["after", "before", "strictly_after", "strictly_before"].into_iter().find(|o| *o == op),
                ) else {
                    continue;
                };
                match bound(k, v) {
                    Ok(at) => checks.push((field, op, at)),
                    Err(e) => return bad(&e),
                }
            }
        }
    }
    let (data, total) = {
        let org = sim.org();
        let mut all: Vec<(&Request, &str)> = org
            .requests
            .iter()
            .filter_map(|r| procedure_status(r).map(|s| (r, s)))
            .filter(|(_, s)| status.as_deref().is_none_or(|want| want == *s))
            .filter(|(r, _)| {
                checks.iter().all(|(field, op, at)| {
                    let t = match *field {
                        "createdAt" => r.created_at,
                        "updatedAt" => r.updated_at,
                        _ => r.expiration_date,
                    };
                    match *op {
                        "after" => t >= *at,
                        "before" => t <= *at,
                        "strictly_after" => t > *at,
                        _ => t < *at,
                    }
                })
            })
            .collect();
        all.sort_by_key(|(r, _)| (r.created_at, r.seq));
        if desc {
            all.reverse();
        }
        let total = all.len();
        let items: Vec<Value> = if paginate {
            all.iter()
                .skip((page - 1).saturating_mul(per_page))
                .take(per_page)
                .map(|(r, s)| procedure(&org, r, s))
                .collect()
        } else {
            all.iter().map(|(r, s)| procedure(&org, r, s)).collect()
        };
        (items, total)
    };
    sim.served("v2 procedures", data.len());
    let mut resp = Json(data).into_response();
    if paginate {
        let last = total.div_ceil(per_page).max(1);
        for (k, v) in [
            ("x-yousign-pagination-totalitems", total),
            ("x-yousign-pagination-page-last", last),
            ("x-yousign-pagination-page-current", page),
        ] {
            if let Ok(v) = HeaderValue::from_str(&v.to_string()) {
                resp.headers_mut().insert(HeaderName::from_static(k), v);
            }
        }
    }
    resp
}

/// `GET /members?procedure=/procedures/<id>` (all members without the filter).
pub(super) async fn members(State(sim): State<YousignSim>, Query(q): Pairs) -> Response {
    let want = q.iter().find(|(k, _)| k == "procedure").map(|(_, v)| v.trim_start_matches("/procedures/").to_owned());
    let data: Vec<Value> = {
        let org = sim.org();
        org.requests
            .iter()
            .filter(|r| procedure_status(r).is_some() && want.as_ref().is_none_or(|w| *w == r.id))
            .flat_map(members_of)
            .collect()
    };
    sim.served("v2 members", data.len());
    Json(data).into_response()
}
