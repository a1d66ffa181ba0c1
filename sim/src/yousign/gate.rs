//! The per-request gate in front of every API route: counts the request, checks the bearer
//! key (401), applies the key's rate limits (429), then the first queued [`Fault`] for the
//! route, and stamps v3 replies with the rate-limit headers. Control routes (`/_sim/`) skip
//! all of it but answer loopback clients only.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::limits::RateHeaders;
use super::{YousignSim, lock};

/// A scripted misbehaviour for the next `times` requests of `route`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Which requests it applies to.
    pub route: Route,
    /// What happens to them.
    pub kind: FaultKind,
    /// How many matching requests it affects (default 1).
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

/// A group of API routes, for faults and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Every API route.
    Any,
    /// `/v3/signature_requests` and `/v3/signature_requests/{id}`.
    SignatureRequests,
    /// `/v3/signature_requests/{id}/signers/{signerId}/audit_trails`.
    AuditTrails,
    /// `/v3/users`.
    Users,
    /// `/v3/webhooks`.
    Webhooks,
    /// The v2 API at the root (`/users`, `/procedures`, `/members`).
    V2,
}

impl Route {
    fn label(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::SignatureRequests => "v3 signature_requests",
            Self::AuditTrails => "v3 audit_trails",
            Self::Users => "v3 users",
            Self::Webhooks => "v3 webhooks",
            Self::V2 => "v2",
        }
    }
}

/// What a fault does to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer `code` (500, 502, 503, …) with a `{type, detail}` body, plus `Retry-After`
    /// when given.
    Status {
        /// HTTP status to send.
        code: u16,
        /// Seconds for the `Retry-After` header.
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Answer 429 `{"message": …}` with `Retry-After`, as an exhausted window does.
    Throttle {
        /// Seconds for the `Retry-After` header.
        retry_after: u64,
    },
    /// Answer 200 with a body that is not valid JSON.
    MalformedJson,
    /// Wait `millis`, then answer normally.
    Slow {
        /// Delay in milliseconds.
        millis: u64,
    },
    /// Answer 200 with the real JSON body cut in half.
    Truncated,
}

/// The route group of an API path; `None` for control and unknown paths.
pub(super) fn classify(path: &str) -> Option<Route> {
    if let Some(rest) = path.strip_prefix("/v3/") {
        return match rest.split('/').next() {
            Some("signature_requests") if rest.ends_with("/audit_trails") => Some(Route::AuditTrails),
            Some("signature_requests") => Some(Route::SignatureRequests),
            Some("users") => Some(Route::Users),
            Some("webhooks") => Some(Route::Webhooks),
            _ => None,
        };
    }
    match path.split('/').nth(1) {
        Some("users" | "procedures" | "members") => Some(Route::V2),
        _ => None,
    }
}

/// The spec's `{type, detail}` error body with `code`.
pub(super) fn error(code: StatusCode, detail: &str) -> Response {
    let kind = match code.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        _ => "internal_server_error",
    };
    (code, axum::Json(json!({"type": kind, "detail": detail}))).into_response()
}

fn too_many() -> Response {
    (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({"message": "Too Many Requests"}))).into_response()
}

fn stamp(resp: &mut Response, h: &RateHeaders) {
    for (k, v) in h.pairs() {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&v)) {
            resp.headers_mut().insert(k, v);
        }
    }
}

/// Middleware in front of every route.
pub(super) async fn gate(State(sim): State<YousignSim>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let Some(route) = classify(&path) else {
        if path.starts_with("/_sim/") {
            let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
            if !peer.is_some_and(|p| p.ip().is_loopback()) {
                return error(StatusCode::FORBIDDEN, "Control endpoints answer loopback clients only.");
            }
        }
        return next.run(req).await;
    };
    let v3 = route != Route::V2;
    let query = req.uri().query().unwrap_or_default().to_owned();
    sim.count(route.label(), (path == "/v3/signature_requests").then_some(query.as_str()));
    let expected = format!("Bearer {}", sim.inner.cfg.api_key);
    let authorized = req.headers().get(header::AUTHORIZATION).is_some_and(|v| v.as_bytes() == expected.as_bytes());
    let now = Instant::now();
    if !authorized {
        sim.stats_mut().unauthorized += 1;
        let mut resp = error(StatusCode::UNAUTHORIZED, "Unauthorized. Please check your API key.");
        if v3 {
            stamp(&mut resp, &sim.limiter().peek(now));
        }
        return resp;
    }
    let headers = if v3 {
        match sim.limiter().admit(now) {
            Ok(h) => Some(h),
            Err(h) => {
                sim.stats_mut().throttled += 1;
                let mut resp = too_many();
                stamp(&mut resp, &h);
                return resp;
            }
        }
    } else {
        None
    };
    let mut resp = match sim.take_fault(route) {
        None => next.run(req).await,
        Some(kind) => apply(kind, req, next).await,
    };
    if let Some(h) = headers {
        stamp(&mut resp, &h);
    }
    resp
}

