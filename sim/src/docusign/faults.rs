//! The fault knob and the per-request gate in front of every route.
//!
//! The gate classifies a request ([`Route`]), counts it, applies the first queued [`Fault`]
//! for that route (in push order), and stamps API replies with Docusign's rate-limit headers.
//! The quota (`quota.rs`) of the account the path names is counted; only when it is enforced does it answer 429 by
//! itself, before any fault or route runs. Otherwise a 429 only comes from a pushed fault.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::quota::{Exceeded, RateHeaders};
use super::{ApiError, Simulator};

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

/// A group of simulator routes, for faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Every route below.
    Any,
    /// `POST /oauth/token`.
    Token,
    /// `GET /oauth/userinfo`.
    #[serde(alias = "userinfo")]
    UserInfo,
    /// Both Monitor stream generations.
    Monitor,
    /// The Admin users endpoint.
    Admin,
    /// The eSignature REST API (`/restapi/…`).
    #[serde(alias = "esign")]
    Esignature,
}

/// What a fault does to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer `code` with a JSON error body, plus `Retry-After: N` when given.
    Status {
        /// HTTP status to send.
        code: u16,
        /// Seconds for the `Retry-After` header.
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Wait `millis`, then answer normally.
    Slow {
        /// Delay in milliseconds.
        millis: u64,
    },
    /// Answer 429 with `Retry-After: N` and `X-BurstLimit-Remaining: 0`, as DocuSign refuses
    /// a request over the burst limit (the headers' other counters stay real).
    Throttle {
        /// Seconds for the `Retry-After` header.
        retry_after: u64,
    },
    /// Monitor only: answer 200 with no rows and an `endCursor` that moved although the
    /// position did not (a new suffix on the same place), as DocuSign's stream may: the
    /// stream has not ended, and reading on from that cursor returns what follows.
    EmptyPage,
    /// Answer 200 with the real JSON body cut in half.
    Truncated,
    /// Answer 200 with an HTML page instead of JSON.
    NotJson,
    /// Drop the connection in the middle of the reply: the status and headers announce the
    /// whole body, half of it is sent, then the connection closes.
    Reset,
    /// Ignore the request's `limit` and answer a page twice as large (never more than the
    /// stream holds), as a server that pages differently would.
    Oversize,
}

/// The route group of a path, or `None` for control and unknown paths.
fn classify(path: &str) -> Option<Route> {
    let lower = path.to_ascii_lowercase();
    match path {
        "/oauth/token" => Some(Route::Token),
        "/oauth/userinfo" => Some(Route::UserInfo),
        _ if path.starts_with("/api/") && path.ends_with("/stream") => Some(Route::Monitor),
        _ if path.starts_with("/v1/organizations/") && path.ends_with("/stream") => Some(Route::Monitor),
        _ if lower.starts_with("/management/") => Some(Route::Admin),
        _ if lower.starts_with("/restapi/") => Some(Route::Esignature),
        _ => None,
    }
}

