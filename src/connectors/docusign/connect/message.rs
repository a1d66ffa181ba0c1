//! One Connect message (JSON SIM: one event per body) into the line we deliver: the payload
//! as received plus our fields, its dedup key and the envelope transition it reports.
//!
//! Connect messages carry no event id. A redelivery keeps the payload and raises
//! `retryCount`, so the key is a hash of what identifies the event: the account, the envelope,
//! the event name, the recipient and `generatedDateTime`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::core::fields;
use crate::core::normalize::{format_time, parse_time};
use crate::core::push::{EnvelopeTransition, Malformed};

use super::super::CONNECT;

/// A parsed Connect message.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Parsed {
    /// The dedup key (the line's `event_id`).
    pub key: String,
    /// `generatedDateTime`.
    pub time: DateTime<Utc>,
    /// `data.accountId`, as sent.
    pub account_id: String,
    /// The payload with our fields (`_tenant` is the receiver's to add).
    pub line: Map<String, Value>,
    /// The envelope transition of an envelope-level event with an `envelopeSummary`.
    pub transition: Option<EnvelopeTransition>,
}

fn str_at<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The dedup key: lowercase hex SHA-256 over the identifying fields, each followed by a NUL
/// (absent ones empty), so no two different tuples hash the same text.
pub(super) fn dedup_key(account: &str, envelope: &str, event: &str, recipient: &str, generated: &str) -> String {
    let mut h = Sha256::new();
    for part in [account, envelope, event, recipient, generated] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("{:x}", h.finalize())
}

/// Parses a verified body received at `collected_at`.
///
/// # Errors
/// `Malformed` when the body is not JSON or not a Connect message (no `event`, no `data`
/// object with `accountId`, no `generatedDateTime` time). The message never quotes the body.
pub(super) fn parse(body: &[u8], collected_at: &str) -> Result<Parsed, Malformed> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        Malformed::new(format!("not JSON ({:?} error at line {}, column {})", e.classify(), e.line(), e.column()))
    })?;
    let Value::Object(mut line) = v else {
        return Err(Malformed::new("not a Connect message: the body is not a JSON object"));
    };
    let event =
        str_at(&line, "event").ok_or_else(|| Malformed::new("not a Connect message: no `event` name"))?.to_owned();
    let data = line
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| Malformed::new("not a Connect message: no `data` object"))?;
    let account_id = str_at(data, "accountId")
        .ok_or_else(|| Malformed::new("not a Connect message: no `data.accountId`"))?
        .to_owned();
    let envelope = str_at(data, "envelopeId").unwrap_or_default().to_owned();
    let recipient = match data.get("recipientId") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let generated = str_at(&line, "generatedDateTime")
        .ok_or_else(|| Malformed::new("not a Connect message: no `generatedDateTime`"))?
        .to_owned();
    let (time, digits) =
        parse_time(&generated).ok_or_else(|| Malformed::new("`generatedDateTime` is not an RFC 3339 time"))?;
    let transition = transition(&event, &account_id, &envelope, data);
    let key = dedup_key(&account_id, &envelope, &event, &recipient, &generated);
    line.insert(fields::TIME.into(), Value::String(format_time(time, digits)));
    line.insert(fields::LOG_TYPE.into(), Value::String(CONNECT.log_type.into()));
    line.insert(fields::VENDOR.into(), Value::String(CONNECT.vendor.into()));
    line.insert(fields::PRODUCT.into(), Value::String(CONNECT.product.into()));
    line.insert(fields::COLLECTED_AT.into(), Value::String(collected_at.to_owned()));
    line.insert(fields::EVENT_ID.into(), Value::String(key.clone()));
    Ok(Parsed { key, time, account_id, line, transition })
}

