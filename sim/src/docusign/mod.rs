//! An in-process Docusign API simulator for demo mode, integration tests and `simulate`.
//!
//! One HTTP server stands in for all three Docusign hosts (OAuth, Monitor, Admin), so the
//! collector points its auth, Monitor and Admin base URLs at the same `http://127.0.0.1:PORT`.
//! Reply shapes and JSON names follow the official Python SDKs (`docusign-monitor` 2.0.0,
//! `docusign-admin` 2.1.0); the collector's `tests/sdk_fidelity.rs` checks that with the SDKs.
//!
//! # Architecture
//! - `mod.rs`: [`SimConfig`], the [`Simulator`] handle and its test knobs, the router.
//! - `accounts.rs`: the user's accounts (each owned by its own organization, each with its
//!   own quota) and which account a request's path names.
//! - `faults.rs`: the fault queue ([`Fault`]) and the per-request gate that applies faults,
//!   counts requests and adds the `X-RateLimit-*` / `X-BurstLimit-*` headers.
//! - `quota.rs`: the per-account hourly and burst quota ([`QuotaConfig`]), counted always and
//!   enforced with 429 on request, on a clock that can run faster than real time.
//! - `oauth.rs`: `POST /oauth/token` (JWT grant, verified against the registered public
//!   keys), `GET /oauth/userinfo`, and bearer-token checks for the API routes;
//!   `oauth/authcode.rs`: `GET /oauth/auth` and the consent form (`oauth/pages.rs` renders
//!   the HTML); `oauth/code_grant.rs`: the authorization-code and refresh-token grants, with
//!   refresh-token rotation; `oauth/knobs.rs`: the [`Simulator`]'s OAuth test knobs.
//! - `events.rs`: the Monitor event store (backlog or clock feed) and opaque cursors.
//! - `monitor.rs`: both Monitor stream generations (lens `datasets/monitor/stream`, v1 org stream).
//! - `seed.rs` / `data.rs` / `row.rs`: seeded randomness, realistic `StreamingEventRow`
//!   content, and the row's shape, serialized straight into reply bodies; `prerender.rs`
//!   renders a backlog once at start for benchmarks.
//! - `users.rs` / `admin.rs`: the seeded Admin user directory and `GET .../users` with paging.
//! - `envelopes.rs` / `envelope_json.rs`: the seeded eSignature envelope store and lifecycle,
//!   and its JSON in the `docusign-esign` SDK's names.
//! - `esignature.rs`: `GET …/envelopes` (listStatusChanges), `…/envelopes/{id}`,
//!   `…/audit_events`, and the per-envelope 15-minute polling rule; `golive.rs`: the read-only
//!   account, users, groups, permission profiles, brands and settings endpoints.
//! - `connect.rs`: the Connect sender (JSON SIM messages, HMAC, retries, misbehaviour knobs).
//! - `control.rs`: the unauthenticated, loopback-only `/_sim/*` control endpoints.

mod accounts;
mod admin;
mod chaos;
mod connect;
mod control;
mod data;
mod envelope_json;
mod envelopes;
mod esignature;
mod events;
mod faults;
mod golive;
mod monitor;
mod oauth;
mod prerender;
mod quota;
mod row;
mod samples;
mod scenarios;
mod seed;
mod users;

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

pub use accounts::AccountUse;
pub use chaos::Chaos;
pub use connect::{ConnectKnobs, ConnectStats, ConnectTarget, sign as connect_signature};
pub use envelopes::Transition;
pub use faults::{Fault, FaultKind, Route};
pub use oauth::{DEFAULT_CLIENT_SECRET, LoginMode, RefreshRotation};
pub use quota::QuotaConfig;
pub use scenarios::{CONNECT_SCENARIOS, SCENARIOS, connect_scenario};

