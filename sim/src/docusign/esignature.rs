//! eSignature REST v2.1 envelope endpoints under `/restapi/v2.1/accounts/{accountId}`:
//! `GET /envelopes` (Envelopes:listStatusChanges), `GET /envelopes/{id}` (Envelopes:get) and
//! `GET /envelopes/{id}/audit_events` (EnvelopeAuditEvents), plus the per-envelope polling
//! rule: a GET of the same envelope resource within 15 minutes (on the quota's clock) of the
//! previous accepted one is refused with 429 `HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED` and
//! counted as a violation. The list itself is the sanctioned way to poll; its calls are
//! recorded so tests can check a client's cadence.
//!
//! Errors use the eSignature body `{"errorCode", "message"}`.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::envelope_json;
use super::envelopes::{Envelope, Status, ds_time};
use super::events::parse_iso;
use super::oauth::authorize;
use super::{ApiError, Simulator};

/// Scope every eSignature call needs.
const SIGNATURE_SCOPE: &str = "signature";
/// DocuSign caps a status-change list at 1000 envelopes per call.
const MAX_COUNT: usize = 1000;
/// The polling rule's interval, in milliseconds.
const POLL_INTERVAL_MS: i64 = 15 * 60 * 1000;

/// An eSignature error reply: `{"errorCode", "message"}`.
#[derive(Debug)]
pub(super) struct EsignError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl EsignError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST_PARAMETER", message)
    }
}

impl IntoResponse for EsignError {
    fn into_response(self) -> Response {
        let body = json!({ "errorCode": self.code, "message": self.message });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
        }
        resp
    }
}

/// Per-envelope GET times and the list calls, on the quota's clock.
#[derive(Debug, Default)]
pub(super) struct Polling {
    last_get: HashMap<String, i64>,
    pub(super) violations: u64,
    pub(super) list_calls: Vec<DateTime<Utc>>,
}

impl Polling {
    /// Admits a GET of envelope `id` at `now_ms`, or returns the milliseconds left.
    pub(super) fn admit(&mut self, id: &str, now_ms: i64) -> Result<(), i64> {
        let key = id.to_ascii_lowercase();
        if let Some(&last) = self.last_get.get(&key)
            && now_ms - last < POLL_INTERVAL_MS
        {
            self.violations += 1;
            return Err(POLL_INTERVAL_MS - (now_ms - last));
        }
        self.last_get.insert(key, now_ms);
        Ok(())
    }
}

/// The bearer token (scope `signature`) and the account in the path: the account's index
/// among the user's accounts.
pub(super) fn check(sim: &Simulator, headers: &HeaderMap, account_id: &str) -> Result<usize, EsignError> {
    authorize(sim, headers, Some(SIGNATURE_SCOPE)).map_err(|e: ApiError| match e.status {
        StatusCode::UNAUTHORIZED => EsignError::new(
            StatusCode::UNAUTHORIZED,
            "USER_AUTHENTICATION_FAILED",
            "One or both of Username and Password are invalid. Invalid access token",
        ),
        status => EsignError::new(
            status,
            "USER_LACKS_PERMISSIONS",
            "This user lacks sufficient permissions to access this resource.",
        ),
    })?;
    sim.inner.accounts.by_account(account_id).ok_or_else(|| {
        EsignError::new(
            StatusCode::NOT_FOUND,
            "ACCOUNT_LACKS_PERMISSIONS",
            "This Account lacks sufficient permissions.",
        )
    })
}

fn parse_date(raw: &str, name: &str) -> Result<DateTime<Utc>, EsignError> {
    parse_iso(raw.trim())
        .map(DateTime::from_timestamp_nanos)
        .ok_or_else(|| EsignError::invalid(format!("The value '{raw}' of parameter '{name}' is not a valid date.")))
}

/// The parsed query of a listStatusChanges call.
#[derive(Debug)]
struct ListQuery {
    pairs: Vec<(String, String)>,
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
    from_to_status: String,
    statuses: Option<Vec<String>>,
    envelope_ids: Option<Vec<String>>,
    user_id: Option<String>,
    recipients: bool,
    count: usize,
    start: usize,
    by_created: bool,
    descending: bool,
}

