//! Sources: one DocuSign stream each. A source fetches *one page* from a cursor and returns
//! the next cursor; it never loops, sleeps, deduplicates or commits (the collector does).
//!
//! # Architecture
//! - this file: the [`Source`] trait, [`Page`], [`SourceKind`], building enabled sources.
//! - `monitor.rs`: Monitor customer events, both generations.
//! - `admin.rs`: Admin user records, full snapshot then changed-only.

mod admin;
mod monitor;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::auth::Authenticator;
use crate::config::Config;
use crate::error::Error;
use crate::http::Api;

pub use admin::AdminUsers;
pub use monitor::MonitorEvents;

/// The two streams. The string forms are config keys, state keys and output values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// Monitor customer events.
    CustomerEvents,
    /// Admin user records.
    UserData,
}

impl SourceKind {
    /// Config and state key.
    pub fn key(self) -> &'static str {
        match self {
            SourceKind::CustomerEvents => "customer_events",
            SourceKind::UserData => "user_data",
        }
    }

    /// `source_log_type` value, as the XSOAR integration writes it.
    pub fn log_type(self) -> &'static str {
        match self {
            SourceKind::CustomerEvents => "customerevent",
            SourceKind::UserData => "auditusers",
        }
    }

    /// `product` value.
    pub fn product(self) -> &'static str {
        match self {
            SourceKind::CustomerEvents => "monitor",
            SourceKind::UserData => "admin",
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// One record as the API sent it.
#[derive(Debug, Clone)]
pub enum Record {
    /// Parsed into a map: Admin users, and Monitor records the fast path declines.
    Object(Map<String, Value>),
    /// A Monitor record kept as its bytes (see [`crate::normalize::Fast`]).
    Fast(crate::normalize::Fast),
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

/// What a source needs to talk to DocuSign.
#[derive(Debug)]
pub struct Session {
    /// Paced, retrying HTTP client.
    pub api: Api,
    /// Tokens.
    pub auth: Authenticator,
}

/// One DocuSign stream.
#[async_trait]
pub trait Source: Send + Sync {
    /// Which stream.
    fn kind(&self) -> SourceKind;

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

    /// An explicit per-run cap on records (config); `None`: read to the end of the stream
    /// within the run-time budget.
    fn max_per_run(&self) -> Option<u32>;

    /// Largest page one request asks for.
    fn page_size(&self) -> u32;

    /// Fetches one page of at most `limit` records after `cursor`.
    ///
    /// # Errors
    /// `ApiError` after retries, `AuthError` for consent and credentials, `ApiError::Malformed`
    /// when the reply is not what the API promises.
    async fn fetch_page(&self, session: &Session, cursor: &str, limit: u32) -> Result<Page, Error>;
}

/// The enabled sources, in a fixed order: users first, so the events of the same cycle are
/// joined with the freshest user records.
pub fn enabled(cfg: &Config, monitor_base: &str, admin_base: &str) -> Vec<Box<dyn Source>> {
    let mut v: Vec<Box<dyn Source>> = Vec::new();
    let s = &cfg.sources;
    if s.user_data.enabled {
        v.push(Box::new(AdminUsers::new(
            &s.user_data,
            admin_base,
            cfg.docusign.organization_id.as_deref().unwrap_or_default(),
            cfg.docusign.account_id.as_deref().unwrap_or_default(),
        )));
    }
    if s.customer_events.enabled {
        v.push(Box::new(MonitorEvents::new(&s.customer_events, monitor_base, cfg.docusign.organization_id.as_deref())));
    }
    v
}

/// The newest event time a stored checkpoint of `source` records, when the source keeps one
/// (customer events do; user records do not).
pub fn newest_event_time(source: &str, stored: &str) -> Option<DateTime<Utc>> {
    (source == SourceKind::CustomerEvents.key()).then(|| monitor::newest_event(stored)).flatten()
}

/// A stored cursor this build cannot read: the state file is damaged (exit 9, file untouched).
pub(crate) fn unreadable_cursor(source: &str, e: &serde_json::Error) -> Error {
    crate::state::StoreError::Corrupt {
        path: std::path::PathBuf::from("(state file)"),
        message: format!("the stored {source} checkpoint is unreadable ({e}); move the state file aside to start over"),
    }
    .into()
}

/// Formats a time the way DocuSign's ISO cursors are written.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Parses one Monitor stream reply body (either generation) sent for `cursor`.
///
/// # Errors
/// `ApiError::Malformed` when the body is not a stream reply.
pub(crate) fn parse_monitor_reply(body: &[u8], api: crate::config::MonitorApi, cursor: &str) -> Result<Page, Error> {
    let reply = monitor::read(body)
        .map_err(|message| crate::http::ApiError::Malformed { what: "Monitor stream".into(), message })?;
    monitor::parse(reply, api, cursor, None)
}

/// Entry points for the fuzz targets in `fuzz/`: everything an API reply goes through, from
/// bytes to output lines. Not part of the supported API.
#[doc(hidden)]
pub mod fuzzing {
    use super::{SourceKind, admin, monitor};
    use crate::config::MonitorApi;
    use crate::normalize::normalize;

    const AT: &str = "2026-01-01T00:00:00.000Z";

    fn lines(kind: SourceKind, records: Vec<super::Record>) {
        for r in records {
            let line = match r {
                super::Record::Object(m) => {
                    let n = normalize(kind, m, AT);
                    // Serializing a parsed value cannot fail; the fuzzer looks for panics and hangs.
                    serde_json::to_string(&n.value).unwrap_or_default()
                }
                super::Record::Fast(f) => {
                    let line = f.line(kind, &f.time(AT), AT, None, None);
                    // The fast path must write exactly what the tree path writes.
                    let tree = serde_json::from_str(f.raw.get()).map(|m| normalize(kind, m, AT));
                    let fast = serde_json::from_str::<serde_json::Value>(&line);
                    assert!(
                        matches!((&fast, &tree), (Ok(a), Ok(b)) if *a == serde_json::Value::Object(b.value.clone())),
                        "fast and tree paths disagree: {line}"
                    );
                    line
                }
            };
            assert!(!line.contains('\n'), "an output line contains a raw newline");
        }
    }

    /// A Monitor stream reply (either generation), parsed and normalized.
    pub fn monitor_reply(data: &[u8]) {
        for api in [MonitorApi::V2, MonitorApi::OrgStream] {
            if let Ok(p) = monitor::read(data)
                .map_err(|_| ())
                .and_then(|r| monitor::parse(r, api, "cursor", Some(chrono::Utc::now())).map_err(|_| ()))
            {
                lines(SourceKind::CustomerEvents, p.records);
            }
        }
    }

    /// An Admin users reply, parsed and normalized.
    pub fn admin_reply(data: &[u8]) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
        if let Ok((records, _)) = admin::parse(v) {
            lines(SourceKind::UserData, records.into_iter().map(super::Record::Object).collect());
        }
    }
}
