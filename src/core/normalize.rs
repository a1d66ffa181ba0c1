//! Turns an API record into an output line: every field kept as it came, plus the fields we
//! add ([`super::fields`]): `_time`, `source_log_type`, `vendor`, `product`, `_collected_at` and a
//! stable `event_id`, each read from the record as its [`Stream`] descriptor says.
//!
//! Two paths give the same line. The fast one ([`Fast`]) keeps a record's bytes as they came
//! and appends our fields before its closing brace: no JSON tree is built, which is most of the
//! cost of a 2000-event page. A record it cannot take exactly (no string id, a field name of
//! ours already present, duplicate keys, a non-string time) goes through the tree path,
//! [`normalize`]. A fuzz target checks both agree.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::fields::{self, ADDED};
pub use crate::format::time::{format_time, parse_time};
use crate::stream::{Identity, Stream};

/// A normalized record.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The dedup key: the event's id; for a snapshot, a fingerprint of entity id and content.
    pub event_id: String,
    /// The `_time` written into `value`.
    pub time: String,
    /// For snapshot records: the entity id (its fingerprint is `event_id`).
    pub user_id: Option<String>,
    /// The output object.
    pub value: Map<String, Value>,
}

/// The first 16 bytes of a digest as 32 lowercase hex digits: the ids and fingerprints the
/// collector derives.
pub(crate) fn short_hex(digest: &[u8]) -> String {
    digest.iter().take(16).fold(String::with_capacity(32), |mut s, b| {
        use std::fmt::Write;
        // Writing into a String cannot fail.
        write!(s, "{b:02x}").unwrap_or_default();
        s
    })
}

/// The fingerprint of a user record: its id and its content, key order ignored.
pub fn user_fingerprint(id: &str, record: &Map<String, Value>) -> String {
    let text = super::dedup::canonical_json(&Value::Object(record.clone()));
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    short_hex(&h.finalize())
}

/// The event id of a user's change from fingerprint `from` to `to`: stable when the same
/// change is delivered again (a replay), different for every change.
pub fn transition_id(from: &str, to: &str) -> String {
    let mut h = Sha256::new();
    h.update(from.as_bytes());
    h.update(b">");
    h.update(to.as_bytes());
    short_hex(&h.finalize())
}

/// The event id of a record identified by several `fields` ([`Identity::Composite`]): a hash of
/// their values in order (a missing or non-string field counts as its JSON text, `null` when
/// absent), or a content fingerprint when none of them is present.
pub fn composite_id(fields: &[&str], record: &Map<String, Value>) -> String {
    if fields.iter().all(|f| record.get(*f).is_none_or(Value::is_null)) {
        return format!("fp:{}", user_fingerprint("", record));
    }
    let mut h = Sha256::new();
    for f in fields {
        match record.get(*f) {
            Some(Value::String(s)) => h.update(s.as_bytes()),
            Some(v) => h.update(v.to_string().as_bytes()),
            None => h.update(b"null"),
        }
        h.update([0]);
    }
    short_hex(&h.finalize())
}

/// Normalizes one record of `stream`. `collected_at` is this run's collection time (RFC 3339).
pub fn normalize(stream: &Stream, mut record: Map<String, Value>, collected_at: &str) -> Normalized {
    let (event_id, user_id, time) = match stream.identity {
        Identity::Field(_) | Identity::Composite(_) => {
            let id = match (stream.identity, record.get(id_field(stream))) {
                (Identity::Composite(fields), _) => composite_id(fields, &record),
                (_, Some(Value::String(s))) if !s.is_empty() => s.clone(),
                // No id: a content fingerprint still lets downstream deduplicate.
                _ => format!("fp:{}", user_fingerprint("", &record)),
            };
            let time = stream
                .time_field
                .and_then(|f| record.get(f))
                .and_then(Value::as_str)
                .and_then(parse_time)
                .map_or_else(|| collected_at.to_owned(), |(t, d)| format_time(t, d));
            (id, None, time)
        }
        Identity::Snapshot(field) => {
            let id = record.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
            // A snapshot has no modification time: `_time` is when we observed this state.
            (user_fingerprint(&id, &record), Some(id), collected_at.to_owned())
        }
    };
    record.insert(fields::TIME.into(), Value::String(time.clone()));
    record.insert(fields::LOG_TYPE.into(), Value::String(stream.log_type.into()));
    record.insert(fields::VENDOR.into(), Value::String(stream.vendor.into()));
    record.insert(fields::PRODUCT.into(), Value::String(stream.product.into()));
    record.insert(fields::COLLECTED_AT.into(), Value::String(collected_at.to_owned()));
    record.insert(fields::EVENT_ID.into(), Value::String(event_id.clone()));
    Normalized { event_id, time, user_id, value: record }
}

