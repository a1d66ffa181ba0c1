//! An in-process Yousign simulator: the v3 API (under `/v3`), the legacy v2 API (at the
//! root), the API key's rate limits, scripted faults, and a v3 webhook sender.
//!
//! Reply shapes follow the 2026 v3 OpenAPI copy (`yousign-v3-public-api-2026-08.yml`) and the
//! v2.1 Swagger; the collector's `tests/simulator_yousign.rs` validates every reply against
//! schemas extracted from them (`tests/fixtures/yousign/`).
//!
//! # Architecture
//! - `mod.rs`: [`YousignConfig`], the [`YousignSim`] handle and its test knobs, the router.
//! - `seed.rs`: deterministic UUIDs, hashes and choices from the seed.
//! - `model.rs`: the organisation: signature requests (with lifecycle scripts), users,
//!   webhook subscriptions; `directory.rs`: user and subscription changes;
//!   `lifecycle.rs`: one step of a request, the events it causes and their messages.
//! - `json.rs`: v3 reply bodies in the spec's names and order.
//! - `filters.rs`: cursor pagination and the `GET /signature_requests` filters.
//! - `v3.rs` / `v2.rs`: the API handlers.
//! - `gate.rs`: bearer-key check, rate limits (`limits.rs`), faults ([`Fault`]), counters.
//! - `webhook.rs`: the webhook sender (signing, retries, misbehaviour knobs).
//! - `control.rs`: the unauthenticated, loopback-only `/_sim/yousign/*` endpoints.

mod control;
mod directory;
mod filters;
mod gate;
mod json;
mod lifecycle;
mod limits;
mod model;
mod scenarios;
mod seed;
mod v2;
mod v3;
mod webhook;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use gate::{Fault, FaultKind, Route, Stats};
pub use limits::RateLimits;
pub use scenarios::SCENARIOS;
pub use webhook::{EventDeliveries, WebhookKnobs, WebhookStats, WebhookTarget, sign};

/// The default API key the simulator accepts.
pub const DEFAULT_API_KEY: &str = "ys-sim-key-7f3c9a1e5b2d4c6a8e0f";
/// The default `secret_key` of the first seeded webhook subscription.
pub const DEFAULT_WEBHOOK_SECRET: &str = "ys-sim-webhook-secret-4b8e2a6c0d1f3e5a";

/// Which Yousign environment the simulator stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// `api-sandbox.yousign.app`: 30 requests a minute, 200 an hour; `sandbox: true` in
    /// webhook messages.
    Sandbox,
    /// `api.yousign.app`: 60 requests a minute, 1,200 an hour.
    Production,
}

/// Everything the simulator needs to stand for one Yousign organisation.
#[derive(Clone)]
pub struct YousignConfig {
    /// The API key (`Authorization: Bearer <key>`) the v3 and v2 APIs accept.
    pub api_key: String,
    /// Seed for every generated id, name and lifecycle, so runs are reproducible.
    pub seed: u64,
    /// Signature requests present at start, their histories spread over the three days
    /// before it; some still in flight.
    pub signature_requests: usize,
    /// Users present at start: one owner, two admins, members; some inactive or invited.
    pub users: usize,
    /// Webhook subscriptions present at start; the first one's secret is `webhook_secret`.
    pub webhooks: usize,
    /// Sandbox or production: `sandbox` in webhook messages, and the usual default limits.
    pub environment: Environment,
    /// The API key's rate limits (see [`RateLimits::sandbox`] / [`RateLimits::production`]).
    pub limits: RateLimits,
    /// `secret_key` of the first seeded webhook subscription.
    pub webhook_secret: String,
}

impl fmt::Debug for YousignConfig {
    /// The key and the secret stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("YousignConfig")
            .field("api_key", &"<redacted>")
            .field("seed", &self.seed)
            .field("signature_requests", &self.signature_requests)
            .field("users", &self.users)
            .field("webhooks", &self.webhooks)
            .field("environment", &self.environment)
            .field("limits", &self.limits)
            .field("webhook_secret", &"<redacted>")
            .finish()
    }
}

impl YousignConfig {
    /// Key [`DEFAULT_API_KEY`], seed 7, 40 signature requests, 12 users, one webhook
    /// subscription with secret [`DEFAULT_WEBHOOK_SECRET`], the sandbox and its limits
    /// (30/min, 200/h, enforced).
    pub fn new() -> Self {
        Self {
            api_key: DEFAULT_API_KEY.to_owned(),
            seed: 7,
            signature_requests: 40,
            users: 12,
            webhooks: 1,
            environment: Environment::Sandbox,
            limits: RateLimits::sandbox(),
            webhook_secret: DEFAULT_WEBHOOK_SECRET.to_owned(),
        }
    }
}

