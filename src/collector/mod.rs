//! THE loop: checkpoint → fetch one page → dedup → normalize → every sink confirms →
//! commit cursor and ids in one transaction → repeat until the end of the stream, the
//! per-run maximum, or shutdown. One page is in flight at a time; nothing else loops.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{debug, info};

use crate::error::Error;
use crate::sinks::{Batch, Fanout};
use crate::sources::{Session, Source, SourceKind};
use crate::state::Store;

mod enrich;
mod page;

pub use page::{PageContext, Prepared, prepare};

/// Whether a run may move checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Commit after every confirmed page (fetch, run).
    Yes,
    /// Never touch checkpoints or the ledger (get-events).
    Never,
}

/// How one source is collected.
#[derive(Debug, Clone)]
pub struct Options {
    /// Start from this time instead of the checkpoint.
    pub since: Option<DateTime<Utc>>,
    /// Without `since`: start from the checkpoint (else from the source's fresh start).
    pub from_checkpoint: bool,
    /// Records to read at most; `None` means the source's per-run maximum; `Some(0)` means
    /// until the end of the stream.
    pub max: Option<u32>,
    /// Whether checkpoints move.
    pub commit: Commit,
}

/// What collecting one source did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Which source.
    pub kind: SourceKind,
    /// Pages fetched.
    pub pages: u64,
    /// Records the API returned.
    pub fetched: u64,
    /// Lines delivered to the sinks.
    pub delivered: u64,
    /// Records dropped as already delivered.
    pub duplicates: u64,
    /// Whether the checkpoint moved.
    pub cursor_moved: bool,
    /// Whether the stream was read to its end.
    pub at_end: bool,
    /// How long it took.
    pub elapsed: Duration,
}

/// Runs sources into sinks.
pub struct Collector<'a> {
    /// DocuSign access.
    pub session: &'a Session,
    /// The state file.
    pub store: Arc<Mutex<Store>>,
    /// Every configured sink; a page commits only when all confirmed.
    pub sinks: &'a Fanout,
    /// State namespace.
    pub tenant: &'a str,
    /// Written into every line as `_tenant` (configurations with `[[tenants]]`), so a SIEM
    /// fed by several tenants tells them apart.
    pub tag: Option<&'a str>,
    /// Ledger bound per source.
    pub ledger_size: u32,
    /// A progress line on an interactive backfill.
    pub progress: Option<&'a crate::progress::Progress>,
    /// Join customer events with the stored Admin record of their user (`_user`).
    pub enrich: bool,
}

impl std::fmt::Debug for Collector<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

pub(crate) fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Collector<'_> {
    /// Collects one source until its end, its maximum, or `shutdown` turns true (checked
    /// between pages: the page in flight is always finished and committed).
    ///
    /// # Errors
    /// Any source, sink or state error; the checkpoint then stays at the last confirmed page.
    pub async fn collect(
        &mut self,
        source: &dyn Source,
        opts: &Options,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Report, Error> {
        let kind = source.kind();
        let started = Instant::now();
        let stored = match (opts.since, opts.from_checkpoint) {
            (None, true) => lock(&self.store).checkpoint(self.tenant, kind.key())?,
            _ => None,
        };
        let mut cursor = match stored {
            Some(c) => c.cursor,
            None => source.start_cursor(opts.since)?,
        };
        let budget = match opts.max {
            None => u64::from(source.max_per_run()),
            Some(0) => u64::MAX,
            Some(n) => u64::from(n),
        };
        let mut r = Report {
            kind,
            pages: 0,
            fetched: 0,
            delivered: 0,
            duplicates: 0,
            cursor_moved: false,
            at_end: false,
            elapsed: Duration::ZERO,
        };
        loop {
            if *shutdown.borrow() {
                info!(source = %kind, "Shutdown requested; stopping after the last committed page.");
                break;
            }
            let left = budget - r.fetched;
            let limit = u32::try_from(left.min(u64::from(source.page_size()))).unwrap_or(1).max(1);
            let page = source.fetch_page(self.session, &cursor, limit).await?;
            r.pages += 1;
            r.fetched += page.records.len() as u64;
            let collected_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let pc = PageContext {
                tenant: self.tenant,
                tag: self.tag,
                kind,
                collected_at: &collected_at,
                dedup: opts.commit == Commit::Yes,
                enrich: self.enrich,
            };
            let Prepared { lines, ids, users, duplicates: dups } = prepare(&self.store, &pc, page.records)?;
            crate::failpoint::hit("before_send");
            r.duplicates += dups;
            // RFC 3339 UTC strings of one format compare like times.
            let newest = self.progress.and(lines.iter().map(|l| l.time.as_str()).max().map(str::to_owned));
            if !lines.is_empty() {
                let batch = Batch { source: kind, lines };
                self.sinks.send(&batch).await?;
                r.delivered += batch.lines.len() as u64;
            }
            crate::failpoint::hit("after_send");
            if opts.commit == Commit::Yes {
                lock(&self.store).commit(self.tenant, kind.key(), &page.next, &ids, &users, self.ledger_size)?;
                crate::failpoint::hit("after_commit");
                r.cursor_moved |= page.next != cursor;
                debug!(source = %kind, delivered = ids.len() + users.len(), "Page committed.");
                crate::metrics::page_committed(self.tenant, kind, ids.len() + users.len(), dups);
            }
            if let Some(p) = self.progress {
                p.page(kind.key(), r.delivered, newest.as_deref());
            }
            cursor = page.next;
            if page.at_end {
                r.at_end = true;
                break;
            }
            if r.fetched >= budget {
                break;
            }
        }
        r.elapsed = started.elapsed();
        info!(
            tenant = self.tenant,
            source = %kind,
            events = r.delivered,
            fetched = r.fetched,
            duplicates = r.duplicates,
            pages = r.pages,
            duration_ms = u64::try_from(r.elapsed.as_millis()).unwrap_or(u64::MAX),
            cursor_moved = r.cursor_moved,
            at_end = r.at_end,
            "Source collected."
        );
        Ok(r)
    }
}