async fn apply(kind: FaultKind, req: Request, next: Next) -> Response {
    match kind {
        FaultKind::Status { code, retry_after } => {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = error(code, "An internal error occurred.");
            if let Some(s) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
                resp.headers_mut().insert(header::RETRY_AFTER, s);
            }
            resp
        }
        FaultKind::Throttle { retry_after } => {
            let mut resp = too_many();
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        FaultKind::MalformedJson => {
            ([(header::CONTENT_TYPE, "application/json")], r#"{"meta":{"next_cursor":null},"data":[{"id":"#)
                .into_response()
        }
        FaultKind::Slow { millis } => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(req).await
        }
        FaultKind::Truncated => {
            let resp = next.run(req).await;
            let (mut parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let cut = bytes.slice(..bytes.len() / 2);
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(cut))
        }
    }
}

/// What the API served, for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Requests by route group (`v3 signature_requests`, `v3 users`, `v2`, …), refused ones
    /// included.
    pub requests: BTreeMap<String, u64>,
    /// Requests refused with 401.
    pub unauthorized: u64,
    /// Requests refused with 429 by the rate limits (not by faults).
    pub throttled: u64,
    /// Requests a fault was applied to.
    pub faults: u64,
    /// Items served by route group.
    pub served: BTreeMap<String, u64>,
    /// The decoded query string of every `GET /v3/signature_requests`, in order.
    pub list_calls: Vec<String>,
}

impl YousignSim {
    /// Counts a request of `label`; `list_query` is the raw query of a request list.
    fn count(&self, label: &str, list_query: Option<&str>) {
        let mut stats = self.stats_mut();
        *stats.requests.entry(label.to_owned()).or_default() += 1;
        if let Some(q) = list_query {
            let decoded: Vec<String> =
                url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| format!("{k}={v}")).collect();
            stats.list_calls.push(decoded.join("&"));
        }
    }

    /// Counts `n` items served on `label`.
    pub(super) fn served(&self, label: &str, n: usize) {
        *self.stats_mut().served.entry(label.to_owned()).or_default() += n as u64;
    }

    /// The first queued fault for `route` (or `Any`), used up by one.
    fn take_fault(&self, route: Route) -> Option<FaultKind> {
        let mut faults = lock(&self.inner.faults);
        let i = faults.iter().position(|f| f.route == route || f.route == Route::Any)?;
        let kind = faults[i].kind.clone();
        faults[i].times -= 1;
        if faults[i].times == 0 {
            faults.remove(i);
        }
        drop(faults);
        self.stats_mut().faults += 1;
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(classify("/v3/signature_requests"), Some(Route::SignatureRequests));
        assert_eq!(classify("/v3/signature_requests/a/signers/b/audit_trails"), Some(Route::AuditTrails));
        assert_eq!(classify("/v3/users"), Some(Route::Users));
        assert_eq!(classify("/v3/webhooks"), Some(Route::Webhooks));
        assert_eq!(classify("/procedures"), Some(Route::V2));
        assert_eq!(classify("/members"), Some(Route::V2));
        assert_eq!(classify("/_sim/yousign/stats"), None);
        assert_eq!(classify("/v3/contacts"), None);
    }

    #[test]
    fn faults_deserialize() {
        let f: Fault = serde_json::from_str(r#"{"route":"any","kind":{"status":{"code":503}},"times":2}"#).unwrap();
        assert_eq!(f.kind, FaultKind::Status { code: 503, retry_after: None });
        let f: Fault = serde_json::from_str(r#"{"route":"users","kind":"malformed_json"}"#).unwrap();
        assert_eq!(f.times, 1);
    }
}