impl YousignConfig {
    /// [`YousignConfig::new`] for `environment`, with that environment's limits.
    pub fn for_environment(environment: Environment) -> Self {
        let limits = match environment {
            Environment::Sandbox => RateLimits::sandbox(),
            Environment::Production => RateLimits::production(),
        };
        Self { environment, limits, ..Self::new() }
    }
}

impl Default for YousignConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// One webhook event produced by [`YousignSim::advance`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YousignEvent {
    /// The message's `event_id` (a UUID).
    pub event_id: String,
    /// The message's `event_name`, e.g. `signer.done`.
    pub event_name: String,
    /// The message's `event_time`: Unix seconds as a string.
    pub event_time: String,
    /// The whole message as the sender POSTs it.
    pub body: Value,
}

struct Inner {
    cfg: YousignConfig,
    org: Mutex<model::Org>,
    limiter: Mutex<limits::Limiter>,
    faults: Mutex<VecDeque<Fault>>,
    stats: Mutex<Stats>,
    sender: webhook::Sender,
}

/// A running simulator's handle: cheap to clone, shared with its server and sender.
#[derive(Clone)]
pub struct YousignSim {
    inner: Arc<Inner>,
}

impl fmt::Debug for YousignSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("YousignSim").field("cfg", &self.inner.cfg).finish_non_exhaustive()
    }
}

/// Now, to the second: Yousign's timestamps have no fractions, and filters compare them.
fn now() -> DateTime<Utc> {
    use chrono::SubsecRound as _;
    Utc::now().trunc_subsecs(0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl YousignSim {
    /// Seeds the organisation as of now.
    pub fn new(cfg: YousignConfig) -> Self {
        let org = model::Org::seeded(&cfg, now());
        let limiter = limits::Limiter::new(cfg.limits);
        let inner = Inner {
            cfg,
            org: Mutex::new(org),
            limiter: Mutex::new(limiter),
            faults: Mutex::new(VecDeque::new()),
            stats: Mutex::new(Stats::default()),
            sender: webhook::Sender::default(),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Serves until `shutdown` resolves. Takes an already-bound listener (tests bind
    /// 127.0.0.1:0), finishes requests in flight, then returns.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "Yousign simulator listening.");
        let app = self.router().into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
        tracing::info!(%addr, "Yousign simulator stopped.");
        Ok(())
    }

    /// The routes: `/v3/…`, the v2 `/users`, `/procedures`, `/members`, and
    /// `/_sim/yousign/…`. Control routes need the peer address (`ConnectInfo`), so a router
    /// mounted without it answers them 403.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v3/signature_requests", get(v3::list_requests))
            .route("/v3/signature_requests/{id}", get(v3::get_request))
            .route("/v3/signature_requests/{id}/signers/{signer}/audit_trails", get(v3::audit_trail))
            .route("/v3/users", get(v3::users))
            .route("/v3/webhooks", get(v3::webhooks))
            .route("/users", get(v2::users))
            .route("/procedures", get(v2::procedures))
            .route("/members", get(v2::members))
            .route("/_sim/yousign/scenarios/{name}", axum::routing::post(scenarios::run_route))
            .merge(control::routes())
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(self.clone(), gate::gate))
            .with_state(self.clone())
    }

    /// Moves `n` signature requests one lifecycle step each, now (round robin over the
    /// unfinished ones; new drafts are created when all are finished). Returns the webhook
    /// events the steps caused, also queued to the sender when it runs.
    pub fn advance(&self, n: usize) -> Vec<YousignEvent> {
        let now = now();
        let mut org = self.org();
        let mut events = Vec::new();
        for _ in 0..n {
            let len = org.requests.len();
            let open = (0..len).map(|k| (org.turn + k) % len).find(|&i| !org.requests[i].finished());
            let i = if let Some(i) = open {
                i
            } else {
                let r = org.new_request(now);
                org.requests.push(r);
                len
            };
            org.turn = i + 1;
            let caused = lifecycle::apply(&mut org.requests[i], now);
            for c in caused {
                let event_id = org.event_id();
                events.push(lifecycle::message(&org, i, c, event_id, now));
            }
        }
        drop(org);
        self.inner.sender.enqueue(events.iter().map(|e| (e.event_id.clone(), e.body.clone())).collect());
        events
    }

    /// Runs the attack (or benign) webhook scenario `name`, one of [`SCENARIOS`], on a new
    /// signature request now; its events are queued to the sender and returned. `None` for an
    /// unknown name.
    pub fn run_scenario(&self, name: &str) -> Option<Vec<YousignEvent>> {
        scenarios::run(self, name)
    }

    /// Adds `n` users, invited now.
    pub fn add_users(&self, n: usize) {
        self.org().add_users(n, now());
    }

    /// Swaps `n` non-owner users between `member` and `admin`.
    pub fn change_user_roles(&self, n: usize) {
        self.org().change_roles(n, now());
    }

    /// Deactivates `n` active non-owner users (`is_active: false`).
    pub fn deactivate_users(&self, n: usize) {
        self.org().deactivate(n, now());
    }

    /// Creates a webhook subscription to `endpoint` now (a new subscription is itself a
    /// security signal); returns its id.
    pub fn add_webhook_subscription(&self, endpoint: &str) -> String {
        self.org().add_subscription(endpoint, now())
    }

    /// Starts (or restarts) the webhook sender towards `target`. Must be called inside a
    /// tokio runtime; without one nothing is delivered.
    pub fn webhook_start(&self, target: WebhookTarget) {
        self.inner.sender.start(target);
    }

    /// Stops the sender; queued events and pending retries are forgotten.
    pub fn webhook_stop(&self) {
        self.inner.sender.stop();
    }

    /// Replaces the sender's knobs.
    pub fn webhook_knobs(&self, k: WebhookKnobs) {
        self.inner.sender.set_knobs(k);
    }

    /// What the sender did so far.
    pub fn webhook_stats(&self) -> WebhookStats {
        self.inner.sender.stats()
    }

    /// True when no event is queued, in flight or waiting for a retry.
    pub fn webhook_idle(&self) -> bool {
        self.inner.sender.idle()
    }

    /// Queues a fault for the next `f.times` requests of its route, after earlier faults.
    pub fn push_fault(&self, f: Fault) {
        if f.times > 0 {
            lock(&self.inner.faults).push_back(f);
        }
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Replaces the rate limits; both windows start afresh.
    pub fn set_limits(&self, l: RateLimits) {
        *self.limiter() = limits::Limiter::new(l);
    }

    /// The API's counters so far.
    pub fn stats(&self) -> Stats {
        lock(&self.inner.stats).clone()
    }

    /// Every signature request's id, in creation order.
    pub fn signature_request_ids(&self) -> Vec<String> {
        self.org().requests.iter().map(|r| r.id.clone()).collect()
    }

    /// Every signature request's `(id, status)` as it stands now, in creation order.
    pub fn signature_request_statuses(&self) -> Vec<(String, String)> {
        self.org().requests.iter().map(|r| (r.id.clone(), r.status.to_owned())).collect()
    }

    /// Every signer who has signed, as `(signature request id, signer id)`: the audit trails
    /// the API serves.
    pub fn signed_signers(&self) -> Vec<(String, String)> {
        let org = self.org();
        org.requests
            .iter()
            .flat_map(|r| {
                r.signers
                    .iter()
                    .filter(|s| s.status == model::SignerStatus::Signed)
                    .map(|s| (r.id.clone(), s.id.clone()))
            })
            .collect()
    }

    /// Every user's id, in creation order.
    pub fn user_ids(&self) -> Vec<String> {
        self.org().users.iter().map(|u| u.id.clone()).collect()
    }

    fn org(&self) -> MutexGuard<'_, model::Org> {
        lock(&self.inner.org)
    }

    fn limiter(&self) -> MutexGuard<'_, limits::Limiter> {
        lock(&self.inner.limiter)
    }

    fn stats_mut(&self) -> MutexGuard<'_, Stats> {
        lock(&self.inner.stats)
    }
}

