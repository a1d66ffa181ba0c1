//! Yousign webhooks: the push receiver `run` hosts (`[receivers.yousign]`).
//!
//! v3: a request passes when `X-Yousign-Signature-256` is `sha256=` + the lowercase hex
//! HMAC-SHA256 of the raw body under the subscription's secret key (compared in constant
//! time); v2 webhooks are unsigned, so they must carry the configured Basic authentication.
//! The body must be JSON (415 otherwise). A v3 body must be a webhook event with an
//! `event_id` and an `event_name` (400 otherwise); `event_id` dedupes Yousign's retries,
//! which keep it. A v2 body must hold a procedure (`v2.rs`); with no id from Yousign, its
//! `event_id` is `v2-` + a fingerprint of the body. The line is the payload as received plus
//! our fields. A retry (`X-Yousign-Retry` > 0, or the older
//! `X-Yousign-Retry-Count`) is counted in `esign_push_redeliveries_total{receiver}`.
//!
//! Yousign's first attempt gives up after 1 s: the 2xx is answered as soon as the message is
//! committed to the inbox, one SQLite transaction, long before that.
//!
//! # Architecture
//! - this file: [`YousignReceiver`].
//! - `config.rs`: `[receivers.yousign]` and reading its secret.
//! - `v2.rs`: reading a v2 body (its procedure, time and dedup key).

pub mod config;
mod v2;

use axum::http::{HeaderMap, header};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::core::dedup::Dedup;
use crate::core::fields;
use crate::core::push::{Malformed, Message, Receiver, Rejection};
use crate::stream::Stream;
pub use config::{Check, YousignReceiverConfig};

use super::{ApiVersion, WEBHOOK};

/// The receiver's name: its inbox rows, its ledger and the `receiver` label of its metrics.
pub const RECEIVER: &str = "yousign";

/// The signature header (lowercase, as the `http` crate spells header names).
const SIGNATURE: &str = "x-yousign-signature-256";

/// The Yousign webhook receiver.
pub struct YousignReceiver {
    path: String,
    check: Check,
    /// v3 (signed events with Yousign's `event_id`) or v2 (unsigned procedure bodies).
    version: ApiVersion,
    /// `_tenant` of its lines (a configuration with `[[tenants]]`).
    tenant: Option<String>,
}

impl std::fmt::Debug for YousignReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YousignReceiver")
            .field("path", &self.path)
            .field("check", &self.check)
            .field("version", &self.version)
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl YousignReceiver {
    /// A receiver on `cfg.path` checking `check`; its lines carry `tenant` as `_tenant`.
    pub fn new(cfg: &YousignReceiverConfig, check: Check, tenant: Option<String>) -> Self {
        Self { path: cfg.path.clone(), check, version: cfg.api_version, tenant }
    }
}

/// `sha256=` + the lowercase hex HMAC-SHA256 of `body` under `secret`: what Yousign sends.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(body);
    let mut out = String::from("sha256=");
    for b in mac.finalize().into_bytes() {
        // Writing to a String cannot fail.
        std::fmt::Write::write_fmt(&mut out, format_args!("{b:02x}")).unwrap_or_default();
    }
    out
}

