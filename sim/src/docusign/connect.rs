//! The Connect sender: DocuSign Connect's push of envelope and recipient events, as JSON SIM
//! messages (`connect.schema-v2.json`'s shape), to one listener.
//!
//! [`Simulator::advance_envelopes`](super::Simulator::advance_envelopes) queues one message
//! per event; a tokio task started by `connect_start` POSTs them in order. Each body is signed
//! with every configured HMAC key (`X-DocuSign-Signature-1..N` = base64 of HMAC-SHA256 of the
//! raw body, the key used as its literal bytes; `x-authorization-digest: HMACSHA256`). A
//! non-2xx reply, a timeout or a connection error redelivers the message later, after the
//! next of `retry_delays`, with `retryCount` + 1 and the same `generatedDateTime`, up to
//! `max_retries` times. [`ConnectKnobs`] make the sender misbehave on purpose.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

use super::Transition;

mod worker;

use worker::Worker;

/// Bytes of document content an oversize message carries: over Connect's 5 MiB.
const OVERSIZE_BYTES: usize = 5 * 1024 * 1024 + 64 * 1024;
/// A slow body is sent in this many pieces, `slow_ms` apart.
const SLOW_CHUNKS: usize = 8;

/// Where and how the sender delivers.
#[derive(Clone)]
pub struct ConnectTarget {
    /// The listener's URL (`http://127.0.0.1:PORT/connect`; plain HTTP only).
    pub url: String,
    /// HMAC keys: 0, 1 or 2, one `X-DocuSign-Signature-N` header per key.
    pub hmac_keys: Vec<String>,
    /// Basic auth (user, password) when the listener asks for it.
    pub basic_auth: Option<(String, String)>,
    /// Include `data.envelopeSummary` (Connect's "include data").
    pub include_data: bool,
    /// Per attempt.
    pub timeout: Duration,
    /// Waits before the 1st, 2nd, … retry; the last repeats. Real Connect waits much longer.
    pub retry_delays: Vec<Duration>,
    /// Redeliveries of one message before it is given up.
    pub max_retries: u32,
}

impl ConnectTarget {
    /// Delivery to `url`: no keys, no Basic auth, with envelope data, 10 s per attempt,
    /// retries after 100, 200, 400, 800 ms (then every 800 ms), at most 5.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            hmac_keys: Vec::new(),
            basic_auth: None,
            include_data: true,
            timeout: Duration::from_secs(10),
            retry_delays: [100, 200, 400, 800].map(Duration::from_millis).to_vec(),
            max_retries: 5,
        }
    }

    fn delay(&self, retry: u32) -> Duration {
        let i = usize::try_from(retry).unwrap_or(usize::MAX).min(self.retry_delays.len().saturating_sub(1));
        self.retry_delays.get(i).copied().unwrap_or(Duration::from_millis(100))
    }
}

impl fmt::Debug for ConnectTarget {
    /// Keys and the password stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectTarget")
            .field("url", &self.url)
            .field("hmac_keys", &format_args!("<{} keys>", self.hmac_keys.len()))
            .field("basic_auth", &self.basic_auth.as_ref().map(|(user, _)| user))
            .field("include_data", &self.include_data)
            .field("timeout", &self.timeout)
            .field("retry_delays", &self.retry_delays)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// Deliberate misbehaviour. The `*_next` counters are used up one message (`drop_next`,
/// `duplicate_next`) or one POST (`forge_next`, `unsigned_next`, `oversize_next`) at a time,
/// so a forged first attempt is followed by a correctly signed retry. A POST is never both
/// forged and unsigned: forged POSTs come first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectKnobs {
    /// The next n messages are never sent (a "connect gap").
    pub drop_next: u32,
    /// The next n messages are POSTed twice, identically.
    pub duplicate_next: u32,
    /// The next n POSTs carry wrong signatures.
    pub forge_next: u32,
    /// The next n POSTs carry no signature headers.
    pub unsigned_next: u32,
    /// The next n POSTs carry a document over 5 MiB in `envelopeSummary.envelopeDocuments`.
    pub oversize_next: u32,
    /// While non-zero, every body is trickled in pieces this many milliseconds apart.
    pub slow_ms: u64,
}

/// What the sender did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConnectStats {
    /// POSTs made (duplicates and retries included).
    pub sent: u64,
    /// POSTs answered 2xx.
    pub delivered: u64,
    /// POSTs answered non-2xx.
    pub refused: u64,
    /// POSTs that timed out.
    pub timeouts: u64,
    /// POSTs that failed to connect or broke off.
    pub errors: u64,
    /// POSTs with `retryCount` > 0.
    pub retries: u64,
    /// Messages never sent (`drop_next`).
    pub dropped: u64,
    /// Messages given up after `max_retries`.
    pub abandoned: u64,
    /// Messages queued, in flight or waiting for a retry.
    pub pending: u64,
    /// Replies by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
}

/// One queued message: the body without `retryCount`, and its attempt number.
#[derive(Debug, Clone)]
pub(super) struct Outgoing {
    message: Value,
    retry: u32,
    generation: u64,
}

#[derive(Debug, Default)]
struct Shared {
    target: Option<Arc<ConnectTarget>>,
    tx: Option<mpsc::UnboundedSender<Outgoing>>,
    task: Option<tokio::task::JoinHandle<()>>,
    generation: u64,
    knobs: ConnectKnobs,
    stats: ConnectStats,
}

