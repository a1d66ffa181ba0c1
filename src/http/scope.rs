//! A source run's own view of the shared client: its counters (a tenant's sources run at the
//! same time on one [`super::Api`], so the client's totals cannot tell them apart) and its
//! deadline (the run-time budget). Set with [`scoped`] around the run; read by the client.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

use super::Counters;

tokio::task_local! {
    static SCOPE: Arc<RunScope>;
}

/// One source run's counters and deadline.
#[derive(Debug, Default)]
pub struct RunScope {
    counters: Mutex<Counters>,
    deadline: Option<Instant>,
}

impl RunScope {
    /// A scope whose waits must end by `deadline`, if given.
    pub fn new(deadline: Option<Instant>) -> Arc<Self> {
        Arc::new(Self { counters: Mutex::default(), deadline })
    }

    /// What this run's requests did so far.
    pub fn counters(&self) -> Counters {
        *self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs `f` with `scope` as the current run's scope.
pub async fn scoped<F: Future>(scope: Arc<RunScope>, f: F) -> F::Output {
    SCOPE.scope(scope, f).await
}

/// Adds to the current run's counters, if a run is scoped.
pub(super) fn count(f: impl FnOnce(&mut Counters)) {
    // Outside a scope (setup commands) there is nothing to add to.
    let _outside = SCOPE.try_with(|s| f(&mut s.counters.lock().unwrap_or_else(PoisonError::into_inner)));
}

/// The current run's deadline, if any.
pub(super) fn deadline() -> Option<Instant> {
    SCOPE.try_with(|s| s.deadline).ok().flatten()
}
