//! Turns an API record into an output line: every field kept as it came, plus `_time`,
//! `source_log_type`, `vendor`, `product`, `_collected_at` and a stable `event_id`.
//!
//! Two paths give the same line. The fast one ([`Fast`]) keeps a Monitor record's bytes as
//! they came and appends our fields before its closing brace: no JSON tree is built, which is
//! most of the cost of a 2000-event page. A record it cannot take exactly (no string
//! `eventId`, a field name of ours already present, duplicate keys, a non-string timestamp)
//! goes through the tree path, [`normalize`]. A fuzz target checks both agree.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::sources::SourceKind;

/// A normalized record.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The dedup key: Monitor's `eventId`; for users a fingerprint of id and content.
    pub event_id: String,
    /// The `_time` written into `value`.
    pub time: String,
    /// For users: the user id (its fingerprint is `event_id`).
    pub user_id: Option<String>,
    /// The output object.
    pub value: Map<String, Value>,
}

/// Parses DocuSign timestamps: RFC 3339 with any number of fractional digits, or without an
/// offset (then UTC). Returns the UTC time and how many fractional digits were written.
pub fn parse_time(s: &str) -> Option<(DateTime<Utc>, usize)> {
    let s = s.trim();
    let t = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc()))
        .ok()?;
    let digits = s.split_once('.').map_or(0, |(_, frac)| frac.chars().take_while(char::is_ascii_digit).count());
    Some((t, digits))
}

/// RFC 3339 UTC keeping the precision the source wrote (up to nanoseconds).
pub fn format_time(t: DateTime<Utc>, digits: usize) -> String {
    if digits == 0 {
        return t.to_rfc3339_opts(SecondsFormat::Secs, true);
    }
    let nanos = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ": keep `digits` of the nine.
    match nanos.find('.') {
        Some(dot) => format!("{}Z", &nanos[..=dot + digits.min(9)]),
        None => nanos,
    }
}

/// A stable serialization with sorted keys, so a fingerprint ignores key order.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The fingerprint of a user record: its id and its content, key order ignored.
pub fn user_fingerprint(id: &str, record: &Map<String, Value>) -> String {
    let mut text = String::new();
    canonical(&Value::Object(record.clone()), &mut text);
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    let d = h.finalize();
    d.iter().take(16).fold(String::with_capacity(32), |mut s, b| {
        use std::fmt::Write;
        write!(s, "{b:02x}").unwrap_or_default();
        s
    })
}

/// The event id of a user's change from fingerprint `from` to `to`: stable when the same
/// change is delivered again (a replay), different for every change.
pub fn transition_id(from: &str, to: &str) -> String {
    let mut h = Sha256::new();
    h.update(from.as_bytes());
    h.update(b">");
    h.update(to.as_bytes());
    h.finalize().iter().take(16).fold(String::with_capacity(32), |mut s, b| {
        use std::fmt::Write;
        write!(s, "{b:02x}").unwrap_or_default();
        s
    })
}

/// Normalizes one record. `collected_at` is this run's collection time (RFC 3339).
pub fn normalize(kind: SourceKind, mut record: Map<String, Value>, collected_at: &str) -> Normalized {
    let (event_id, user_id, time) = match kind {
        SourceKind::CustomerEvents => {
            let id = match record.get("eventId") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                // No eventId: a content fingerprint still lets downstream deduplicate.
                _ => format!("fp:{}", user_fingerprint("", &record)),
            };
            let time = record
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(parse_time)
                .map_or_else(|| collected_at.to_owned(), |(t, d)| format_time(t, d));
            (id, None, time)
        }
        SourceKind::UserData => {
            let id = record.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            // A user record has no modification time: `_time` is when we observed this state.
            (user_fingerprint(&id, &record), Some(id), collected_at.to_owned())
        }
    };
    record.insert("_time".into(), Value::String(time.clone()));
    record.insert("source_log_type".into(), Value::String(kind.log_type().into()));
    record.insert("vendor".into(), Value::String("docusign".into()));
    record.insert("product".into(), Value::String(kind.product().into()));
    record.insert("_collected_at".into(), Value::String(collected_at.to_owned()));
    record.insert("event_id".into(), Value::String(event_id.clone()));
    Normalized { event_id, time, user_id, value: record }
}

/// Field names this tool writes into lines: a record already carrying one takes the tree path,
/// where ours replace them (the fast path would write the key twice).
pub const OURS: [&str; 8] =
    ["_time", "source_log_type", "vendor", "product", "_collected_at", "event_id", "_tenant", "_user"];

