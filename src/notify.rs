//! systemd service notifications for `run` (sd_notify(3), through the `sd-notify` crate):
//! `READY=1` once the collector can work, `STATUS=` lines saying what it is doing,
//! `STOPPING=1` on the way out, and `WATCHDOG=1` pings. Every call is a no-op when
//! `NOTIFY_SOCKET` is unset, so `run` behaves the same in a terminal or a container.
//!
//! # What the watchdog proves
//! The pings come from a task on the same current-thread tokio runtime as the collector, every
//! half of `WATCHDOG_USEC`. A ping therefore proves that the event loop is turning: no
//! synchronous call (a SQLite commit, an fsync on a hung disk, a lock) has held the thread for
//! half of `WatchdogSec=`. When one does, systemd kills the process (SIGABRT) and
//! `Restart=on-failure` starts it again; the checkpoint is safe because it only moves after
//! delivery. The pings do not prove that cycles succeed (failures are logged and shown in
//! `STATUS=`), nor that a network call progresses: those are bounded by `docusign.timeout`,
//! the retry budget and `rate_limit.max_wait`, and a stop request cuts waits short.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;
use tracing::{info, warn};

use crate::core::collector::Report;
use crate::error::Exit;

/// Tells the service manager that start-up is finished, with a first status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Updates the status line `systemctl status` shows.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Tells the service manager that the service is stopping, and why.
pub fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

fn send(states: &[NotifyState<'_>]) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    // A lost notification costs at most a watchdog restart; say so once, not every ping.
    if let Err(e) = sd_notify::notify(states)
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        warn!(error = %e, "Cannot notify the service manager (NOTIFY_SOCKET); systemd may consider the service hung.");
    }
}

/// The watchdog ping task; dropping it stops the pings.
#[derive(Debug)]
pub struct Watchdog(tokio::task::JoinHandle<()>);

impl Watchdog {
    /// Starts pinging every half of `WATCHDOG_USEC` on the current runtime, when the service
    /// manager enabled the watchdog for this process (`WATCHDOG_USEC` set and `WATCHDOG_PID`
    /// unset or ours). `None` otherwise.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start() -> Option<Self> {
        let period = sd_notify::watchdog_enabled()? / 2;
        if period.is_zero() {
            return None;
        }
        info!(period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX), "Watchdog enabled; pinging systemd.");
        Some(Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            // After a stall, one ping, not a burst that would hide how late it was.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                send(&[NotifyState::Watchdog]);
            }
        })))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The status line after a cycle: what it delivered, or how it failed, and when the next
/// cycle starts (`next` is `None` when a backlog makes it start at once).
pub fn cycle_status(outcome: Result<&[Report], Exit>, next: Option<Duration>) -> String {
    let next = match next {
        None => "a backlog remains, next cycle now".to_owned(),
        Some(d) => {
            let at = chrono::Utc::now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
            format!("next cycle at {}", at.format("%Y-%m-%d %H:%M:%S UTC"))
        }
    };
    match outcome {
        Ok(reports) => {
            let total: u64 = reports.iter().map(|r| r.delivered).sum();
            let each: Vec<String> = reports.iter().map(|r| format!("{} {}", r.kind, r.delivered)).collect();
            format!("Delivered {total} events ({}); {next}.", each.join(", "))
        }
        Err(code) => format!("Last cycle failed ({code:?}, exit {}), will retry; {next}.", code as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{Stream, TEST, TEST_SNAPSHOT};

    fn report(kind: &'static Stream, delivered: u64) -> Report {
        Report {
            kind,
            pages: 1,
            fetched: delivered,
            delivered,
            duplicates: 0,
            cursor_moved: true,
            out_of_time: false,
            at_end: true,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn status_lines_say_what_happened_and_what_is_next() {
        let reports = [report(&TEST, 120), report(&TEST_SNAPSHOT, 3)];
        let s = cycle_status(Ok(&reports), Some(Duration::from_secs(300)));
        assert!(s.starts_with("Delivered 123 events (test_events 120, test_users 3); next cycle at 20"), "{s}");
        assert!(s.ends_with(" UTC."), "{s}");
        let s = cycle_status(Ok(&reports[..1]), None);
        assert_eq!(s, "Delivered 120 events (test_events 120); a backlog remains, next cycle now.");
        let s = cycle_status(Err(Exit::Unavailable), Some(Duration::from_secs(60)));
        assert!(s.starts_with("Last cycle failed (Unavailable, exit 5), will retry; next cycle at "), "{s}");
    }
}
