//! Admin API: `GET /management/v2/organizations/{organizationId}/users` (also under the
//! spec's capitalised `/Management` base path, which the Python SDK uses by default).
//!
//! Reply `OrganizationUsersResponse` = `{"users": [...], "paging": {...}}`, users in a stable
//! creation order. `paging.next` / `paging.previous` are absolute URLs built from the `Host`
//! header with the same query, or `null`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::events::parse_iso;
use super::oauth::authorize;
use super::users::{RESERVED_DOMAIN, RESERVED_DOMAIN_ID};
use super::{ApiError, Simulator, host_of};

/// Page size when `take` (and `end`) are absent, per the spec.
const DEFAULT_TAKE: usize = 20;
/// The spec documents no maximum for `take`. Peers (XSOAR) never ask for more than 250 and
/// the docs call it the safe ceiling, so larger values are clamped to 250 rather than refused:
/// a client that assumes "fewer than `take` rows means last page" is caught, one that follows
/// `paging.next` is not.
const MAX_TAKE: usize = 250;
/// Scope the spec requires for `getUsers`.
const ADMIN_SCOPE: &str = "user_read";

/// The slice of a result set one page covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    /// First index included.
    pub(super) from: usize,
    /// One past the last index included.
    pub(super) to: usize,
    /// `start` of the next page, if any.
    pub(super) next: Option<usize>,
    /// `start` of the previous page, if any.
    pub(super) previous: Option<usize>,
}

/// Paging maths for `start`/`take` over `total` items.
pub(super) fn window(total: usize, start: usize, take: usize) -> Window {
    let from = start.min(total);
    let to = start.saturating_add(take).min(total);
    Window {
        from,
        to,
        next: (to < total).then_some(to),
        previous: (start > 0).then(|| start.saturating_sub(take).min(total.saturating_sub(1))),
    }
}

fn bad(description: &str) -> ApiError {
    ApiError::bad_request("invalid_request", description)
}

fn parse_index(value: Option<&str>, name: &str) -> Result<Option<usize>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse::<usize>().map(Some).map_err(|_| bad(&format!("{name} must be a non-negative integer."))),
    }
}

/// `GET …/v2/organizations/{organizationId}/users`.
pub(super) async fn users(
    State(sim): State<Simulator>,
    Path(organization_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(err) = authorize(&sim, &headers, Some(ADMIN_SCOPE)) {
        return err.into_response();
    }
    // Every organization shares the one seeded directory, each user shown as a member of the
    // organization's own account (its groups carry that account's id).
    let Some(owned) = sim.inner.accounts.by_org(&organization_id) else {
        let msg = "The user is not an administrator of this organization.";
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg).into_response();
    };
    let own_account = &sim.inner.accounts.get(owned).account_id;
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());

    let (account_id, domain_id, email) = (get("account_id"), get("organization_reserved_domain_id"), get("email"));
    if account_id.is_none() && domain_id.is_none() && email.is_none() {
        return bad("At least one of email, account_id or organization_reserved_domain_id must be specified.")
            .into_response();
    }
    let since = match get("last_modified_since") {
        None => None,
        Some(_) if account_id.is_none() && domain_id.is_none() => {
            return bad("last_modified_since requires account_id or organization_reserved_domain_id.").into_response();
        }
        Some(raw) => match parse_iso(raw) {
            Some(n) => Some(chrono::DateTime::from_timestamp_nanos(n)),
            None => {
                return bad("last_modified_since must be a date (YYYY-MM-DD) or an ISO 8601 date-time.")
                    .into_response();
            }
        },
    };
    let start = match parse_index(get("start"), "start") {
        Ok(s) => s.unwrap_or(0),
        Err(err) => return err.into_response(),
    };
    let take = match (parse_index(get("take"), "take"), parse_index(get("end"), "end")) {
        (Err(err), _) | (_, Err(err)) => return err.into_response(),
        (Ok(Some(0)), _) => return bad("take must be at least 1.").into_response(),
        (Ok(Some(t)), _) => t,
        (Ok(None), Ok(Some(end))) if end >= start => end - start + 1,
        (Ok(None), _) => DEFAULT_TAKE,
    }
    .min(MAX_TAKE);
    let include_license = get("include_license").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let eq = |want: Option<&str>, have: &str| want.is_none_or(|w| w.eq_ignore_ascii_case(have));

    let account_matches = eq(account_id, own_account);
    let (users, total) = {
        let state = sim.state();
        let dir = &state.directory;
        let matching: Vec<_> = dir
            .users()
            .iter()
            .filter(|_| account_matches)
            .filter(|u| {
                domain_id.is_none_or(|d| {
                    d.eq_ignore_ascii_case(RESERVED_DOMAIN_ID) && u.email.ends_with(&format!("@{RESERVED_DOMAIN}"))
                })
            })
            .filter(|u| eq(email, &u.email))
            .filter(|u| get("email_user_name_like").is_none_or(|p| u.email.to_lowercase().contains(&p.to_lowercase())))
            .filter(|u| eq(get("status"), u.user_status))
            .filter(|u| eq(get("membership_status"), u.membership_status))
            .filter(|u| since.is_none_or(|s| u.modified_at >= s))
            .collect();
        let w = window(matching.len(), start, take);
        let page: Vec<Value> =
            matching[w.from..w.to].iter().map(|u| dir.to_json(u, include_license, own_account)).collect();
        (page, matching.len())
    };
    let w = window(total, start, take);
    let link = |to_start: usize| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| !matches!(k.as_str(), "start" | "take" | "end")) {
            q.append_pair(k, v);
        }
        q.append_pair("start", &to_start.to_string()).append_pair("take", &take.to_string());
        format!("http://{}{}?{}", host_of(&headers).unwrap_or("127.0.0.1"), uri.path(), q.finish())
    };
    let size = users.len();
    sim.state().stats.users_served += size as u64;
    let body = json!({
        "users": users,
        "paging": {
            "result_set_size": size,
            "result_set_start_position": start,
            // Index of the last item in this page; `start - 1` for an empty page.
            "result_set_end_position": i64::try_from(start + size).unwrap_or(i64::MAX) - 1,
            "total_set_size": total,
            "next": w.next.map(link),
            "previous": w.previous.map(link),
        },
    });
    axum::Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_maths() {
        assert_eq!(window(45, 0, 20), Window { from: 0, to: 20, next: Some(20), previous: None });
        assert_eq!(window(45, 20, 20), Window { from: 20, to: 40, next: Some(40), previous: Some(0) });
        assert_eq!(window(45, 40, 20), Window { from: 40, to: 45, next: None, previous: Some(20) });
        assert_eq!(window(40, 20, 20), Window { from: 20, to: 40, next: None, previous: Some(0) });
        assert_eq!(window(0, 0, 20), Window { from: 0, to: 0, next: None, previous: None });
        // Past the end: empty, no next, previous points at the last real page area.
        assert_eq!(window(10, 30, 20), Window { from: 10, to: 10, next: None, previous: Some(9) });
        assert_eq!(window(10, 5, 20).previous, Some(0));
    }
}