/// Everything the simulator needs to know to behave like one Docusign tenant.
#[derive(Clone)]
pub struct SimConfig {
    /// RSA public key (PEM, SPKI "BEGIN PUBLIC KEY" or PKCS#1 "BEGIN RSA PUBLIC KEY") that JWT
    /// assertions must verify against: the integration key's first registered key pair.
    pub public_key_pem: String,
    /// Further registered public keys (PEM). Docusign lets an integration key hold several key
    /// pairs so an operator can rotate; an assertion verified by any of them is accepted.
    pub extra_public_keys: Vec<String>,
    /// The integration key (client id); a JWT's `iss` must equal it.
    pub integration_key: String,
    /// The impersonated user's GUID; a JWT's `sub` must equal it.
    pub user_id: String,
    /// The default eSignature account, returned by userinfo and required by Admin queries.
    pub account_id: String,
    /// The organization that owns the account; the v1 Monitor stream and Admin need it.
    pub organization_id: String,
    /// How many accounts the user has, each owned by its own organization and with its own
    /// quota (1: only `account_id`; the others get ids derived from the seed, see
    /// [`Simulator::accounts`]).
    pub accounts: usize,
    /// Seed for every generated id, event and user, so runs are reproducible.
    pub seed: u64,
    /// How Monitor events come into existence.
    pub feed: EventFeed,
    /// Number of seeded Admin users.
    pub users: usize,
    /// `expires_in` of issued access tokens, in seconds.
    pub token_lifetime_secs: u64,
    /// Scopes the user consented to; a token request asking for a scope outside this set gets
    /// `consent_required`.
    pub consented_scopes: Vec<String>,
    /// The account's API quota: counted for the rate-limit headers, enforced only on request.
    pub quota: QuotaConfig,
    /// Redirect URIs registered for the integration key; `GET /oauth/auth` needs an exact match.
    /// Empty: any loopback `http://127.0.0.1:<port>/<path>` or `http://localhost:<port>/<path>`.
    pub redirect_uris: Vec<String>,
    /// The integration key's secret for `Authorization: Basic` at `POST /oauth/token`; `None`
    /// registers no secret, so only public (PKCE) clients can redeem codes.
    pub client_secret: Option<String>,
    /// `expires_in` of access tokens from the authorization-code and refresh grants (Docusign:
    /// eight hours).
    pub code_token_lifetime_secs: u64,
    /// Lifetime of a refresh token (Docusign: 30 days); see [`RefreshRotation`] for which
    /// tokens get a full lifetime.
    pub refresh_token_lifetime_secs: u64,
    /// Whether a refresh token stays valid after it was used (changeable at runtime).
    pub refresh_rotation: RefreshRotation,
    /// Render the initial backlog's org-stream rows once at start (on all cores, about 1.4 KB
    /// of memory per event) so serving a page is a copy: for benchmarks of the collector.
    pub prerender: bool,
    /// eSignature envelopes present at start, their histories spread over the backlog span
    /// (one day for a clock feed) before the start; some still in flight.
    pub envelopes: usize,
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("public_key_pem", &format_args!("<{} bytes>", self.public_key_pem.len()))
            .field("extra_public_keys", &self.extra_public_keys.len())
            .field("integration_key", &self.integration_key)
            .field("user_id", &self.user_id)
            .field("account_id", &self.account_id)
            .field("organization_id", &self.organization_id)
            .field("accounts", &self.accounts)
            .field("seed", &self.seed)
            .field("feed", &self.feed)
            .field("users", &self.users)
            .field("token_lifetime_secs", &self.token_lifetime_secs)
            .field("consented_scopes", &self.consented_scopes)
            .field("quota", &self.quota)
            .field("prerender", &self.prerender)
            .field("envelopes", &self.envelopes)
            .field("redirect_uris", &self.redirect_uris)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("code_token_lifetime_secs", &self.code_token_lifetime_secs)
            .field("refresh_token_lifetime_secs", &self.refresh_token_lifetime_secs)
            .field("refresh_rotation", &self.refresh_rotation)
            .finish()
    }
}

impl SimConfig {
    /// A config with fixed GUID-looking ids, seed 42, a 500-event backlog over one day,
    /// 50 users, 40 envelopes, one-hour tokens, consent to `signature impersonation organization_read
    /// user_read`, and DocuSign's production quota counted but not enforced. For the code grant:
    /// loopback redirect URIs, the secret [`DEFAULT_CLIENT_SECRET`], eight-hour access tokens,
    /// 30-day refresh tokens that stay valid after use.
    pub fn new(public_key_pem: String) -> Self {
        Self {
            public_key_pem,
            extra_public_keys: Vec::new(),
            integration_key: "5c2b8d4e-1f3a-4b6c-9d7e-2a1b3c4d5e6f".to_owned(),
            user_id: "9cfb472b-ef1f-4116-8df2-17c53841fd6c".to_owned(),
            account_id: "8949bd2a-f1fc-4c95-ae8e-9e294b2af5b7".to_owned(),
            organization_id: "7f46f1ee-828e-41d4-9d85-755fa1814fd4".to_owned(),
            accounts: 1,
            seed: 42,
            feed: EventFeed::Backlog { count: 500, span: Duration::from_secs(86_400) },
            users: 50,
            token_lifetime_secs: 3600,
            consented_scopes: ["signature", "impersonation", "organization_read", "user_read"]
                .map(str::to_owned)
                .to_vec(),
            quota: QuotaConfig::default(),
            prerender: false,
            envelopes: 40,
            redirect_uris: Vec::new(),
            client_secret: Some(DEFAULT_CLIENT_SECRET.to_owned()),
            code_token_lifetime_secs: 28_800,
            refresh_token_lifetime_secs: 30 * 86_400,
            refresh_rotation: RefreshRotation::KeepOld,
        }
    }
}