/// The single id field of a stream identified by one (empty for the others).
fn id_field(stream: &Stream) -> &'static str {
    match stream.identity {
        Identity::Field(f) => f,
        Identity::Snapshot(_) | Identity::Composite(_) => "",
    }
}

/// A record on the fast path: its bytes as sent, its id, its time and its actor.
#[derive(Debug, Clone)]
pub struct Fast {
    /// The record, one JSON object, exactly as the API sent it.
    pub raw: Box<RawValue>,
    /// Its non-empty id.
    pub event_id: String,
    /// Its parsed time and the fractional digits written, when it has a readable one.
    pub time: Option<(DateTime<Utc>, usize)>,
    /// Its acting entity, for the enrichment join.
    pub user_id: Option<String>,
}

/// Which of the fields the fast path reads a key is.
enum Key {
    Id,
    Time,
    Actor,
    /// One of the fields we add: the record takes the tree path.
    Ours,
    Other,
}

/// Reads an object key without allocating (as serde's derive reads field names), against the
/// stream's field names.
struct KeySeed<'s>(&'s Stream);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Key;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Key, E> {
        let s = self.0;
        Ok(match s.identity {
            Identity::Field(id) if k == id => Key::Id,
            _ if s.time_field == Some(k) => Key::Time,
            _ if s.actor.is_some_and(|a| a.field == k) => Key::Actor,
            _ if ADDED.contains(&k) => Key::Ours,
            _ => Key::Other,
        })
    }
}

/// A string value, borrowed from the input when it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// What the fast path reads of a record; every other field is skipped without allocating.
#[derive(Default)]
struct Probe<'de> {
    id: Option<Cow<'de, str>>,
    time: Option<Cow<'de, str>>,
    actor: Option<Cow<'de, str>>,
    ours: bool,
}

struct ProbeSeed<'s>(&'s Stream);

impl<'de> DeserializeSeed<'de> for ProbeSeed<'_> {
    type Value = Probe<'de>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Probe<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ProbeSeed<'_> {
    type Value = Probe<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probe<'de>, A::Error> {
        use serde::de::Error as _;
        let mut p = Probe::default();
        let (mut seen_id, mut seen_time, mut seen_actor) = (false, false, false);
        // A field read twice is a duplicate key: only the tree path decides which one wins.
        let once = |seen: &mut bool| {
            if std::mem::replace(seen, true) { Err(A::Error::custom("duplicate field")) } else { Ok(()) }
        };
        while let Some(key) = map.next_key_seed(KeySeed(self.0))? {
            match key {
                Key::Id => {
                    once(&mut seen_id)?;
                    p.id = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0);
                }
                Key::Time => {
                    once(&mut seen_time)?;
                    p.time = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0);
                }
                Key::Actor => {
                    once(&mut seen_actor)?;
                    p.actor = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0);
                }
                Key::Ours => {
                    p.ours = true;
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(p)
    }
}

impl Fast {
    /// Takes `raw` (a JSON object of `stream`) on the fast path, or gives it back when only the
    /// tree path writes its line exactly (and for snapshot streams, which always take it).
    ///
    /// # Errors
    /// The record itself, for the tree path.
    pub fn probe(stream: &Stream, raw: Box<RawValue>) -> Result<Self, Box<RawValue>> {
        if !matches!(stream.identity, Identity::Field(_)) {
            return Err(raw);
        }
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let Ok(p) = ProbeSeed(stream).deserialize(&mut de) else { return Err(raw) };
        match p.id {
            Some(id) if !id.is_empty() && !p.ours => {
                let time = p.time.as_deref().and_then(parse_time);
                let event_id = id.into_owned();
                let user_id = p.actor.filter(|u| !u.is_empty()).map(Cow::into_owned);
                Ok(Self { raw, event_id, time, user_id })
            }
            _ => Err(raw),
        }
    }

