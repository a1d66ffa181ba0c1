//! THE loop: checkpoint → fetch one page → dedup → normalize → every sink confirms →
//! commit cursor and ids in one transaction → repeat until the end of the stream, an
//! explicit per-run cap, the run-time budget, or shutdown. One page is delivered at a time per
//! source, and (where the source allows it) the next one is fetched meanwhile; nothing else
//! loops.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::fanout::Fanout;
use super::source::{Page, SinceStart, Source, Stream, iso};
use crate::error::Error;
use crate::http::ApiError;
use crate::sinks::Batch;
use crate::state::Store;

mod enrich;
mod page;

pub use page::{PageContext, Prepared, prepare};

/// Empty pages in a row, each moving the cursor, after which a run takes the stream as read.
const MAX_EMPTY_MOVES: u32 = 20;

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
    /// Records to read at most; `None` means the source's explicit cap, if configured (else
    /// until the end); `Some(0)` means until the end of the stream.
    pub max: Option<u32>,
    /// When the run-time budget ends: no page is started after it, and no retry wait may
    /// reach past it. `None`: no budget (`fetch --all`, `get-events`).
    pub deadline: Option<tokio::time::Instant>,
    /// With `since` later than a checkpoint: skip what lies between (else refused).
    pub skip_backlog: bool,
    /// Whether checkpoints move.
    pub commit: Commit,
}

/// Where a committing run asked to start at `since` begins for `source`: never past
/// undelivered data unless `skip_backlog`, never before the first user snapshot. Reads the
/// state file only, so `fetch` checks every source with it before any request. The second
/// value is what the run must log (the span skipped, or why `since` is ignored).
///
/// # Errors
/// `ConfigError::Argument` (exit 2) for a `--since` that would skip undelivered data; a
/// source's refusal of `since`; `StoreError`.
pub fn since_plan(
    store: &Mutex<Store>,
    tenant: &str,
    source: &dyn Source,
    since: DateTime<Utc>,
    skip_backlog: bool,
) -> Result<(String, Option<String>), Error> {
    let kind = source.kind();
    let stored = lock(store).checkpoint(tenant, kind.key)?;
    match source.since_start(stored.as_ref().map(|c| c.cursor.as_str()), since)? {
        SinceStart::From(c) => Ok((c, None)),
        SinceStart::Ignored { cursor, why } => {
            Ok((cursor, Some(format!("--since does not apply to {kind} now: {why}."))))
        }
        SinceStart::Skips { cursor, from } => {
            let span = from.map_or_else(
                || "an unknown span of undelivered data (the checkpoint records no time)".to_owned(),
                |f| {
                    let secs = (since - f).to_std().unwrap_or_default().as_secs();
                    format!(
                        "up to {} of undelivered data, from {} to {}",
                        humantime::format_duration(std::time::Duration::from_secs(secs)),
                        iso(f),
                        iso(since)
                    )
                },
            );
            if !skip_backlog {
                return Err(crate::values::ConfigError::Argument {
                    arg: "--since".into(),
                    message: format!(
                        "is later than the {kind} checkpoint: starting there would skip {span}; \
                         drop --since to continue from the checkpoint, or add --skip-backlog to skip it"
                    ),
                }
                .into());
            }
            Ok((cursor, Some(format!("--skip-backlog: {kind} skips {span}; those events are never delivered."))))
        }
    }
}

/// What collecting one source did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Which source.
    pub kind: &'static Stream,
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
    /// Whether the run-time budget ended the run (with data left).
    pub out_of_time: bool,
    /// How long it took.
    pub elapsed: Duration,
}

impl Report {
    /// Nothing done yet.
    fn empty(kind: &'static Stream) -> Self {
        Self {
            kind,
            pages: 0,
            fetched: 0,
            delivered: 0,
            duplicates: 0,
            cursor_moved: false,
            at_end: false,
            out_of_time: false,
            elapsed: Duration::ZERO,
        }
    }
}