/// Where the Monitor events come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFeed {
    /// `count` Monitor events with ingestion times spread evenly over the `span` before the
    /// simulator started. Tests use this (e.g. count 5000, span 2 days), then `append_events`.
    Backlog {
        /// Number of events present at start.
        count: usize,
        /// How far back the first event lies.
        span: Duration,
    },
    /// Demo mode: one event per `period` on a fixed grid anchored at 2026-01-01T00:00:00Z,
    /// content derived only from (seed, grid index), materialised lazily as time passes; only
    /// ticks within the last 7 days and ≤ now are visible. Because grid and ids are
    /// deterministic, a cursor from an earlier process resumes correctly in a new one.
    Clock {
        /// Time between two events (clamped to at least 1 ms).
        period: Duration,
    },
}

/// Request and reply counters, also served by `GET /_sim/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Requests to `POST /oauth/token`, faulted ones included.
    pub token_requests: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Token requests answered with an OAuth error (400, or 401 for `invalid_client`).
    pub token_errors: u64,
    /// Requests to `GET /oauth/userinfo`.
    pub userinfo_requests: u64,
    /// Requests to either Monitor stream.
    pub monitor_requests: u64,
    /// Requests to the Admin users endpoint.
    pub admin_requests: u64,
    /// Requests to `/_sim/*`.
    pub control_requests: u64,
    /// Replies with status 401.
    pub status_401: u64,
    /// Replies with status 429.
    pub status_429: u64,
    /// Requests that a pushed [`Fault`] changed.
    pub faults_applied: u64,
    /// Monitor rows sent.
    pub events_served: u64,
    /// Admin user records sent.
    pub users_served: u64,
    /// Requests to the eSignature REST API (`/restapi/…`).
    pub esignature_requests: u64,
    /// Envelopes sent in status-change lists.
    pub envelopes_served: u64,
    /// Authorization codes redeemed at `POST /oauth/token`.
    pub code_grants: u64,
    /// Refresh tokens redeemed successfully.
    pub refresh_grants: u64,
    /// Refresh-grant requests refused (also counted in `token_errors`).
    pub refresh_errors: u64,
    /// Requests to `GET /oauth/auth` and `POST /oauth/auth/consent`.
    pub authorize_requests: u64,
    /// Each account's quota use, in the order of [`Simulator::accounts`].
    pub accounts: Vec<AccountUse>,
    /// Distinct client connections (peer address and port) that sent an OAuth or API request:
    /// how many connections the clients opened, whatever they reused them for.
    pub connections: u64,
}

/// Cheap, cloneable handle to one running (or not yet running) simulated tenant.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("organization_id", &self.inner.cfg.organization_id)
            .field("started", &self.inner.started)
            .finish_non_exhaustive()
    }
}

/// State shared by all requests. Immutable parts live outside the mutex.
struct Inner {
    cfg: SimConfig,
    started: DateTime<Utc>,
    /// The user's accounts (account 0 is `cfg.account_id`).
    accounts: accounts::Accounts,
    /// The quota's (possibly faster) clock, anchored at `started`.
    clock: quota::ScaledClock,
    /// User ids of the seeded directory, the actors of generated events.
    actors: Vec<String>,
    /// Backlog rows rendered at start (empty unless `cfg.prerender`).
    prerendered: prerender::Prerendered,
    /// The Connect sender (its own lock: its task never touches `state`).
    connect: connect::Connect,
    /// Connect's `configurationId`.
    configuration_id: u64,
    state: Mutex<State>,
}