/// Whether a `Content-Type` value names JSON.
fn is_json(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The retry number of a delivery (`X-Yousign-Retry`, or the older `X-Yousign-Retry-Count`).
fn retry(headers: &HeaderMap) -> u64 {
    ["x-yousign-retry", "x-yousign-retry-count"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

/// A v3 event's `event_id`, time (`event_time`, else now) and dedup scope (its subscription).
fn v3(line: &serde_json::Map<String, Value>) -> Result<(String, chrono::DateTime<chrono::Utc>, String), Malformed> {
    let id = line.get("event_id").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let Some(id) = id else { return Err(Malformed::new("the event has no event_id")) };
    if !line.get("event_name").is_some_and(Value::is_string) {
        return Err(Malformed::new("the event has no event_name"));
    }
    // `event_time` is Unix seconds as a string (a number is accepted too).
    let secs = match line.get("event_time") {
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    let time = secs.and_then(|s| chrono::DateTime::from_timestamp(s, 0)).unwrap_or_else(chrono::Utc::now);
    let source =
        line.get("subscription_id").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or(RECEIVER).to_owned();
    Ok((id, time, source))
}

impl Receiver for YousignReceiver {
    fn name(&self) -> &'static str {
        RECEIVER
    }

    fn path(&self) -> &str {
        &self.path
    }

    fn kind(&self) -> &'static Stream {
        &WEBHOOK
    }

    fn health(&self) -> Option<&'static Stream> {
        Some(&crate::connectors::collector::HEALTH)
    }

    fn dedup(&self) -> Dedup {
        // Yousign keeps `event_id` across retries.
        Dedup::Id
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
        match &self.check {
            Check::Signature(secret) => {
                let got = headers.get(SIGNATURE).ok_or(Rejection::new("no X-Yousign-Signature-256 header"))?;
                let want = sign(secret.expose_secret(), body);
                let got = got.to_str().map_err(|_| Rejection::new("the signature header is not text"))?.trim();
                // Hex may come in either case; ours is lowercase.
                let got = got.to_ascii_lowercase();
                if !bool::from(got.as_bytes().ct_eq(want.as_bytes())) {
                    return Err(Rejection::new("the signature does not match the secret"));
                }
            }
            Check::Basic(user, password) => crate::core::push::verify_basic(headers, user, password)?,
        }
        if retry(headers) > 0 {
            crate::metrics::push_redelivery(RECEIVER);
        }
        Ok(())
    }

    fn media_type_ok(&self, headers: &HeaderMap) -> bool {
        headers.get(header::CONTENT_TYPE).is_none_or(|v| v.to_str().is_ok_and(is_json))
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<Message>, Malformed> {
        let Ok(Value::Object(mut line)) = serde_json::from_slice::<Value>(body) else {
            return Err(Malformed::new("the body is not a JSON object"));
        };
        let (id, time, source) = match self.version {
            ApiVersion::V3 => v3(&line)?,
            ApiVersion::V2 => {
                let e = v2::read(&line)?;
                line.entry("event_id").or_insert_with(|| Value::String(e.id.clone()));
                if let Some(name) = e.name {
                    line.entry("event_name").or_insert(Value::String(name));
                }
                (e.id, e.time.unwrap_or_else(chrono::Utc::now), RECEIVER.to_owned())
            }
        };
        let collected = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        line.insert(fields::TIME.into(), Value::String(crate::format::time::format_time(time, 0)));
        line.insert(fields::LOG_TYPE.into(), Value::String(WEBHOOK.log_type.into()));
        line.insert(fields::VENDOR.into(), Value::String(WEBHOOK.vendor.into()));
        line.insert(fields::PRODUCT.into(), Value::String(WEBHOOK.product.into()));
        line.insert(fields::COLLECTED_AT.into(), Value::String(collected));
        if let Some(t) = &self.tenant {
            line.insert(fields::TENANT.into(), Value::String(t.clone()));
        }
        Ok(vec![Message { id: Some(id), time, source, event: line, transition: None }])
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use secrecy::SecretString;
    use serde_json::json;

    use super::*;

    fn receiver() -> YousignReceiver {
        let cfg: YousignReceiverConfig = toml::from_str("listen = \"127.0.0.1:0\"\nsecret_env = \"S\"").unwrap();
        YousignReceiver::new(&cfg, Check::Signature(SecretString::from("s3cret")), None)
    }

    fn body() -> Vec<u8> {
        serde_json::to_vec(&json!({"event_id": "e-1", "event_name": "signer.done", "event_time": "1670855889",
            "subscription_id": "sub", "data": {}}))
        .unwrap()
    }

    #[test]
    fn only_the_secret_s_signature_passes() {
        let r = receiver();
        let b = body();
        let mut h = HeaderMap::new();
        assert_eq!(r.verify(&h, &b).unwrap_err().reason(), "no X-Yousign-Signature-256 header");
        h.insert(SIGNATURE, HeaderValue::from_str(&sign("other", &b)).unwrap());
        assert!(r.verify(&h, &b).is_err());
        h.insert(SIGNATURE, HeaderValue::from_str(&sign("s3cret", &b)).unwrap());
        assert!(r.verify(&h, &b).is_ok());
        h.insert(
            SIGNATURE,
            HeaderValue::from_str(&sign("s3cret", &b).to_ascii_uppercase().replace("SHA256", "sha256")).unwrap(),
        );
        assert!(r.verify(&h, &b).is_ok(), "upper-case hex");
        let mut tampered = b;
        tampered[3] ^= 1;
        assert!(r.verify(&h, &tampered).is_err());
    }

    #[test]
    fn the_event_id_and_time_come_from_the_payload() {
        let m = receiver().parse(&body()).unwrap();
        assert_eq!(m[0].id.as_deref(), Some("e-1"));
        assert_eq!(m[0].time.timestamp(), 1_670_855_889);
        assert_eq!(m[0].source, "sub");
        assert_eq!(m[0].event["_time"], "2022-12-12T14:38:09Z");
        assert_eq!(
            (&m[0].event["source_log_type"], &m[0].event["vendor"]),
            (&json!("yousign_webhook"), &json!("yousign"))
        );
        assert_eq!(m[0].event["event_id"], "e-1", "Yousign's own id is the line's");
        assert!(receiver().parse(br#"{"event_name":"x"}"#).is_err());
        assert!(receiver().parse(b"[1]").is_err());
    }

    #[test]
    fn a_v2_receiver_reads_procedure_bodies_and_keys_them_on_their_content() {
        let cfg: YousignReceiverConfig = toml::from_str(
            "listen = \"127.0.0.1:0\"\napi_version = \"v2\"\nbasic_auth_user = \"u\"\nbasic_auth_password_env = \"P\"",
        )
        .unwrap();
        let r = YousignReceiver::new(&cfg, Check::Basic("u".into(), SecretString::from("p")), None);
        let body = br#"{"eventName":"procedure.finished","procedure":{"id":"/procedures/p1","status":"finished","updatedAt":"2020-01-01T00:00:00+00:00"}}"#;
        let m = r.parse(body).unwrap();
        let id = m[0].id.clone().unwrap();
        assert!(id.starts_with("v2-"), "{id}");
        assert_eq!(m[0].event["event_id"], id.as_str(), "the line carries its key");
        assert_eq!(m[0].event["event_name"], "procedure.finished");
        assert_eq!(m[0].event["_time"], "2020-01-01T00:00:00Z");
        assert_eq!(m[0].event["source_log_type"], "yousign_webhook");
        assert_eq!(r.parse(body).unwrap()[0].id.as_deref(), Some(id.as_str()), "a retry is the same key");
        assert!(r.parse(&self::tests::body()).is_err(), "a v3 event is not a v2 body");
    }
}
