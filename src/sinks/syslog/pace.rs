//! Pacing UDP datagrams to `udp_rate` per second.
//!
//! A receiver drains its socket buffer at its own speed; datagrams that arrive while the
//! buffer is full are dropped by its kernel (`RcvbufErrors`), and nobody tells the sender.
//! 2,000 datagrams sent back to back lost most of a page into syslog-ng's default buffer, so
//! each datagram gets a slot on a fixed schedule. The timer wakes at millisecond granularity,
//! so a few datagrams leave together after each wake; a sender that fell more than
//! [`MAX_LAG`] behind (descheduled, or the first datagram of a page) starts a new schedule
//! instead of sending the backlog as one burst.

use std::time::Duration;

use tokio::time::Instant;

/// Lateness beyond which the schedule restarts rather than catching up.
const MAX_LAG: Duration = Duration::from_millis(2);

/// Gives each datagram its slot.
#[derive(Debug)]
pub(super) struct Pacer {
    /// Time between datagrams; `None` sends back to back.
    interval: Option<Duration>,
    /// The next datagram's slot.
    next: Option<Instant>,
}

impl Pacer {
    /// `rate` datagrams per second; `0` does not pace.
    pub(super) fn new(rate: u32) -> Self {
        let interval = (rate > 0).then(|| Duration::from_nanos(1_000_000_000 / u64::from(rate)));
        Self { interval, next: None }
    }

    /// Waits for the next slot.
    pub(super) async fn wait(&mut self) {
        let Some(interval) = self.interval else { return };
        let now = Instant::now();
        let slot = match self.next {
            Some(n) if n + MAX_LAG >= now => n,
            _ => now,
        };
        if slot > now {
            tokio::time::sleep_until(slot).await;
        }
        self.next = Some(slot + interval);
    }
}

#[cfg(test)]
mod tests {
    // Real time (tokio's paused clock needs its test-util feature): lower bounds are exact,
    // since the pacer is never faster than its rate; upper bounds are loose for busy machines.
    use super::*;

    /// How long `n` slots take.
    async fn time_slots(p: &mut Pacer, n: usize) -> Duration {
        let t0 = Instant::now();
        for _ in 0..n {
            p.wait().await;
        }
        t0.elapsed()
    }

    #[tokio::test]
    async fn holds_the_rate() {
        // 101 slots 0.5 ms apart: the last one 50 ms after the first.
        let took = time_slots(&mut Pacer::new(2000), 101).await;
        assert!(took >= Duration::from_millis(50) && took < Duration::from_secs(2), "{took:?}");
    }

    #[tokio::test]
    async fn does_not_burst_to_catch_up() {
        let mut p = Pacer::new(1000);
        p.wait().await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        // After the pause a fresh schedule: 11 slots take 10 ms, not 0.
        let took = time_slots(&mut p, 11).await;
        assert!(took >= Duration::from_millis(10) && took < Duration::from_secs(2), "{took:?}");
    }

    #[tokio::test]
    async fn zero_is_back_to_back() {
        assert!(time_slots(&mut Pacer::new(0), 1000).await < Duration::from_millis(100));
    }
}