/// The mutable part. Locked briefly and never across an `.await`.
struct State {
    events: events::EventStore,
    directory: users::Directory,
    tokens: oauth::TokenStore,
    /// Registered JWT keys, login mode, pending consents, codes and refresh tokens.
    auth: oauth::AuthState,
    consent_revoked: bool,
    faults: VecDeque<Fault>,
    chaos: Option<chaos::Dice>,
    stats: Stats,
    /// One quota window per account, indexed like `Inner::accounts`.
    rates: Vec<quota::RateWindow>,
    envelopes: envelopes::EnvelopeStore,
    polling: esignature::Polling,
    /// Rows scenarios wrote (`scenarios.rs`), by `Origin::Scripted` index.
    scripted: Vec<Vec<u8>>,
    /// The client connections (peer address and port) that sent an OAuth or API request.
    peers: HashSet<SocketAddr>,
}

impl Simulator {
    /// Builds the tenant: seeds users and the event backlog. A public key that does not parse
    /// is logged and skipped; with none left every token request fails with
    /// `no_valid_keys_or_signatures`.
    pub fn new(cfg: SimConfig) -> Self {
        let started = Utc::now();
        let pems = std::iter::once(&cfg.public_key_pem).chain(&cfg.extra_public_keys);
        let auth = oauth::AuthState::new(oauth::parse_keys(pems), cfg.refresh_rotation);
        let directory = users::Directory::seeded(&cfg, started);
        let actors = directory.ids();
        let events = events::EventStore::new(&cfg.feed, cfg.seed, started);
        let span = match cfg.feed {
            EventFeed::Backlog { span, .. } => span,
            EventFeed::Clock { .. } => Duration::from_secs(86_400),
        };
        let span = chrono::Duration::from_std(span).unwrap_or_else(|_| chrono::Duration::days(1));
        let envelopes = envelopes::EnvelopeStore::seeded(&cfg, &directory, started, span);
        let prerendered = if cfg.prerender {
            prerender::Prerendered::render(&row::RowContext::of(&cfg, &actors), events.backlog())
        } else {
            prerender::Prerendered::default()
        };
        let accounts = accounts::Accounts::new(&cfg);
        let account_use = accounts
            .all()
            .iter()
            .map(|a| AccountUse {
                account_id: a.account_id.clone(),
                organization_id: a.organization_id.clone(),
                ..AccountUse::default()
            })
            .collect();
        let state = State {
            events,
            directory,
            tokens: oauth::TokenStore::default(),
            auth,
            consent_revoked: false,
            faults: VecDeque::new(),
            chaos: None,
            stats: Stats { accounts: account_use, ..Stats::default() },
            rates: std::iter::repeat_with(quota::RateWindow::default).take(accounts.len()).collect(),
            envelopes,
            polling: esignature::Polling::default(),
            scripted: Vec::new(),
            peers: HashSet::new(),
        };
        let clock = quota::ScaledClock::new(started.timestamp_millis(), &cfg.quota);
        let configuration_id = 10_000_000 + seed::Prng::new(cfg.seed, "connect-configuration", &[]).below(89_999_999);
        let inner = Inner {
            cfg,
            started,
            accounts,
            clock,
            actors,
            prerendered,
            connect: connect::Connect::default(),
            configuration_id,
            state: Mutex::new(state),
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
        tracing::info!(%addr, "Simulator listening.");
        let app = self.router().into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
        tracing::info!(%addr, "Simulator stopped.");
        Ok(())
    }

    /// Ingests `n` new events "now", after all existing ones.
    pub fn append_events(&self, n: usize) {
        self.state().events.append(n, Utc::now());
    }

    /// Runs the attack (or benign) scenario `name`, one of [`SCENARIOS`]: its Monitor rows are
    /// ingested now, its directory changes stamped now. Returns how many rows and changes it
    /// made, `None` for an unknown name.
    pub fn run_scenario(&self, name: &str) -> Option<usize> {
        scenarios::run(self, name)
    }

    /// Changes `n` existing users (status, name or group) with modification time now.
    pub fn modify_users(&self, n: usize) {
        self.state().directory.modify(n, Utc::now());
    }

    /// Adds `n` users created (and modified) now.
    pub fn add_users(&self, n: usize) {
        self.state().directory.add(n, Utc::now());
    }

    /// Queues a fault for the next `fault.times` requests of its route, after earlier faults.
    pub fn push_fault(&self, fault: Fault) {
        if fault.times > 0 {
            self.state().faults.push_back(fault);
        }
    }

    /// Sets (or with `None` ends) random faults on a share of every route's replies.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        self.state().chaos = chaos.map(chaos::Dice::new);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// From now on the token endpoint answers `consent_required` (issued tokens keep working,
    /// as on Docusign).
    pub fn revoke_consent(&self) {
        self.state().consent_revoked = true;
    }

    /// Undoes [`Simulator::revoke_consent`].
    pub fn grant_consent(&self) {
        self.state().consent_revoked = false;
    }

    /// Invalidates every access token issued so far; the API then answers 401 for them.
    /// Refresh tokens stay valid (see [`Simulator::revoke_refresh_tokens`]).
    pub fn expire_tokens(&self) {
        self.state().tokens.clear();
    }

    /// The position (ingestion time in nanoseconds, sequence) an opaque cursor of this
    /// simulator points after, so tests can check a checkpoint never moves backwards.
    pub fn cursor_position(cursor: &str) -> Option<(i64, u64)> {
        events::decode_cursor(cursor).map(|k| (k.at, k.seq))
    }

    /// Every access token issued and still valid (not expired, not wiped by
    /// [`Simulator::expire_tokens`]), from any grant, so tests can check that no copy of one
    /// leaks to disk.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state().tokens.valid(Utc::now())
    }

