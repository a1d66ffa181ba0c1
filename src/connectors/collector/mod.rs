//! The collector's own events: a pseudo-connector with one stream, `collector_health`, the
//! lines the push path writes about itself (`core::push`'s health aggregation): today one
//! kind, `webhook_signature_failed`, a receiver refusing requests whose signature or
//! authentication failed (401), counted per (receiver, reason, remote address) over one
//! minute and written once per key and minute through the push inbox, so it reaches the sinks
//! at least once like any pushed event. A forged-webhook flood is thus a handful of lines, and
//! a detection (`detections/rules/collector_webhook_signature_failed.yml`) can see it.
//!
//! ECS: `event.kind: event`, `event.category: [authentication]`, `event.type: [start]`,
//! `event.outcome: failure` (it is a refused authentication of a sender; `alert` is kept for
//! what a detection engine decided), `source.ip`, `event.start`/`event.end`, the rest under
//! `esign_collector.*`. OCSF: Authentication (3002), Logon, status Failure, `count`.

use serde_json::{Map, Value, json};

use crate::core::fields;
use crate::format::{Doc, ECS_VERSION, Format, FormatOptions, OCSF_VERSION};
use crate::stream::{Identity, Stream};

/// `vendor` of these lines.
pub const NAME: &str = "esign-collector";

/// The collector's health lines about its push receivers.
pub static HEALTH: Stream = Stream {
    key: "collector_health",
    log_type: "collector_health",
    vendor: NAME,
    product: "collector",
    identity: Identity::Field(fields::EVENT_ID),
    time_field: Some("last_seen"),
    actor: None,
    columns: &["health_event", "receiver", "reason", "remote_addr", "count", "last_seen"],
    render,
    render_text: None,
    newest_event: |_| None,
};

/// The pseudo-connector's streams.
pub static STREAMS: &[&Stream] = &[&HEALTH];

fn text<'a>(raw: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    raw.get(key).and_then(Value::as_str)
}

fn render(format: Format, raw: &Map<String, Value>, opts: FormatOptions) -> Vec<Doc> {
    let event_id = text(raw, fields::EVENT_ID).unwrap_or_default().to_owned();
    let value = match format {
        Format::Raw => return vec![Doc::raw(raw)],
        Format::Ecs => ecs(raw, &event_id, opts),
        Format::Ocsf => ocsf(raw, &event_id, opts),
    };
    vec![Doc { event_id, value }]
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn action(raw: &Map<String, Value>) -> String {
    text(raw, "health_event").unwrap_or("unknown").replace('_', "-")
}

fn ecs(raw: &Map<String, Value>, event_id: &str, opts: FormatOptions) -> Map<String, Value> {
    let receiver = text(raw, "receiver").unwrap_or_default();
    let mut event = object(json!({
        "kind": "event",
        "category": ["authentication"],
        "type": ["start"],
        "outcome": "failure",
        "action": action(raw),
        "id": event_id,
        "module": NAME,
        "provider": receiver,
        "dataset": format!("{NAME}.{}", HEALTH.log_type),
        "reason": text(raw, "reason"),
        "start": text(raw, "first_seen"),
        "end": text(raw, "last_seen"),
        "created": text(raw, fields::COLLECTED_AT),
    }));
    if opts.include_original {
        event.insert("original".into(), Value::String(Value::Object(raw.clone()).to_string()));
    }
    event.retain(|_, v| !v.is_null());
    let mut doc = object(json!({
        "@timestamp": text(raw, fields::TIME).or_else(|| text(raw, "last_seen")),
        "ecs": {"version": ECS_VERSION},
        "event": event,
        "observer": {"vendor": NAME, "product": NAME, "type": "webhook-receiver"},
        "esign_collector": {"health": {
            "event": text(raw, "health_event"),
            "receiver": receiver,
            "reason": text(raw, "reason"),
            "count": raw.get("count"),
            "window_seconds": raw.get("window_seconds"),
        }},
    }));
    if let Some(ip) = text(raw, "remote_addr") {
        doc.insert("source".into(), json!({"ip": ip}));
        doc.insert("related".into(), json!({"ip": [ip]}));
    }
    if let Some(t) = text(raw, fields::TENANT) {
        doc.insert("labels".into(), json!({"tenant": t}));
    }
    doc
}

fn millis(raw: &Map<String, Value>, key: &str) -> Option<i64> {
    text(raw, key).and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis())
}

fn ocsf(raw: &Map<String, Value>, event_id: &str, opts: FormatOptions) -> Map<String, Value> {
    let time = millis(raw, fields::TIME).or_else(|| millis(raw, "last_seen")).unwrap_or_default();
    let mut doc = object(json!({
        "class_uid": 3002,
        "class_name": "Authentication",
        "category_uid": 3,
        "category_name": "Identity & Access Management",
        "activity_id": 1,
        "activity_name": "Logon",
        "type_uid": 300_201,
        "type_name": "Authentication: Logon",
        "severity_id": 3,
        "severity": "Medium",
        "status_id": 2,
        "status": "Failure",
        "status_detail": text(raw, "reason"),
        "time": time,
        "start_time": millis(raw, "first_seen"),
        "end_time": millis(raw, "last_seen"),
        "count": raw.get("count"),
        "message": format!("{} refused requests: {}", text(raw, "receiver").unwrap_or_default(), text(raw, "reason").unwrap_or_default()),
        "metadata": {
            "version": OCSF_VERSION,
            "uid": event_id,
            "log_name": HEALTH.log_type,
            "event_code": text(raw, "health_event"),
            "product": {"name": NAME, "vendor_name": NAME},
            "logged_time": millis(raw, fields::COLLECTED_AT),
        },
        "user": {"name": "Unknown"},
        "service": {"name": text(raw, "receiver")},
        "src_endpoint": {"ip": text(raw, "remote_addr")},
        "unmapped": {"window_seconds": raw.get("window_seconds")},
    }));
    if opts.include_original {
        doc.insert("raw_data".into(), Value::String(Value::Object(raw.clone()).to_string()));
    }
    doc.retain(|_, v| !v.is_null());
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Map<String, Value> {
        object(json!({
            "health_event": "webhook_signature_failed", "receiver": "connect", "reason": "no signature matches",
            "remote_addr": "192.0.2.7", "count": 42, "first_seen": "2026-01-01T10:00:01Z",
            "last_seen": "2026-01-01T10:00:59Z", "window_seconds": 60, "_time": "2026-01-01T10:00:59Z",
            "source_log_type": "collector_health", "vendor": NAME, "event_id": "abc",
        }))
    }

    #[test]
    fn ecs_is_a_failed_authentication_of_the_sender() {
        let d = &HEALTH.render(Format::Ecs, &line(), &FormatOptions::default())[0];
        assert_eq!(d.event_id, "abc");
        let v = Value::Object(d.value.clone());
        assert_eq!(v["event"]["action"], "webhook-signature-failed");
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(v["event"]["dataset"], "esign-collector.collector_health");
        assert_eq!(v["source"]["ip"], "192.0.2.7");
        assert_eq!(v["esign_collector"]["health"]["count"], 42);
    }

    #[test]
    fn ocsf_is_authentication_logon_failure() {
        let d = &HEALTH.render(Format::Ocsf, &line(), &FormatOptions::default())[0];
        let v = Value::Object(d.value.clone());
        assert_eq!(v["type_uid"], 300_201);
        assert_eq!(v["status_id"], 2);
        assert_eq!(v["count"], 42);
        assert_eq!(v["src_endpoint"]["ip"], "192.0.2.7");
    }
}
