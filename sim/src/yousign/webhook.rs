//! The webhook sender: Yousign's v3 webhook delivery to one target.
//!
//! [`YousignSim::advance`](super::YousignSim::advance) queues one message per event; a tokio
//! task started by `webhook_start` POSTs them in order with `Content-Type:
//! application/json`, `X-Yousign-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`,
//! `X-Yousign-Retry: <n>` (0 on the first try), `X-Yousign-Issued-At` and `User-Agent:
//! Yousign Webhook Bot`. The body (and so `event_id` and `event_time`) is the same on every
//! attempt. A delivery fails on a reply other than 2xx/3xx, a timeout (1 s for the first
//! attempt, 10 s for retries) or more than 2 redirects; with `auto_retry` it is retried
//! after 2 min, 6 min, 30 min, 1 h, 5 h, 18 h, 1 d and 2 d (times [`WebhookKnobs::retry_scale`]),
//! and without it only a timed-out first attempt is retried, once. The lock is the sender's
//! own, never held across a send.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::mpsc;

mod worker;

use worker::Worker;

/// Yousign's retry schedule, in seconds after the failed attempt.
const SCHEDULE_SECS: [u64; 8] = [120, 360, 1800, 3600, 18_000, 64_800, 86_400, 172_800];

/// Where the sender delivers and the secret it signs with.
#[derive(Clone)]
pub struct WebhookTarget {
    /// The receiver's URL (`http://127.0.0.1:PORT/…`; plain HTTP only).
    pub url: String,
    /// The subscription's `secret_key`: the HMAC key.
    pub secret: String,
}

impl std::fmt::Debug for WebhookTarget {
    /// The secret stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget").field("url", &self.url).field("secret", &"<redacted>").finish()
    }
}

/// How the sender behaves. The `*_next` counters are used up one event (`drop_next`,
/// `duplicate_next`) or one POST (`forge_next`, `unsigned_next`) at a time, so a forged first
/// attempt is followed by a correctly signed retry; forged POSTs come before unsigned ones.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookKnobs {
    /// The next n events are never sent.
    pub drop_next: u32,
    /// The next n events are POSTed twice on their first attempt, identically.
    pub duplicate_next: u32,
    /// The next n POSTs carry a wrong `X-Yousign-Signature-256`.
    pub forge_next: u32,
    /// The next n POSTs carry no `X-Yousign-Signature-256`.
    pub unsigned_next: u32,
    /// Multiplies the retry schedule (1.0 is Yousign's; 0.001 turns 2 min into 120 ms).
    pub retry_scale: f64,
    /// The subscription's `auto_retry`: retry failed deliveries up to 8 times.
    pub auto_retry: bool,
    /// The sender's patience on a first attempt (Yousign: 1 s).
    pub first_timeout_ms: u64,
    /// The sender's patience on a retry (Yousign: 10 s).
    pub retry_timeout_ms: u64,
}

impl Default for WebhookKnobs {
    fn default() -> Self {
        Self {
            drop_next: 0,
            duplicate_next: 0,
            forge_next: 0,
            unsigned_next: 0,
            retry_scale: 1.0,
            auto_retry: true,
            first_timeout_ms: 1000,
            retry_timeout_ms: 10_000,
        }
    }
}

impl WebhookKnobs {
    /// The wait before retry number `retry` (1-based), scaled; `None` past the schedule.
    fn delay(&self, retry: u32) -> Option<Duration> {
        let secs = *SCHEDULE_SECS.get(usize::try_from(retry).ok()?.checked_sub(1)?)?;
        let scale = if self.retry_scale.is_finite() { self.retry_scale.clamp(0.0, 1.0e6) } else { 1.0 };
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "clamped above"
        )]
        let millis = (secs as f64 * 1000.0 * scale).round() as u64;
        Some(Duration::from_millis(millis))
    }
}

/// One event's deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventDeliveries {
    /// POSTs made for it (duplicates and retries included).
    pub attempts: u32,
    /// POSTs answered 2xx/3xx.
    pub delivered: u32,
    /// The highest `X-Yousign-Retry` sent.
    pub last_retry: u32,
}

