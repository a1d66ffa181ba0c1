//! The push path: events a sender POSTs to us (webhooks), delivered at least once with no gap.
//!
//! receiver → verify → parse → dedup → durable inbox (one SQLite transaction) → 2xx →
//! delivery to every sink → commit. A 2xx is our promise that the message is durable: it is
//! answered only after the inbox write committed; when that write fails the answer is 5xx and
//! the sender retries. A message leaves the inbox only once every sink confirmed it, in the
//! same transaction that writes its key into the ledger; what was acknowledged but not yet
//! delivered when the process stopped is delivered at the next start.
//!
//! # Architecture
//! - this file: the [`Receiver`] trait a connector implements, [`Message`], [`Push`] (the
//!   pipeline: building it, serving, counters).
//! - `counts.rs`: what took each way ([`PushCounts`]).
//! - `intake.rs`: one request: checks in order, the inbox write, the HTTP answer.
//! - `deliver.rs`: the delivery loop: inbox → sinks → commit.
//! - `serve.rs`: the listener: connections (plain or TLS), read timeouts, graceful stop.
//! - `notice.rs`: refusals logged once per receiver and reason a minute, not per request.
//! - `health.rs`: refused signatures counted per (receiver, reason, remote address) and
//!   written, once a minute per key, as the collector's own health lines through the inbox.

mod counts;
mod deliver;
mod health;
mod intake;
mod notice;
mod serve;
#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::routing::any;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use counts::Counters;
pub use counts::PushCounts;

use super::fanout::Fanout;
use crate::core::dedup::Dedup;
pub use crate::state::EnvelopeTransition;
use crate::state::{Store, StoreError};
use crate::stream::Stream;

/// A connector's webhook endpoint: the vendor's parts of the push path.
pub trait Receiver: Send + Sync + 'static {
    /// A stable name: logs, counters, inbox rows and the ledger. Renaming it leaves what waits
    /// in the inbox under the old name (kept, not delivered, until that name is back).
    fn name(&self) -> &str;

    /// The URL path it answers on: literal, starting with `/` (e.g. `/hooks/docusign`).
    fn path(&self) -> &str;

    /// The stream its lines are delivered as.
    fn kind(&self) -> &'static Stream;

    /// How its messages are deduplicated.
    fn dedup(&self) -> Dedup;

    /// Checks that `body` (the raw bytes, before any parsing) comes from the sender, e.g. an
    /// HMAC signature in `headers`, compared in constant time.
    ///
    /// # Errors
    /// `Rejection` (answered 401 without detail) when it does not.
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection>;

    /// Turns a verified body into its messages. None is fine (a test ping): answered 2xx.
    ///
    /// # Errors
    /// `Malformed` (answered 400) when the body is not what this sender sends.
    fn parse(&self, body: &[u8]) -> Result<Vec<Message>, Malformed>;

    /// Whether the request's `Content-Type` is one this sender sends; checked after
    /// [`Receiver::verify`], so an unverified request is always 401. `false` is answered 415.
    fn media_type_ok(&self, _headers: &HeaderMap) -> bool {
        true
    }

    /// The stream of the collector's health lines about this receiver (refused signatures,
    /// aggregated per minute); `None`: none are written.
    fn health(&self) -> Option<&'static Stream> {
        None
    }
}

/// Checks `Authorization: Basic …` against `user` and `password`, in constant time.
///
/// # Errors
/// `Rejection` naming what is missing or wrong (never a value).
pub fn verify_basic(
    headers: &axum::http::HeaderMap,
    user: &str,
    password: &secrecy::SecretString,
) -> Result<(), Rejection> {
    let value = headers.get(axum::http::header::AUTHORIZATION).ok_or(Rejection::new("no Basic authentication"))?;
    let encoded = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .ok_or(Rejection::new("authorization is not Basic"))?;
    let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded.trim())
        .map_err(|_| Rejection::new("Basic authentication is not base64"))?;
    let split = decoded.iter().position(|&b| b == b':').ok_or(Rejection::new("Basic authentication has no ':'"))?;
    let (u, p) = (&decoded[..split], &decoded[split + 1..]);
    let ok = subtle::ConstantTimeEq::ct_eq(u, user.as_bytes())
        & subtle::ConstantTimeEq::ct_eq(p, secrecy::ExposeSecret::expose_secret(password).as_bytes());
    if bool::from(ok) { Ok(()) } else { Err(Rejection::new("Basic authentication does not match")) }
}

