//! Both Monitor stream generations over one event store.
//!
//! - Legacy (lens): `GET /api/v2.0/datasets/monitor/stream` (also `/api/v2/…`), reply
//!   `CursoredResult` = `{"endCursor", "data"}`; `timestamp` equals the ingestion time.
//! - Current: `GET /v1/organizations/{organizationId}/stream` for any of the user's
//!   organizations (rows carry that organization's account), reply `StreamResponse` =
//!   `{"endCursor", "resultData"}`; rows in ingestion order, each `timestamp` up to five
//!   minutes earlier than its ingestion, so rows are not sorted by `timestamp`.
//!
//! Cursor rules for both: absent → seven days back; ISO date-time → events ingested at or
//! after it; otherwise an opaque cursor this simulator issued (else 400 `invalid_cursor`).
//! `endCursor` points after the last row; with no rows it equals the cursor sent, which is the
//! official end-of-stream test.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use super::data::{Generation, write_row};
use super::events::{self, Start};
use super::oauth::authorize_jwt;
use super::row::RowContext;
use super::{ApiError, Simulator};

/// Page size when `limit` is absent.
const DEFAULT_LIMIT: usize = 1000;
/// Largest accepted `limit` (the SDK 1.0 docs: "minimum of 1, maximum of 2000").
const MAX_LIMIT: usize = 2000;
/// Scope the Monitor spec's security section requires.
const MONITOR_SCOPE: &str = "impersonation";

/// Parsed `cursor` and `limit`, with the raw cursor kept for the end-of-stream echo.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct StreamQuery {
    cursor: Option<String>,
    start: Start,
    limit: usize,
}

/// Parses the query string of a stream request.
pub(super) fn parse_query(raw: Option<&str>) -> Result<StreamQuery, ApiError> {
    let mut cursor = None;
    let mut limit = None;
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "cursor" if cursor.is_none() => cursor = Some(v.into_owned()),
            "limit" if limit.is_none() => limit = Some(v.into_owned()),
            _ => {}
        }
    }
    let limit =
        match limit.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_LIMIT,
            Some(s) => s.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                ApiError::bad_request("invalid_limit", "limit must be an integer between 1 and 2000.")
            })?,
        };
    let cursor = cursor.filter(|c| !c.trim().is_empty());
    let start = events::parse_cursor(cursor.as_deref()).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_cursor",
            "The cursor is neither an ISO 8601 date-time nor an endCursor returned by this API.",
        )
    })?;
    Ok(StreamQuery { cursor, start, limit })
}

