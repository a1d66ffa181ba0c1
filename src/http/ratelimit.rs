//! Client-side pacing: two governor quotas (per hour, per burst window) sized to DocuSign's
//! account limits, plus pauses the server asks for through its rate-limit headers; and the
//! `[rate_limit]` table that sizes them and the client's retries.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use tokio::time::Instant;

use super::RetryPolicy;
use crate::values::{Bounded, ConfigError, HumanDuration};

/// `[rate_limit]`: DocuSign's limits are per account and shared by every app on it. A key
/// left out takes its value from [`RateLimitConfig::default`].
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per hour this collector allows itself (DocuSign: 3000 per account).
    pub requests_per_hour: Bounded<1, 1_000_000>,
    /// Requests per burst window (DocuSign: 200 on demo, 500 on production). Default by environment.
    pub burst: Option<Bounded<1, 100_000>>,
    /// The burst window.
    pub burst_window: HumanDuration,
    /// Retries of one request after 429, 5xx, timeouts or connection errors.
    pub max_retries: Bounded<0, 20>,
    /// First backoff; it doubles per retry, with jitter.
    pub initial_backoff: HumanDuration,
    /// Longest backoff between retries.
    pub max_backoff: HumanDuration,
    /// Longest wait the collector accepts from `Retry-After` or `X-RateLimit-Reset`; a longer
    /// one ends the run as unavailable (the checkpoint is safe) instead of hanging a timer.
    pub max_wait: HumanDuration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            requests_per_hour: Bounded::of::<3000>(),
            burst: None,
            burst_window: HumanDuration::secs::<30>(),
            max_retries: Bounded::of::<5>(),
            initial_backoff: HumanDuration::secs::<1>(),
            max_backoff: HumanDuration::secs::<60>(),
            max_wait: HumanDuration::secs::<900>(),
        }
    }
}

impl RateLimitConfig {
    /// Cross-field checks.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming the `rate_limit.` key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.retry_policy().validate("rate_limit")?;
        self.burst_window.require_nonzero("rate_limit.burst_window")
    }

    /// The pacer these limits size, with `burst` requests per burst window (`burst`, or the
    /// environment's published value when it is not set).
    pub fn pacer(&self, burst: u32) -> Pacer {
        Pacer::new(self.requests_per_hour.get(), burst, self.burst_window.get())
    }

    /// How a request is retried.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries.get(),
            initial_backoff: self.initial_backoff.get(),
            max_backoff: self.max_backoff.get(),
            max_wait: self.max_wait.get(),
        }
    }
}

/// What the server said about the budget left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerBudget {
    /// `X-RateLimit-Remaining`.
    pub hourly_remaining: Option<u64>,
    /// `X-RateLimit-Reset` (Unix seconds).
    pub hourly_reset: Option<i64>,
    /// `X-BurstLimit-Remaining`.
    pub burst_remaining: Option<u64>,
}

impl ServerBudget {
    /// Reads the rate-limit headers: DocuSign's (`X-RateLimit-Remaining`, `X-RateLimit-Reset`,
    /// `X-BurstLimit-Remaining`), else Yousign's (`X-RateLimit-Remaining-Hour`, and
    /// `X-RateLimit-Remaining-Minute` as the burst budget of a one-minute window).
    pub fn from_headers(h: &HeaderMap) -> Self {
        let num = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
        let count = |a: &str, b: &str| num(a).or_else(|| num(b)).and_then(|v| u64::try_from(v).ok());
        Self {
            hourly_remaining: count("x-ratelimit-remaining", "x-ratelimit-remaining-hour"),
            hourly_reset: num("x-ratelimit-reset"),
            burst_remaining: count("x-burstlimit-remaining", "x-ratelimit-remaining-minute"),
        }
    }
}

/// The pacer shared by every request of one account.
#[derive(Debug)]
pub struct Pacer {
    hourly: DefaultDirectRateLimiter,
    burst: DefaultDirectRateLimiter,
    burst_window: Duration,
    pause_until: Mutex<Option<Instant>>,
}

impl Pacer {
    /// Builds quotas of `per_hour` requests an hour and `burst` per `burst_window`.
    pub fn new(per_hour: u32, burst: u32, burst_window: Duration) -> Self {
        let one = NonZeroU32::MIN;
        let per_hour = NonZeroU32::new(per_hour).unwrap_or(one);
        let burst_n = NonZeroU32::new(burst).unwrap_or(one);
        // The hourly quota replenishes evenly but allows the whole burst at once, as DocuSign does.
        let hourly = Quota::per_hour(per_hour).allow_burst(burst_n.min(per_hour));
        let burst_q = Quota::with_period(burst_window / burst_n.get())
            .unwrap_or_else(|| Quota::per_second(one))
            .allow_burst(burst_n);
        Self {
            hourly: RateLimiter::direct(hourly),
            burst: RateLimiter::direct(burst_q),
            burst_window,
            pause_until: Mutex::new(None),
        }
    }