/// Why a request failed verification, for the log. A `&'static str`, so it can never carry a
/// secret, a signature or a byte of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection(&'static str);

impl Rejection {
    /// A rejection for `reason`, e.g. "no signature header" or "no signature matches".
    pub fn new(reason: &'static str) -> Self {
        Self(reason)
    }

    /// The reason.
    pub fn reason(&self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Why a verified body could not be parsed, for the log (never sent back).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(String);

impl Malformed {
    /// A parse failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// One event a sender pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The sender's stable event id, when its events have one.
    pub id: Option<String>,
    /// When the event happened (the line's time).
    pub time: DateTime<Utc>,
    /// The sender's identity (an account, an organisation): scopes dedup.
    pub source: String,
    /// The event: the line delivered.
    pub event: Map<String, Value>,
    /// The envelope status change it reports, if any: recorded in the state file with it.
    pub transition: Option<EnvelopeTransition>,
}

/// The `source` (dedup scope) of the collector's health lines in the inbox and the ledger.
pub const HEALTH_SOURCE: &str = "esign-collector";

/// Limits of the push path.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Largest body accepted; larger is answered 413.
    pub max_body: usize,
    /// Most messages waiting in the inbox; past it requests are answered 503.
    pub inbox_capacity: u64,
    /// The `Retry-After` of a 503.
    pub retry_after: Duration,
    /// Keys kept per source in the ledger once delivered (as `state.ledger_size`).
    pub ledger_size: u32,
    /// Most lines handed to the sinks at once.
    pub batch: usize,
    /// First wait after a failed delivery; doubled after each failure up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest wait between delivery attempts.
    pub backoff_max: Duration,
    /// Longest a client may take to send a request's headers, and, separately, its body
    /// (and a TLS handshake): a slow or stalled client cannot hold a connection longer.
    pub read_timeout: Duration,
    /// Receivers another listener of this process serves: their waiting messages are theirs
    /// to deliver, not "a receiver that is not configured".
    pub also_served: Vec<String>,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            max_body: 4 * 1024 * 1024,
            inbox_capacity: 100_000,
            retry_after: Duration::from_secs(60),
            ledger_size: 100_000,
            batch: 500,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            read_timeout: Duration::from_secs(30),
            also_served: Vec::new(),
        }
    }
}

/// Push path problems.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The receivers cannot be served together.
    #[error("push receivers: {0}")]
    Receivers(String),
    /// The state file refused an operation.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sink did not confirm a batch: it stays in the inbox.
    #[error(transparent)]
    Sink(#[from] crate::sinks::SinkError),
    /// The listener failed.
    #[error("push listener {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What the request handlers and the delivery loop share.
struct Shared {
    receivers: Vec<Arc<dyn Receiver>>,
    store: Arc<Mutex<Store>>,
    opts: PushOptions,
    counters: Counters,
    /// Wakes the delivery loop when messages were stored.
    wake: Notify,
    /// Whether the inbox (or the disk) is refusing messages: logged when it starts and ends,
    /// not for every refused request.
    refusing: AtomicBool,
    /// When each refusal was last logged.
    notices: notice::Notices,
    /// Refused signatures being counted, written as health lines once their minute is over.
    health: health::Health,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.receivers.iter().map(|r| r.name()).collect();
        f.debug_struct("Shared").field("receivers", &names).field("opts", &self.opts).finish_non_exhaustive()
    }
}

/// The push pipeline: serves the receivers' paths and delivers their messages to the sinks.
#[derive(Debug)]
pub struct Push {
    shared: Arc<Shared>,
    sinks: Arc<Fanout>,
}

/// Whether `path` is one axum routes literally: `/`, then segments of URL-safe characters
/// (what a receiver's path must be; config checks call it to name the key at fault).
pub fn literal_path(path: &str) -> bool {
    path.strip_prefix('/').is_some_and(|rest| {
        rest.split('/')
            .all(|seg| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)))
    })
}

