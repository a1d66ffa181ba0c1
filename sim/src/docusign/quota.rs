//! DocuSign's per-account API quota: a fixed hourly window (top of the hour to top of the
//! hour) and a fixed burst window (30 s), both counted over every Monitor and Admin request of
//! the account. OAuth calls go to the account server and do not count.
//!
//! The simulator always counts and stamps `X-RateLimit-*` / `X-BurstLimit-*` on API replies.
//! With [`QuotaConfig::enforce`] it also refuses a request past either limit with 429,
//! `Retry-After` (seconds to the end of the exhausted window) and DocuSign's error code
//! (`HOURLY_APIINVOCATION_LIMIT_EXCEEDED` / `BURST_APIINVOCATION_LIMIT_EXCEEDED`). A refused
//! request spends no budget (DocuSign does not say; this is the lenient reading).
//!
//! [`QuotaConfig::time_scale`] runs the quota's clock faster than the wall clock, so a
//! benchmark can watch several "hours" in minutes: at 60 an hour lasts a real minute and a
//! 30 s burst window half a second. Header times (`X-RateLimit-Reset`, `Retry-After`) are
//! converted back to real time and rounded up to whole seconds, as the headers carry them.
//! The window maths takes the time as an argument, so tests drive it with a fake clock.

use serde::Serialize;

/// One hour in milliseconds.
const HOUR_MS: i64 = 3_600_000;

/// The account quota the simulator counts and, when `enforce` is set, applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QuotaConfig {
    /// Requests per hour (`X-RateLimit-Limit`); DocuSign's default is 3000 per account.
    pub per_hour: u64,
    /// Requests per burst window (`X-BurstLimit-Limit`); DocuSign: 500 production, 200 demo.
    pub burst: u64,
    /// Length of the burst window in (scaled) seconds; DocuSign: 30.
    pub burst_window_secs: u64,
    /// Answer 429 past either limit. Off by default: then the quota is only counted.
    pub enforce: bool,
    /// How many times faster than the wall clock the quota's time runs (1 = real time; 60
    /// makes an hour pass in a minute). Limits stay per (scaled) hour and window.
    pub time_scale: u32,
}

impl Default for QuotaConfig {
    /// DocuSign production's published limits, counted but not enforced, in real time.
    fn default() -> Self {
        Self { per_hour: 3000, burst: 500, burst_window_secs: 30, enforce: false, time_scale: 1 }
    }
}

impl QuotaConfig {
    fn burst_window_ms(&self) -> i64 {
        i64::try_from(self.burst_window_secs).unwrap_or(30).max(1) * 1000
    }

    fn scale(&self) -> i64 {
        i64::from(self.time_scale.max(1))
    }
}

/// Maps real Unix milliseconds to the quota's scaled time and back. In real time (scale 1)
/// the two are equal. Scaled, the quota's clock starts at the top of an hour when the
/// simulator starts (on a whole real second), so a run's scaled hours are whole windows and
/// their ends fall on whole real seconds whenever the scale divides an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ScaledClock {
    /// Real time of the start, whole seconds.
    origin_ms: i64,
    /// Scaled time at `origin_ms`.
    anchor_ms: i64,
    scale: i64,
}

impl ScaledClock {
    pub(super) fn new(started_ms: i64, cfg: &QuotaConfig) -> Self {
        let origin_ms = started_ms - started_ms.rem_euclid(1000);
        let scale = cfg.scale();
        let anchor_ms = if scale == 1 { origin_ms } else { origin_ms - origin_ms.rem_euclid(HOUR_MS) };
        Self { origin_ms, anchor_ms, scale }
    }

    pub(super) fn to_scaled(self, real_ms: i64) -> i64 {
        self.anchor_ms.saturating_add((real_ms - self.origin_ms).saturating_mul(self.scale))
    }

    /// The real time at which the scaled clock reaches `scaled_ms`, rounded up to a millisecond.
    fn to_real(self, scaled_ms: i64) -> i64 {
        let d = scaled_ms - self.anchor_ms;
        self.origin_ms + d.div_euclid(self.scale) + i64::from(d.rem_euclid(self.scale) != 0)
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exceeded {
    /// The hourly quota.
    Hourly,
    /// The burst quota.
    Burst,
}

impl Exceeded {
    /// DocuSign's error code for it.
    pub(super) fn code(self) -> &'static str {
        match self {
            Self::Hourly => "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
            Self::Burst => "BURST_APIINVOCATION_LIMIT_EXCEEDED",
        }
    }
}

/// Values of the rate-limit headers of one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RateHeaders {
    /// `X-RateLimit-Limit`.
    pub(super) limit: u64,
    /// `X-RateLimit-Remaining`.
    pub(super) remaining: u64,
    /// `X-RateLimit-Reset`: real Unix seconds of the next hourly reset.
    pub(super) reset: i64,
    /// `X-BurstLimit-Limit`.
    pub(super) burst_limit: u64,
    /// `X-BurstLimit-Remaining`.
    pub(super) burst_remaining: u64,
}

