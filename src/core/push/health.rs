//! The collector's health lines about its receivers: each request refused for a failed
//! signature or authentication (401) is counted per (receiver, reason, remote address) in a
//! one-minute window (aligned to the clock's minutes); when the window is over (or the
//! listener stops) each key becomes one line, `health_event = "webhook_signature_failed"`,
//! written into the inbox under `health.<receiver>` in one transaction and delivered
//! like a pushed message (at least once, to every sink, as the receiver's `health` stream).
//! Thousands of forged POSTs from one address are one line a minute; the number of keys in a
//! window is bounded ([`MAX_KEYS`]), past which further addresses are counted under `other`.
//! Its `event_id` is a hash of the key and the window, so a line written twice (a restart in
//! the same minute) is one event. No line carries a header value, a signature or the body:
//! the reason is the receiver's fixed text.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tracing::{debug, warn};

use super::{Push, lock};
use crate::core::fields;
use crate::state::{InboxEntry, Put};
use crate::stream::Stream;

/// The window's length.
pub(super) const WINDOW_SECS: i64 = 60;
/// Most keys counted in one window; past it, new addresses are counted as `other`.
pub(super) const MAX_KEYS: usize = 1000;
/// The inbox name prefix of a receiver's health lines.
const PREFIX: &str = "health.";
/// The health event of a refused signature or authentication.
const SIGNATURE_FAILED: &str = "webhook_signature_failed";

/// The receiver whose health lines an inbox name holds, if it is one.
pub(super) fn owner(inbox_name: &str) -> Option<&str> {
    inbox_name.strip_prefix(PREFIX)
}