async fn not_found() -> Response {
    gate::error(StatusCode::NOT_FOUND, "Resource not found.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_plays_steps_and_returns_events() {
        let sim = YousignSim::new(YousignConfig { signature_requests: 3, ..YousignConfig::new() });
        let events = sim.advance(40);
        assert!(events.len() >= 40, "{}", events.len());
        let names: Vec<&str> = events.iter().map(|e| e.event_name.as_str()).collect();
        assert!(names.contains(&"signer.done") || names.contains(&"signer.declined"), "{names:?}");
        for e in &events {
            assert_eq!(e.body["event_id"], e.event_id.as_str());
            assert_eq!(e.body["event_time"], e.event_time.as_str());
            assert_eq!(e.body["sandbox"], true);
            assert!(e.body["data"]["signature_request"]["id"].is_string());
            assert_eq!(e.body["data"]["signer"].is_object(), e.event_name.starts_with("signer."));
        }
        assert!(sim.signature_request_ids().len() > 3, "finished requests make room for new ones");
    }

    #[test]
    fn production_has_its_own_limits_and_no_sandbox_flag() {
        let cfg = YousignConfig::for_environment(Environment::Production);
        assert_eq!(cfg.limits, RateLimits { per_minute: 60, per_hour: 1200, enforce: true });
        let sim = YousignSim::new(YousignConfig { signature_requests: 1, ..cfg });
        assert!(sim.advance(1).iter().all(|e| e.body["sandbox"] == false));
    }

    #[test]
    fn debug_hides_secrets() {
        let s = format!("{:?}", YousignConfig::new());
        assert!(!s.contains(DEFAULT_API_KEY) && !s.contains(DEFAULT_WEBHOOK_SECRET), "{s}");
    }
}