/// What the quota says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    /// Headers for the reply, refused or not.
    pub(super) headers: RateHeaders,
    /// `Some` when the request is refused: which limit, and `Retry-After` in whole seconds.
    pub(super) refused: Option<(Exceeded, u64)>,
}

/// The counters of one account's current hourly and burst windows.
#[derive(Debug, Default)]
pub(super) struct RateWindow {
    hour: i64,
    hour_count: u64,
    burst_slot: i64,
    burst_count: u64,
}

impl RateWindow {
    /// Counts (or, when enforcing past a limit, refuses) a request arriving at real time
    /// `now_ms` (Unix milliseconds).
    pub(super) fn hit(&mut self, cfg: &QuotaConfig, clock: ScaledClock, now_ms: i64) -> Verdict {
        let now = clock.to_scaled(now_ms);
        let hour = now.div_euclid(HOUR_MS);
        if hour != self.hour {
            (self.hour, self.hour_count) = (hour, 0);
        }
        let window = cfg.burst_window_ms();
        let slot = now.div_euclid(window);
        if slot != self.burst_slot {
            (self.burst_slot, self.burst_count) = (slot, 0);
        }
        let hour_end = clock.to_real((hour + 1) * HOUR_MS);
        let exceeded = if self.hour_count >= cfg.per_hour {
            Some((Exceeded::Hourly, hour_end))
        } else if self.burst_count >= cfg.burst {
            Some((Exceeded::Burst, clock.to_real((slot + 1) * window)))
        } else {
            None
        };
        let refused = match exceeded {
            Some((which, until_ms)) if cfg.enforce => {
                Some((which, u64::try_from(ceil_secs(until_ms - now_ms)).unwrap_or(0).max(1)))
            }
            _ => {
                self.hour_count += 1;
                self.burst_count += 1;
                None
            }
        };
        let headers = RateHeaders {
            limit: cfg.per_hour,
            remaining: cfg.per_hour.saturating_sub(self.hour_count),
            reset: ceil_secs(hour_end),
            burst_limit: cfg.burst,
            burst_remaining: cfg.burst.saturating_sub(self.burst_count),
        };
        Verdict { headers, refused }
    }
}

