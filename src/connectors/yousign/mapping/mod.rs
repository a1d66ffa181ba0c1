//! Yousign's ECS 9.4.0 and OCSF 1.4.0 mappings: signature request status lines, user records
//! and webhook messages. Pure functions, no I/O.
//!
//! # Architecture
//! - this file: the view of a line both formats read, the people a line names, and the heads
//!   every document starts with (ECS `@timestamp`/`ecs`/`event`, the OCSF class header and
//!   `metadata`).
//! - `classes.rs`: the OCSF classes emitted (ids, captions).
//! - `requests.rs`: a signature request's status (the polled list) and what both it and the
//!   webhook read of a request: its lifecycle date, verb, sender and OCSF `entity`.
//! - `users.rs`: a user record (its state, and a change event when it changed).
//! - `evidence.rs`: a signer's audit trail, and a webhook subscription record.
//! - `webhook.rs`: a webhook message (signature request and signer events; a failed or
//!   blocked identification is an authentication failure).
//!
//! Yousign's own fields go under `yousign.*` (ECS) and `entity.data` / `unmapped` (OCSF).
//! `docs/mapping.md` is the field-by-field table; `tests/formats_yousign.rs` validates every
//! mapped document against the official schemas checked in under `tests/fixtures/`.

pub(in crate::connectors::yousign) mod classes;
mod evidence;
mod requests;
#[cfg(test)]
pub(crate) mod schema_check;
#[cfg(test)]
mod tests;
mod users;
mod webhook;

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::core::fields;
use crate::format::{ECS_VERSION, OCSF_VERSION};
use classes::OcsfClass;

pub(super) use evidence::{audit_trail, subscription};
pub(super) use requests::signature_request;
pub(super) use users::user;
pub(super) use webhook::webhook;

/// `metadata.product.name` of every OCSF event.
const PRODUCT: &str = "Yousign eSignature";

/// A non-empty string field.
pub(in crate::connectors::yousign) fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

/// An object field.
pub(in crate::connectors::yousign) fn object<'a>(
    m: &'a Map<String, Value>,
    key: &str,
) -> Option<&'a Map<String, Value>> {
    m.get(key).and_then(Value::as_object)
}

/// Whether a value carries nothing (null, `""`, `{}`, `[]`): such fields are left out.
pub(in crate::connectors::yousign) fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A string value.
pub(in crate::connectors::yousign) fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// An array of strings.
pub(in crate::connectors::yousign) fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::Array(items.into_iter().map(s).collect())
}

/// Inserts `m` under `key` unless it is empty.
pub(in crate::connectors::yousign) fn put_obj(out: &mut Map<String, Value>, key: &str, m: Map<String, Value>) {
    if !m.is_empty() {
        out.insert(key.to_owned(), Value::Object(m));
    }
}

/// `{key: value}`.
fn keyed(key: &str, value: &str) -> Value {
    let mut m = Map::new();
    m.insert(key.to_owned(), s(value));
    Value::Object(m)
}

