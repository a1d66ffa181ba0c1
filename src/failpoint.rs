//! Crash points for the crash-consistency tests: with `ESIGN_COLLECTOR_FAILPOINT=POINT:N` the
//! process aborts (no destructors, no flush: as abrupt as SIGKILL for what is on disk) the
//! N-th time it reaches POINT. The points are the collector's commit boundaries:
//! - `before_send`: a page was fetched, nothing of it delivered (mid-page);
//! - `after_send`: every sink confirmed the page, the checkpoint is not yet committed;
//! - `after_commit`: the checkpoint of the page is committed;
//! - `push_after_store`: a pushed request's messages are in the inbox, not yet answered 2xx;
//! - `push_after_send`: every sink confirmed a batch of pushed messages, not yet committed;
//! - `refresh_before_send`: a refresh token is about to be sent to the token endpoint;
//! - `refresh_after_reply`: the endpoint returned a rotated refresh token, not yet committed;
//! - `refresh_after_store`: the rotated refresh token is committed, its access token unused.
//!
//! They exist only in a build with the `failpoints` cargo feature (the test command enables it
//! for `tests/crash.rs`). Without it [`hit`] is empty and inlined away: a product build reads
//! no variable and cannot be made to abort. With it, unset costs one atomic load per page.

#[cfg(feature = "failpoints")]
mod armed {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static PLAN: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);

    fn plan() -> Option<&'static (String, u64)> {
        PLAN.get_or_init(|| {
            let v = std::env::var("ESIGN_COLLECTOR_FAILPOINT").ok()?;
            let (point, n) = v.split_once(':')?;
            Some((point.to_owned(), n.parse().ok()?))
        })
        .as_ref()
    }

    /// Marks that the collector reached `point`; aborts if the plan says so.
    pub fn hit(point: &str) {
        if let Some((p, n)) = plan()
            && p == point
            && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n
        {
            eprintln!("esign-collector: failpoint {point}:{n} reached; aborting as planned.");
            std::process::abort();
        }
    }
}

#[cfg(feature = "failpoints")]
pub use armed::hit;

/// Marks that the collector reached `point`: nothing without the `failpoints` feature.
#[cfg(not(feature = "failpoints"))]
#[allow(clippy::inline_always, reason = "an empty call must leave no trace in the product build")]
#[inline(always)]
pub fn hit(_point: &str) {}
