//! What each source's run in a cycle leaves behind: its run record in the state file, its
//! metrics, and, when it failed, a summary log line. `fetch::cycle` brackets every source
//! with [`SourceRun::start`] and [`SourceRun::finish`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use crate::core::collector::Report;
use crate::error::Error;
use crate::http::RunScope;
use crate::metrics::{self, Tally};
use crate::state::{RunOutcome, Store};
use crate::stream::Stream;

/// A source's run in progress: its own API counters (the scope its requests run in) and the
/// metrics tally as it was at its start.
#[derive(Debug)]
pub struct SourceRun {
    tenant: String,
    kind: &'static Stream,
    started_at: DateTime<Utc>,
    clock: Instant,
    scope: Arc<RunScope>,
    tally: Tally,
}

impl SourceRun {
    /// Notes the start of `kind`'s run, whose requests run in `scope`.
    pub fn start(scope: Arc<RunScope>, tenant: &str, kind: &'static Stream) -> Self {
        Self {
            tenant: tenant.to_owned(),
            kind,
            started_at: Utc::now(),
            clock: Instant::now(),
            scope,
            tally: metrics::tally(tenant, kind.key),
        }
    }

    /// Records how the run ended. Never fails: a run record that cannot be written is logged,
    /// and the run's own result stays what the caller returns. A run cut short by a stop
    /// request is neither a success nor a failure and is not recorded.
    pub fn finish(self, store: &Mutex<Store>, result: &Result<Report, Error>) {
        let calls = self.scope.counters();
        let done = metrics::tally(&self.tenant, self.kind.key).since(&self.tally);
        let elapsed = self.clock.elapsed();
        let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let (tenant, source) = (self.tenant.as_str(), self.kind.key);
        if result.is_err() && crate::shutdown::requested() {
            debug!(tenant, source, "Run stopped on request; no run record written.");
            return;
        }
        metrics::source_finished(tenant, source, &calls, elapsed.as_secs_f64(), result.is_ok());
        let outcome = RunOutcome {
            started_at: self.started_at,
            ended_at: Utc::now(),
            events: done.events,
            pages: done.pages,
            retries: calls.retries,
            throttled: calls.throttled,
            error: result.as_ref().err().map(|e| (e.to_string(), e.exit_code() as u8)),
            backlog: result.as_ref().is_ok_and(|r| !r.at_end),
        };
        match result {
            Ok(r) => debug!(
                tenant,
                source,
                events = r.delivered,
                retries = calls.retries,
                throttled = calls.throttled,
                requests = calls.requests,
                "Source API use."
            ),
            Err(e) => info!(
                tenant,
                source,
                events = done.events,
                pages = done.pages,
                duplicates = done.duplicates,
                duration_ms,
                retries = calls.retries,
                throttled = calls.throttled,
                requests = calls.requests,
                exit_code = e.exit_code() as u8,
                "Source run failed; summary."
            ),
        }
        let written = store.lock().unwrap_or_else(PoisonError::into_inner).record_run(tenant, source, &outcome);
        if let Err(e) = written {
            warn!(tenant, source, error = %e, "Run record not written; status may show this source as older than it is.");
        }
    }
}