    /// The `_time` the line gets.
    pub fn time(&self, collected_at: &str) -> String {
        self.time.map_or_else(|| collected_at.to_owned(), |(t, d)| format_time(t, d))
    }

    /// The output line: the record's bytes (insignificant line breaks turned into spaces)
    /// with our fields appended, as [`normalize`] would write them, plus `_tenant` and `_user`
    /// (a JSON object's text) when given.
    pub fn line(
        &self,
        stream: &Stream,
        time: &str,
        collected_at: &str,
        tenant: Option<&str>,
        user: Option<&str>,
    ) -> String {
        let body = self.raw.get().trim_end();
        // A probed record is an object with at least one key: it ends with `}`.
        let body = body.strip_suffix('}').unwrap_or(body).trim_end();
        let mut out = String::with_capacity(body.len() + 200 + self.event_id.len());
        if memchr::memchr2(b'\n', b'\r', body.as_bytes()).is_some() {
            // In valid JSON a raw line break can only be whitespace between tokens.
            out.extend(body.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }));
        } else {
            out.push_str(body);
        }
        push_field(&mut out, fields::TIME, time);
        push_field(&mut out, fields::LOG_TYPE, stream.log_type);
        push_field(&mut out, fields::VENDOR, stream.vendor);
        push_field(&mut out, fields::PRODUCT, stream.product);
        push_field(&mut out, fields::COLLECTED_AT, collected_at);
        push_field(&mut out, fields::EVENT_ID, &self.event_id);
        if let Some(t) = tenant {
            push_field(&mut out, fields::TENANT, t);
        }
        if let Some(u) = user {
            out.push_str(",\"");
            out.push_str(fields::USER);
            out.push_str("\":");
            out.push_str(u);
        }
        out.push('}');
        out
    }
}

/// Appends `,"key":"value"` with `value` escaped as JSON.
fn push_field(out: &mut String, key: &str, value: &str) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":");
    if value.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(value);
        out.push('"');
    } else {
        out.push_str(&Value::String(value.to_owned()).to_string());
    }
}

