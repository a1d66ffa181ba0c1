//! DocuSign Connect (JSON SIM, one event per message): the push receiver `run` hosts.
//!
//! A request passes when its Basic authentication (if configured) and any of its
//! `X-DocuSign-Signature-N` headers match; then its media type must be JSON (415 otherwise; a
//! request without `Content-Type` is parsed and refused 400 if it is not JSON) and its body a
//! Connect message (400 otherwise). The line is the payload as received plus our fields; it is
//! routed by `data.accountId` to the tenant with that `account_id` and gets its `_tenant`.
//!
//! **An account no tenant has** (a Connect configuration we hold the key of, pointed at us for
//! an account not configured here): the message is signed with our key, so it is ours to keep.
//! It is accepted and delivered without `_tenant`, counted in
//! `esign_push_unrouted_messages_total{account}`, and a WARN is logged once per account.
//!
//! # Architecture
//! - this file: [`ConnectReceiver`], routing, building it from the configuration.
//! - `config.rs`: `[receivers.connect]` and reading its secrets.
//! - `verify.rs`: Basic authentication and the HMAC signatures.
//! - `message.rs`: the payload into a line, its dedup key and its envelope transition.

pub mod config;
mod message;
mod verify;

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use axum::http::{HeaderMap, header};
use serde_json::Value;
use tracing::warn;

use crate::core::dedup::Dedup;
use crate::core::fields;
use crate::core::push::{Malformed, Message, Receiver, Rejection};
use crate::stream::Stream;
pub use config::{ConnectConfig, Secrets};
pub use verify::sign;

use super::CONNECT;

/// The receiver's name: its inbox rows, its ledger and the `receiver` label of its metrics.
pub const RECEIVER: &str = "connect";

/// Where messages of one account go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The tenant's `account_id`.
    pub account_id: String,
    /// The tenant's name, written as `_tenant` (`None`: a configuration without
    /// `[[tenants]]`, whose lines carry no `_tenant`, as pulled lines).
    pub tenant: Option<String>,
}

/// The DocuSign Connect receiver.
pub struct ConnectReceiver {
    path: String,
    secrets: Secrets,
    /// Lowercased account id → the tenant to write as `_tenant`.
    routes: HashMap<String, Option<String>>,
    /// Accounts without a tenant already warned about.
    unrouted: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for ConnectReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectReceiver")
            .field("path", &self.path)
            .field("secrets", &self.secrets)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl ConnectReceiver {
    /// A receiver on `cfg.path` checking `secrets`, routing accounts by `routes`.
    pub fn new(cfg: &ConnectConfig, secrets: Secrets, routes: Vec<Route>) -> Self {
        let routes = routes.into_iter().map(|r| (r.account_id.to_ascii_lowercase(), r.tenant)).collect();
        Self { path: cfg.path.clone(), secrets, routes, unrouted: Mutex::new(HashSet::new()) }
    }

    /// The tenant of `account` (`Some(None)`: routed, no `_tenant`; `None`: no tenant has it).
    fn route(&self, account: &str) -> Option<&Option<String>> {
        self.routes.get(&account.to_ascii_lowercase())
    }

    fn unrouted(&self, account: &str) {
        crate::metrics::push_unrouted(RECEIVER, account);
        let first = self.unrouted.lock().unwrap_or_else(PoisonError::into_inner).insert(account.to_owned());
        if first {
            warn!(receiver = RECEIVER, account_id = %account, "Connect message for an account no tenant has: delivered without _tenant (logged once per account). Add a tenant with this account_id, or remove the Connect configuration that sends it.");
        }
    }
}

/// Whether a `Content-Type` value names JSON (`application/json`, `…+json`, any parameters).
fn is_json(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

impl Receiver for ConnectReceiver {
    fn name(&self) -> &'static str {
        RECEIVER
    }

    fn path(&self) -> &str {
        &self.path
    }

    fn kind(&self) -> &'static Stream {
        &CONNECT
    }