/// One page as the reply `{"endCursor": …, "<array>": [rows…]}`, rendered straight into the
/// body: building a `Value` per row first would make the simulator slower than the collector.
/// Rows carry account `account`'s ids and content (account 0 may serve pre-rendered rows).
fn page(sim: &Simulator, q: &StreamQuery, generation: Generation, array: &str, account: usize) -> Response {
    let now = Utc::now();
    let lower = q.start.lower_key(now);
    let entries = sim.state().events.page(lower, q.limit, now);
    let end_cursor = match (entries.last(), &q.cursor) {
        (Some(last), _) => events::encode_cursor(last.key),
        (None, Some(sent)) => sent.clone(),
        (None, None) => events::encode_cursor(lower),
    };
    let ctx = RowContext::of_account(&sim.inner.cfg, sim.inner.accounts.get(account), &sim.inner.actors);
    // Scripted rows (attack scenarios) are served as written, to whichever account asks.
    let scripted: Vec<(usize, Vec<u8>)> = {
        let st = sim.state();
        entries
            .iter()
            .filter_map(|e| match e.origin {
                events::Origin::Scripted(i) => st.scripted.get(i).map(|row| (i, row.clone())),
                _ => None,
            })
            .collect()
    };
    let ready = |e: &events::Entry| match (e.origin, generation) {
        (events::Origin::Scripted(i), _) => scripted.iter().find(|(j, _)| *j == i).map(|(_, row)| row.as_slice()),
        (_, Generation::Current) if account == 0 => sim.inner.prerendered.row(e.origin),
        _ => None,
    };
    let mut body = Vec::with_capacity(64 + entries.len() * 1536);
    let rendered = (|| {
        body.extend_from_slice(b"{\"endCursor\":");
        serde_json::to_writer(&mut body, &end_cursor)?;
        body.extend_from_slice(b",");
        serde_json::to_writer(&mut body, array)?;
        body.extend_from_slice(b":[");
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            match ready(e) {
                Some(row) => body.extend_from_slice(row),
                None => write_row(&ctx, e.origin, e.key.at, generation, &mut body)?,
            }
        }
        body.extend_from_slice(b"]}");
        serde_json::Result::Ok(())
    })();
    if let Err(err) = rendered {
        let msg = format!("The simulator could not render a page: {err}");
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", &msg).into_response();
    }
    sim.state().stats.events_served += entries.len() as u64;
    tracing::debug!(?generation, rows = entries.len(), "Simulator served a Monitor page.");
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// `GET /api/{version}/datasets/{dataSetName}/stream` (lens, legacy generation).
pub(super) async fn legacy_stream(
    State(sim): State<Simulator>,
    Path((version, dataset)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(err) = authorize_jwt(&sim, &headers, Some(MONITOR_SCOPE)) {
        return err.into_response();
    }
    if !matches!(version.as_str(), "v2" | "v2.0") || dataset != "monitor" {
        let msg = "Unknown dataset or version; use /api/v2.0/datasets/monitor/stream.";
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", msg).into_response();
    }
    match parse_query(query.as_deref()) {
        Ok(q) => page(&sim, &q, Generation::Legacy, "data", 0),
        Err(err) => err.into_response(),
    }
}

/// `GET /v1/organizations/{organizationId}/stream` (current generation).
pub(super) async fn org_stream(
    State(sim): State<Simulator>,
    Path(organization_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(err) = authorize_jwt(&sim, &headers, Some(MONITOR_SCOPE)) {
        return err.into_response();
    }
    let Some(account) = sim.inner.accounts.by_org(&organization_id) else {
        // The shape a third party observed from the real host for an org without Monitor.
        let body = json!({ "error": "Organization does not have Monitor entitlement" });
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    };
    match parse_query(query.as_deref()) {
        Ok(q) => page(&sim, &q, Generation::Current, "resultData", account),
        Err(err) => err.into_response(),
    }
}

/// The reply of [`super::FaultKind::EmptyPage`]: no rows, and an `endCursor` for the position
/// the request asked from under a new suffix. A request that is not a valid stream query gets
/// the 400 the route would give.
pub(super) fn moved_empty_page(req: &axum::extract::Request) -> Response {
    let q = match parse_query(req.uri().query()) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let key = q.start.lower_key(Utc::now());
    let suffix = u64::try_from(Utc::now().timestamp_nanos_opt().unwrap_or_default()).unwrap_or_default();
    let array = if req.uri().path().starts_with("/api/") { "data" } else { "resultData" };
    let body = serde_json::json!({ "endCursor": events::encode_moved_cursor(key, suffix), array: [] });
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds_and_defaults() {
        assert_eq!(parse_query(None).unwrap().limit, 1000);
        assert_eq!(parse_query(Some("limit=1")).unwrap().limit, 1);
        assert_eq!(parse_query(Some("limit=2000")).unwrap().limit, 2000);
        for bad in ["limit=0", "limit=2001", "limit=-1", "limit=ten"] {
            assert_eq!(parse_query(Some(bad)).unwrap_err().status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn cursors_in_queries() {
        let q = parse_query(Some("cursor=2022-01-01T00%3A00%3A00Z&limit=5")).unwrap();
        assert!(matches!(q.start, Start::Iso(_)));
        assert_eq!(q.cursor.as_deref(), Some("2022-01-01T00:00:00Z"));
        assert_eq!(parse_query(Some("cursor=")).unwrap().start, Start::Default);
        let err = parse_query(Some("cursor=bogus")).unwrap_err();
        assert_eq!(err.body["error"], "invalid_cursor");
    }
}