/// What the sender did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookStats {
    /// POSTs made.
    pub attempts: u64,
    /// POSTs answered 2xx/3xx.
    pub delivered: u64,
    /// POSTs that failed (bad status, timeout, too many redirects, connection error).
    pub failed: u64,
    /// Failed POSTs that timed out.
    pub timeouts: u64,
    /// POSTs with `X-Yousign-Retry` > 0.
    pub retries: u64,
    /// Events never sent (`drop_next`).
    pub dropped: u64,
    /// Events given up after the last retry.
    pub abandoned: u64,
    /// Events queued, in flight or waiting for a retry.
    pub pending: u64,
    /// Replies by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Deliveries by `event_id`.
    pub by_event: BTreeMap<String, EventDeliveries>,
}

/// One queued delivery: the raw body (constant across attempts) and its attempt number.
#[derive(Debug, Clone)]
struct Outgoing {
    event_id: String,
    body: Arc<Vec<u8>>,
    retry: u32,
    generation: u64,
}

#[derive(Debug, Default)]
struct Shared {
    tx: Option<mpsc::UnboundedSender<Outgoing>>,
    task: Option<tokio::task::JoinHandle<()>>,
    generation: u64,
    knobs: WebhookKnobs,
    stats: WebhookStats,
}

/// The sender's handle, shared by the simulator and its task.
#[derive(Debug, Clone, Default)]
pub(super) struct Sender {
    shared: Arc<Mutex<Shared>>,
}

/// `"sha256=" + lowercase hex HMAC-SHA256(secret, body)`: the `X-Yousign-Signature-256` value.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(body);
    format!("sha256={}", super::seed::to_hex(&mac.finalize().into_bytes()))
}

fn take(n: &mut u32) -> bool {
    let hit = *n > 0;
    *n = n.saturating_sub(1);
    hit
}

impl Sender {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts (or restarts) delivery to `target`. Needs a tokio runtime; without one it logs
    /// and delivers nothing.
    pub(super) fn start(&self, target: WebhookTarget) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("Webhook sender not started: no tokio runtime.");
            return;
        };
        let client = match reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::limited(2)).build()
        {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(error = %err, "Webhook sender not started: no HTTP client.");
                return;
            }
        };
        self.stop();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut shared = self.lock();
        shared.tx = Some(tx);
        let generation = shared.generation;
        tracing::info!(url = %target.url, "Webhook sender started.");
        let worker = Worker { sender: self.clone(), client, target: Arc::new(target), generation };
        shared.task = Some(runtime.spawn(worker.run(rx)));
    }

    /// Stops delivery; queued events and pending retries are forgotten.
    pub(super) fn stop(&self) {
        let mut shared = self.lock();
        if let Some(task) = shared.task.take() {
            task.abort();
        }
        shared.tx = None;
        shared.generation += 1;
        shared.stats.pending = 0;
    }

    pub(super) fn set_knobs(&self, knobs: WebhookKnobs) {
        self.lock().knobs = knobs;
    }

    pub(super) fn stats(&self) -> WebhookStats {
        self.lock().stats.clone()
    }

    pub(super) fn idle(&self) -> bool {
        self.lock().stats.pending == 0
    }

    /// Queues events (`(event_id, message)`); nothing happens while the sender is stopped.
    pub(super) fn enqueue(&self, events: Vec<(String, serde_json::Value)>) {
        let mut shared = self.lock();
        let Some(tx) = shared.tx.clone() else { return };
        let generation = shared.generation;
        for (event_id, message) in events {
            if take(&mut shared.knobs.drop_next) {
                shared.stats.dropped += 1;
                continue;
            }
            let body = Arc::new(serde_json::to_vec(&message).unwrap_or_default());
            if tx.send(Outgoing { event_id, body, retry: 0, generation }).is_ok() {
                shared.stats.pending += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn schedule_scales_and_ends() {
        let k = WebhookKnobs { retry_scale: 0.001, ..WebhookKnobs::default() };
        assert_eq!(k.delay(1), Some(Duration::from_millis(120)));
        assert_eq!(k.delay(8), Some(Duration::from_millis(172_800)));
        assert_eq!(k.delay(9), None);
        assert_eq!(k.delay(0), None);
        assert_eq!(WebhookKnobs::default().delay(2), Some(Duration::from_secs(360)));
        let nan = WebhookKnobs { retry_scale: f64::NAN, ..WebhookKnobs::default() };
        assert_eq!(nan.delay(1), Some(Duration::from_secs(120)));
    }

    #[test]
    fn debug_hides_the_secret() {
        let t = WebhookTarget { url: "http://x/".to_owned(), secret: "s3cret".to_owned() };
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