fn parse_list(raw: Option<&str>, now: DateTime<Utc>) -> Result<ListQuery, EsignError> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |name: &str| {
        pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    };
    let list = |name: &str| get(name).map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()).collect());
    let envelope_ids: Option<Vec<String>> = list("envelope_ids");
    let from = get("from_date").map(|v| parse_date(v, "from_date")).transpose()?;
    // The spec: from_date is required unless envelope_ids, folder_ids or transaction_ids
    // are given (the simulator has no folders or transactions: those list everything).
    if from.is_none() && envelope_ids.is_none() && get("folder_ids").is_none() && get("transaction_ids").is_none() {
        return Err(EsignError::invalid(
            "The from_date, envelope_ids, folder_ids or transaction_ids request parameter must be specified.",
        ));
    }
    let to = get("to_date").map(|v| parse_date(v, "to_date")).transpose()?.unwrap_or(now);
    let count = match get("count") {
        None => MAX_COUNT,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_COUNT).contains(&n) => n,
            _ => {
                return Err(EsignError::invalid(format!(
                    "The value '{v}' of parameter 'count' is invalid: it must be between 1 and {MAX_COUNT}."
                )));
            }
        },
    };
    let start = match get("start_position") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| EsignError::invalid("start_position must be a number."))?,
    };
    let include: Vec<String> = list("include").unwrap_or_default();
    Ok(ListQuery {
        from,
        to,
        from_to_status: get("from_to_status").unwrap_or("changed").to_ascii_lowercase(),
        statuses: list("status"),
        envelope_ids,
        user_id: get("user_id").map(str::to_ascii_lowercase),
        recipients: include.iter().any(|i| i == "recipients"),
        count,
        start,
        by_created: get("order_by").is_some_and(|o| o.eq_ignore_ascii_case("created")),
        descending: get("order").is_some_and(|o| o.eq_ignore_ascii_case("desc")),
        pairs,
    })
}

impl ListQuery {
    /// Whether `env` belongs in the result: a qualifying status change in the window, the
    /// current status wanted, and the user's.
    fn matches(&self, env: &Envelope) -> bool {
        if let Some(ids) = &self.envelope_ids
            && !ids.contains(&env.id.to_ascii_lowercase())
        {
            return false;
        }
        if let Some(user) = &self.user_id
            && env.sender.user_id.to_ascii_lowercase() != *user
        {
            return false;
        }
        if let Some(statuses) = &self.statuses {
            let current = env.status.as_str();
            let any = statuses.iter().any(|s| s == "any") && env.status != Status::Created;
            if !any && !statuses.iter().any(|s| s == current) {
                return false;
            }
        }
        let Some(from) = self.from else { return true };
        let in_window = |t: &DateTime<Utc>| *t >= from && *t <= self.to;
        match self.from_to_status.as_str() {
            "changed" | "any" => env.changes.iter().any(|(t, _)| in_window(t)),
            wanted => env.changes.iter().any(|(t, s)| s.as_str() == wanted && in_window(t)),
        }
    }

    /// A URI for the same query at another start position, with the window pinned.
    fn link(&self, account_id: &str, start: usize) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs.iter().filter(|(k, _)| !matches!(k.as_str(), "start_position" | "to_date" | "count")) {
            q.append_pair(k, v);
        }
        if self.from.is_some() {
            q.append_pair("to_date", &ds_time(self.to));
        }
        q.append_pair("count", &self.count.to_string()).append_pair("start_position", &start.to_string());
        format!("/restapi/v2.1/accounts/{account_id}/envelopes?{}", q.finish())
    }
}