/// The transition an envelope-level event reports, from its `envelopeSummary`.
fn transition(event: &str, account: &str, envelope: &str, data: &Map<String, Value>) -> Option<EnvelopeTransition> {
    if !event.starts_with("envelope-") || envelope.is_empty() {
        return None;
    }
    let summary = data.get("envelopeSummary")?.as_object()?;
    Some(EnvelopeTransition {
        account_id: account.to_owned(),
        envelope_id: envelope.to_owned(),
        status: str_at(summary, "status")?.to_owned(),
        status_changed: str_at(summary, "statusChangedDateTime")?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const AT: &str = "2026-01-15T10:31:00.000Z";

    fn msg(retry: u32, event: &str, recipient: Option<&str>) -> Vec<u8> {
        let mut data = json!({"accountId": "acc-1", "userId": "u-1", "envelopeId": "env-1",
            "envelopeSummary": {"status": "sent", "statusChangedDateTime": "2026-01-15T10:30:00.0000000Z"}});
        if let Some(r) = recipient {
            data["recipientId"] = json!(r);
        }
        serde_json::to_vec(&json!({"event": event, "apiVersion": "v2.1", "uri": "/restapi/v2.1/accounts/acc-1/envelopes/env-1",
            "retryCount": retry, "configurationId": 123_456, "generatedDateTime": "2026-01-15T10:30:00.1230000Z", "data": data}))
        .unwrap()
    }

    #[test]
    fn a_redelivery_has_the_same_key_and_the_line_is_the_payload_with_our_fields() {
        let first = parse(&msg(0, "envelope-sent", None), AT).unwrap();
        let again = parse(&msg(3, "envelope-sent", None), AT).unwrap();
        assert_eq!(first.key, again.key);
        assert_eq!(again.line["retryCount"], 3, "the payload as received");
        assert_eq!(first.line["_time"], "2026-01-15T10:30:00.1230000Z");
        assert_eq!(first.line["source_log_type"], "connect");
        assert_eq!(first.line["vendor"], "docusign");
        assert_eq!(first.line["product"], "esignature");
        assert_eq!(first.line["event_id"], first.key.as_str());
        assert_eq!(first.line["data"]["envelopeId"], "env-1");
        assert_eq!(
            first.transition,
            Some(EnvelopeTransition {
                account_id: "acc-1".into(),
                envelope_id: "env-1".into(),
                status: "sent".into(),
                status_changed: "2026-01-15T10:30:00.0000000Z".into()
            })
        );
    }

    #[test]
    fn event_recipient_and_time_each_make_a_different_key() {
        let base = parse(&msg(0, "recipient-completed", Some("1")), AT).unwrap();
        assert_ne!(base.key, parse(&msg(0, "recipient-completed", Some("2")), AT).unwrap().key);
        assert_ne!(base.key, parse(&msg(0, "recipient-delivered", Some("1")), AT).unwrap().key);
        assert_eq!(base.transition, None, "recipient events report no envelope transition");
        let mut later: Value = serde_json::from_slice(&msg(0, "recipient-completed", Some("1"))).unwrap();
        later["generatedDateTime"] = json!("2026-01-15T10:30:01.0000000Z");
        assert_ne!(base.key, parse(&serde_json::to_vec(&later).unwrap(), AT).unwrap().key);
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(dedup_key("ab", "c", "e", "", "t"), dedup_key("a", "bc", "e", "", "t"));
    }

    #[test]
    fn what_is_not_a_connect_message_is_malformed_without_quoting_the_body() {
        let secretish = b"{\"event\": \"x\", \"token\": \"CANARY-BODY\"";
        let e = parse(secretish, AT).unwrap_err().to_string();
        assert!(e.starts_with("not JSON") && !e.contains("CANARY"), "{e}");
        for (body, why) in [
            (json!([1]), "not a JSON object"),
            (json!({"data": {"accountId": "a"}, "generatedDateTime": "2026-01-01T00:00:00Z"}), "no `event`"),
            (json!({"event": "envelope-sent", "generatedDateTime": "2026-01-01T00:00:00Z"}), "no `data`"),
            (json!({"event": "envelope-sent", "data": {}, "generatedDateTime": "2026-01-01T00:00:00Z"}), "accountId"),
            (json!({"event": "envelope-sent", "data": {"accountId": "a"}}), "generatedDateTime"),
            (json!({"event": "envelope-sent", "data": {"accountId": "a"}, "generatedDateTime": "CANARY"}), "RFC 3339"),
        ] {
            let e = parse(&serde_json::to_vec(&body).unwrap(), AT).unwrap_err().to_string();
            assert!(e.contains(why) && !e.contains("CANARY"), "{body}: {e}");
        }
    }
}
