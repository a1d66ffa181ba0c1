//! The pull side of a connector: a [`Source`] fetches *one page* from a cursor and returns the
//! next cursor; it never loops, sleeps, deduplicates or commits (the collector does). What the
//! source is (its names, identity, mapping) is its [`Stream`] descriptor.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::Error;
pub use crate::stream::Stream;

/// One record as the API sent it.
#[derive(Debug, Clone)]
pub enum Record {
    /// Parsed into a map: snapshot records, and records the fast path declines.
    Object(Map<String, Value>),
    /// A record kept as its bytes (see [`super::normalize::Fast`]).
    Fast(super::normalize::Fast),
}

impl From<Map<String, Value>> for Record {
    fn from(m: Map<String, Value>) -> Self {
        Record::Object(m)
    }
}

/// One page of records.
#[derive(Debug, Clone)]
pub struct Page {
    /// Records exactly as the API sent them.
    pub records: Vec<Record>,
    /// The cursor after this page (opaque to the collector; stored as is).
    pub next: String,
    /// Whether the stream has nothing more for now.
    pub at_end: bool,
}

/// Where a committing run asked to start at `--since` begins, against the stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinceStart {
    /// Start at this cursor: nothing undelivered is skipped (at most a re-read, which the
    /// ledger absorbs).
    From(String),
    /// `--since` does not apply to this source now; the run starts at `cursor` as it would
    /// without it (`why` says why: a first or due full user snapshot must not be skipped).
    Ignored {
        /// Where the run starts.
        cursor: String,
        /// Why `--since` is ignored.
        why: &'static str,
    },
    /// Starting at `cursor` would skip what lies between the checkpoint's position (`from`,
    /// when known) and `--since`: refused unless `--skip-backlog`.
    Skips {
        /// Where the run would start.
        cursor: String,
        /// The checkpoint's position, when the cursor records it.
        from: Option<DateTime<Utc>>,
    },
}

/// How much a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Largest page one request asks for.
    pub page_size: u32,
    /// An explicit per-run cap on records (config); `None`: read to the end of the stream
    /// within the run-time budget.
    pub max_per_run: Option<u32>,
    /// Whether the collector may fetch the next page while this one is delivered and
    /// committed. Only for sources whose next page does not depend on what committing this
    /// one does (an audit source reading a queue that another source's pages fill must not).
    pub prefetch: bool,
}

/// One stream of a connector, read by pages.
#[async_trait]
pub trait Source: Send + Sync {
    /// Which stream: its descriptor.
    fn kind(&self) -> &'static Stream;

    /// The cursor to start from when there is no checkpoint, or from `since` when given.
    ///
    /// # Errors
    /// Never for the built-in sources; the signature leaves room for sources that must ask.
    fn start_cursor(&self, since: Option<DateTime<Utc>>) -> Result<String, Error>;

    /// Where a committing run asked to start at `since` begins, given the stored cursor.
    ///
    /// # Errors
    /// As [`Source::start_cursor`]; a stored cursor this build cannot read.
    fn since_start(&self, stored: Option<&str>, since: DateTime<Utc>) -> Result<SinceStart, Error>;

    /// How much one request and one run read.
    fn paging(&self) -> Paging;

    /// The shortest time `run` leaves between two reads of this stream once it is caught up
    /// (a vendor's polling rule), on top of `state.interval`; the pages of a backlog still
    /// follow each other at once. `None`: `state.interval` alone.
    fn min_interval(&self) -> Option<std::time::Duration> {
        None
    }

    /// When the stream was last read to its end, as the stored cursor records it: with
    /// [`Source::min_interval`], `run` waits out the rest of that interval after a restart too.
    fn caught_up_at(&self, _stored: &str) -> Option<DateTime<Utc>> {
        None
    }

    /// Fetches one page of at most `limit` records after `cursor`.
    ///
    /// # Errors
    /// `ApiError` after retries, `AuthError` for consent and credentials, `ApiError::Malformed`
    /// when the reply is not what the API promises.
    async fn fetch_page(&self, cursor: &str, limit: u32) -> Result<Page, Error>;
}

/// A stored cursor this build cannot read: the state file is damaged (exit 9, file untouched).
pub(crate) fn unreadable_cursor(source: &str, e: &serde_json::Error) -> Error {
    crate::state::StoreError::Corrupt {
        path: std::path::PathBuf::from("(state file)"),
        message: format!("the stored {source} checkpoint is unreadable ({e}); move the state file aside to start over"),
    }
    .into()
}

/// Formats a time as ISO cursors are written (RFC 3339, whole seconds, `Z`).
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