/// A JSON object literal as a map, for tests across the crate.
#[cfg(test)]
pub(crate) fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("not an object: {v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::Actor;
    use serde_json::json;

    /// Events with an id, a time and an actor, as event streams have.
    static EVENTS: Stream = Stream {
        key: "events",
        log_type: "testevent",
        vendor: "acme",
        product: "audit",
        identity: Identity::Field("eventId"),
        time_field: Some("timestamp"),
        actor: Some(Actor { field: "userId", summary: Map::clone }),
        columns: &[],
        render: |_, _, _| Vec::new(),
        render_text: None,
        newest_event: |_| None,
    };

    /// Entity snapshots, as user inventories have.
    static USERS: Stream = Stream {
        key: "users",
        log_type: "testusers",
        identity: Identity::Snapshot("id"),
        time_field: None,
        actor: None,
        ..EVENTS
    };

    #[test]
    fn times_keep_precision() {
        let (t, d) = parse_time("2023-03-03T09:10:06.0512813Z").unwrap();
        assert_eq!(format_time(t, d), "2023-03-03T09:10:06.0512813Z");
        let (t, d) = parse_time("2023-03-03T09:10:06Z").unwrap();
        assert_eq!(format_time(t, d), "2023-03-03T09:10:06Z");
        let (t, d) = parse_time("2015-08-13T22:03:03.45").unwrap();
        assert_eq!(format_time(t, d), "2015-08-13T22:03:03.45Z");
        let (t, d) = parse_time("2023-03-03T11:10:06.5+02:00").unwrap();
        assert_eq!(format_time(t, d), "2023-03-03T09:10:06.5Z");
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn customer_event_keeps_fields_and_adds_ours() {
        let r = obj(
            json!({"timestamp": "2023-03-03T09:10:06.0512813Z", "eventId": "e1", "object": "Login", "data": {"A": 1}}),
        );
        let n = normalize(&EVENTS, r, "2026-01-01T00:00:00.000Z");
        assert_eq!(n.event_id, "e1");
        let v = Value::Object(n.value);
        assert_eq!(v["object"], "Login");
        assert_eq!(v["data"]["A"], 1);
        assert_eq!(v["_time"], "2023-03-03T09:10:06.0512813Z");
        assert_eq!(v["source_log_type"], "testevent");
        assert_eq!(v["vendor"], "acme");
        assert_eq!(v["product"], "audit");
        assert_eq!(v["event_id"], "e1");
    }

    #[test]
    fn user_fingerprints_stay_what_state_files_hold() {
        // Stored snapshots are compared by this value: it must never change between versions.
        let m = obj(json!({"id": "u1", "z": [1, 2.5, "é\"\n", null, {"b": true, "a": {}}], "a": -0.0, "É": 1e300}));
        assert_eq!(user_fingerprint("u1", &m), "5ef794c37aa5c65ac0071acde67a8bfb");
    }

    #[test]
    fn user_fingerprint_tracks_content_not_order() {
        let a = obj(json!({"id": "u1", "email": "a@x", "user_status": "active"}));
        let b = obj(json!({"user_status": "active", "id": "u1", "email": "a@x"}));
        let c = obj(json!({"id": "u1", "email": "a@x", "user_status": "closed"}));
        let (na, nb, nc) = (normalize(&USERS, a, "t"), normalize(&USERS, b, "t"), normalize(&USERS, c, "t"));
        assert_eq!(na.event_id, nb.event_id);
        assert_ne!(na.event_id, nc.event_id);
        assert_eq!(na.user_id.as_deref(), Some("u1"));
        assert_eq!(na.value["source_log_type"], "testusers");
        assert_eq!(na.value["_time"], "t");
    }

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    /// The fast line, parsed, equals the tree path's object.
    fn same(text: &str) {
        let fast = Fast::probe(&EVENTS, raw(text)).unwrap();
        let line = fast.line(&EVENTS, &fast.time("c"), "c", None, None);
        assert!(!line.contains('\n'), "{line}");
        let a: Value = serde_json::from_str(&line).unwrap();
        let b = normalize(&EVENTS, serde_json::from_str(text).unwrap(), "c");
        assert_eq!(a, Value::Object(b.value), "{line}");
        assert_eq!(fast.event_id, b.event_id);
    }

    #[test]
    fn fast_path_writes_what_the_tree_path_writes() {
        same(r#"{"eventId":"e1","timestamp":"2023-03-03T09:10:06.0512813Z","data":{"A":[1,2.50,"x\"y"]}}"#);
        same("{\n  \"eventId\" : \"e\\u00e9\\n\",\r\n  \"timestamp\": \"2023-03-03T11:10:06.5+02:00\" }\n");
        same(
            r#"{"eventId":"e2","timestamp":"not a time","n":1e400}"#.replace("1e400", "12345678901234567890").as_str(),
        );
        same(r#"{"eventId":"e3"}"#);
    }

    #[test]
    fn fast_path_declines_what_it_cannot_write_exactly() {
        for text in [
            r#"{"timestamp":"2023-03-03T09:10:06Z"}"#,
            r#"{"eventId":""}"#,
            r#"{"eventId":7}"#,
            r#"{"eventId":"e","timestamp":5}"#,
            r#"{"eventId":"e","eventId":"f"}"#,
            r#"{"eventId":"e","_time":"x"}"#,
            r#"{"eventId":"e","event_id":null}"#,
        ] {
            assert!(Fast::probe(&EVENTS, raw(text)).is_err(), "{text}");
        }
    }

    #[test]
    fn fast_line_carries_the_tenant_and_escapes() {
        let f = Fast::probe(&EVENTS, raw(r#"{"eventId":"a\"b"}"#)).unwrap();
        let line = f.line(&EVENTS, "t", "c", Some("acme"), Some(r#"{"id":"u"}"#));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_user"]["id"], "u");
        assert_eq!(v["event_id"], "a\"b");
        assert_eq!(v["_tenant"], "acme");
    }

    #[test]
    fn missing_event_id_gets_a_fingerprint() {
        let n = normalize(&EVENTS, obj(json!({"object": "X"})), "t");
        assert!(n.event_id.starts_with("fp:"));
        assert_eq!(n.value["_time"], "t");
    }
}
