//! The hot path alone, for the benchmark: one Monitor page from reply bytes to output lines
//! (parse → dedup → normalize → serialize), its commit, and the floor it is compared with
//! (`serde_json` parse and serialize of the same bytes, nothing else). Not a supported API.

use std::sync::Mutex;

use crate::config::MonitorApi;
use crate::connectors::docusign::{MONITOR_EVENTS, parse_monitor_reply};
use crate::core::collector::{PageContext, Prepared, prepare};
use crate::error::Error;
use crate::state::Store;

/// Runs one org-stream reply `body` through the hot path against the ledger of `tenant`.
///
/// # Errors
/// A malformed body or an unreadable ledger.
pub fn page(store: &Mutex<Store>, tenant: &str, body: &[u8]) -> Result<Prepared, Error> {
    let page = parse_monitor_reply(body, MonitorApi::OrgStream, "bench")?;
    let pc = PageContext {
        tenant,
        tag: None,
        kind: &MONITOR_EVENTS,
        collected_at: "2026-01-01T00:00:00.000Z",
        dedup: true,
        enrich: false,
    };
    prepare(store, &pc, page.records)
}

/// Commits a prepared page as the collector would after the sinks confirmed it.
///
/// # Errors
/// `StoreError` when the commit fails.
pub fn commit(store: &Mutex<Store>, tenant: &str, cursor: &str, p: &Prepared, ledger_size: u32) -> Result<(), Error> {
    let mut s = store.lock().map_err(|_| Error::Internal("state lock poisoned".into()))?;
    s.commit(tenant, MONITOR_EVENTS.key, cursor, &p.ids, &p.users, ledger_size)?;
    Ok(())
}

/// The floor: parse `body` into a `serde_json::Value` and serialize it again.
///
/// # Errors
/// A body that is not JSON.
pub fn floor(body: &[u8]) -> Result<usize, Error> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(serde_json::to_string(&v).map_err(|e| Error::Internal(e.to_string()))?.len())
}

/// Renders a prepared page's lines as a sink with `format` would send them; returns the lines.
pub fn render(p: &Prepared, format: crate::format::Format) -> usize {
    let batch = crate::sinks::Batch { source: &MONITOR_EVENTS, lines: p.lines.clone() };
    crate::core::fanout::render(&batch, (format, crate::format::FormatOptions::default())).lines.len()
}