    /// Moves `n` envelopes one step forward now (in-flight ones first, least recently changed
    /// first; new envelopes once all are terminal) and returns the envelope-level transitions.
    /// Each step also becomes Connect messages (recipient-level events first, then the
    /// envelope-level one) when the Connect sender runs.
    pub fn advance_envelopes(&self, n: usize) -> Vec<Transition> {
        let cfg = &self.inner.cfg;
        let (steps, messages) = {
            let mut state = self.state();
            let steps = state.envelopes.advance(n, Utc::now());
            let mut messages = Vec::new();
            for step in &steps {
                let env = &state.envelopes.envelopes()[step.index];
                let summary = envelope_json::connect_summary(env, &cfg.account_id);
                for t in step.recipients.iter().chain(std::iter::once(&step.envelope)) {
                    let id = self.inner.configuration_id;
                    messages.push(connect::message(t, &cfg.account_id, &env.sender.user_id, id, summary.clone()));
                }
            }
            (steps, messages)
        };
        self.inner.connect.enqueue(messages);
        steps.into_iter().map(|s| s.envelope).collect()
    }

    /// Starts (or restarts) the Connect sender: from now on every envelope step is POSTed to
    /// `target`. Must be called inside a tokio runtime (otherwise it logs and does nothing).
    pub fn connect_start(&self, target: ConnectTarget) {
        self.inner.connect.start(target);
    }

    /// Stops the Connect sender; queued messages and pending retries are forgotten.
    pub fn connect_stop(&self) {
        self.inner.connect.stop();
    }

    /// Replaces the Connect sender's misbehaviour knobs.
    pub fn connect_knobs(&self, knobs: ConnectKnobs) {
        self.inner.connect.set_knobs(knobs);
    }

    /// What the Connect sender did so far.
    pub fn connect_stats(&self) -> ConnectStats {
        self.inner.connect.stats()
    }

    /// Waits until no Connect message is queued, in flight or waiting for a retry: true then,
    /// false if `timeout` passed first.
    pub async fn connect_idle(&self, timeout: Duration) -> bool {
        self.inner.connect.idle(timeout).await
    }

    /// Every envelope-level transition so far, seeded history included, in time order: the
    /// ground truth a poller must reproduce.
    pub fn envelope_transitions(&self) -> Vec<Transition> {
        self.state().envelopes.transitions().to_vec()
    }

    /// GETs of an envelope resource refused by the 15-minute polling rule.
    pub fn envelope_polling_violations(&self) -> u64 {
        self.state().polling.violations
    }

    /// When each `GET …/envelopes` list call came, on the simulator's (quota) clock.
    pub fn envelope_list_calls(&self) -> Vec<DateTime<Utc>> {
        self.state().polling.list_calls.clone()
    }

    /// The user's accounts as (account id, organization id), the configured one first; each
    /// has its own quota, and userinfo lists them all.
    pub fn accounts(&self) -> Vec<(String, String)> {
        self.inner.accounts.all().iter().map(|a| (a.account_id.clone(), a.organization_id.clone())).collect()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let state = self.state();
        Stats { connections: state.peers.len() as u64, ..state.stats.clone() }
    }

