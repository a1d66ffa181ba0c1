//! Reading a Yousign API v2 webhook body.
//!
//! v2 webhooks are set per procedure (`config.webhook`) and carry no event id and no
//! signature. Yousign's v2 documentation says only that a `procedure.*` webhook's body is the
//! procedure object and a `member.*` one's the procedure plus the member; the specification
//! says nothing of the wrapper, and integrations disagree. Two shapes are accepted:
//! `{"eventName": "...", "procedure": {...}, "member": {...}}` and the procedure at the root
//! (`"id": "/procedures/…"`, with an optional `member`). Anything else is malformed.
//!
//! With no id from Yousign, the dedup key is a fingerprint: the SHA-256 of the body's
//! canonical JSON (keys sorted, so a re-serialized copy gives the same key). A retry of the
//! same webhook is the same body and is absorbed; two different events never share a key.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::core::dedup::fingerprint;
use crate::core::push::Malformed;

/// What the receiver needs from a v2 body.
#[derive(Debug)]
pub(super) struct V2Event {
    /// `v2-` + the body's fingerprint: the dedup key and the line's `event_id`.
    pub(super) id: String,
    /// The `eventName` of the wrapper, when there is one.
    pub(super) name: Option<String>,
    /// The member's `updatedAt`, else the procedure's, else `None`.
    pub(super) time: Option<DateTime<Utc>>,
}

/// An RFC 3339 timestamp field of `obj`.
fn stamp(obj: Option<&Map<String, Value>>, key: &str) -> Option<DateTime<Utc>> {
    let text = obj?.get(key)?.as_str()?;
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// Reads a v2 body already parsed as a JSON object.
///
/// # Errors
/// `Malformed` when the body holds no procedure (no `procedure` object and no
/// `/procedures/` id at the root).
pub(super) fn read(line: &Map<String, Value>) -> Result<V2Event, Malformed> {
    let procedure = match line.get("procedure") {
        Some(Value::Object(p)) => p,
        _ if line.get("id").and_then(Value::as_str).is_some_and(|id| id.starts_with("/procedures/")) => line,
        _ => {
            return Err(Malformed::new(
                "the v2 webhook holds no procedure (no \"procedure\" object, no \"/procedures/\" id at the root)",
            ));
        }
    };
    if procedure.get("id").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(Malformed::new("the v2 webhook's procedure has no id"));
    }
    let member = line.get("member").and_then(Value::as_object);
    let name = line.get("eventName").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let time = stamp(member, "updatedAt").or_else(|| stamp(Some(procedure), "updatedAt"));
    Ok(V2Event { id: format!("v2-{}", fingerprint(line, &[])), name, time })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: &Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn both_shapes_are_read_and_the_key_ignores_key_order() {
        let wrapped = json!({"eventName": "member.finished",
            "procedure": {"id": "/procedures/p1", "status": "active", "updatedAt": "2018-12-05T07:42:38+01:00"},
            "member": {"id": "/members/m1", "status": "done", "updatedAt": "2018-12-05T08:00:00+01:00"}});
        let e = read(&obj(&wrapped)).unwrap();
        assert_eq!(e.name.as_deref(), Some("member.finished"));
        assert_eq!(e.time.unwrap().to_rfc3339(), "2018-12-05T07:00:00+00:00", "the member's time");
        let reordered: Value = serde_json::from_str(
            r#"{"member":{"updatedAt":"2018-12-05T08:00:00+01:00","status":"done","id":"/members/m1"},
            "procedure":{"updatedAt":"2018-12-05T07:42:38+01:00","id":"/procedures/p1","status":"active"},
            "eventName":"member.finished"}"#,
        )
        .unwrap();
        assert_eq!(read(&obj(&reordered)).unwrap().id, e.id, "the same event, another key order");
        let other = json!({"eventName": "procedure.finished", "procedure": wrapped["procedure"]});
        assert_ne!(read(&obj(&other)).unwrap().id, e.id);

        let root = json!({"id": "/procedures/p2", "status": "finished", "updatedAt": "2020-01-01T00:00:00+00:00"});
        let e = read(&obj(&root)).unwrap();
        assert!(e.name.is_none() && e.id.starts_with("v2-"));
        assert_eq!(e.time.unwrap().timestamp(), 1_577_836_800);
    }

    #[test]
    fn a_body_without_a_procedure_is_malformed() {
        for bad in [
            json!({"eventName": "procedure.started"}),
            json!({"id": "/users/u1"}),
            json!({"procedure": {"name": "no id"}}),
            json!({"event_id": "e-1", "event_name": "signer.done", "data": {}}),
        ] {
            assert!(read(&obj(&bad)).is_err(), "{bad}");
        }
    }
}
