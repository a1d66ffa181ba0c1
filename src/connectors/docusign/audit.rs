//! Envelope audit events (`[sources.envelopes] audit_events = true`, stream `envelope_audit`):
//! `GET {root}/envelopes/{id}/audit_events` once per envelope that reached a terminal status
//! (completed, declined, voided). One line per audit event: its `eventFields` (`name`/`value`
//! pairs) flattened to an object (`logTime`, `Action`, `UserName`, `ClientIPAddress`, …) plus
//! `envelopeId`.
//!
//! # The polling rule, and never losing an envelope
//! DocuSign allows a GET of one envelope resource at most once every 15 minutes. The
//! envelopes source writes each terminal envelope into a durable queue in the state file before
//! its page is returned; this source's cursor is the last queue entry whose audit events were
//! delivered. Before each GET it records, durably, that it is about to read that envelope, and
//! it reads no envelope read in the last 15 minutes: a crash after the GET and before the
//! commit leaves the entry for a replay that waits those 15 minutes. The GET is never retried
//! (a retry is another GET); a 429 `HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED` ends the cycle with
//! a warning and the entry stays queued. One cycle reads at most `max_audit_per_cycle`
//! envelopes; the rest wait for the next cycle.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::{info, warn};

use super::ENVELOPE_AUDIT;
use super::base_uri::Esignature;
use crate::core::collector::lock;
use crate::core::source::{Page, Paging, Record, SinceStart, Source, Stream, unreadable_cursor};
use crate::error::Error;
use crate::http::ApiError;
use crate::state::Store;

/// DocuSign's polling rule: one envelope resource at most once in this time.
pub(super) const RESOURCE_GAP: chrono::Duration = chrono::Duration::minutes(15);

/// How long a cycle waits for the envelope list window running beside it to end.
const LISTING_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The stored cursor: the last queue entry whose audit events were delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    after: i64,
}

fn cursor_json(c: Cursor) -> String {
    serde_json::to_string(&c).unwrap_or_default()
}

/// An audit reply's events, each flattened: `eventFields` name → value, plus `envelopeId`.
///
/// # Errors
/// What is wrong with the body.
pub(super) fn flatten(body: &[u8], envelope_id: &str) -> Result<Vec<Map<String, Value>>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not an audit events reply: {e}"))?;
    let Some(obj) = v.as_object() else { return Err("not an audit events reply: not a JSON object".into()) };
    let events = match obj.get("auditEvents") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("`auditEvents` is not an array".into()),
    };
    let mut out = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let fields = e
            .get("eventFields")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("audit event {i} has no `eventFields` array"))?;
        let mut m = Map::new();
        for f in fields {
            let Some(name) = f.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else { continue };
            // A name given twice keeps its first value, as DocuSign's own certificate shows it.
            m.entry(name.to_owned()).or_insert_with(|| f.get("value").cloned().unwrap_or(Value::Null));
        }
        m.insert("envelopeId".into(), Value::String(envelope_id.to_owned()));
        out.push(m);
    }
    Ok(out)
}

/// Whether a refusal is DocuSign's per-envelope polling limit.
fn polling_limit(e: &Error) -> bool {
    matches!(e, Error::Api(ApiError::Status { status: 429, .. }))
        || matches!(e, Error::Api(ApiError::Status { body, .. }) if crate::http::retry::is_resource_limit_body(body.as_bytes()))
}

/// Audit events of terminal envelopes.
#[derive(Debug)]
pub struct EnvelopeAudit {
    esig: Arc<Esignature>,
    store: Option<Arc<Mutex<Store>>>,
    tenant: String,
    max_per_cycle: u32,
}

impl EnvelopeAudit {
    /// The source for the account behind `esig`, reading the queue in `store`.
    pub fn new(esig: Arc<Esignature>, store: Option<Arc<Mutex<Store>>>, tenant: &str, max_per_cycle: u32) -> Self {
        Self { esig, store, tenant: tenant.to_owned(), max_per_cycle }
    }