/// Runs sources into sinks.
pub struct Collector<'a> {
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
    /// Join events with the stored snapshot record of their actor (`_user`).
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
    /// The summary line of a source's run, and the warning when the budget cut it short.
    fn log_report(&self, r: &Report) {
        let kind = r.kind;
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
        if r.out_of_time {
            warn!(
                tenant = self.tenant,
                source = %kind,
                events = r.delivered,
                "Run-time budget (state.max_run_time) spent with data left; the next run continues from the checkpoint."
            );
        }
    }

    /// Where a run of `source` starts: `--since` (checked against the checkpoint when the run
    /// commits), the checkpoint, or the source's fresh start.
    fn first_cursor(&self, source: &dyn Source, opts: &Options) -> Result<String, Error> {
        let kind = source.kind();
        Ok(match (opts.since, opts.commit) {
            (Some(since), Commit::Yes) => {
                let (cursor, note) = since_plan(&self.store, self.tenant, source, since, opts.skip_backlog)?;
                match note {
                    Some(n) if opts.skip_backlog => warn!(tenant = self.tenant, source = %kind, "{n}"),
                    Some(n) => info!(tenant = self.tenant, source = %kind, "{n}"),
                    None => {}
                }
                cursor
            }
            (Some(since), Commit::Never) => source.start_cursor(Some(since))?,
            (None, _) if opts.from_checkpoint => match lock(&self.store).checkpoint(self.tenant, kind.key)? {
                Some(c) => c.cursor,
                None => source.start_cursor(None)?,
            },
            (None, _) => source.start_cursor(None)?,
        })
    }

    /// Collects one source until its end, its maximum, or `shutdown` turns true (checked
    /// between pages: the page in flight is always finished and committed).
    ///
    /// Where the source allows it ([`Paging::prefetch`](super::source::Paging)), the next
    /// page is fetched while this one is prepared, sent and committed; it is prepared (dedup
    /// against the ledger) only after this one committed, so commits stay in order and a
    /// checkpoint moves only after every sink confirmed. A page fetched ahead is dropped,
    /// neither delivered nor committed, when this one fails or shutdown is asked meanwhile.
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
        let mut cursor = self.first_cursor(source, opts)?;
        let paging = source.paging();
        let budget = match opts.max.or(paging.max_per_run) {
            None | Some(0) => u64::MAX,
            Some(n) => u64::from(n),
        };
        let limit =
            |fetched: u64| u32::try_from((budget - fetched).min(u64::from(paging.page_size))).unwrap_or(1).max(1);
        let past_deadline = || opts.deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
        let mut r = Report::empty(kind);
        // Empty pages in a row whose cursor moved (DocuSign: not the end of the stream).
        let mut empty_moves = 0u32;
        // The page fetched while the previous one was delivered.
        let mut ahead: Option<Page> = None;
        loop {
            let page = if let Some(p) = ahead.take() {
                p
            } else {
                if *shutdown.borrow() {
                    info!(source = %kind, "Shutdown requested; stopping after the last committed page.");
                    break;
                }
                if past_deadline() {
                    r.out_of_time = true;
                    break;
                }
                let Some(p) = fetched(kind, source.fetch_page(&cursor, limit(r.fetched)).await)? else {
                    r.out_of_time = true;
                    break;
                };
                p
            };
            let Page { records, next, at_end } = page;
            r.pages += 1;
            r.fetched += records.len() as u64;
            let empty = records.is_empty();
            let moved = next != cursor;
            // An empty page whose cursor moved is not the end (DocuSign's tracking-data guide
            // says so of its streams); go on while the cursor changes. A server that moves it forever is cut off.
            empty_moves = if empty && moved { empty_moves + 1 } else { 0 };
            let last = at_end || empty_moves >= MAX_EMPTY_MOVES || r.fetched >= budget;
            // Never a request the sequential loop would not make: not past the end, the cap,
            // the budget or a shutdown.
            let prefetch = paging.prefetch && !last && !*shutdown.borrow() && !past_deadline();
            let deliver = self.deliver(kind, opts, records, &next, prefetch);
            let (done, following) = if prefetch {
                let fetch = source.fetch_page(&next, limit(r.fetched));
                let (done, following) = overlap(deliver, fetch).await;
                (done, Some(following))
            } else {
                (deliver.await, None)
            };
            let done = done?;
            r.delivered += done.lines;
            r.duplicates += done.duplicates;
            if opts.commit == Commit::Yes {
                r.cursor_moved |= moved;
            }
            if let Some(p) = self.progress {
                p.page(kind.key, r.delivered, done.newest.as_deref());
            }
            // (A copy: the fetch ahead still borrows `next`.)
            cursor.clone_from(&next);
            if at_end {
                r.at_end = true;
                break;
            }
            if empty_moves >= MAX_EMPTY_MOVES {
                warn!(source = %kind, pages = empty_moves, "Empty pages keep moving the cursor; taking the stream as read to its end for this run.");
                r.at_end = true;
                break;
            }
            if r.fetched >= budget {
                break;
            }
            if let Some(following) = following {
                if *shutdown.borrow() {
                    info!(source = %kind, "Shutdown requested; the page fetched ahead is dropped, stopping after the last committed page.");
                    break;
                }
                let result = match following {
                    Fetch::Done(result) => result,
                    Fetch::Pending(fetch) => fetch.await,
                };
                let Some(p) = fetched(kind, result)? else {
                    r.out_of_time = true;
                    break;
                };
                ahead = Some(p);
            }
        }
        r.elapsed = started.elapsed();
        self.log_report(&r);
        Ok(r)
    }

    /// Prepares, sends and (when the run commits) commits one page whose cursor after it is
    /// `next`. With `yield_first`, it lets the runtime run once before its synchronous work,
    /// so a request started beside it is on the wire meanwhile.
    async fn deliver(
        &self,
        kind: &'static Stream,
        opts: &Options,
        records: Vec<super::source::Record>,
        next: &str,
        yield_first: bool,
    ) -> Result<Delivered, Error> {
        if yield_first {
            tokio::task::yield_now().await;
        }
        let collected_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let pc = PageContext {
            tenant: self.tenant,
            tag: self.tag,
            kind,
            collected_at: &collected_at,
            dedup: opts.commit == Commit::Yes,
            enrich: self.enrich,
        };
        let Prepared { lines, ids, users, duplicates } = prepare(&self.store, &pc, records)?;
        crate::failpoint::hit("before_send");
        // RFC 3339 UTC strings of one format compare like times.
        let newest = self.progress.and(lines.iter().map(|l| l.time.as_str()).max().map(str::to_owned));
        let mut sent = 0;
        if !lines.is_empty() {
            let batch = Batch { source: kind, lines };
            self.sinks.send(&batch).await?;
            sent = batch.lines.len() as u64;
        }
        crate::failpoint::hit("after_send");
        if opts.commit == Commit::Yes {
            lock(&self.store).commit(self.tenant, kind.key, next, &ids, &users, self.ledger_size)?;
            crate::failpoint::hit("after_commit");
            debug!(source = %kind, delivered = ids.len() + users.len(), "Page committed.");
            crate::metrics::page_committed(self.tenant, kind.key, ids.len() + users.len(), duplicates);
        }
        Ok(Delivered { lines: sent, duplicates, newest })
    }
}