impl Push {
    /// Builds the pipeline over `receivers`, the state file and the sinks. Messages an earlier
    /// run acknowledged but did not deliver are delivered first once [`Push::run`] starts.
    ///
    /// # Errors
    /// `PushError::Receivers` when two receivers share a name or a path, or a path is not a
    /// literal `/…` path; `PushError::Store` when the inbox cannot be read.
    pub fn new(
        receivers: Vec<Arc<dyn Receiver>>,
        store: Arc<Mutex<Store>>,
        sinks: Arc<Fanout>,
        opts: PushOptions,
    ) -> Result<Self, PushError> {
        for (i, r) in receivers.iter().enumerate() {
            if !literal_path(r.path()) {
                return Err(PushError::Receivers(format!(
                    "receiver {:?}: path {:?} must start with '/' and use only letters, digits, '-', '.', '_' and '~' between single slashes",
                    r.name(),
                    r.path()
                )));
            }
            if let Some(o) = receivers[..i].iter().find(|o| o.name() == r.name() || o.path() == r.path()) {
                return Err(PushError::Receivers(format!(
                    "receivers {:?} ({}) and {:?} ({}) share a name or a path",
                    o.name(),
                    o.path(),
                    r.name(),
                    r.path()
                )));
            }
        }
        let heads = lock(&store).inbox_heads()?;
        for h in heads {
            if receivers.iter().any(|r| r.name() == h.receiver) {
                info!(receiver = %h.receiver, waiting = h.len, "Pushed messages accepted earlier wait in the inbox; delivering them first.");
            } else if health::owner(&h.receiver)
                .is_some_and(|o| receivers.iter().any(|r| r.name() == o) || opts.also_served.iter().any(|a| a == o))
            {
                info!(receiver = %h.receiver, waiting = h.len, "Health lines written earlier wait in the inbox; delivering them first.");
            } else if !opts.also_served.contains(&h.receiver) {
                warn!(receiver = %h.receiver, waiting = h.len, "Pushed messages of a receiver that is not configured wait in the inbox; they are kept until it is.");
            }
        }
        let shared = Shared {
            receivers,
            store,
            opts,
            counters: Counters::default(),
            wake: Notify::new(),
            refusing: AtomicBool::new(false),
            notices: notice::Notices::default(),
            health: health::Health::default(),
        };
        Ok(Self { shared: Arc::new(shared), sinks })
    }

    /// The routes: each receiver's path (any method; only POST is accepted), and 404 for the
    /// rest. For serving beside other routes; [`Push::run`] serves it alone.
    pub fn router(&self) -> Router {
        let mut router = Router::new();
        for (i, r) in self.shared.receivers.iter().enumerate() {
            let handler =
                move |State(s): State<Arc<Shared>>, req: Request| async move { intake::receive(&s, i, req).await };
            router = router.route(r.path(), any(handler));
        }
        router.fallback(intake::not_found).with_state(self.shared.clone())
    }

    /// Serves the receivers on `listener` (already bound: tests bind port 0) and delivers what
    /// they accept, until `shutdown` resolves: then new connections are refused, requests in
    /// flight are answered and the batch in flight is finished; what still waits stays in the
    /// inbox for the next start.
    ///
    /// # Errors
    /// `PushError::Listen` when serving fails.
    pub async fn run(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), PushError> {
        self.serve(listener, None, shutdown).await
    }

    /// [`Push::run`], with TLS terminated here when `tls` is given (a certificate for direct
    /// exposure; without it, put the listener behind a TLS proxy).
    ///
    /// # Errors
    /// `PushError::Listen` when serving fails.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), PushError> {
        let addr = listener.local_addr().map_or_else(|_| "?".to_owned(), |a| a.to_string());
        let (stop_tx, stop_rx) = watch::channel(false);
        let paths: Vec<&str> = self.shared.receivers.iter().map(|r| r.path()).collect();
        info!(addr = %addr, paths = ?paths, tls = tls.is_some(), "Receiving pushed events.");
        let stop = async move {
            shutdown.await;
            stop_tx.send_replace(true);
        };
        let server = serve::accept_loop(listener, self.router(), tls, self.shared.opts.read_timeout, stop_rx.clone());
        let (outcome, (), (), ()) =
            tokio::join!(server, self.deliver_loop(stop_rx.clone()), self.health_loop(stop_rx), stop);
        info!(addr = %addr, "Push listener stopped.");
        outcome.map_err(|source| PushError::Listen { addr, source })
    }

    /// What happened so far.
    pub fn counts(&self) -> PushCounts {
        self.shared.counters.snapshot()
    }
}

fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
