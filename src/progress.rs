//! A progress line on stderr for long interactive work (a backfill with `fetch --all` or
//! `fetch --since`): per source, the events delivered, the rate, and how far behind now the
//! newest event read is. Shown only when stderr is a terminal and logs are text; log lines
//! are written through [`LogWriter`], which lifts the line out of the way, so they never tear it.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether the log format leaves room for a progress line (set by `main`: text logs only).
static ALLOWED: AtomicBool = AtomicBool::new(false);

/// The line on screen, for [`LogWriter`].
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Tells whether progress may be drawn at all; `main` passes `false` for JSON logs.
pub fn allow(allowed: bool) {
    ALLOWED.store(allowed, Ordering::Relaxed);
}

/// What one source has done so far.
#[derive(Debug, Clone, Default)]
struct SourceProgress {
    delivered: u64,
    newest: Option<String>,
}

/// The progress of one fetch; a no-op when hidden.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    // Behind a lock so the collector can report through a shared reference.
    sources: Mutex<BTreeMap<String, SourceProgress>>,
    started: Instant,
}

impl Progress {
    /// Progress for a fetch. `enabled` is the caller's wish: a backfill (`--all` or `--since`)
    /// whose events do not go to the same terminal (a stdout sink with stdout a terminal
    /// would tear the line). It is shown only if, besides, stderr is a terminal and logs are
    /// text.
    pub fn for_fetch(enabled: bool) -> Self {
        let term = std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
        if enabled && ALLOWED.load(Ordering::Relaxed) && term {
            Self::drawn_to(ProgressDrawTarget::stderr())
        } else {
            Self::hidden()
        }
    }

    /// Progress that draws nothing.
    pub fn hidden() -> Self {
        Self { bar: None, sources: Mutex::default(), started: Instant::now() }
    }

    fn drawn_to(target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(250));
        *ACTIVE.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
        Self { bar: Some(bar), sources: Mutex::default(), started: Instant::now() }
    }

    /// Whether anything is drawn.
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// After a page was committed: `delivered` is the source's running total for this run,
    /// `newest_event_time` the newest event time read so far (RFC 3339), if known.
    pub fn page(&self, source: &str, delivered: u64, newest_event_time: Option<&str>) {
        {
            let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
            let s = sources.entry(source.to_owned()).or_default();
            s.delivered = delivered;
            if let Some(t) = newest_event_time {
                s.newest = Some(t.to_owned());
            }
        }
        if let Some(bar) = &self.bar {
            bar.set_message(self.message(chrono::Utc::now()));
        }
    }

    /// The line's text at `now`.
    fn message(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        let parts: Vec<String> = sources
            .iter()
            .map(|(name, s)| {
                #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let rate = (s.delivered as f64 / secs).round() as u64;
                let mut p = format!("{name}: {} events ({rate}/s)", s.delivered);
                if let Some(t) = &s.newest {
                    p = match behind(t, now) {
                        Some(b) => format!("{p}, at {t} ({b} behind)"),
                        None => format!("{p}, at {t}"),
                    };
                }
                p
            })
            .collect();
        parts.join(" · ")
    }

    /// Removes the line (also done on drop).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            *ACTIVE.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// How far `time` lies behind `now`, to the minute; `None` if unparsable or in the future.
fn behind(time: &str, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(time).ok()?;
    let d = now.signed_duration_since(t).to_std().ok()?;
    let minutes = Duration::from_secs(d.as_secs() / 60 * 60);
    Some(if minutes.is_zero() { "<1m".to_owned() } else { humantime::format_duration(minutes).to_string() })
}

/// The log writer `main` gives `tracing`: writes to stderr, lifting the progress line out of
/// the way first when one is shown.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogWriter;

impl LogWriter {
    /// A writer for one log event (the `MakeWriter` shape `tracing_subscriber` takes).
    pub fn make() -> Self {
        Self
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let active = ACTIVE.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match active {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_unless_asked_for_and_allowed() {
        // `allow` was never called in this process: as with JSON logs, nothing is drawn.
        assert!(!Progress::for_fetch(true).is_visible());
        assert!(!Progress::for_fetch(false).is_visible());
        let mut p = Progress::hidden();
        p.page("test_events", 10, None);
        assert!(p.message(chrono::Utc::now()).starts_with("test_events: 10 events"));
        p.finish();
    }

    #[test]
    fn the_line_says_count_position_and_lag() {
        let mut p = Progress::drawn_to(ProgressDrawTarget::hidden());
        assert!(p.is_visible());
        p.page("test_events", 2000, Some("2026-11-20T10:00:00Z"));
        p.page("test_events", 4000, None);
        p.page("test_users", 250, Some("garbage"));
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T13:30:20Z").unwrap().with_timezone(&chrono::Utc);
        let m = p.message(now);
        assert!(m.starts_with("test_events: 4000 events ("), "{m}");
        assert!(m.contains("at 2026-11-20T10:00:00Z (2days 3h 30m behind)"), "{m}");
        assert!(m.contains(" · test_users: 250 events ("), "{m}");
        assert!(!m.contains("garbage ("), "{m}");
        assert!(ACTIVE.lock().unwrap().is_some());
        p.finish();
        assert!(ACTIVE.lock().unwrap().is_none());
    }
}