/// Milliseconds to whole seconds, rounded up.
fn ceil_secs(ms: i64) -> i64 {
    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T00:00:00Z, a top of the hour.
    const T0: i64 = 1_767_225_600_000;

    fn enforced(per_hour: u64, burst: u64, time_scale: u32) -> QuotaConfig {
        QuotaConfig { per_hour, burst, burst_window_secs: 30, enforce: true, time_scale }
    }

    #[test]
    fn counts_and_resets_at_the_top_of_the_hour() {
        let cfg = QuotaConfig::default();
        let clock = ScaledClock::new(T0, &cfg);
        let mut w = RateWindow::default();
        let t = T0 + 59 * 60_000;
        let a = w.hit(&cfg, clock, t);
        let b = w.hit(&cfg, clock, t + 1000);
        assert_eq!((a.headers.remaining, b.headers.remaining), (2999, 2998));
        assert_eq!((a.headers.burst_remaining, b.headers.burst_remaining), (499, 498));
        assert_eq!(a.headers.reset, (T0 + HOUR_MS) / 1000);
        assert_eq!(w.hit(&cfg, clock, t + 61_000).headers.remaining, 2999, "new hour");
        assert!(a.refused.is_none());
    }

    #[test]
    fn counted_only_never_refuses() {
        let cfg = QuotaConfig { per_hour: 2, burst: 1, ..QuotaConfig::default() };
        let clock = ScaledClock::new(T0, &cfg);
        let mut w = RateWindow::default();
        for _ in 0..5 {
            assert_eq!(w.hit(&cfg, clock, T0 + 10).refused, None);
        }
        assert_eq!(w.hit(&cfg, clock, T0 + 10).headers.remaining, 0);
    }

    #[test]
    fn burst_refuses_until_the_window_ends_and_spends_nothing() {
        let cfg = enforced(3000, 3, 1);
        let clock = ScaledClock::new(T0, &cfg);
        let mut w = RateWindow::default();
        let t = T0 + 10_500; // 19.5 s before the 30 s window ends
        for left in [2, 1, 0] {
            let v = w.hit(&cfg, clock, t);
            assert_eq!((v.refused, v.headers.burst_remaining), (None, left));
        }
        let v = w.hit(&cfg, clock, t + 100);
        assert_eq!(v.refused, Some((Exceeded::Burst, 20)), "19.4 s rounded up");
        assert_eq!((v.headers.remaining, v.headers.burst_remaining), (2997, 0), "a refusal spends nothing");
        let v = w.hit(&cfg, clock, T0 + 30_000);
        assert_eq!((v.refused, v.headers.burst_remaining, v.headers.remaining), (None, 2, 2996), "next window");
    }

    #[test]
    fn hourly_refuses_until_the_top_of_the_hour() {
        let cfg = enforced(4, 500, 1);
        let clock = ScaledClock::new(T0, &cfg);
        let mut w = RateWindow::default();
        // Spread over several burst windows: only the hourly limit can refuse.
        for i in 0..4 {
            assert_eq!(w.hit(&cfg, clock, T0 + i * 60_000).refused, None);
        }
        let now = T0 + 40 * 60_000 + 250;
        let v = w.hit(&cfg, clock, now);
        assert_eq!(v.refused, Some((Exceeded::Hourly, 20 * 60)), "19 min 59.75 s rounded up");
        assert_eq!((v.headers.remaining, v.headers.reset), (0, (T0 + HOUR_MS) / 1000));
        assert_eq!(w.hit(&cfg, clock, T0 + HOUR_MS).refused, None, "the next hour admits again");
    }

    #[test]
    fn hourly_wins_when_both_are_exhausted() {
        let cfg = enforced(2, 2, 1);
        let clock = ScaledClock::new(T0, &cfg);
        let mut w = RateWindow::default();
        w.hit(&cfg, clock, T0);
        w.hit(&cfg, clock, T0);
        assert_eq!(w.hit(&cfg, clock, T0).refused.map(|r| r.0), Some(Exceeded::Hourly));
    }

    #[test]
    fn scaled_time_shrinks_hours_and_windows() {
        // At 60×, an hour lasts 60 real seconds and a 30 s burst window half a second.
        let cfg = enforced(3000, 200, 60);
        let started = T0 + 5 * HOUR_MS + 754_321; // the simulator started at an arbitrary moment
        let clock = ScaledClock::new(started, &cfg);
        let origin = started - 321;
        assert_eq!(clock.to_scaled(origin), T0 + 5 * HOUR_MS, "scaled hours start with the simulator");
        assert_eq!(clock.to_scaled(origin + 1000), T0 + 5 * HOUR_MS + 60_000);
        assert_eq!(clock.to_real(clock.to_scaled(origin + 777)), origin + 777);
        let mut w = RateWindow::default();
        let (mut admitted, mut refusals) = (0, 0);
        // One request per real 5 ms (0.3 scaled s) for three real minutes: three scaled hours.
        for i in 0..36_000 {
            let v = w.hit(&cfg, clock, origin + i * 5);
            match v.refused {
                None => admitted += 1,
                Some((which, secs)) => {
                    refusals += 1;
                    assert_eq!(which, Exceeded::Hourly, "100 requests per half-second window never burst");
                    assert!((1..=60).contains(&secs), "{secs} s");
                    // The hour ends on a whole real minute after the start.
                    assert_eq!((v.headers.reset * 1000 - origin) % 60_000, 0);
                }
            }
        }
        assert_eq!(admitted, 3 * 3000);
        assert_eq!(refusals, 36_000 - 9000);
    }

    #[test]
    fn scaled_reset_header_is_real_time() {
        let cfg = enforced(3000, 500, 60);
        let clock = ScaledClock::new(T0, &cfg);
        let mut w = RateWindow::default();
        // 30 real seconds after a top-of-hour origin the scaled clock is at half past.
        let v = w.hit(&cfg, clock, T0 + 30_000);
        assert_eq!(v.headers.reset, (T0 + 60_000) / 1000);
        // Burst window: 30 scaled s = 500 real ms; a refusal waits at least one whole second.
        let cfg = enforced(3000, 1, 60);
        let mut w = RateWindow::default();
        assert_eq!(w.hit(&cfg, clock, T0 + 100).refused, None);
        assert_eq!(w.hit(&cfg, clock, T0 + 200).refused, Some((Exceeded::Burst, 1)));
        assert_eq!(w.hit(&cfg, clock, T0 + 500).refused, None, "the next half-second window");
    }

    #[test]
    fn rounding() {
        assert_eq!((ceil_secs(0), ceil_secs(1), ceil_secs(1000), ceil_secs(1001), ceil_secs(-5)), (0, 1, 1, 2, 0));
        let clock = ScaledClock { origin_ms: 1000, anchor_ms: 0, scale: 60 };
        assert_eq!(clock.to_real(61), 1002, "rounded up, never early");
    }
}
