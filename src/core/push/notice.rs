//! Refusals are logged at most once a minute per receiver and reason: a sender that keeps
//! retrying a bad request (or an attacker probing) cannot flood the log. Each notice says how
//! many were not logged since the previous one; the metrics count every one.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The quiet period after a notice.
const QUIET: Duration = Duration::from_secs(60);

/// A receiver (by index) and a refusal reason.
type Key = (usize, &'static str);

/// When each (receiver, reason) was last logged, and how many were not logged since.
#[derive(Debug, Default)]
pub(super) struct Notices(Mutex<HashMap<Key, (Instant, u64)>>);

impl Notices {
    /// `Some(n)` when a notice of `reason` for receiver `i` is due now (`n` refusals were not
    /// logged since the last one); `None` while it is quiet.
    pub(super) fn due(&self, i: usize, reason: &'static str) -> Option<u64> {
        self.due_at(i, reason, Instant::now())
    }

    fn due_at(&self, i: usize, reason: &'static str, now: Instant) -> Option<u64> {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match m.get_mut(&(i, reason)) {
            Some((last, skipped)) if now.duration_since(*last) < QUIET => {
                *skipped += 1;
                None
            }
            Some((last, skipped)) => {
                *last = now;
                Some(std::mem::take(skipped))
            }
            None => {
                m.insert((i, reason), (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_logged_once_a_minute_with_what_was_skipped() {
        let n = Notices::default();
        let t = Instant::now();
        assert_eq!(n.due_at(0, "x", t), Some(0));
        assert_eq!(n.due_at(0, "x", t + Duration::from_secs(1)), None);
        assert_eq!(n.due_at(0, "x", t + Duration::from_secs(2)), None);
        assert_eq!(n.due_at(0, "y", t + Duration::from_secs(2)), Some(0), "another reason");
        assert_eq!(n.due_at(1, "x", t + Duration::from_secs(2)), Some(0), "another receiver");
        assert_eq!(n.due_at(0, "x", t + Duration::from_secs(61)), Some(2));
    }
}