/// Middleware in front of every route.
pub(super) async fn gate(State(sim): State<Simulator>, req: Request, next: Next) -> Response {
    let Some(route) = classify(req.uri().path()) else {
        if req.uri().path().starts_with("/_sim/") {
            let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
            if !peer.is_some_and(|p| p.ip().is_loopback()) {
                let msg = "Control endpoints answer loopback clients only.";
                return ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg).into_response();
            }
            sim.state().stats.control_requests += 1;
        }
        return next.run(req).await;
    };
    let api = matches!(route, Route::Monitor | Route::Admin | Route::Esignature);
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let (fault, rate) = {
        let mut state = sim.state();
        state.peers.extend(peer);
        let counters = &mut state.stats;
        match route {
            Route::Token => counters.token_requests += 1,
            Route::UserInfo => counters.userinfo_requests += 1,
            Route::Monitor => counters.monitor_requests += 1,
            Route::Esignature => counters.esignature_requests += 1,
            Route::Admin | Route::Any => counters.admin_requests += 1,
        }
        // Each account has its own quota; the path names the account (or its organization).
        let account = sim.inner.accounts.of_path(req.uri().path());
        let verdict = api.then(|| {
            let (cfg, clock) = (&sim.inner.cfg.quota, sim.inner.clock);
            let now = chrono::Utc::now().timestamp_millis();
            let v = state.rates.get_mut(account).map(|w| w.hit(cfg, clock, now));
            if let Some(used) = state.stats.accounts.get_mut(account) {
                used.requests += 1;
                used.refused += u64::from(v.is_some_and(|v| v.refused.is_some()));
            }
            v
        });
        let verdict = verdict.flatten();
        if let Some((which, secs)) = verdict.and_then(|v| v.refused) {
            state.stats.status_429 += 1;
            drop(state);
            tracing::debug!(?route, ?which, retry_after_s = secs, "Simulator refuses a request over the quota.");
            let mut resp = quota_reply(route, which, secs);
            if let Some(v) = verdict {
                add_api_headers(resp.headers_mut(), v.headers);
            }
            return resp;
        }
        // A refused request never reaches the faults: the quota sits in front, as DocuSign's does.
        let fault =
            take_fault(&mut state.faults, route).or_else(|| state.chaos.as_mut().and_then(super::chaos::Dice::roll));
        if fault.is_some() {
            state.stats.faults_applied += 1;
        }
        (fault, verdict.map(|v| v.headers))
    };
    if let Some(kind) = &fault {
        tracing::debug!(?route, ?kind, "Simulator applies a fault.");
    }
    let throttled = matches!(fault, Some(FaultKind::Throttle { .. }));
    let mut resp = match fault {
        None => next.run(req).await,
        Some(FaultKind::Throttle { retry_after }) => status_reply(route, 429, Some(retry_after)),
        Some(FaultKind::EmptyPage) => super::monitor::moved_empty_page(&req),
        Some(FaultKind::Slow { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(req).await
        }
        Some(FaultKind::Status { code, retry_after }) => status_reply(route, code, retry_after),
        Some(FaultKind::Truncated) => truncate(next.run(req).await).await,
        Some(FaultKind::NotJson) => html_reply(),
        Some(FaultKind::Reset) => cut_mid_body(next.run(req).await).await,
        Some(FaultKind::Oversize) => next.run(double_limit(req)).await,
    };
    // The counters stay real even on a scripted 429: the fault's own Retry-After is the only
    // wait hint, so a test's `retry_after: 1` means one second, not "until the window resets".
    if let Some(rate) = rate {
        add_api_headers(resp.headers_mut(), rate);
    }
    if throttled {
        resp.headers_mut().insert(HeaderName::from_static("x-burstlimit-remaining"), HeaderValue::from(0));
    }
    let mut state = sim.state();
    match resp.status() {
        StatusCode::UNAUTHORIZED => state.stats.status_401 += 1,
        StatusCode::TOO_MANY_REQUESTS => state.stats.status_429 += 1,
        _ => {}
    }
    resp
}

/// Pops one use of the first queued fault that matches `route`.
fn take_fault(faults: &mut std::collections::VecDeque<Fault>, route: Route) -> Option<FaultKind> {
    let i = faults.iter().position(|f| f.route == route || f.route == Route::Any)?;
    let fault = &mut faults[i];
    fault.times = fault.times.saturating_sub(1);
    let kind = fault.kind.clone();
    if fault.times == 0 {
        faults.remove(i);
    }
    Some(kind)
}

/// An error body in the route's shape: eSignature's `{"errorCode", "message"}`, else
/// `{"error", "error_description"}`.
fn error_body(route: Route, code: &str, message: &str) -> serde_json::Value {
    if route == Route::Esignature {
        json!({ "errorCode": code, "message": message })
    } else {
        json!({ "error": code, "error_description": message })
    }
}