/// The fields of a record that are neither blank, ours (`_time`, `event_id`, `_change`, …) nor
/// in `skip`: what goes to the vendor namespace.
pub(in crate::connectors::yousign) fn own(raw: &Map<String, Value>, skip: &[&str]) -> Map<String, Value> {
    raw.iter()
        .filter(|(k, v)| {
            let k = k.as_str();
            !fields::ADDED.contains(&k) && k != fields::CHANGE && !skip.contains(&k) && !is_blank(v)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// RFC 3339 → Unix milliseconds.
pub(in crate::connectors::yousign) fn millis(t: &str) -> Option<i64> {
    crate::format::time::parse_time(t).map(|(t, _)| t.timestamp_millis())
}

/// A field that is an IP address, normalized.
fn ip(m: &Map<String, Value>, key: &str) -> Option<String> {
    text(m, key).and_then(|v| v.trim().parse::<IpAddr>().ok()).map(|i| i.to_string())
}

/// The serialized raw line, for `event.original` / `raw_data`.
pub(in crate::connectors::yousign) fn original(raw: &Map<String, Value>) -> Value {
    Value::String(serde_json::to_string(raw).unwrap_or_default())
}

/// The fields of a raw line every mapping reads.
#[derive(Debug)]
pub(in crate::connectors::yousign) struct Line<'a> {
    pub(in crate::connectors::yousign) raw: &'a Map<String, Value>,
    pub(in crate::connectors::yousign) event_id: &'a str,
    /// `_time`: when the collector saw the line (the record's own date where it had one).
    pub(in crate::connectors::yousign) time: Option<&'a str>,
    pub(in crate::connectors::yousign) collected_at: Option<&'a str>,
}

impl<'a> Line<'a> {
    pub(in crate::connectors::yousign) fn new(raw: &'a Map<String, Value>) -> Self {
        Self {
            raw,
            event_id: text(raw, fields::EVENT_ID).unwrap_or_default(),
            time: text(raw, fields::TIME),
            collected_at: text(raw, fields::COLLECTED_AT),
        }
    }
}

/// A person a line names (a sender, a signer, a user), in neither schema's names yet.
#[derive(Debug, Default, Clone)]
pub(in crate::connectors::yousign) struct Person<'a> {
    pub(in crate::connectors::yousign) id: Option<&'a str>,
    pub(in crate::connectors::yousign) email: Option<&'a str>,
    pub(in crate::connectors::yousign) full_name: Option<String>,
    pub(in crate::connectors::yousign) phone: Option<&'a str>,
    pub(in crate::connectors::yousign) ip: Option<String>,
}

impl<'a> Person<'a> {
    /// `{id, email, first_name, last_name, phone_number, ip_address}` (a user, a sender, a
    /// signer's `info`: the id may come from the outer object).
    pub(in crate::connectors::yousign) fn from(m: &'a Map<String, Value>) -> Self {
        let full_name = match (text(m, "first_name"), text(m, "last_name")) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(n), None) | (None, Some(n)) => Some(n.to_owned()),
            (None, None) => None,
        };
        Self {
            id: text(m, "id"),
            email: text(m, "email").or_else(|| text(m, "email_address")),
            full_name,
            phone: text(m, "phone_number"),
            ip: ip(m, "ip_address"),
        }
    }

    pub(in crate::connectors::yousign) fn is_empty(&self) -> bool {
        self.id.is_none() && self.email.is_none() && self.full_name.is_none()
    }

    /// ECS `user`-shaped fields: `id`, `name` (the login email), `email`, `full_name`.
    pub(in crate::connectors::yousign) fn ecs(&self) -> Map<String, Value> {
        let mut u = Map::new();
        u.extend(self.id.map(|v| ("id".to_owned(), s(v))));
        if let Some(e) = self.email {
            u.insert("name".into(), s(e));
            u.insert("email".into(), s(e));
        }
        u.extend(self.full_name.as_deref().map(|v| ("full_name".to_owned(), s(v))));
        u
    }

    /// An OCSF `user`: `uid`, `name` (the email, else the full name, else "Unknown": the
    /// schema needs one of them), `email_addr`, `full_name`, `phone_number`.
    pub(in crate::connectors::yousign) fn ocsf(&self) -> Map<String, Value> {
        let mut u = Map::new();
        u.extend(self.id.map(|v| ("uid".to_owned(), s(v))));
        let name = self.email.or(self.full_name.as_deref()).unwrap_or("Unknown");
        u.insert("name".into(), s(name));
        u.extend(self.email.map(|v| ("email_addr".to_owned(), s(v))));
        u.extend(self.full_name.as_deref().map(|v| ("full_name".to_owned(), s(v))));
        u.extend(self.phone.map(|v| ("phone_number".to_owned(), s(v))));
        u
    }
}