/// What delivering one page did.
struct Delivered {
    /// Lines the sinks confirmed.
    lines: u64,
    /// Records dropped as already delivered.
    duplicates: u64,
    /// The newest event time of the page (only with a progress line).
    newest: Option<String>,
}

/// A fetch started beside a delivery: finished while the delivery ran, or still running.
enum Fetch<F: Future> {
    Done(F::Output),
    Pending(std::pin::Pin<Box<F>>),
}

/// Runs `deliver` to its end while `fetch` makes progress beside it (polled first, so its
/// request leaves before the delivery's synchronous work). The fetch is not awaited past the
/// delivery: what is left of it is handed back, for the caller to finish or drop.
async fn overlap<D, F>(deliver: D, fetch: F) -> (D::Output, Fetch<F>)
where
    D: Future,
    F: Future,
{
    let mut fetch = Box::pin(fetch);
    let mut deliver = std::pin::pin!(deliver);
    let mut done = None;
    let delivered = std::future::poll_fn(|cx| {
        if done.is_none()
            && let std::task::Poll::Ready(out) = fetch.as_mut().poll(cx)
        {
            done = Some(out);
        }
        deliver.as_mut().poll(cx)
    })
    .await;
    let following = match done {
        Some(out) => Fetch::Done(out),
        None => Fetch::Pending(fetch),
    };
    (delivered, following)
}

/// A fetch's page, `None` when a retry wait would pass the run-time budget (the page is left
/// for the next run), or its error.
fn fetched(kind: &'static Stream, result: Result<Page, Error>) -> Result<Option<Page>, Error> {
    match result {
        Ok(p) => Ok(Some(p)),
        Err(Error::Api(ApiError::OutOfTime { what })) => {
            debug!(source = %kind, call = %what, "A retry wait would pass the run-time budget; the page is left for the next run.");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