    /// How long the server asked us to stay quiet, if it did.
    pub fn pending_pause(&self) -> Option<Duration> {
        let until = (*self.pause_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner))?;
        until.checked_duration_since(Instant::now())
    }

    /// Waits for both quotas.
    pub async fn until_ready(&self) {
        if let Some(d) = self.pending_pause() {
            tokio::time::sleep(d).await;
        }
        self.hourly.until_ready().await;
        self.burst.until_ready().await;
    }

    /// Adapts to what the server said. `Retry-After`, when the reply carries one, is the
    /// server's word: the pause is exactly that long (shorter or longer than any pause set
    /// before), and neither the burst window nor the hourly reset is added on top. Without it,
    /// an exhausted hourly budget pauses until its reset and an exhausted burst budget for one
    /// burst window. Returns the pause it set, if any.
    pub fn observe(&self, b: ServerBudget, retry_after: Option<Duration>) -> Option<Duration> {
        if let Some(d) = retry_after {
            self.set_pause(d);
            return Some(d);
        }
        let pause = if b.hourly_remaining == Some(0) {
            let now = chrono::Utc::now().timestamp();
            let secs = b.hourly_reset.map_or(60, |r| (r - now).clamp(1, 3600));
            Some(Duration::from_secs(u64::try_from(secs).unwrap_or(60)))
        } else if b.burst_remaining == Some(0) {
            Some(self.burst_window)
        } else {
            None
        }?;
        self.pause_for(pause);
        Some(pause)
    }

    /// Sets a pause from our own reading of the headers, never shortening one already set.
    pub fn pause_for(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut p = self.pause_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if p.is_none_or(|old| old < until) {
            *p = Some(until);
        }
    }

    /// Sets the pause to exactly `d` from now: the server's newest word replaces ours.
    fn set_pause(&self, d: Duration) {
        *self.pause_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now() + d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn reads_headers() {
        let mut h = HeaderMap::new();
        h.insert("X-RateLimit-Remaining", HeaderValue::from_static("0"));
        h.insert("X-RateLimit-Reset", HeaderValue::from_static("1700000000"));
        h.insert("X-BurstLimit-Remaining", HeaderValue::from_static("12"));
        let b = ServerBudget::from_headers(&h);
        assert_eq!(b.hourly_remaining, Some(0));
        assert_eq!(b.hourly_reset, Some(1_700_000_000));
        assert_eq!(b.burst_remaining, Some(12));
    }

    /// Yousign's names, as its spec lists them and its API spells them (any case): the hour's
    /// remainder is the hourly budget, the minute's the burst budget. `RateLimit-Reset` is
    /// seconds to the minute's reset, not DocuSign's epoch reset, so it is not read as one.
    #[test]
    fn reads_yousign_headers() {
        let mut h = HeaderMap::new();
        h.insert("RateLimit-Limit", HeaderValue::from_static("30"));
        h.insert("RateLimit-Remaining", HeaderValue::from_static("0"));
        h.insert("RateLimit-Reset", HeaderValue::from_static("42"));
        h.insert("x-ratelimit-limit-minute", HeaderValue::from_static("30"));
        h.insert("x-ratelimit-remaining-minute", HeaderValue::from_static("0"));
        h.insert("X-RateLimit-Limit-Hour", HeaderValue::from_static("200"));
        h.insert("X-RateLimit-Remaining-Hour", HeaderValue::from_static(" 117 "));
        let b = ServerBudget::from_headers(&h);
        assert_eq!(b.hourly_remaining, Some(117));
        assert_eq!(b.burst_remaining, Some(0));
        assert_eq!(b.hourly_reset, None);
        // An exhausted minute pauses for the burst window (Yousign's minute).
        let p = Pacer::new(200, 30, Duration::from_secs(60));
        assert_eq!(p.observe(b, None), Some(Duration::from_secs(60)));
        // Budget left in both windows: no pause; a negative or garbled count is no reading.
        h.insert("x-ratelimit-remaining-minute", HeaderValue::from_static("12"));
        h.insert("X-RateLimit-Remaining-Hour", HeaderValue::from_static("-1"));
        let b = ServerBudget::from_headers(&h);
        assert_eq!((b.burst_remaining, b.hourly_remaining), (Some(12), None));
        assert_eq!(Pacer::new(200, 30, Duration::from_secs(60)).observe(b, None), None);
    }

    #[test]
    fn exhausted_budget_pauses() {
        let p = Pacer::new(3000, 200, Duration::from_secs(30));
        assert_eq!(p.observe(ServerBudget { burst_remaining: Some(3), ..Default::default() }, None), None);
        let d = p.observe(ServerBudget { burst_remaining: Some(0), ..Default::default() }, None);
        assert_eq!(d, Some(Duration::from_secs(30)));
        assert!(p.pending_pause().is_some());
        let reset = chrono::Utc::now().timestamp() + 120;
        let d = p
            .observe(ServerBudget { hourly_remaining: Some(0), hourly_reset: Some(reset), ..Default::default() }, None);
        assert!(d.unwrap() >= Duration::from_secs(119));
    }

    /// A 429 with `Retry-After: 1` and `X-BurstLimit-Remaining: 0` waits one second, not the
    /// 30-second burst window, even after an earlier reply had set a longer pause.
    #[test]
    fn retry_after_is_the_servers_word() {
        let p = Pacer::new(3000, 200, Duration::from_secs(30));
        let exhausted = ServerBudget { burst_remaining: Some(0), ..Default::default() };
        assert_eq!(p.observe(exhausted, None), Some(Duration::from_secs(30)));
        assert_eq!(p.observe(exhausted, Some(Duration::from_secs(1))), Some(Duration::from_secs(1)));
        let left = p.pending_pause().unwrap();
        assert!(left <= Duration::from_secs(1), "paused {left:?}");
        // Without Retry-After the burst window applies again.
        assert_eq!(p.observe(exhausted, None), Some(Duration::from_secs(30)));
        assert!(p.pending_pause().unwrap() > Duration::from_secs(29));
    }

    #[test]
    fn burst_quota_admits_burst_then_limits() {
        let p = Pacer::new(3000, 5, Duration::from_secs(30));
        for _ in 0..5 {
            assert!(p.burst.check().is_ok());
        }
        assert!(p.burst.check().is_err());
    }
}
