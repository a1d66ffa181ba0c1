//! Dedup strategies: how a message's dedup key is found ([`Dedup`]), and the ledger that
//! remembers the keys already delivered ([`Ledger`], the pull path's id ledger).
//!
//! A sender retries what it believes undelivered, so the same event can arrive twice. While
//! it waits in the inbox, its key absorbs the copy; once delivered, the ledger does.

use std::collections::HashSet;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::state::{Store, StoreError, push_ledger_tenant};

/// How a receiver's messages are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedup {
    /// The sender's own event id (Yousign's, Monitor's `eventId`): a message without one is
    /// malformed.
    Id,
    /// A SHA-256 fingerprint of the event's canonical JSON, for senders whose events carry no
    /// stable id (DocuSign Connect). Top-level keys in `ignore` are left out: a redelivery
    /// counter (Connect's `retryCount`) changes on every retry of the same event.
    Fingerprint {
        /// Top-level keys that are not part of the event's identity.
        ignore: &'static [&'static str],
    },
}

/// A message without the id its receiver's [`Dedup::Id`] needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an event has no id, and this receiver deduplicates on the sender's event ids")]
pub struct MissingId;

impl Dedup {
    /// The dedup key of an event with the sender's `id` (if any).
    ///
    /// # Errors
    /// `MissingId` with [`Dedup::Id`] when `id` is `None` or empty.
    pub fn key(&self, id: Option<&str>, event: &Map<String, Value>) -> Result<String, MissingId> {
        match self {
            Dedup::Id => id.filter(|i| !i.is_empty()).map(str::to_owned).ok_or(MissingId),
            Dedup::Fingerprint { ignore } => Ok(fingerprint(event, ignore)),
        }
    }
}

/// Serializes a value with every object's keys sorted (byte order), compactly: the same
/// content gives the same text whatever the order the sender wrote the keys in.
struct Canonical<'a>(&'a Value);

/// An object of [`Canonical`], without the keys in `ignore`.
struct CanonicalObject<'a> {
    map: &'a Map<String, Value>,
    ignore: &'a [&'a str],
}

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => CanonicalObject { map, ignore: &[] }.serialize(s),
            Value::Array(a) => s.collect_seq(a.iter().map(Canonical)),
            other => other.serialize(s),
        }
    }
}

impl Serialize for CanonicalObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<_> = self.map.iter().filter(|(k, _)| !self.ignore.contains(&k.as_str())).collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut map = s.serialize_map(Some(entries.len()))?;
        for (k, v) in entries {
            map.serialize_entry(k, &Canonical(v))?;
        }
        map.end()
    }
}

/// The canonical JSON of `value`: keys sorted, no whitespace.
pub fn canonical_json(value: &Value) -> String {
    // Serializing a `Value` cannot fail: its keys are strings and its numbers finite.
    serde_json::to_string(&Canonical(value)).unwrap_or_default()
}

/// The content fingerprint of an event: lowercase hex SHA-256 of its canonical JSON, the
/// top-level keys in `ignore` left out.
pub fn fingerprint(event: &Map<String, Value>, ignore: &[&str]) -> String {
    let mut h = Sha256::new();
    // Writing into a hasher cannot fail, nor can serializing a `Value`.
    serde_json::to_writer(&mut h, &CanonicalObject { map: event, ignore }).unwrap_or_default();
    format!("{:x}", h.finalize())
}

/// The keys a receiver delivered: the pull path's id ledger (bounded, per source, mirrored
/// in memory), under the receiver's own tenant so it never mixes with a pulled source's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    receiver: String,
    tenant: String,
}

impl Ledger {
    /// The ledger of `receiver`'s keys.
    pub fn new(receiver: &str) -> Self {
        Self { receiver: receiver.to_owned(), tenant: push_ledger_tenant(receiver) }
    }

    /// The receiver it belongs to.
    pub fn receiver(&self) -> &str {
        &self.receiver
    }

