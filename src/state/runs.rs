//! Run records: what the last run of each (tenant, source) did, so `status` and `/healthz`
//! can tell a collector that stopped from one that has nothing to collect. One row per
//! source, overwritten by every run; `events_total` and `consecutive_failures` accumulate.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Checkpoint, Store, StoreError};

/// The longest error message kept: enough to act on, never a whole reply body.
const MAX_ERROR_CHARS: usize = 500;

/// What one run of one source did, as the cycle saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// When the source's run began.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Lines delivered to every sink and committed.
    pub events: u64,
    /// Pages delivered and committed.
    pub pages: u64,
    /// HTTP retries the API client made.
    pub retries: u64,
    /// 429 (or rate-limit 400) replies seen.
    pub throttled: u64,
    /// `None` on success; else the error's message (secret-free, as in the logs) and exit code.
    pub error: Option<(String, u8)>,
    /// The run ended with data left: its run-time budget or an explicit per-run cap stopped it
    /// before the end of the stream.
    pub backlog: bool,
}

/// The last error of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    /// The message, as logged (never a secret).
    pub message: String,
    /// The exit code the error maps to.
    pub exit_code: u8,
    /// When the run that failed ended.
    pub at: DateTime<Utc>,
}

/// The stored record of a source's runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// State namespace.
    pub tenant: String,
    /// Source key (its stream's `[sources.<key>]` name).
    pub source: String,
    /// Start of the last run.
    pub started_at: DateTime<Utc>,
    /// End of the last run.
    pub ended_at: DateTime<Utc>,
    /// End of the last successful run.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last error, kept after later successes for the record.
    pub last_error: Option<LastError>,
    /// Failed runs since the last success (0: the last run succeeded).
    pub consecutive_failures: u64,
    /// Events delivered by every recorded run.
    pub events_total: u64,
    /// Events delivered by the last run (a failed run may have delivered some pages).
    pub events_last: u64,
    /// Pages delivered by the last run.
    pub pages_last: u64,
    /// HTTP retries in the last run.
    pub retries_last: u64,
    /// 429 replies in the last run.
    pub throttled_last: u64,
    /// How long the last run took, in milliseconds.
    pub duration_ms_last: u64,
    /// The last successful run ended with data left (a backfill still under way).
    pub backlog: bool,
}

fn text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uint(r: &Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0))
}

/// Cuts a message to [`MAX_ERROR_CHARS`] on a character boundary.
fn clip(message: &str) -> String {
    if message.chars().count() > MAX_ERROR_CHARS {
        format!("{}…", message.chars().take(MAX_ERROR_CHARS).collect::<String>())
    } else {
        message.to_owned()
    }
}

fn record(r: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let t = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        Ok(r.get::<_, Option<String>>(i)?.as_deref().and_then(time))
    };
    let last_error = match (r.get::<_, Option<String>>(5)?, r.get::<_, Option<i64>>(6)?, t(7)?) {
        (Some(message), code, Some(at)) => {
            Some(LastError { message, exit_code: code.and_then(|c| u8::try_from(c).ok()).unwrap_or(1), at })
        }
        _ => None,
    };
    Ok(RunRecord {
        tenant: r.get(0)?,
        source: r.get(1)?,
        started_at: t(2)?.unwrap_or_default(),
        ended_at: t(3)?.unwrap_or_default(),
        last_success_at: t(4)?,
        last_error,
        consecutive_failures: uint(r, 8)?,
        events_total: uint(r, 9)?,
        events_last: uint(r, 10)?,
        pages_last: uint(r, 11)?,
        retries_last: uint(r, 12)?,
        throttled_last: uint(r, 13)?,
        duration_ms_last: uint(r, 14)?,
        backlog: uint(r, 15)? != 0,
    })
}

const COLUMNS: &str = "tenant, source, started_at, ended_at, last_success_at, last_error, last_error_code, \
     last_error_at, consecutive_failures, events_total, events_last, pages_last, retries_last, throttled_last, \
     duration_ms_last";