    /// Every `eventId` currently in the stream, in ingestion order.
    pub fn event_ids(&self) -> Vec<String> {
        let entries = self.state().events.all(Utc::now());
        entries.iter().map(|e| data::event_id(self.inner.cfg.seed, e.origin)).collect()
    }

    /// Number of events visible now, without building their ids.
    fn event_count(&self) -> usize {
        self.state().events.len(Utc::now())
    }

    /// Number of users in the Admin directory.
    pub fn user_count(&self) -> usize {
        self.state().directory.len()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/oauth/token", post(oauth::token))
            .route("/oauth/userinfo", get(oauth::userinfo))
            .route("/oauth/auth", get(oauth::authorize_get))
            .route("/oauth/auth/consent", post(oauth::consent_post))
            .route("/api/{version}/datasets/{dataset}/stream", get(monitor::legacy_stream))
            .route("/v1/organizations/{organization_id}/stream", get(monitor::org_stream))
            .route("/management/v2/organizations/{organization_id}/users", get(admin::users))
            .route("/Management/v2/organizations/{organization_id}/users", get(admin::users))
            .route("/restapi/v2.1/accounts/{account_id}", get(golive::account))
            .route("/restapi/v2.1/accounts/{account_id}/users", get(golive::users))
            .route("/restapi/v2.1/accounts/{account_id}/groups", get(golive::groups))
            .route("/restapi/v2.1/accounts/{account_id}/permission_profiles", get(golive::permission_profiles))
            .route("/restapi/v2.1/accounts/{account_id}/brands", get(golive::brands))
            .route("/restapi/v2.1/accounts/{account_id}/settings", get(golive::settings))
            .route("/restapi/v2.1/accounts/{account_id}/envelopes", get(esignature::list))
            .route("/restapi/v2.1/accounts/{account_id}/envelopes/{envelope_id}", get(esignature::get_envelope))
            .route(
                "/restapi/v2.1/accounts/{account_id}/envelopes/{envelope_id}/audit_events",
                get(esignature::audit_events),
            )
            .route(
                "/restapi/v2.1/accounts/{account_id}/envelopes/{envelope_id}/{*rest}",
                get(esignature::other_resource),
            )
            .route("/_sim/envelopes/advance", post(control::advance_envelopes))
            .route("/_sim/connect", post(control::connect_start))
            .route("/_sim/connect", delete(control::connect_stop))
            .route("/_sim/connect/knobs", post(control::connect_knobs))
            .route("/_sim/connect/stats", get(control::connect_stats))
            .route("/_sim/events", post(control::append_events))
            .route("/_sim/scenarios/{name}", post(scenarios::run_route))
            .route("/_sim/users/modify", post(control::modify_users))
            .route("/_sim/users/add", post(control::add_users))
            .route("/_sim/faults", post(control::push_fault))
            .route("/_sim/faults", delete(control::clear_faults))
            .route("/_sim/chaos", post(control::set_chaos))
            .route("/_sim/chaos", delete(control::clear_chaos))
            .route("/_sim/consent/revoke", post(control::revoke_consent))
            .route("/_sim/consent/grant", post(control::grant_consent))
            .route("/_sim/tokens/expire", post(control::expire_tokens))
            .route("/_sim/stats", get(control::stats))
            .route("/_sim/accounts", get(control::accounts))
            .route("/_sim/oauth/keys", put(control::set_public_keys))
            .route("/_sim/oauth/login-mode", put(control::set_login_mode))
            .route("/_sim/oauth/revoke-refresh", post(control::revoke_refresh))
            .route("/_sim/oauth/age-refresh", post(control::age_refresh))
            .route("/_sim/oauth/refresh-rotation", put(control::set_refresh_rotation))
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(self.clone(), faults::gate))
            .with_state(self.clone())
    }
}

/// An error reply with a JSON body, e.g. `{"error":"…","error_description":"…"}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: serde_json::Value,
}

impl ApiError {
    /// The common `{"error", "error_description"}` shape (Admin `ErrorDetails`, OAuth errors).
    fn new(status: StatusCode, error: &str, description: &str) -> Self {
        Self { status, body: json!({ "error": error, "error_description": description }) }
    }

    /// 400 with the given error code and description.
    fn bad_request(error: &str, description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
        }
        resp
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such resource in the simulator.")
}

/// The `Host` header of a request, which is the simulator's address as the client sees it.
fn host_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}