/// ECS `related.user` (emails and ids of everyone named) and `related.ip`, duplicates dropped.
pub(in crate::connectors::yousign) fn related(people: &[&Person<'_>]) -> Map<String, Value> {
    let mut users: Vec<&str> = Vec::new();
    let mut ips: Vec<&str> = Vec::new();
    for p in people {
        for u in [p.email, p.id].into_iter().flatten() {
            if !users.contains(&u) {
                users.push(u);
            }
        }
        if let Some(i) = p.ip.as_deref().filter(|i| !ips.contains(i)) {
            ips.push(i);
        }
    }
    let mut r = Map::new();
    if !users.is_empty() {
        r.insert("user".into(), strings(users));
    }
    if !ips.is_empty() {
        r.insert("ip".into(), strings(ips));
    }
    r
}

/// ECS `event.*` every document has: kind, category, type, id, created, module, provider,
/// dataset.
pub(in crate::connectors::yousign) fn ecs_event(
    line: &Line<'_>,
    kind: &str,
    category: &str,
    ty: &[&str],
    id: &str,
) -> Map<String, Value> {
    let mut ev = Map::new();
    ev.insert("kind".into(), s(kind));
    ev.insert("category".into(), strings([category]));
    ev.insert("type".into(), strings(ty.iter().copied()));
    ev.insert("id".into(), s(id));
    if let Some(t) = line.collected_at {
        ev.insert("created".into(), s(t));
    }
    ev.insert("module".into(), s(super::NAME));
    if let Some(p) = text(line.raw, fields::PRODUCT) {
        ev.insert("provider".into(), s(p));
    }
    if let Some(t) = text(line.raw, fields::LOG_TYPE) {
        ev.insert("dataset".into(), Value::String(format!("{}.{t}", super::NAME)));
    }
    ev
}

/// An ECS document's `@timestamp` (`time`, else the line's `_time`), `ecs` and `event`.
pub(in crate::connectors::yousign) fn ecs_doc(
    line: &Line<'_>,
    time: Option<&str>,
    ev: Map<String, Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(t) = time.or(line.time) {
        out.insert("@timestamp".into(), s(t));
    }
    out.insert("ecs".into(), keyed("version", ECS_VERSION));
    out.insert("event".into(), Value::Object(ev));
    out
}

/// OCSF `metadata`: product, version, `uid`, when the collector logged the line, its log type.
pub(in crate::connectors::yousign) fn ocsf_metadata(line: &Line<'_>, uid: &str) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("name".into(), s(PRODUCT));
    p.insert("vendor_name".into(), s("Yousign"));
    let mut m = Map::new();
    m.insert("product".into(), Value::Object(p));
    m.insert("version".into(), s(OCSF_VERSION));
    m.insert("uid".into(), s(uid));
    if let Some(t) = line.collected_at.and_then(millis) {
        m.insert("logged_time".into(), t.into());
    }
    if let Some(n) = text(line.raw, fields::LOG_TYPE) {
        m.insert("log_name".into(), s(n));
    }
    m
}

/// The OCSF class header: class, activity, severity, `time` (Unix ms: `time_ms`, else the
/// line's `_time`) and `metadata`. `activity_name` is the caption unless `activity_id` is 99.
pub(in crate::connectors::yousign) fn ocsf_head(
    class: OcsfClass,
    (activity_id, activity_name): (u8, &str),
    (severity_id, severity): (u8, &str),
    line: &Line<'_>,
    time_ms: Option<i64>,
    metadata: Map<String, Value>,
) -> Map<String, Value> {
    let caption = class.activity_caption(activity_id);
    let mut out = Map::new();
    out.insert("class_uid".into(), class.uid.into());
    out.insert("class_name".into(), s(class.name));
    out.insert("category_uid".into(), class.category_uid.into());
    out.insert("category_name".into(), s(class.category_name));
    out.insert("activity_id".into(), activity_id.into());
    out.insert("activity_name".into(), s(if activity_id == 99 { activity_name } else { caption }));
    out.insert("type_uid".into(), (u64::from(class.uid) * 100 + u64::from(activity_id)).into());
    out.insert("type_name".into(), Value::String(format!("{}: {caption}", class.name)));
    out.insert("severity_id".into(), severity_id.into());
    out.insert("severity".into(), s(severity));
    let time = time_ms.or_else(|| line.time.and_then(millis)).unwrap_or(0);
    out.insert("time".into(), time.into());
    out.insert("metadata".into(), Value::Object(metadata));
    out
}

/// OCSF `status_id` and `status`: success or failure.
pub(in crate::connectors::yousign) fn ocsf_status(out: &mut Map<String, Value>, success: bool) {
    let (id, caption) = if success { (1, "Success") } else { (2, "Failure") };
    out.insert("status_id".into(), id.into());
    out.insert("status".into(), s(caption));
}