/// The sender's handle, shared by the simulator and its task.
#[derive(Debug, Clone, Default)]
pub(super) struct Connect {
    shared: Arc<Mutex<Shared>>,
}

/// A JSON SIM message for transition `t` (`retryCount` 0, set again per attempt).
pub(super) fn message(t: &Transition, account_id: &str, user_id: &str, configuration_id: u64, summary: Value) -> Value {
    let mut data = serde_json::Map::new();
    data.insert("accountId".to_owned(), json!(account_id));
    data.insert("userId".to_owned(), json!(user_id));
    data.insert("envelopeId".to_owned(), json!(t.envelope_id));
    if let Some(r) = &t.recipient_id {
        data.insert("recipientId".to_owned(), json!(r));
    }
    data.insert("envelopeSummary".to_owned(), summary);
    json!({
        "event": t.event,
        "apiVersion": "v2.1",
        "uri": format!("/restapi/v2.1/accounts/{account_id}/envelopes/{}", t.envelope_id),
        "retryCount": 0,
        "configurationId": configuration_id,
        "generatedDateTime": t.status_changed,
        "data": Value::Object(data),
    })
}

/// base64(HMAC-SHA256(key, body)), Connect's signature.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length; the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return String::new() };
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// What one POST looks like after the knobs had their say.
#[derive(Debug, Clone, Copy, Default)]
struct Flavour {
    forge: bool,
    unsigned: bool,
    oversize: bool,
    slow_ms: u64,
}

fn take(n: &mut u32) -> bool {
    let hit = *n > 0;
    *n = n.saturating_sub(1);
    hit
}

impl Connect {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts (or restarts) delivery to `target`. Needs a tokio runtime; without one it logs
    /// and delivers nothing.
    pub(super) fn start(&self, target: ConnectTarget) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("Connect sender not started: no tokio runtime.");
            return;
        };
        let client = match reqwest::Client::builder().no_proxy().build() {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(error = %err, "Connect sender not started: no HTTP client.");
                return;
            }
        };
        self.stop();
        let (tx, rx) = mpsc::unbounded_channel();
        let target = Arc::new(target);
        let mut shared = self.lock();
        shared.target = Some(Arc::clone(&target));
        shared.tx = Some(tx);
        let generation = shared.generation;
        let worker = Worker { connect: self.clone(), client, target, generation };
        shared.task = Some(runtime.spawn(worker.run(rx)));
        tracing::info!(url = %shared.target.as_ref().map_or("", |t| t.url.as_str()), "Connect sender started.");
    }

    /// Stops delivery; queued messages and pending retries are forgotten.
    pub(super) fn stop(&self) {
        let mut shared = self.lock();
        if let Some(task) = shared.task.take() {
            task.abort();
        }
        shared.tx = None;
        shared.target = None;
        shared.generation += 1;
        shared.stats.pending = 0;
    }

    pub(super) fn set_knobs(&self, knobs: ConnectKnobs) {
        self.lock().knobs = knobs;
    }

    pub(super) fn stats(&self) -> ConnectStats {
        self.lock().stats.clone()
    }

    /// Queues messages (nothing happens while no target is set).
    pub(super) fn enqueue(&self, messages: Vec<Value>) {
        let mut shared = self.lock();
        let Some(tx) = shared.tx.clone() else { return };
        let generation = shared.generation;
        for message in messages {
            if take(&mut shared.knobs.drop_next) {
                shared.stats.dropped += 1;
                continue;
            }
            if tx.send(Outgoing { message, retry: 0, generation }).is_ok() {
                shared.stats.pending += 1;
            }
        }
    }

    /// True once nothing is queued, in flight or waiting for a retry; false after `timeout`.
    pub(super) async fn idle(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if self.lock().stats.pending == 0 {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        let hex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let raw: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
        assert_eq!(sig, base64::engine::general_purpose::STANDARD.encode(raw));
    }

    #[test]
    fn retry_delays_repeat_the_last() {
        let t = ConnectTarget::new("http://127.0.0.1:1/");
        assert_eq!(t.delay(0), Duration::from_millis(100));
        assert_eq!(t.delay(3), Duration::from_millis(800));
        assert_eq!(t.delay(40), Duration::from_millis(800));
        let none = ConnectTarget { retry_delays: Vec::new(), ..t };
        assert_eq!(none.delay(2), Duration::from_millis(100));
    }

    #[test]
    fn debug_hides_secrets() {
        let t = ConnectTarget {
            hmac_keys: vec!["s3cret-key".to_owned()],
            basic_auth: Some(("u".to_owned(), "pa55word".to_owned())),
            ..ConnectTarget::new("http://x/")
        };
        let s = format!("{t:?}");
        assert!(!s.contains("s3cret") && !s.contains("pa55word"), "{s}");
    }

    #[test]
    fn message_shape() {
        let t = Transition {
            envelope_id: "env".to_owned(),
            status: "sent".to_owned(),
            status_changed: "2026-01-15T10:00:00.0000000Z".to_owned(),
            event: "recipient-sent".to_owned(),
            recipient_id: Some("1".to_owned()),
        };
        let m = message(&t, "acc", "usr", 42, json!({}));
        let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["event", "apiVersion", "uri", "retryCount", "configurationId", "generatedDateTime", "data"]);
        assert_eq!(m["data"]["recipientId"], "1");
        assert_eq!(m["uri"], "/restapi/v2.1/accounts/acc/envelopes/env");
        assert!(m["configurationId"].is_u64());
    }
}