    fn store(&self) -> Result<&Arc<Mutex<Store>>, Error> {
        self.store.as_ref().ok_or_else(|| Error::Internal("envelope audit events need the state file".into()))
    }

    /// The resource name the polling rule is kept under.
    fn resource(envelope_id: &str) -> String {
        format!("docusign/envelope/{envelope_id}")
    }

    /// Whether `envelope_id` may be read now; records the read when it may (before it is sent).
    fn claim(&self, envelope_id: &str, now: DateTime<Utc>) -> Result<bool, Error> {
        let store = self.store()?;
        let s = lock(store);
        let resource = Self::resource(envelope_id);
        if let Some(at) = s.last_request(&self.tenant, &resource)?
            && now - at < RESOURCE_GAP
        {
            let wait = (RESOURCE_GAP - (now - at)).num_seconds().max(0);
            info!(
                tenant = %self.tenant,
                envelope_id,
                wait_s = wait,
                "Envelope read less than 15 minutes ago (DocuSign's polling rule); its audit events wait for a later cycle."
            );
            return Ok(false);
        }
        s.record_request(&self.tenant, &resource, now)?;
        Ok(true)
    }
}

#[async_trait]
impl Source for EnvelopeAudit {
    fn kind(&self) -> &'static Stream {
        &ENVELOPE_AUDIT
    }

    fn start_cursor(&self, _since: Option<DateTime<Utc>>) -> Result<String, Error> {
        Ok(cursor_json(Cursor { after: 0 }))
    }

    fn since_start(&self, stored: Option<&str>, since: DateTime<Utc>) -> Result<SinceStart, Error> {
        let cursor = stored.map_or_else(|| self.start_cursor(Some(since)), |s| Ok(s.to_owned()))?;
        Ok(SinceStart::Ignored { cursor, why: "audit events follow the envelopes queued for them, not a time" })
    }

    fn paging(&self) -> Paging {
        // No prefetch: each page spends one GET per queued envelope under DocuSign's polling rule
        // (one per envelope per 15 minutes); a prefetched page dropped at a sink error or shutdown
        // would spend them for nothing and the envelopes would wait 15 minutes.
        Paging { page_size: self.max_per_cycle, max_per_run: None, prefetch: false }
    }

    async fn fetch_page(&self, cursor: &str, _limit: u32) -> Result<Page, Error> {
        let c: Cursor = serde_json::from_str(cursor).map_err(|e| unreadable_cursor(ENVELOPE_AUDIT.key, &e))?;
        self.esig.listing_done(LISTING_WAIT).await;
        let queued = lock(self.store()?).queued_after(&self.tenant, ENVELOPE_AUDIT.key, c.after, self.max_per_cycle)?;
        let mut records = Vec::new();
        let mut after = c.after;
        for item in queued {
            if !self.claim(&item.item, Utc::now())? {
                break;
            }
            let id: String = url::form_urlencoded::byte_serialize(item.item.as_bytes()).collect();
            let path = format!("/envelopes/{id}/audit_events");
            let envelope = item.item.clone();
            match self.esig.get("envelope audit events", &path, Some(0), |b| flatten(b, &envelope)).await {
                Ok(events) => {
                    records.extend(events.into_iter().map(Record::Object));
                    after = item.seq;
                }
                Err(e) if polling_limit(&e) => {
                    warn!(
                        tenant = %self.tenant,
                        envelope_id = %item.item,
                        error = %e,
                        "DocuSign refused the envelope's audit events under its polling rule (one GET per envelope per 15 minutes; another app on the account may read the same envelopes). The envelope stays queued and is read after 15 minutes; nothing is lost. If this repeats, check what else polls this account's envelopes."
                    );
                    break;
                }
                Err(e) if after == c.after => return Err(e),
                Err(e) => {
                    warn!(tenant = %self.tenant, envelope_id = %item.item, error = %e, "Audit events not read; the envelope stays queued and is read after 15 minutes.");
                    break;
                }
            }
        }
        Ok(Page { records, next: cursor_json(Cursor { after }), at_end: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_fields_flatten_to_one_object_per_event() {
        let body = json!({"auditEvents": [
            {"eventFields": [{"name": "logTime", "value": "2026-01-15T10:07:12.1230000Z"},
                             {"name": "Action", "value": "Signed"}, {"name": "UserName", "value": "Ann"},
                             {"name": "ClientIPAddress", "value": "203.0.113.9"}, {"name": "Action", "value": "x"},
                             {"value": "nameless"}]},
            {"eventFields": []}]});
        let out = flatten(body.to_string().as_bytes(), "e1").unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            Value::Object(out[0].clone()),
            json!({"logTime": "2026-01-15T10:07:12.1230000Z", "Action": "Signed", "UserName": "Ann",
                   "ClientIPAddress": "203.0.113.9", "envelopeId": "e1"})
        );
        assert_eq!(Value::Object(out[1].clone()), json!({"envelopeId": "e1"}));
        assert!(flatten(b"{}", "e1").unwrap().is_empty());
        assert!(flatten(b"[]", "e1").is_err());
        assert!(flatten(br#"{"auditEvents": [{"x": 1}]}"#, "e1").is_err());
        assert!(flatten(br#"{"auditEvents": [{"eventFields"#, "e1").is_err());
    }

    /// One fixed token.
    #[derive(Debug)]
    struct Fixed;

    #[async_trait]
    impl crate::auth::TokenSource for Fixed {
        async fn token(&self, _: &crate::http::Api) -> Result<secrecy::SecretString, crate::auth::AuthError> {
            Ok(secrecy::SecretString::from("t"))
        }
        fn invalidate(&self, _: &secrecy::SecretString) {}
    }

    /// A host that refuses every request with DocuSign's polling-limit 429, counting them.
    async fn refusing_host() -> (String, Arc<std::sync::atomic::AtomicU32>) {
        let hits = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let h = hits.clone();
        let app = axum::Router::new().fallback(move || {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async {
                (
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    r#"{"errorCode":"HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED","message":"too often"}"#,
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, hits)
    }

    #[tokio::test]
    async fn a_polling_limit_refusal_is_not_retried_and_keeps_the_envelope_queued() {
        let (base, hits) = refusing_host().await;
        let settings = crate::http::ClientSettings::plain("docusign", std::time::Duration::from_secs(5));
        let api = crate::http::Api::new(&settings, &crate::http::RateLimitConfig::default(), 200).unwrap();
        let session = Arc::new(super::super::Session { api, client: super::super::Client::new(Box::new(Fixed)) });
        let (_dir, p) = crate::testkit::scratch("s.db");
        let store = Arc::new(Mutex::new(Store::open(&p).unwrap()));
        lock(&store).enqueue("t", ENVELOPE_AUDIT.key, &[("e1".into(), String::new())]).unwrap();
        let esig = Arc::new(Esignature::new(session, Some(store.clone()), "t", &base, "a", Some(base.clone())));
        let audit = EnvelopeAudit::new(esig, Some(store.clone()), "t", 10);
        let start = audit.start_cursor(None).unwrap();
        let page = audit.fetch_page(&start, 10).await.unwrap();
        assert!(page.records.is_empty());
        assert_eq!(page.next, start, "the envelope stays queued");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1, "one GET, never retried");
        // At once again: the envelope was read less than 15 minutes ago, so it is not read.
        let page = audit.fetch_page(&start, 10).await.unwrap();
        assert_eq!(page.next, start);
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(lock(&store).last_request("t", "docusign/envelope/e1").unwrap().is_some());
    }

    #[test]
    fn polling_limit_is_recognised() {
        let e = |status, body: &str| {
            Error::Api(ApiError::Status { what: "x".into(), status, body: body.into(), trace: String::new(), hint: "" })
        };
        assert!(polling_limit(&e(429, r#"{"errorCode":"HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED"}"#)));
        assert!(polling_limit(&e(400, "Hourly_Envelope_Polling_Limit_Exceeded")));
        assert!(!polling_limit(&e(404, "ENVELOPE_DOES_NOT_EXIST")));
    }
}