/// `backlog` came with schema 4; a version 2 or 3 file opened read-only reads it as 0.
const BACKLOG_COLUMN: &str = "backlog";
const NO_BACKLOG_COLUMN: &str = "0";

impl Store {
    /// Records one run of a source: overwrites the last-run fields, adds to the totals, and
    /// either sets the success time (clearing the failure streak) or the error (extending it).
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be written.
    pub fn record_run(&mut self, tenant: &str, source: &str, o: &RunOutcome) -> Result<(), StoreError> {
        let duration = (o.ended_at - o.started_at).num_milliseconds().max(0);
        let (ok_at, err, code, err_at, fail) = match &o.error {
            None => (Some(text(o.ended_at)), None, None, None, 0),
            Some((m, c)) => (None, Some(clip(m)), Some(i64::from(*c)), Some(text(o.ended_at)), 1),
        };
        // A run record is what `status` shows, not what delivery rests on: it is written
        // without an fsync of its own and becomes durable with the next FULL commit. A power
        // cut may lose the last run's record, never a cursor, a ledger id or an event. With
        // 1,000 tenants this is one fsync less per source and cycle.
        self.write_with(false, |s| {
            // Prepared once per connection: a cycle over 1,000 tenants writes it once per source each.
            s.conn
                .prepare_cached(
                    "INSERT INTO runs (tenant, source, started_at, ended_at, last_success_at, last_error, last_error_code,
                       last_error_at, consecutive_failures, events_total, events_last, pages_last, retries_last,
                       throttled_last, duration_ms_last, backlog)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?15)
                     ON CONFLICT (tenant, source) DO UPDATE SET
                       started_at = excluded.started_at, ended_at = excluded.ended_at,
                       last_success_at = coalesce(excluded.last_success_at, last_success_at),
                       last_error = coalesce(excluded.last_error, last_error),
                       last_error_code = coalesce(excluded.last_error_code, last_error_code),
                       last_error_at = coalesce(excluded.last_error_at, last_error_at),
                       consecutive_failures = CASE WHEN ?9 = 0 THEN 0 ELSE consecutive_failures + 1 END,
                       events_total = events_total + excluded.events_last,
                       events_last = excluded.events_last, pages_last = excluded.pages_last,
                       retries_last = excluded.retries_last, throttled_last = excluded.throttled_last,
                       duration_ms_last = excluded.duration_ms_last,
                       backlog = CASE WHEN ?9 = 0 THEN excluded.backlog ELSE backlog END",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        tenant,
                        source,
                        text(o.started_at),
                        text(o.ended_at),
                        ok_at,
                        err,
                        code,
                        err_at,
                        fail,
                        int(o.events),
                        int(o.pages),
                        int(o.retries),
                        int(o.throttled),
                        duration,
                        i64::from(o.backlog && o.error.is_none()),
                    ])
                })
                .map(drop)
                .map_err(s.sql())
        })
    }

    /// The run record of one source, if it ever ran (always `None` on a version 1 file opened
    /// read-only, which has no run records yet).
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn run_record(&self, tenant: &str, source: &str) -> Result<Option<RunRecord>, StoreError> {
        if !self.keeps_run_records()? {
            return Ok(None);
        }
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS}, {} FROM runs WHERE tenant = ?1 AND source = ?2", self.backlog_column()?),
                params![tenant, source],
                record,
            )
            .optional()
            .map_err(self.sql())
    }

    /// Every run record, ordered by tenant and source.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn run_records(&self) -> Result<Vec<RunRecord>, StoreError> {
        if !self.keeps_run_records()? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS}, {} FROM runs ORDER BY tenant, source", self.backlog_column()?))
            .map_err(self.sql())?;
        let rows = stmt.query_map([], record).map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Every checkpoint as `(tenant, source, checkpoint)`, ordered by tenant and source.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn checkpoints(&self) -> Result<Vec<(String, String, Checkpoint)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT tenant, source, cursor, updated_at FROM checkpoints ORDER BY tenant, source")
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, Checkpoint { cursor: r.get(2)?, updated_at: r.get(3)? })))
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Whether the file keeps run records (schema 2 or later; a version 1 file opened
    /// read-only does not).
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn keeps_run_records(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'", [], |_| Ok(()))
            .optional()
            .map(|o| o.is_some())
            .map_err(self.sql())
    }

    fn backlog_column(&self) -> Result<&'static str, StoreError> {
        let has = self
            .conn
            .query_row("SELECT 1 FROM pragma_table_info('runs') WHERE name = 'backlog'", [], |_| Ok(()))
            .optional()
            .map_err(self.sql())?
            .is_some();
        Ok(if has { BACKLOG_COLUMN } else { NO_BACKLOG_COLUMN })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        time(s).unwrap()
    }

    fn outcome(end: &str, events: u64, error: Option<&str>) -> RunOutcome {
        RunOutcome {
            started_at: at("2026-11-01T00:00:00Z"),
            ended_at: at(end),
            events,
            pages: 2,
            retries: 1,
            throttled: 1,
            error: error.map(|m| (m.to_owned(), 5)),
            backlog: false,
        }
    }

    #[test]
    fn a_run_record_leaves_the_file_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        let mode = |s: &Store| s.conn.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(mode(&s), 2, "FULL after opening");
        s.record_run("t", "test_events", &outcome("2026-11-01T00:00:02Z", 10, None)).unwrap();
        assert_eq!(mode(&s), 2, "FULL again after a run record");
        assert_eq!(s.run_record("t", "test_events").unwrap().map(|r| r.events_last), Some(10));
    }

    #[test]
    fn success_failure_success() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(s.run_record("t", "test_events").unwrap(), None);
        s.record_run("t", "test_events", &outcome("2026-11-01T00:00:02Z", 10, None)).unwrap();
        s.record_run("t", "test_events", &outcome("2026-11-01T00:00:03Z", 3, Some("DocuSign unavailable"))).unwrap();
        s.record_run("t", "test_events", &outcome("2026-11-01T00:00:04Z", 0, Some(&"x".repeat(2000)))).unwrap();
        let r = s.run_record("t", "test_events").unwrap().unwrap();
        assert_eq!(r.consecutive_failures, 2);
        assert_eq!(r.events_total, 13);
        assert_eq!(r.events_last, 0);
        assert_eq!(r.duration_ms_last, 4000);
        assert_eq!(r.last_success_at, Some(at("2026-11-01T00:00:02Z")));
        let e = r.last_error.unwrap();
        assert_eq!((e.exit_code, e.at), (5, at("2026-11-01T00:00:04Z")));
        assert_eq!(e.message.chars().count(), MAX_ERROR_CHARS + 1);
        s.record_run("t", "test_events", &outcome("2026-11-01T00:00:05Z", 1, None)).unwrap();
        let r = s.run_record("t", "test_events").unwrap().unwrap();
        assert_eq!((r.consecutive_failures, r.events_total), (0, 14));
        assert_eq!(r.last_success_at, Some(at("2026-11-01T00:00:05Z")));
        assert!(r.last_error.is_some(), "the last error stays on record");
        assert_eq!(s.run_records().unwrap().len(), 1);
    }

    #[test]
    fn backlog_follows_the_last_success() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        let mut o = outcome("2026-11-01T00:00:02Z", 10, None);
        o.backlog = true;
        s.record_run("t", "test_events", &o).unwrap();
        assert!(s.run_record("t", "test_events").unwrap().unwrap().backlog);
        // A failure says nothing new about the backlog; the next success does.
        s.record_run("t", "test_events", &outcome("2026-11-01T00:00:03Z", 0, Some("down"))).unwrap();
        assert!(s.run_record("t", "test_events").unwrap().unwrap().backlog);
        s.record_run("t", "test_events", &outcome("2026-11-01T00:00:04Z", 1, None)).unwrap();
        assert!(!s.run_record("t", "test_events").unwrap().unwrap().backlog);
    }
}
