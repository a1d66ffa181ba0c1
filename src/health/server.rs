//! The `/metrics` and `/healthz` listener of `run`, on the same current-thread runtime as the
//! collector. Gauges that describe the state file (last success, checkpoint lag, failures,
//! health) are read from it at scrape time, with the same judgement as `status`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde_json::json;
use tracing::{info, warn};

use crate::config::{Config, ConfigError};
use crate::error::Error;
use crate::health::{self, CredentialHealth, SourceHealth};
use crate::metrics::{SourceLabels, global};
use crate::state::Store;

/// What the handlers read.
#[derive(Debug)]
struct Shared {
    store: Arc<Mutex<Store>>,
    expected: Vec<(String, String)>,
    stale_after: Duration,
    cfg: Config,
}

impl Shared {
    fn assess(&self) -> Result<Vec<SourceHealth>, String> {
        let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        health::assess(&store, &self.expected, Utc::now(), self.stale_after).map_err(|e| e.to_string())
    }

    fn credentials(&self) -> Result<Vec<CredentialHealth>, String> {
        let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        health::assess_credentials(&self.cfg, None, Some(&store), Utc::now().timestamp()).map_err(|e| e.to_string())
    }
}

/// The running listener; dropping it stops it.
#[derive(Debug)]
pub struct Server {
    /// The bound address (the real port when the configuration said 0).
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the listener when `[metrics] listen` is set, and logs the bound address.
///
/// # Errors
/// `ConfigError::Invalid` (`metrics.listen`) when the address cannot be bound.
pub async fn start(cfg: &Config, store: &Arc<Mutex<Store>>) -> Result<Option<Server>, Error> {
    let Some(listen) = cfg.metrics.listen else { return Ok(None) };
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| ConfigError::Invalid {
        key: "metrics.listen".into(),
        message: format!("cannot listen on {listen}: {e}"),
    })?;
    let addr = listener.local_addr().map_err(|e| Error::Internal(format!("metrics listener address: {e}")))?;
    let shared = Arc::new(Shared {
        store: store.clone(),
        expected: health::expected(cfg, None),
        stale_after: health::stale_after(cfg),
        cfg: cfg.clone(),
    });
    let app = Router::new().route("/metrics", get(metrics)).route("/healthz", get(healthz)).with_state(shared);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, "Metrics listener stopped.");
        }
    });
    info!(addr = %addr, "Serving /metrics and /healthz.");
    Ok(Some(Server { addr, task }))
}

/// Sets the state-file gauges from a fresh assessment.
fn refresh(list: &[SourceHealth]) {
    let m = global();
    let now = Utc::now();
    for h in list {
        let l = SourceLabels::new(&h.tenant, &h.source);
        m.healthy.get_or_create(&l).set(i64::from(h.verdict.acceptable(true)));
        let failures = h.run.as_ref().map_or(0, |r| r.consecutive_failures);
        m.failures.get_or_create(&l).set(i64::try_from(failures).unwrap_or(i64::MAX));
        if let Some(t) = h.run.as_ref().and_then(|r| r.last_success_at) {
            #[allow(clippy::cast_precision_loss)] // Unix milliseconds fit an f64 exactly until the year 287396.
            m.last_success.get_or_create(&l).set(t.timestamp_millis() as f64 / 1000.0);
        }
        if let Some(t) = h.newest_event_at {
            #[allow(clippy::cast_precision_loss)] // a lag in milliseconds, far below 2^53
            m.checkpoint_lag.get_or_create(&l).set(now.signed_duration_since(t).num_milliseconds() as f64 / 1000.0);
        }
    }
}

/// Sets the credential gauges from a fresh assessment.
fn credential_gauges(list: &[CredentialHealth], now: i64) {
    for c in list {
        let g = crate::metrics::CredentialGauges {
            refresh_expiry: c.refresh.as_ref().map(|r| r.2),
            refresh_age: c.refresh.as_ref().map(|r| now - r.1),
            expiring: !c.warnings.is_empty() && c.refresh.is_some(),
            login_required: c.problem.is_some(),
            key_in_use: c.key.as_ref().map(|k| k.0),
            first_key_refused: c.first_key_refused_at.is_some(),
        };
        crate::metrics::credentials(&c.tenant, c.flow.as_str(), &g);
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    match s.assess() {
        Ok(list) => refresh(&list),
        Err(e) => warn!(error = %e, "State file unreadable at scrape; state gauges not refreshed."),
    }
    match s.credentials() {
        Ok(list) => credential_gauges(&list, Utc::now().timestamp()),
        Err(e) => warn!(error = %e, "State file unreadable at scrape; credential gauges not refreshed."),
    }
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, global().registry()) {
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics: {e}\n")).into_response();
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}

async fn healthz(State(s): State<Arc<Shared>>) -> Response {
    let list = match s.assess() {
        Ok(list) => list,
        Err(e) => {
            let body = json!({"status": "unhealthy", "reason": format!("state file unreadable: {e}")});
            return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
        }
    };
    let credentials = s.credentials().unwrap_or_default();
    let creds = health::credentials_json(&credentials, Utc::now().timestamp());
    let logins: Vec<String> =
        credentials.iter().filter_map(|c| c.problem.as_ref().map(|p| format!("{}: {p}", c.tenant))).collect();
    let reason = match (health::problems(&list, true), logins.is_empty()) {
        (None, true) => {
            return (StatusCode::OK, axum::Json(json!({"status": "ok", "credentials": creds}))).into_response();
        }
        (Some(p), true) => p,
        (None, false) => logins.join("; "),
        (Some(p), false) => format!("{p}; {}", logins.join("; ")),
    };
    let sources: Vec<_> = list
        .iter()
        .filter(|h| !h.verdict.acceptable(true))
        .map(|h| json!({"tenant": h.tenant, "source": h.source, "verdict": h.verdict}))
        .collect();
    let body = json!({"status": "unhealthy", "reason": reason, "sources": sources, "credentials": creds});
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}