/// (window start, receiver, reason, remote address).
type Key = (i64, String, &'static str, String);

#[derive(Debug, Clone)]
struct Count {
    n: u64,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
}

/// What is being counted.
#[derive(Debug, Default)]
pub(super) struct Health(Mutex<BTreeMap<Key, Count>>);

fn window(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(WINDOW_SECS) * WINDOW_SECS
}

impl Health {
    /// Counts one refusal of `receiver` for `reason` from `peer` (`ip:port`; the port is left
    /// out: a flood comes from many ports).
    pub(super) fn record(&self, receiver: &str, reason: &'static str, peer: &str, now: DateTime<Utc>) {
        let ip = peer.parse::<std::net::SocketAddr>().map_or_else(|_| peer.to_owned(), |a| a.ip().to_string());
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let w = window(now);
        let mut key = (w, receiver.to_owned(), reason, ip);
        if !m.contains_key(&key) && m.len() >= MAX_KEYS {
            "other".clone_into(&mut key.3);
        }
        let c = m.entry(key).or_insert(Count { n: 0, first: now, last: now });
        c.n += 1;
        c.last = now;
    }

    /// The lines of windows over at `now` (all of them with `all`), by inbox name; removed.
    pub(super) fn take(&self, now: DateTime<Utc>, all: bool) -> BTreeMap<String, Vec<InboxEntry>> {
        let current = window(now);
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let done: Vec<Key> = m.keys().filter(|k| all || k.0 < current).cloned().collect();
        let mut out: BTreeMap<String, Vec<InboxEntry>> = BTreeMap::new();
        for key in done {
            let Some(c) = m.remove(&key) else { continue };
            let (w, receiver, reason, remote) = key;
            let id = crate::core::normalize::short_hex(
                &Sha256::new()
                    .chain_update(format!("{SIGNATURE_FAILED}\n{receiver}\n{reason}\n{remote}\n{w}"))
                    .finalize(),
            );
            let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
            let line = json!({
                "health_event": SIGNATURE_FAILED,
                "receiver": receiver,
                "reason": reason,
                "remote_addr": remote,
                "count": c.n,
                "first_seen": ts(c.first),
                "last_seen": ts(c.last),
                "window_start": DateTime::from_timestamp(w, 0).map(ts),
                "window_seconds": WINDOW_SECS,
            });
            out.entry(format!("{PREFIX}{receiver}")).or_default().push(InboxEntry {
                source: super::HEALTH_SOURCE.to_owned(),
                key: id,
                time: ts(c.last),
                line: line.to_string(),
                transition: None,
            });
        }
        out
    }
}

impl Push {
    /// Writes the health lines of each finished window into the inbox (and wakes delivery),
    /// every second until `stop`; then writes what is still counted, for the next start.
    pub(super) async fn health_loop(&self, mut stop: watch::Receiver<bool>) {
        if !self.shared.receivers.iter().any(|r| r.health().is_some()) {
            return;
        }
        loop {
            let stopping = *stop.borrow();
            self.write_health(stopping);
            if stopping {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                changed = stop.changed() => if changed.is_err() { self.write_health(true); break },
            }
        }
    }

    fn write_health(&self, all: bool) {
        let s = &self.shared;
        let lines = s.health.take(Utc::now(), all);
        if lines.is_empty() {
            return;
        }
        let collected_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut store = lock(&s.store);
        for (name, mut entries) in lines {
            let stream = owner(&name).and_then(|o| s.receivers.iter().find(|r| r.name() == o)).and_then(|r| r.health());
            let Some(stream) = stream else { continue };
            for e in &mut entries {
                e.line = with_fields(&e.line, stream, &e.key, &e.time, &collected_at);
            }
            match store.inbox_put(&name, &entries, s.opts.inbox_capacity) {
                Ok(Put::Stored { new, .. }) => {
                    debug!(inbox = %name, lines = new, "Health lines stored.");
                    s.wake.notify_one();
                }
                Ok(Put::Full { len }) => {
                    warn!(inbox = %name, waiting = len, dropped = entries.len(), "The inbox is full: health lines about refused requests were dropped.");
                }
                Err(e) => warn!(inbox = %name, error = %e, "Health lines about refused requests could not be stored."),
            }
        }
    }
}

/// `line` with the fields every line carries (`_time`, `source_log_type`, `vendor`,
/// `product`, `_collected_at`, `event_id`), from the health stream's descriptor.
fn with_fields(line: &str, stream: &Stream, key: &str, time: &str, collected_at: &str) -> String {
    let Ok(serde_json::Value::Object(mut m)) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_owned();
    };
    let s = |v: &str| serde_json::Value::String(v.to_owned());
    m.insert(fields::TIME.into(), s(time));
    m.insert(fields::LOG_TYPE.into(), s(stream.log_type));
    m.insert(fields::VENDOR.into(), s(stream.vendor));
    m.insert(fields::PRODUCT.into(), s(stream.product));
    m.insert(fields::COLLECTED_AT.into(), s(collected_at));
    m.insert(fields::EVENT_ID.into(), s(key));
    serde_json::Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap()
    }

    #[test]
    fn a_flood_is_one_line_per_key_and_minute_with_a_stable_id() {
        let h = Health::default();
        for n in 0..500 {
            h.record("hooks", "no signature matches", &format!("192.0.2.7:{}", 1000 + n), at(n % 50));
        }
        h.record("hooks", "no signature header", "192.0.2.7:1", at(10));
        h.record("hooks", "no signature matches", "192.0.2.7:1", at(70));
        assert!(h.take(at(59), false).is_empty(), "the minute is not over");
        let lines = h.take(at(60), false);
        let entries = &lines["health.hooks"];
        assert_eq!(entries.len(), 2);
        let flood = entries.iter().find(|e| e.line.contains("no signature matches")).unwrap();
        let first: serde_json::Value = serde_json::from_str(&flood.line).unwrap();
        assert_eq!(first["count"], 500);
        assert_eq!(first["remote_addr"], "192.0.2.7");
        assert_eq!(first["first_seen"], "2026-01-01T00:00:00.000Z");
        let again = Health::default();
        again.record("hooks", "no signature matches", "192.0.2.7:9", at(3));
        assert_eq!(again.take(at(3), true)["health.hooks"][0].key, flood.key, "id from key + window");
        let rest = h.take(at(61), true);
        assert_eq!(rest["health.hooks"].len(), 1, "the next minute, flushed at stop");
        assert_eq!(owner("health.hooks"), Some("hooks"));
        assert_eq!(owner("hooks"), None);
    }

    #[test]
    fn keys_are_bounded() {
        let h = Health::default();
        for n in 0..(MAX_KEYS + 50) {
            h.record("other-hooks", "no signature matches", &format!("10.0.{}.{}:1", n / 256, n % 256), at(1));
        }
        let lines = h.take(at(1), true);
        let entries = &lines["health.other-hooks"];
        assert_eq!(entries.len(), MAX_KEYS + 1);
        assert!(entries.iter().any(|e| e.line.contains("\"remote_addr\":\"other\"")));
    }
}
