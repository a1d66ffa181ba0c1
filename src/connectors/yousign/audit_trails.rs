//! Signers' audit trails (`[sources.yousign_signature_requests] audit_trails = true`, stream
//! `yousign_audit_trails`): `GET {base}/signature_requests/{id}/signers/{signerId}/audit_trails`,
//! the JSON evidence of one signature (signer and sender IP, authentication mode and time,
//! document hashes), available once the signer has signed.
//!
//! The signature requests source queues every signed signer, durably in the state file,
//! before its page is delivered (a cycle runs both at once: while the requests are listing,
//! an empty queue waits for them, so a pass's trails come in the same cycle); this source's cursor is the last queue entry whose trail was
//! delivered, so a crash re-reads at most the trails of one page. A trail the API no longer
//! serves (400: not signed after all, 404: the request was deleted) is skipped with a warning;
//! any other failure stops the page there, and the entry is read again next cycle.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::warn;

use super::{AUDIT_TRAILS, Session};
use crate::core::collector::lock;
use crate::core::source::{Page, Paging, Record, SinceStart, Source, Stream, unreadable_cursor};
use crate::error::Error;
use crate::http::ApiError;
use crate::state::Store;

/// How long a page waits for the signature requests' pass running beside it to end.
const LISTING_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// The stored cursor: the last queue entry whose trail was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    after: i64,
}

fn cursor_json(c: Cursor) -> String {
    serde_json::to_string(&c).unwrap_or_default()
}

/// The queue item of a signer: `{signature request id}/{signer id}`.
pub(super) fn item(request: &str, signer: &str) -> String {
    format!("{request}/{signer}")
}

/// Queues the signed signers of `records` (signature requests) for their audit trails.
///
/// # Errors
/// `StoreError` when the state file cannot be written.
pub(super) fn queue_signed(
    store: &Arc<Mutex<Store>>,
    tenant: &str,
    records: &[serde_json::Map<String, Value>],
) -> Result<usize, Error> {
    let mut items = Vec::new();
    for r in records {
        let Some(id) = r.get("id").and_then(Value::as_str) else { continue };
        for s in r.get("signers").and_then(Value::as_array).into_iter().flatten() {
            if s.get("status").and_then(Value::as_str) == Some("signed")
                && let Some(signer) = s.get("id").and_then(Value::as_str)
            {
                items.push((item(id, signer), String::new()));
            }
        }
    }
    if items.is_empty() {
        return Ok(0);
    }
    Ok(lock(store).enqueue(tenant, AUDIT_TRAILS.key, &items)?)
}

/// Signers' audit trails.
#[derive(Debug)]
pub struct AuditTrails {
    session: Arc<Session>,
    /// True while the signature requests source is listing: what it queues comes first.
    listing: Arc<std::sync::atomic::AtomicBool>,
    base: String,
    store: Arc<Mutex<Store>>,
    tenant: String,
}

impl AuditTrails {
    /// The source for the API at `base`, reading the queue of `tenant` in `store`.
    pub fn new(session: Arc<Session>, base: &str, store: Arc<Mutex<Store>>, tenant: &str) -> Self {
        Self {
            session,
            listing: Arc::default(),
            base: base.trim_end_matches('/').to_owned(),
            store,
            tenant: tenant.to_owned(),
        }
    }

    /// Waits, when its queue is empty, for the pass of the signature requests source that
    /// shares `listing` (so a pass's trails come in the same cycle).
    #[must_use]
    pub fn after(self, listing: Arc<std::sync::atomic::AtomicBool>) -> Self {
        Self { listing, ..self }
    }

    /// Waits (at most [`LISTING_WAIT`]) while the requests source lists.
    async fn wait_for_listing(&self) {
        let deadline = tokio::time::Instant::now() + LISTING_WAIT;
        while self.listing.load(std::sync::atomic::Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

#[async_trait]
impl Source for AuditTrails {
    fn kind(&self) -> &'static Stream {
        &AUDIT_TRAILS
    }

    fn start_cursor(&self, _since: Option<DateTime<Utc>>) -> Result<String, Error> {
        Ok(cursor_json(Cursor { after: 0 }))
    }

    fn since_start(&self, stored: Option<&str>, _since: DateTime<Utc>) -> Result<SinceStart, Error> {
        let cursor = stored.map_or_else(|| cursor_json(Cursor { after: 0 }), str::to_owned);
        Ok(SinceStart::Ignored { cursor, why: "audit trails follow the signature requests' queue" })
    }

    fn paging(&self) -> Paging {
        // No prefetch: the queue it reads is filled by the signature requests' pages as they are
        // fetched (and waited for while they list), and each item is one rate-limited request
        // that a dropped prefetched page would spend for nothing.
        Paging { page_size: 20, max_per_run: None, prefetch: false }
    }

    async fn fetch_page(&self, cursor: &str, limit: u32) -> Result<Page, Error> {
        let c: Cursor = serde_json::from_str(cursor).map_err(|e| unreadable_cursor(AUDIT_TRAILS.key, &e))?;
        // Read before the queue: the requests source queues a page's signers before it stops
        // listing, so once this is false the queue read next holds the whole pass. Read after
        // the trails below, a pass ending meanwhile would end this stream before the signers
        // its last pages queued, leaving them for the next cycle.
        let mut listing = self.listing.load(std::sync::atomic::Ordering::SeqCst);
        let mut items = lock(&self.store).queued_after(&self.tenant, AUDIT_TRAILS.key, c.after, limit)?;
        if items.is_empty() && listing {
            self.wait_for_listing().await;
            listing = self.listing.load(std::sync::atomic::Ordering::SeqCst);
            items = lock(&self.store).queued_after(&self.tenant, AUDIT_TRAILS.key, c.after, limit)?;
        }
        let full = u32::try_from(items.len()).unwrap_or(u32::MAX) >= limit;
        let mut after = c.after;
        let mut records = Vec::new();
        let mut stopped = false;
        for q in items {
            let Some((request, signer)) = q.item.split_once('/') else {
                after = q.seq;
                continue;
            };
            let url = format!("{}/signature_requests/{request}/signers/{signer}/audit_trails", self.base);
            match self.session.client.get_json(&self.session.api, "Yousign audit trail", &url).await {
                Ok(Value::Object(m)) => records.push(Record::Object(m)),
                Ok(_) => {
                    return Err(ApiError::Malformed {
                        what: "Yousign audit trail".into(),
                        message: "the reply is not a JSON object".into(),
                    }
                    .into());
                }
                Err(Error::Api(ApiError::Status { status: 400 | 404, .. })) => {
                    warn!(tenant = %self.tenant, signature_request = %request, signer = %signer, "Yousign serves no audit trail for this signer (not signed, or the request was deleted); skipped.");
                }
                Err(e) if records.is_empty() => return Err(e),
                Err(e) => {
                    warn!(tenant = %self.tenant, error = %e, "An audit trail could not be read; it is read again next cycle.");
                    stopped = true;
                    break;
                }
            }
            after = q.seq;
        }
        // While the requests still listed, more signers may have been queued: come back for them.
        Ok(Page { records, next: cursor_json(Cursor { after }), at_end: stopped || (!full && !listing) })
    }
}
