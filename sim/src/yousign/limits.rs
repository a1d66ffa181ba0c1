//! The API key's rate limits: a minute and an hour window (sandbox 30/min and 200/h,
//! production 60/min and 1,200/h), each a fixed window that opens with its first request.
//! Every v3 reply carries the counters; over either limit the request is refused with 429
//! and `Retry-After` (seconds until the exhausted window reopens). Refused requests do not
//! count.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The limits of one API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Requests per minute window.
    pub per_minute: u32,
    /// Requests per hour window.
    pub per_hour: u32,
    /// Refuse requests over a limit with 429; when false they are only counted (the
    /// headers still show them, remaining stops at 0).
    #[serde(default = "yes")]
    pub enforce: bool,
}

fn yes() -> bool {
    true
}

impl RateLimits {
    /// Yousign's sandbox limits: 30 per minute, 200 per hour, enforced.
    pub fn sandbox() -> Self {
        Self { per_minute: 30, per_hour: 200, enforce: true }
    }

    /// Yousign's production limits: 60 per minute, 1,200 per hour, enforced.
    pub fn production() -> Self {
        Self { per_minute: 60, per_hour: 1200, enforce: true }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Option<Instant>,
    count: u32,
    len: Duration,
}

impl Window {
    fn new(len: Duration) -> Self {
        Self { opened: None, count: 0, len }
    }

    /// Closes the window when its time is up.
    fn roll(&mut self, now: Instant) {
        if self.opened.is_some_and(|o| now.duration_since(o) >= self.len) {
            self.opened = None;
            self.count = 0;
        }
    }

    /// Whole seconds (rounded up) until the window reopens; its full length if not open.
    fn reset_secs(&self, now: Instant) -> u64 {
        let left = self.opened.map_or(self.len, |o| self.len.saturating_sub(now.duration_since(o)));
        left.as_millis().div_ceil(1000).try_into().unwrap_or(u64::MAX).max(1)
    }
}

/// The rate-limit header values of one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RateHeaders {
    pub(super) limit_minute: u32,
    pub(super) remaining_minute: u32,
    pub(super) limit_hour: u32,
    pub(super) remaining_hour: u32,
    /// Seconds until the minute window reopens.
    pub(super) reset: u64,
    /// Set on a refusal: seconds until the exhausted window reopens.
    pub(super) retry_after: Option<u64>,
}

impl RateHeaders {
    /// The headers, in the spec's names.
    pub(super) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("RateLimit-Limit", self.limit_minute.to_string()),
            ("RateLimit-Remaining", self.remaining_minute.to_string()),
            ("RateLimit-Reset", self.reset.to_string()),
            ("X-RateLimit-Limit-Minute", self.limit_minute.to_string()),
            ("X-RateLimit-Remaining-Minute", self.remaining_minute.to_string()),
            ("X-RateLimit-Limit-Hour", self.limit_hour.to_string()),
            ("X-RateLimit-Remaining-Hour", self.remaining_hour.to_string()),
        ];
        if let Some(s) = self.retry_after {
            v.push(("Retry-After", s.to_string()));
        }
        v
    }
}

/// The two windows of the API key.
#[derive(Debug, Clone)]
pub(super) struct Limiter {
    limits: RateLimits,
    minute: Window,
    hour: Window,
}

impl Limiter {
    pub(super) fn new(limits: RateLimits) -> Self {
        Self { limits, minute: Window::new(Duration::from_secs(60)), hour: Window::new(Duration::from_secs(3600)) }
    }

    fn headers(&self, now: Instant, retry_after: Option<u64>) -> RateHeaders {
        RateHeaders {
            limit_minute: self.limits.per_minute,
            remaining_minute: self.limits.per_minute.saturating_sub(self.minute.count),
            limit_hour: self.limits.per_hour,
            remaining_hour: self.limits.per_hour.saturating_sub(self.hour.count),
            reset: self.minute.reset_secs(now),
            retry_after,
        }
    }

    /// The counters as they stand, without counting a request (for 401 replies).
    pub(super) fn peek(&mut self, now: Instant) -> RateHeaders {
        self.minute.roll(now);
        self.hour.roll(now);
        self.headers(now, None)
    }

    /// Counts one request: `Ok` with the headers, or `Err` with a `Retry-After` when over a
    /// limit (and enforced).
    pub(super) fn admit(&mut self, now: Instant) -> Result<RateHeaders, RateHeaders> {
        self.minute.roll(now);
        self.hour.roll(now);
        if self.limits.enforce {
            let over_hour = self.hour.count >= self.limits.per_hour;
            let over_minute = self.minute.count >= self.limits.per_minute;
            if over_hour || over_minute {
                let wait = if over_hour { self.hour.reset_secs(now) } else { self.minute.reset_secs(now) };
                return Err(self.headers(now, Some(wait)));
            }
        }
        for w in [&mut self.minute, &mut self.hour] {
            w.opened.get_or_insert(now);
            w.count = w.count.saturating_add(1);
        }
        Ok(self.headers(now, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_window_refuses_then_reopens() {
        let t0 = Instant::now();
        let mut l = Limiter::new(RateLimits { per_minute: 2, per_hour: 10, enforce: true });
        assert_eq!(l.admit(t0).unwrap().remaining_minute, 1);
        assert_eq!(l.admit(t0 + Duration::from_secs(1)).unwrap().remaining_minute, 0);
        let refused = l.admit(t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!(refused.retry_after, Some(40));
        assert_eq!(refused.remaining_hour, 8);
        let ok = l.admit(t0 + Duration::from_secs(60)).unwrap();
        assert_eq!((ok.remaining_minute, ok.remaining_hour), (1, 7));
        assert_eq!(ok.reset, 60);
    }

    #[test]
    fn hour_window_wins_when_exhausted() {
        let t0 = Instant::now();
        let mut l = Limiter::new(RateLimits { per_minute: 5, per_hour: 2, enforce: true });
        l.admit(t0).unwrap();
        l.admit(t0).unwrap();
        let refused = l.admit(t0 + Duration::from_secs(120)).unwrap_err();
        assert_eq!(refused.retry_after, Some(3480));
    }

    #[test]
    fn unenforced_limits_only_count() {
        let t0 = Instant::now();
        let mut l = Limiter::new(RateLimits { per_minute: 1, per_hour: 1, enforce: false });
        l.admit(t0).unwrap();
        let h = l.admit(t0).unwrap();
        assert_eq!((h.remaining_minute, h.remaining_hour), (0, 0));
        assert!(h.pairs().iter().all(|(k, _)| *k != "Retry-After"));
        assert_eq!(l.peek(t0).remaining_minute, 0);
    }
}
