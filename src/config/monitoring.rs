//! `[status]` and `[metrics]`: how `status` and `/healthz` judge staleness, and where `run`
//! serves Prometheus metrics.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::HumanDuration;

/// The floor of the default staleness threshold: a source collected hourly by a timer must
/// not read as stale between two runs.
const MIN_DEFAULT_STALE_AFTER: Duration = Duration::from_secs(3600);

/// `[status]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusConfig {
    /// A source whose last successful run is older than this is "stale". Default: three
    /// `state.interval`s, at least one hour (`status --stale-after` overrides it).
    pub stale_after: Option<HumanDuration>,
}

impl StatusConfig {
    /// The threshold: configured, or `max(3 × interval, 1 h)`.
    pub fn stale_after(&self, interval: Duration) -> Duration {
        self.stale_after.map_or_else(|| interval.saturating_mul(3).max(MIN_DEFAULT_STALE_AFTER), HumanDuration::get)
    }
}

/// `[metrics]`: Prometheus `/metrics` and `/healthz`, served by `run` only. Off by default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address to listen on, e.g. `127.0.0.1:9464` (port 0 picks a free port, logged at start).
    /// Unset: no listener.
    pub listen: Option<SocketAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_threshold_is_three_intervals_at_least_an_hour() {
        let s = StatusConfig::default();
        assert_eq!(s.stale_after(Duration::from_secs(300)), Duration::from_secs(3600));
        assert_eq!(s.stale_after(Duration::from_secs(7200)), Duration::from_secs(21_600));
        let set = StatusConfig { stale_after: Some(HumanDuration(Duration::from_secs(60))) };
        assert_eq!(set.stale_after(Duration::from_secs(7200)), Duration::from_secs(60));
    }
}