fn status_reply(route: Route, code: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if status == StatusCode::TOO_MANY_REQUESTS {
        let msg = "The maximum number of hourly API invocations has been exceeded.";
        error_body(route, "HOURLY_APIINVOCATION_LIMIT_EXCEEDED", msg)
    } else {
        let reason = status.canonical_reason().unwrap_or("Error");
        error_body(route, &reason.to_ascii_lowercase().replace(' ', "_"), "Simulated fault.")
    };
    let mut resp = (status, axum::Json(body)).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The 429 an exhausted account quota gets: DocuSign's error code and message, and how long
/// until the exhausted window ends.
fn quota_reply(route: Route, which: Exceeded, retry_after_secs: u64) -> Response {
    let body = error_body(route, which.code(), "The maximum number of hourly API invocations has been exceeded.");
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    resp
}

fn html_reply() -> Response {
    let page = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
                <body><h1>Bad Gateway</h1><p>The upstream server is temporarily unavailable.</p></body></html>\n";
    let mut resp = (StatusCode::OK, page).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    resp
}

/// The real reply, forced to 200, with only the first half of its body (framed correctly,
/// so the client sees a JSON error rather than a transport error).
async fn truncate(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(half))
}

/// Keeps the full `Content-Length` but sends half the body: hyper then aborts the connection,
/// and the client sees it close mid-reply.
async fn cut_mid_body(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let full = bytes.len().max(2);
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(full));
    Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)))
}

/// Rewrites `limit=N` in the query to `limit=2N` (at most the 2000 the stream accepts).
fn double_limit(mut req: Request) -> Request {
    let uri = req.uri().clone();
    let query: Vec<(String, String)> = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .map(|(k, v)| {
            let v = match (k.as_ref(), v.parse::<usize>()) {
                ("limit", Ok(n)) => (n * 2).min(2000).to_string(),
                _ => v.into_owned(),
            };
            (k.into_owned(), v)
        })
        .collect();
    let q = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
    if let Ok(new) = format!("{}?{q}", uri.path()).parse() {
        *req.uri_mut() = new;
    }
    req
}

fn add_api_headers(headers: &mut HeaderMap, rate: RateHeaders) {
    let mut put = |name: &'static str, value: HeaderValue| {
        headers.insert(HeaderName::from_static(name), value);
    };
    put("x-ratelimit-limit", HeaderValue::from(rate.limit));
    put("x-ratelimit-remaining", HeaderValue::from(rate.remaining));
    put("x-ratelimit-reset", HeaderValue::from(rate.reset));
    put("x-burstlimit-limit", HeaderValue::from(rate.burst_limit));
    put("x-burstlimit-remaining", HeaderValue::from(rate.burst_remaining));
    let mut raw = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut raw);
    let trace = uuid::Builder::from_random_bytes(raw).into_uuid().to_string();
    if let Ok(v) = HeaderValue::from_str(&trace) {
        put("x-docusign-tracetoken", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_in_push_order_and_run_out() {
        let mut q = std::collections::VecDeque::new();
        q.push_back(Fault { route: Route::Monitor, kind: FaultKind::Truncated, times: 2 });
        q.push_back(Fault { route: Route::Any, kind: FaultKind::NotJson, times: 1 });
        assert_eq!(take_fault(&mut q, Route::Admin), Some(FaultKind::NotJson));
        assert_eq!(take_fault(&mut q, Route::Admin), None);
        assert_eq!(take_fault(&mut q, Route::Monitor), Some(FaultKind::Truncated));
        assert_eq!(take_fault(&mut q, Route::Monitor), Some(FaultKind::Truncated));
        assert_eq!(take_fault(&mut q, Route::Monitor), None);
    }

    #[test]
    fn fault_json_shape() {
        let f: Fault =
            serde_json::from_str(r#"{"route":"monitor","kind":{"status":{"code":429,"retry_after":2}},"times":3}"#)
                .unwrap();
        assert_eq!(f.kind, FaultKind::Status { code: 429, retry_after: Some(2) });
        let f: Fault = serde_json::from_str(r#"{"route":"user_info","kind":"not_json"}"#).unwrap();
        assert_eq!((f.route, f.times), (Route::UserInfo, 1));
    }

    #[test]
    fn classify_routes() {
        assert_eq!(classify("/api/v2.0/datasets/monitor/stream"), Some(Route::Monitor));
        assert_eq!(classify("/v1/organizations/x/stream"), Some(Route::Monitor));
        assert_eq!(classify("/Management/v2/organizations/x/users"), Some(Route::Admin));
        assert_eq!(classify("/restapi/v2.1/accounts/a/envelopes"), Some(Route::Esignature));
        assert_eq!(classify("/_sim/stats"), None);
    }
}
