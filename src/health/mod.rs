//! Judging each source from the state file alone: ok, stale, failing or never-run. `status`,
//! `/healthz` and the scrape-time gauges all call [`assess`], so they always agree.
//!
//! - `credentials.rs`: each tenant's flow, JWT key in use and refresh-token expiry.
//! - `server.rs`: the `/metrics` and `/healthz` listener of `run`; gauges read from the state
//!   file at scrape time.

mod credentials;
mod server;

pub use credentials::{CredentialHealth, assess as assess_credentials, to_json as credentials_json};
pub use server::{Server, start};

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::state::{RunRecord, Store, StoreError};

/// What `status` says of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The last run succeeded, and recently enough.
    Ok,
    /// The last run succeeded, but longer ago than the staleness threshold: the collector
    /// may have stopped (timer disabled, daemon dead).
    Stale,
    /// The last run failed.
    Failing,
    /// The last run succeeded but ended with data left (its run-time budget or per-run cap
    /// stopped it): a backfill is under way, or the collector cannot keep up. See the lag.
    Backlog,
    /// No run recorded and no checkpoint.
    NeverRun,
}

impl Verdict {
    /// The word printed and serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Stale => "stale",
            Verdict::Failing => "failing",
            Verdict::Backlog => "backlog",
            Verdict::NeverRun => "never-run",
        }
    }

    /// Ok, or (with `backlog_ok`) a backlog: a collector that is working.
    pub fn acceptable(self, backlog_ok: bool) -> bool {
        self == Verdict::Ok || (backlog_ok && self == Verdict::Backlog)
    }
}

/// One source's state, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceHealth {
    /// State namespace.
    pub tenant: String,
    /// Source key.
    pub source: String,
    /// The judgement.
    pub verdict: Verdict,
    /// The run record, when the source ran under a build that keeps them.
    pub run: Option<RunRecord>,
    /// When the checkpoint last moved (or was rewritten).
    pub checkpoint_at: Option<DateTime<Utc>>,
    /// The newest event time the checkpoint records (customer events).
    pub newest_event_at: Option<DateTime<Utc>>,
}

/// The (tenant, source) pairs the configuration enables, for every tenant or only `only`:
/// the ones that must be ok.
pub fn expected(cfg: &Config, only: Option<&str>) -> Vec<(String, String)> {
    let sources: Vec<(&str, &str)> =
        crate::connectors::streams().filter(|s| cfg.source_enabled(s.key)).map(|s| (s.vendor, s.key)).collect();
    cfg.owned_tenants()
        .into_iter()
        .filter(|t| only.is_none_or(|o| o == t.name))
        .flat_map(|t| {
            let vendor = t.vendor.name();
            sources.iter().filter(move |(v, _)| *v == vendor).map(move |(_, key)| (t.name.clone(), (*key).to_owned()))
        })
        .collect()
}

/// `3d 4h`, `5m 12s`, `42s`: the two largest units.
pub fn age_words(secs: i64) -> String {
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut left = secs.max(0);
    for (size, unit) in units {
        if left >= size || (parts.is_empty() && size == 1) {
            parts.push(format!("{}{unit}", left / size));
            left %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    parts.join(" ")
}

/// The staleness threshold: `[status] stale_after`, or three `state.interval`s (≥ 1 h).
pub fn stale_after(cfg: &Config) -> Duration {
    cfg.status.stale_after(cfg.state.interval.get())
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&Utc))
}