    fn health(&self) -> Option<&'static Stream> {
        Some(&crate::connectors::collector::HEALTH)
    }

    fn dedup(&self) -> Dedup {
        // The id is our own hash of the identifying fields (`message.rs`).
        Dedup::Id
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
        if let Some((user, password)) = &self.secrets.basic_auth {
            verify::basic_auth(headers, user, password)?;
        }
        verify::signatures(headers, body, &self.secrets.hmac_keys)
    }

    fn media_type_ok(&self, headers: &HeaderMap) -> bool {
        headers.get(header::CONTENT_TYPE).is_none_or(|v| v.to_str().is_ok_and(is_json))
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<Message>, Malformed> {
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut p = message::parse(body, &at)?;
        match self.route(&p.account_id) {
            Some(Some(tenant)) => {
                p.line.insert(fields::TENANT.into(), Value::String(tenant.clone()));
            }
            Some(None) => {}
            None => self.unrouted(&p.account_id),
        }
        Ok(vec![Message {
            id: Some(p.key),
            time: p.time,
            source: p.account_id,
            event: p.line,
            transition: p.transition,
        }])
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use secrecy::SecretString;
    use serde_json::json;

    use super::*;

    fn receiver(routes: Vec<Route>) -> ConnectReceiver {
        let cfg: ConnectConfig = toml::from_str("listen = \"127.0.0.1:0\"\nhmac_keys_env = [\"K\"]").unwrap();
        let secrets = Secrets { hmac_keys: vec![SecretString::from("key-1".to_owned())], basic_auth: None };
        ConnectReceiver::new(&cfg, secrets, routes)
    }

    fn body(account: &str) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"event": "envelope-sent", "retryCount": 0, "generatedDateTime": "2026-01-15T10:30:00Z",
            "data": {"accountId": account, "envelopeId": "e"}}),
        )
        .unwrap()
    }

    #[test]
    fn routes_by_account_to_the_tenant_and_keeps_what_no_tenant_has() {
        let r = receiver(vec![
            Route { account_id: "AAA-1".into(), tenant: Some("acme".into()) },
            Route { account_id: "bbb-2".into(), tenant: Some("globex".into()) },
        ]);
        let m = r.parse(&body("aaa-1")).unwrap();
        assert_eq!(m[0].event["_tenant"], "acme", "account ids compare without case");
        assert_eq!(m[0].source, "aaa-1");
        assert_eq!(r.parse(&body("bbb-2")).unwrap()[0].event["_tenant"], "globex");
        let stray = r.parse(&body("zzz-9")).unwrap();
        assert!(!stray[0].event.contains_key("_tenant"), "delivered, without a tenant");
        r.parse(&body("zzz-9")).unwrap();
        assert_eq!(r.unrouted.lock().unwrap().len(), 1, "warned once per account");
        let single = receiver(vec![Route { account_id: "aaa-1".into(), tenant: None }]);
        assert!(!single.parse(&body("aaa-1")).unwrap()[0].event.contains_key("_tenant"));
    }

    #[test]
    fn json_media_types_pass_and_others_do_not() {
        let r = receiver(Vec::new());
        let with = |ct: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            h
        };
        assert!(r.media_type_ok(&with("application/json")));
        assert!(r.media_type_ok(&with("application/json; charset=utf-8")));
        assert!(r.media_type_ok(&with("Application/JSON")));
        assert!(r.media_type_ok(&HeaderMap::new()), "no Content-Type: the body decides");
        assert!(!r.media_type_ok(&with("application/xml")));
        assert!(!r.media_type_ok(&with("text/plain")));
        assert!(!r.media_type_ok(&with("application/x-www-form-urlencoded")));
    }

    #[test]
    fn verify_checks_basic_auth_before_the_signature() {
        let cfg: ConnectConfig = toml::from_str("listen = \"127.0.0.1:0\"\nhmac_keys_env = [\"K\"]").unwrap();
        let secrets = Secrets {
            hmac_keys: vec![SecretString::from("key-1".to_owned())],
            basic_auth: Some(("ds".into(), SecretString::from("pw".to_owned()))),
        };
        let r = ConnectReceiver::new(&cfg, secrets, Vec::new());
        let b = body("a");
        let mut h = HeaderMap::new();
        h.insert("x-docusign-signature-1", HeaderValue::from_str(&sign("key-1", &b)).unwrap());
        assert_eq!(r.verify(&h, &b).unwrap_err().reason(), "no Basic authentication");
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic ZHM6cHc="));
        assert!(r.verify(&h, &b).is_ok());
    }
}