/// `GET …/envelopes`: Envelopes:listStatusChanges.
pub(super) async fn list(
    State(sim): State<Simulator>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let index = match check(&sim, &headers, &account_id) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let now = Utc::now();
    let scaled = sim.inner.clock.to_scaled(now.timestamp_millis());
    sim.state().polling.list_calls.push(DateTime::from_timestamp_millis(scaled).unwrap_or(now));
    let q = match parse_list(query.as_deref(), now) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let account = sim.inner.accounts.get(index).account_id.clone();
    let (page, total) = {
        let mut state = sim.state();
        let mut matching: Vec<&Envelope> = state.envelopes.envelopes().iter().filter(|e| q.matches(e)).collect();
        if q.by_created {
            matching.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        } else {
            matching.sort_by(|a, b| a.status_changed.cmp(&b.status_changed).then_with(|| a.id.cmp(&b.id)));
        }
        if q.descending {
            matching.reverse();
        }
        let total = matching.len();
        let page: Vec<Value> = matching
            .iter()
            .skip(q.start)
            .take(q.count)
            .map(|e| envelope_json::envelope(e, &account, q.recipients))
            .collect();
        state.stats.envelopes_served += page.len() as u64;
        (page, total)
    };
    let size = page.len();
    let end = q.start + size;
    let mut body = serde_json::Map::new();
    body.insert("resultSetSize".to_owned(), json!(size.to_string()));
    body.insert("startPosition".to_owned(), json!(q.start.to_string()));
    body.insert("endPosition".to_owned(), json!((i64::try_from(end).unwrap_or(i64::MAX) - 1).to_string()));
    body.insert("totalSetSize".to_owned(), json!(total.to_string()));
    body.insert("nextUri".to_owned(), (end < total).then(|| q.link(&account, end)).into());
    let previous = (q.start > 0).then(|| q.link(&account, q.start.saturating_sub(q.count)));
    body.insert("previousUri".to_owned(), previous.into());
    // DocuSign leaves an empty list out of the reply.
    if !page.is_empty() {
        body.insert("envelopes".to_owned(), Value::Array(page));
    }
    body.insert("lastQueriedDateTime".to_owned(), json!(ds_time(now)));
    axum::Json(Value::Object(body)).into_response()
}

/// The envelope, after the polling rule admitted this GET (per account: the accounts share
/// the seeded envelopes, but each polls its own).
fn polled(sim: &Simulator, account: usize, envelope_id: &str, render: impl FnOnce(&Envelope) -> Value) -> Response {
    let scaled = sim.inner.clock.to_scaled(Utc::now().timestamp_millis());
    let mut state = sim.state();
    let Some(env) = state.envelopes.find(envelope_id) else {
        return EsignError::new(
            StatusCode::BAD_REQUEST,
            "ENVELOPE_DOES_NOT_EXIST",
            "The envelope specified either does not exist or you have no rights to the envelope.",
        )
        .into_response();
    };
    let body = render(env);
    let key = if account == 0 { envelope_id.to_owned() } else { format!("{account}/{envelope_id}") };
    if let Err(left_ms) = state.polling.admit(&key, scaled) {
        drop(state);
        tracing::debug!(envelope_id, left_ms, "Simulator refuses an envelope GET under the polling rule.");
        return EsignError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED",
            "The maximum number of hourly API invocations for this envelope has been exceeded: \
             poll an envelope at most once every 15 minutes.",
        )
        .into_response();
    }
    axum::Json(body).into_response()
}

/// `GET …/envelopes/{envelopeId}`: Envelopes:get.
pub(super) async fn get_envelope(
    State(sim): State<Simulator>,
    Path((account_id, envelope_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let index = match check(&sim, &headers, &account_id) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let account = sim.inner.accounts.get(index).account_id.clone();
    polled(&sim, index, &envelope_id, |e| envelope_json::envelope(e, &account, false))
}

/// `GET …/envelopes/{envelopeId}/audit_events`.
pub(super) async fn audit_events(
    State(sim): State<Simulator>,
    Path((account_id, envelope_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let index = match check(&sim, &headers, &account_id) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    polled(&sim, index, &envelope_id, envelope_json::audit_events)
}

/// Any other envelope sub-resource: counted by the polling rule like the rest, then 404.
pub(super) async fn other_resource(
    State(sim): State<Simulator>,
    Path((account_id, envelope_id, _rest)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let index = match check(&sim, &headers, &account_id) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let resp = polled(&sim, index, &envelope_id, |_| Value::Null);
    if resp.status() != StatusCode::OK {
        return resp;
    }
    EsignError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND", "The simulator does not serve this resource.")
        .into_response()
}

#[cfg(test)]
mod tests;