/// Judges one source. A failed last run is "failing" whatever its age; otherwise the last
/// success (or, for a version 1 file without run records, `checkpoint_at`) decides between
/// "stale" and the rest, and a recent success that left data behind is "backlog".
pub fn verdict(
    run: Option<&RunRecord>,
    checkpoint_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> Verdict {
    if run.is_some_and(|r| r.consecutive_failures > 0) {
        return Verdict::Failing;
    }
    let limit = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
    match run.and_then(|r| r.last_success_at).or(checkpoint_at) {
        None => Verdict::NeverRun,
        Some(t) if now.signed_duration_since(t) > limit => Verdict::Stale,
        Some(_) if run.is_some_and(|r| r.backlog) => Verdict::Backlog,
        Some(_) => Verdict::Ok,
    }
}

/// Judges every expected source from the state file.
///
/// # Errors
/// `StoreError` when the file cannot be read.
pub fn assess(
    store: &Store,
    expected: &[(String, String)],
    now: DateTime<Utc>,
    stale_after: Duration,
) -> Result<Vec<SourceHealth>, StoreError> {
    let checkpoints = store.checkpoints()?;
    // A file that keeps run records is judged by them alone: a checkpoint without a record is
    // a first run still in progress. Only a version 1 file falls back to checkpoint times.
    let by_checkpoint = !store.keeps_run_records()?;
    let mut runs = store.run_records()?;
    let mut out = Vec::with_capacity(expected.len());
    for (tenant, source) in expected {
        let run = runs.iter().position(|r| &r.tenant == tenant && &r.source == source).map(|i| runs.swap_remove(i));
        let cp = checkpoints.iter().find(|(t, s, _)| t == tenant && s == source).map(|(_, _, c)| c);
        let checkpoint_at = cp.and_then(|c| parse(&c.updated_at));
        out.push(SourceHealth {
            tenant: tenant.clone(),
            source: source.clone(),
            verdict: verdict(run.as_ref(), checkpoint_at.filter(|_| by_checkpoint), now, stale_after),
            newest_event_at: cp
                .and_then(|c| crate::connectors::stream(source).and_then(|s| (s.newest_event)(&c.cursor))),
            run,
            checkpoint_at,
        });
    }
    Ok(out)
}

/// A one-line summary of the sources that are not ok, or `None` when all are. With
/// `backlog_ok` (`/healthz`: a liveness probe must not restart a collector mid-backfill), a
/// source in backlog counts as ok; `status` passes `false` and reports it.
pub fn problems(list: &[SourceHealth], backlog_ok: bool) -> Option<String> {
    let bad: Vec<String> = list
        .iter()
        .filter(|h| !h.verdict.acceptable(backlog_ok))
        .map(|h| format!("{}/{}: {}", h.tenant, h.source, h.verdict.as_str()))
        .collect();
    (!bad.is_empty()).then(|| bad.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(failures: u64, success: Option<DateTime<Utc>>) -> RunRecord {
        let now = Utc::now();
        RunRecord {
            tenant: "t".into(),
            source: "test_events".into(),
            started_at: now,
            ended_at: now,
            last_success_at: success,
            last_error: None,
            consecutive_failures: failures,
            events_total: 0,
            events_last: 0,
            pages_last: 0,
            retries_last: 0,
            throttled_last: 0,
            duration_ms_last: 0,
            backlog: false,
        }
    }

    #[test]
    fn verdicts() {
        let now = Utc::now();
        let hour = Duration::from_secs(3600);
        let ago = |s: i64| Some(now - chrono::Duration::seconds(s));
        assert_eq!(verdict(None, None, now, hour), Verdict::NeverRun);
        assert_eq!(verdict(None, ago(10), now, hour), Verdict::Ok, "checkpoint of an older build");
        assert_eq!(verdict(None, ago(7200), now, hour), Verdict::Stale);
        assert_eq!(verdict(Some(&record(0, ago(10))), ago(99_999), now, hour), Verdict::Ok);
        assert_eq!(verdict(Some(&record(0, ago(3601))), ago(1), now, hour), Verdict::Stale);
        assert_eq!(verdict(Some(&record(1, ago(10))), None, now, hour), Verdict::Failing);
        assert_eq!(verdict(Some(&record(3, None)), None, now, hour), Verdict::Failing);
        let behind = RunRecord { backlog: true, ..record(0, ago(10)) };
        assert_eq!(verdict(Some(&behind), None, now, hour), Verdict::Backlog);
        let behind_and_old = RunRecord { backlog: true, ..record(0, ago(7200)) };
        assert_eq!(verdict(Some(&behind_and_old), None, now, hour), Verdict::Stale);
    }
}
