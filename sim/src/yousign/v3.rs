//! The v3 handlers: `GET /v3/signature_requests` (cursor pages, filters), `…/{id}`, a
//! signer's JSON audit trail (only once signed), `GET /v3/users` and `GET /v3/webhooks`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::YousignSim;
use super::filters::{self, RequestFilter};
use super::gate::error;
use super::model::SignerStatus;

type Pairs = Query<Vec<(String, String)>>;

fn bad(detail: &str) -> Response {
    error(StatusCode::BAD_REQUEST, detail)
}

/// `{"meta": {"next_cursor": …}, "data": […]}` for one page of `positions`/`items`.
fn envelope(data: &[Value], next: Option<u64>) -> Response {
    Json(json!({"meta": {"next_cursor": next.map(filters::cursor)}, "data": data})).into_response()
}

/// `GET /v3/signature_requests`. Pages run in creation order; the cursor is the position of
/// the page's last item, so requests created later appear on later pages, never twice.
pub(super) async fn list_requests(State(sim): State<YousignSim>, Query(q): Pairs) -> Response {
    let (page, filter) = match (filters::page(&q), RequestFilter::parse(&q)) {
        (Ok(p), Ok(f)) => (p, f),
        (Err(e), _) | (_, Err(e)) => return bad(&e),
    };
    let (data, next) = {
        let org = sim.org();
        let mut matching =
            org.requests.iter().filter(|r| page.after.is_none_or(|a| r.seq > a)).filter(|r| filter.matches(r));
        let items: Vec<_> = matching.by_ref().take(page.limit).collect();
        let more = matching.next().is_some();
        let next = if more { items.last().map(|r| r.seq) } else { None };
        (items.iter().map(|r| super::json::request(&org, r, false)).collect::<Vec<_>>(), next)
    };
    sim.served("v3 signature_requests", data.len());
    envelope(&data, next)
}

/// `GET /v3/signature_requests/{id}` (any source).
pub(super) async fn get_request(State(sim): State<YousignSim>, Path(id): Path<String>) -> Response {
    let body = {
        let org = sim.org();
        org.requests.iter().find(|r| r.id == id).map(|r| super::json::request(&org, r, true))
    };
    match body {
        Some(b) => {
            sim.served("v3 signature_requests", 1);
            Json(b).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "Signature Request not found."),
    }
}

/// `GET /v3/signature_requests/{id}/signers/{signer}/audit_trails`: 404 for an unknown
/// request or signer; 400 while the signer is not `signed` (the spec only says "Only
/// possible when Signer status is `signed`").
pub(super) async fn audit_trail(State(sim): State<YousignSim>, Path((id, signer)): Path<(String, String)>) -> Response {
    let result = {
        let org = sim.org();
        match org.requests.iter().find(|r| r.id == id) {
            None => Err(error(StatusCode::NOT_FOUND, "Signature Request not found.")),
            Some(r) => match r.signers.iter().find(|s| s.id == signer) {
                None => Err(error(StatusCode::NOT_FOUND, "Signer not found.")),
                Some(s) if s.status != SignerStatus::Signed => {
                    Err(bad(&format!("The Signer status must be \"signed\" (is \"{}\").", s.status.as_str())))
                }
                Some(s) => Ok(super::json::audit_trail(&org, r, s)),
            },
        }
    };
    match result {
        Ok(b) => {
            sim.served("v3 audit_trails", 1);
            Json(b).into_response()
        }
        Err(resp) => resp,
    }
}

/// `GET /v3/users`: cursor pages in creation order, `email[eq]`.
pub(super) async fn users(State(sim): State<YousignSim>, Query(q): Pairs) -> Response {
    let page = match filters::page(&q) {
        Ok(p) => p,
        Err(e) => return bad(&e),
    };
    let email = q.iter().find(|(k, _)| k == "email[eq]" || k == "email").map(|(_, v)| v.to_lowercase());
    let (data, next) = {
        let org = sim.org();
        let mut matching = org
            .users
            .iter()
            .enumerate()
            .filter(|(i, _)| page.after.is_none_or(|a| *i as u64 > a))
            .filter(|(_, u)| email.as_ref().is_none_or(|e| u.email.to_lowercase() == *e));
        let items: Vec<_> = matching.by_ref().take(page.limit).collect();
        let more = matching.next().is_some();
        let next = if more { items.last().map(|(i, _)| *i as u64) } else { None };
        (items.iter().map(|(_, u)| super::json::user(&org, u)).collect::<Vec<_>>(), next)
    };
    sim.served("v3 users", data.len());
    envelope(&data, next)
}

/// `GET /v3/webhooks`: a plain array, as the spec says.
pub(super) async fn webhooks(State(sim): State<YousignSim>) -> Response {
    let data: Vec<Value> = {
        let org = sim.org();
        org.subscriptions.iter().map(|s| super::json::subscription(&org, s)).collect()
    };
    sim.served("v3 webhooks", data.len());
    Json(data).into_response()
}