    /// Which of `keys` from `source` were already delivered.
    ///
    /// # Errors
    /// `StoreError::Sql` when the ledger cannot be read.
    pub fn delivered<'a>(
        &self,
        store: &mut Store,
        source: &str,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashSet<String>, StoreError> {
        store.seen(&self.tenant, source, keys)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::state::{InboxEntry, Put};

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_without_whitespace() {
        let v = json!({"b": [ {"y": 1, "x": "é\"" } ], "a": null, "A": 1.5});
        assert_eq!(canonical_json(&v), r#"{"A":1.5,"a":null,"b":[{"x":"é\"","y":1}]}"#);
    }

    #[test]
    fn same_content_in_another_key_order_has_the_same_fingerprint() {
        let a = obj(json!({"event": "envelope-sent", "data": {"accountId": "1", "envelopeId": "e"}, "n": [1, 2]}));
        let b = obj(json!({"n": [1, 2], "data": {"envelopeId": "e", "accountId": "1"}, "event": "envelope-sent"}));
        assert_eq!(fingerprint(&a, &[]), fingerprint(&b, &[]));
        assert_eq!(fingerprint(&a, &[]).len(), 64);
    }

    #[test]
    fn a_changed_value_has_another_fingerprint() {
        let a = obj(json!({"event": "envelope-sent", "data": {"envelopeId": "e"}}));
        let b = obj(json!({"event": "envelope-sent", "data": {"envelopeId": "f"}}));
        let c = obj(json!({"event": "envelope-sent", "data": {"envelopeId": "e"}, "extra": 1}));
        let d = obj(json!({"event": "envelope-sent", "data": {"envelopeId": ["e"]}}));
        let all = [&a, &b, &c, &d].map(|m| fingerprint(m, &[]));
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 4, "{all:?}");
    }

    #[test]
    fn ignored_top_level_keys_do_not_count() {
        let first = obj(json!({"event": "x", "retryCount": 0, "data": {"retryCount": 1}}));
        let retry = obj(json!({"event": "x", "retryCount": 3, "data": {"retryCount": 1}}));
        let nested = obj(json!({"event": "x", "retryCount": 0, "data": {"retryCount": 2}}));
        let d = Dedup::Fingerprint { ignore: &["retryCount"] };
        assert_eq!(d.key(None, &first), d.key(None, &retry));
        assert_ne!(d.key(None, &first), d.key(None, &nested), "only the top level is ignored");
    }

    #[test]
    fn the_id_strategy_needs_an_id() {
        let m = obj(json!({"a": 1}));
        assert_eq!(Dedup::Id.key(Some("e-1"), &m), Ok("e-1".to_owned()));
        assert_eq!(Dedup::Id.key(None, &m), Err(MissingId));
        assert_eq!(Dedup::Id.key(Some(""), &m), Err(MissingId));
        // A fingerprint ignores the sender's id: it is the content that counts.
        let fp = Dedup::Fingerprint { ignore: &[] };
        assert_eq!(fp.key(Some("e-1"), &m), fp.key(None, &m));
    }

    #[test]
    fn the_ledger_remembers_what_the_inbox_delivered_per_receiver() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        let e = InboxEntry {
            source: "acct".into(),
            key: "k1".into(),
            time: "t".into(),
            line: "{}".into(),
            transition: None,
        };
        assert!(matches!(s.inbox_put("hooks", std::slice::from_ref(&e), 10).unwrap(), Put::Stored { new: 1, .. }));
        let ledger = Ledger::new("hooks");
        assert!(ledger.delivered(&mut s, "acct", ["k1"]).unwrap().is_empty(), "waiting is not delivered");
        let rows = s.inbox_take("hooks", 10).unwrap();
        s.inbox_delivered("hooks", &rows, 1000).unwrap();
        assert_eq!(ledger.delivered(&mut s, "acct", ["k1", "k2"]).unwrap(), HashSet::from(["k1".to_owned()]));
        assert!(Ledger::new("other").delivered(&mut s, "acct", ["k1"]).unwrap().is_empty());
        assert!(ledger.delivered(&mut s, "another-acct", ["k1"]).unwrap().is_empty());
        // The pull path's ledgers are apart: a tenant named like the receiver sees nothing.
        assert!(s.seen("hooks", "acct", ["k1"]).unwrap().is_empty());
    }
}
