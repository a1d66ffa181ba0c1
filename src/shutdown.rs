//! The process-wide "stop requested" flag (SIGTERM/SIGINT). Long waits — retry backoffs,
//! `Retry-After`, rate-limit pauses — race it, so a stop never waits out a 15-minute
//! `Retry-After`: the page in flight is abandoned uncommitted (nothing lost, it is fetched
//! again next run) and the process exits 0 well within systemd's stop timeout.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

static REQUESTED: AtomicBool = AtomicBool::new(false);

fn notify() -> &'static Notify {
    static N: OnceLock<Notify> = OnceLock::new();
    N.get_or_init(Notify::new)
}

/// Marks the stop as requested and wakes every waiter.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
    notify().notify_waiters();
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Resolves when a stop is requested.
pub async fn wait() {
    let n = notify().notified();
    tokio::pin!(n);
    // Register before checking the flag, so a request between the two is not missed.
    n.as_mut().enable();
    if requested() {
        return;
    }
    n.await;
}

/// Sleeps `d`, or less if a stop is requested. Returns `false` when it was cut short.
pub async fn sleep(d: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => !requested(),
        () = wait() => false,
    }
}

// Tested through the binary (tests/faults.rs `sigterm_cuts_a_long_retry_wait_short`): a unit
// test here would set the process-wide flag under every other test of the library.
