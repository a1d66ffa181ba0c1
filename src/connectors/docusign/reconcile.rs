//! Push and poll together: with `[receivers.connect]` configured, Connect is the primary feed
//! and polling the envelope list is its safety net. A polled transition that Connect delivered
//! (its receiver recorded the envelope, status and change time in the state file when it
//! stored the message) is not emitted again; one Connect never delivered is emitted from
//! polling, marked `_connect_gap: true`, recorded once in the state file (`status` shows the
//! count) and counted in `esign_connect_gaps_total`.
//!
//! Only envelope-level Connect events with an `envelopeSummary` (Connect's `includeData`)
//! record transitions: without it every polled transition looks like a gap. Connect delivers
//! within seconds to minutes, so with reconciliation a list window ends `connect_grace` before
//! now (default 10 minutes) instead of one minute: a transition younger than that is judged at
//! the next window, when Connect had its time.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tracing::{debug, warn};

use crate::core::collector::lock;
use crate::core::fields::CONNECT_GAP;
use crate::error::Error;
use crate::state::Store;

/// The Connect side of one account's polled transitions.
#[derive(Debug)]
pub struct Reconcile {
    store: Arc<Mutex<Store>>,
    tenant: String,
    account_id: String,
}

impl Reconcile {
    /// Reconciliation of `account_id`'s polled transitions with what Connect delivered.
    pub fn new(store: Arc<Mutex<Store>>, tenant: &str, account_id: &str) -> Self {
        Self { store, tenant: tenant.to_owned(), account_id: account_id.to_owned() }
    }

    /// Keeps the transitions of `records` that Connect never delivered, each marked as a gap
    /// and recorded; drops those it delivered.
    ///
    /// # Errors
    /// `StoreError` when the state file cannot be read or written.
    pub fn gaps(&self, records: Vec<Map<String, Value>>) -> Result<Vec<Map<String, Value>>, Error> {
        let now = crate::core::source::iso(chrono::Utc::now());
        let polled = records.len();
        let key = |r: &Map<String, Value>, k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let mut out = Vec::new();
        let mut store = lock(&self.store);
        for r in records {
            let (envelope, status, changed) =
                (key(&r, "envelopeId"), key(&r, "status"), key(&r, "statusChangedDateTime"));
            if !store.connect_delivered(&self.account_id, &envelope, &status, &changed)? {
                out.push((r, envelope, status, changed));
            }
        }
        let found: Vec<(&str, &str, &str)> =
            out.iter().map(|(_, e, s, c)| (e.as_str(), s.as_str(), c.as_str())).collect();
        let fresh = store.record_connect_gaps(&self.account_id, &found, &now)?;
        drop(store);
        let mut new = 0u64;
        for ((_, envelope, status, changed), _) in out.iter().zip(&fresh).filter(|(_, f)| **f) {
            new += 1;
            warn!(tenant = %self.tenant, envelope_id = %envelope, status = %status, status_changed = %changed, "Connect never delivered this envelope transition; emitted from polling (a connect gap).");
        }
        crate::metrics::connect_gaps(&self.tenant, new);
        debug!(tenant = %self.tenant, polled, gaps = out.len(), new_gaps = new, "Polled transitions reconciled with Connect.");
        Ok(out
            .into_iter()
            .map(|(mut r, ..)| {
                r.insert(CONNECT_GAP.into(), Value::Bool(true));
                r
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::EnvelopeTransition;
    use serde_json::json;

    fn rec(envelope: &str, status: &str, at: &str) -> Map<String, Value> {
        let Value::Object(m) = json!({"envelopeId": envelope, "status": status, "statusChangedDateTime": at}) else {
            unreachable!()
        };
        m
    }

    #[test]
    fn delivered_transitions_are_dropped_and_gaps_marked_and_counted_once() {
        let (_dir, path) = crate::testkit::scratch("state.db");
        let mut store = Store::open(&path).unwrap();
        let t = EnvelopeTransition {
            account_id: "a".into(),
            envelope_id: "e1".into(),
            status: "completed".into(),
            // Connect's spelling of the instant the list writes as `…:00.0000000Z`.
            status_changed: "2026-01-15T10:30:00Z".into(),
        };
        let entry = crate::state::InboxEntry {
            source: "a".into(),
            key: "k1".into(),
            time: "2026-01-15T10:30:00Z".into(),
            line: "{}".into(),
            transition: Some(t),
        };
        store.inbox_put("connect", &[entry], 10).unwrap();
        let r = Reconcile::new(Arc::new(Mutex::new(store)), "t", "a");
        let page = vec![
            rec("e1", "completed", "2026-01-15T10:30:00.0000000Z"),
            rec("e2", "voided", "2026-01-15T10:31:00.0000000Z"),
            // The same envelope in another status is another transition.
            rec("e1", "declined", "2026-01-15T10:30:00.0000000Z"),
        ];
        let out = r.gaps(page.clone()).unwrap();
        let ids: Vec<(&str, &str)> =
            out.iter().map(|m| (m["envelopeId"].as_str().unwrap_or(""), m["status"].as_str().unwrap_or(""))).collect();
        assert_eq!(ids, [("e2", "voided"), ("e1", "declined")]);
        assert!(out.iter().all(|m| m[CONNECT_GAP] == json!(true)));
        // A window read again (a crash replay) emits the gaps again but counts them once.
        assert_eq!(r.gaps(page).unwrap().len(), 2);
        let gaps = lock(&r.store).connect_gaps("a").unwrap();
        assert_eq!(gaps.total, 2);
        assert!(gaps.last_found_at.is_some());
        assert_eq!(lock(&r.store).connect_gaps("other").unwrap().total, 0);
    }
}