/// A Monitor record on the fast path: its bytes as sent, its id and its time.
#[derive(Debug, Clone)]
pub struct Fast {
    /// The record, one JSON object, exactly as the API sent it.
    pub raw: Box<RawValue>,
    /// Its non-empty `eventId`.
    pub event_id: String,
    /// Its parsed `timestamp` and the fractional digits written, when it has a readable one.
    pub time: Option<(DateTime<Utc>, usize)>,
    /// Its `userId` (the acting user), for the join with Admin user records.
    pub user_id: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// What the fast path reads of a record; every other field is skipped without allocating.
/// (One flag per field of ours: serde fills each from its own key, `null` included.)
#[allow(clippy::struct_excessive_bools)]
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "eventId", borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "userId", borrow, default)]
    user_id: Option<Cow<'a, str>>,
    #[serde(rename = "_time", default, deserialize_with = "present")]
    o1: bool,
    #[serde(rename = "source_log_type", default, deserialize_with = "present")]
    o2: bool,
    #[serde(rename = "vendor", default, deserialize_with = "present")]
    o3: bool,
    #[serde(rename = "product", default, deserialize_with = "present")]
    o4: bool,
    #[serde(rename = "_collected_at", default, deserialize_with = "present")]
    o5: bool,
    #[serde(rename = "event_id", default, deserialize_with = "present")]
    o6: bool,
    #[serde(rename = "_tenant", default, deserialize_with = "present")]
    o7: bool,
    #[serde(rename = "_user", default, deserialize_with = "present")]
    o8: bool,
}

impl Fast {
    /// Takes `raw` (a JSON object) on the fast path, or gives it back when only the tree path
    /// writes its line exactly.
    ///
    /// # Errors
    /// The record itself, for the tree path.
    pub fn probe(raw: Box<RawValue>) -> Result<Self, Box<RawValue>> {
        let Ok(p) = serde_json::from_str::<Probe<'_>>(raw.get()) else { return Err(raw) };
        let ours = p.o1 || p.o2 || p.o3 || p.o4 || p.o5 || p.o6 || p.o7 || p.o8;
        match p.event_id {
            Some(id) if !id.is_empty() && !ours => {
                let time = p.timestamp.as_deref().and_then(parse_time);
                let event_id = id.into_owned();
                let user_id = p.user_id.filter(|u| !u.is_empty()).map(Cow::into_owned);
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
        kind: SourceKind,
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
        push_field(&mut out, "_time", time);
        push_field(&mut out, "source_log_type", kind.log_type());
        push_field(&mut out, "vendor", "docusign");
        push_field(&mut out, "product", kind.product());
        push_field(&mut out, "_collected_at", collected_at);
        push_field(&mut out, "event_id", &self.event_id);
        if let Some(t) = tenant {
            push_field(&mut out, "_tenant", t);
        }
        if let Some(u) = user {
            out.push_str(",\"_user\":");
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
    use serde_json::json;

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
        let n = normalize(SourceKind::CustomerEvents, r, "2026-01-01T00:00:00.000Z");
        assert_eq!(n.event_id, "e1");
        let v = Value::Object(n.value);
        assert_eq!(v["object"], "Login");
        assert_eq!(v["data"]["A"], 1);
        assert_eq!(v["_time"], "2023-03-03T09:10:06.0512813Z");
        assert_eq!(v["source_log_type"], "customerevent");
        assert_eq!(v["vendor"], "docusign");
        assert_eq!(v["product"], "monitor");
        assert_eq!(v["event_id"], "e1");
    }

    #[test]
    fn user_fingerprint_tracks_content_not_order() {
        let a = obj(json!({"id": "u1", "email": "a@x", "user_status": "active"}));
        let b = obj(json!({"user_status": "active", "id": "u1", "email": "a@x"}));
        let c = obj(json!({"id": "u1", "email": "a@x", "user_status": "closed"}));
        let (na, nb, nc) = (
            normalize(SourceKind::UserData, a, "t"),
            normalize(SourceKind::UserData, b, "t"),
            normalize(SourceKind::UserData, c, "t"),
        );
        assert_eq!(na.event_id, nb.event_id);
        assert_ne!(na.event_id, nc.event_id);
        assert_eq!(na.user_id.as_deref(), Some("u1"));
        assert_eq!(na.value["source_log_type"], "auditusers");
        assert_eq!(na.value["_time"], "t");
    }

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    /// The fast line, parsed, equals the tree path's object.
    fn same(text: &str) {
        let fast = Fast::probe(raw(text)).unwrap();
        let line = fast.line(SourceKind::CustomerEvents, &fast.time("c"), "c", None, None);
        assert!(!line.contains('\n'), "{line}");
        let a: Value = serde_json::from_str(&line).unwrap();
        let b = normalize(SourceKind::CustomerEvents, serde_json::from_str(text).unwrap(), "c");
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
            assert!(Fast::probe(raw(text)).is_err(), "{text}");
        }
    }

    #[test]
    fn fast_line_carries_the_tenant_and_escapes() {
        let f = Fast::probe(raw(r#"{"eventId":"a\"b"}"#)).unwrap();
        let line = f.line(SourceKind::CustomerEvents, "t", "c", Some("acme"), Some(r#"{"id":"u"}"#));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_user"]["id"], "u");
        assert_eq!(v["event_id"], "a\"b");
        assert_eq!(v["_tenant"], "acme");
    }

    #[test]
    fn missing_event_id_gets_a_fingerprint() {
        let n = normalize(SourceKind::CustomerEvents, obj(json!({"object": "X"})), "t");
        assert!(n.event_id.starts_with("fp:"));
        assert_eq!(n.value["_time"], "t");
    }
}
