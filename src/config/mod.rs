//! The configuration file: strict serde structs, defaults in named functions, and a pure
//! [`Config::validate`] for the checks that span several keys.
//!
//! # Architecture
//! - `crate::values`: self-validating values (ranges, durations, URLs), so `toml` reports
//!   the key and line of a bad value, and [`ConfigError`] (re-exported here).
//! - `docusign.rs`: the `[docusign]` table and the environment's published hosts.
//! - `monitoring.rs`: `[status]` and `[metrics]`.
//! - `receivers.rs`: `[receivers]` (each receiver's table is its connector's).
//! - `paths.rs`: relative paths resolve against the config file's folder.
//! - `crate::http`: `[network]` and `[rate_limit]` ([`NetworkConfig`], [`RateLimitConfig`]);
//!   `crate::sinks`: `[[sinks]]` ([`SinkConfig`] and each sink's table). Re-exported here;
//!   this module imports them, never the reverse.
//! - this file: the other tables, loading and cross-field validation.

mod monitoring;
mod paths;
mod receivers;
mod shard;
mod tenants;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::http::ClientSettings;

pub use crate::connectors::docusign::config::{
    AuthFlow, CustomerEventsConfig, DocusignConfig, Environment, MonitorApi, SourcesConfig, UserDataConfig,
};
pub use crate::http::{NetworkConfig, RateLimitConfig};
pub use crate::sinks::SinkConfig;
pub use crate::values::{Bounded, ConfigError, HttpUrl, HumanDuration};
pub use monitoring::{MetricsConfig, StatusConfig};
pub use paths::PATH_KEYS;
pub use receivers::{ConnectConfig, ReceiversConfig, YousignReceiverConfig};
pub use shard::{Place, ShardConfig, ShardIndex, shard_of};
pub use tenants::{DEFAULT_TENANT, Tenant, TenantConfig, TenantName, Vendor, YOUSIGN_TENANT};

/// The shortest `state.interval`: DocuSign's tracking-data guide asks that an up-to-date
/// Monitor stream is polled at most once a minute.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How to reach and authenticate to DocuSign (absent: no DocuSign tenant).
    #[serde(default)]
    pub docusign: Option<DocusignConfig>,
    /// How to reach Yousign (absent: no Yousign tenant).
    #[serde(default)]
    pub yousign: Option<crate::connectors::yousign::YousignConfig>,
    /// Which event streams to collect.
    #[serde(default)]
    pub sources: SourcesConfig,
    /// Where checkpoints live and how often `run` cycles.
    #[serde(default)]
    pub state: StateConfig,
    /// Client-side pacing and retries.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Where normalized lines go; several sinks fan out. Default: one stdout sink.
    #[serde(default = "crate::sinks::default_sinks")]
    pub sinks: Vec<SinkConfig>,
    /// The built-in simulator used by `environment = "demo"`.
    #[serde(default)]
    pub demo: DemoConfig,
    /// Several DocuSign accounts or organizations, each overriding `[docusign]` keys. Absent:
    /// `[docusign]` alone is the one tenant, `default`.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// Proxy exceptions, connect timeout and trust roots of the DocuSign client.
    #[serde(default)]
    pub network: NetworkConfig,
    /// How `status` and `/healthz` judge staleness.
    #[serde(default)]
    pub status: StatusConfig,
    /// Prometheus metrics in `run` mode (off by default).
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Push endpoints `run` hosts (DocuSign Connect); none by default.
    #[serde(default)]
    pub receivers: ReceiversConfig,
    /// Static tenant sharding across processes (absent: this process collects every tenant).
    #[serde(default)]
    pub shard: Option<ShardConfig>,
}

/// `[state]`. A key left out takes its value from [`StateConfig::default`].
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    /// SQLite file holding checkpoints, the dedup ledger and the encrypted token cache
    /// (relative to the config file's folder, like every path key).
    pub path: PathBuf,
    /// Pause between cycles in `run` mode once a source is caught up (at least 60 s: DocuSign
    /// asks that an up-to-date Monitor stream is not polled more often than once a minute).
    pub interval: HumanDuration,
    /// How long one collection cycle may run (`fetch`, and each cycle of `run`): past it, the
    /// page in flight is finished and committed and the run ends with a backlog (logged, and
    /// `status` says `backlog`). Default 4 minutes, below the shipped timer's 5-minute period.
    pub max_run_time: HumanDuration,
    /// Event ids remembered per source for deduplication across pages and runs.
    pub ledger_size: Bounded<1000, 10_000_000>,
    /// Tenants collected at the same time (each has its own checkpoints and rate-limit budget).
    pub tenant_concurrency: Bounded<1, 64>,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("state/esign-collector.db"),
            interval: HumanDuration::secs::<300>(),
            max_run_time: HumanDuration::secs::<240>(),
            ledger_size: Bounded::of::<100_000>(),
            tenant_concurrency: Bounded::of::<4>(),
        }
    }
}

/// `[demo]`: the simulator that stands in for DocuSign when `environment = "demo"`. A key
/// left out takes its value from [`DemoConfig::default`].
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// One new simulated Monitor event per this period (the last 7 days are backlog).
    pub event_period: HumanDuration,
    /// Simulated Admin users.
    pub users: Bounded<0, 100_000>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self { event_period: HumanDuration::secs::<60>(), users: Bounded::of::<40>() }
    }
}

/// What [`Config::docusign`] reads when there is no `[docusign]` (a Yousign-only file).
static NO_DOCUSIGN: std::sync::LazyLock<DocusignConfig> = std::sync::LazyLock::new(|| {
    toml::from_str("environment = \"demo\"").unwrap_or_else(|_| unreachable!("a fixed, valid table"))
});

impl Config {
    /// `[docusign]`. Every DocuSign tenant's configuration has one ([`Config::tenants`]); a
    /// file without it (Yousign only) reads as an empty demo table, which no DocuSign code
    /// path of such a file reaches.
    pub fn docusign(&self) -> &DocusignConfig {
        self.docusign.as_ref().unwrap_or(&NO_DOCUSIGN)
    }

    /// Reads, parses and validates a configuration file. Relative paths in it (and the
    /// default state path) are taken relative to the file's folder, not the working directory
    /// (see [`Config::resolve_paths`]).
    ///
    /// # Errors
    /// `ConfigError` naming the file, or the key and line at fault.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let mut cfg = Self::parse(&text, path)?;
        cfg.resolve_paths(path.parent().unwrap_or(Path::new("")));
        Ok(cfg)
    }

    /// Parses and validates configuration text; `path` only labels errors, and relative paths
    /// stay as written.
    ///
    /// # Errors
    /// `ConfigError::Parse` or `ConfigError::Invalid`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string().trim_end().to_owned() })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Cross-field checks. Pure: touches no file or network.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.docusign.is_none() && self.yousign.is_none() {
            return Err(ConfigError::invalid(
                "docusign",
                "is missing: configure [docusign] (DocuSign), [yousign] (Yousign), or both",
            ));
        }
        let docusign = self.docusign.is_some() && self.sources.any_docusign();
        let yousign = self.yousign.is_some() && crate::connectors::yousign::config::any_enabled(&self.sources);
        // Receivers alone are a configuration: a webhook pushes what no source polls.
        if !docusign && !yousign && !self.receivers.any() {
            return Err(ConfigError::invalid("sources", crate::connectors::NO_SOURCE));
        }
        if self.docusign.is_some() {
            self.sources.validate_docusign()?;
        }
        if let Some(y) = &self.yousign {
            y.validate(&self.sources)?;
        }
        self.receivers.validate()?;
        self.validate_shard()?;
        crate::sinks::validate(&self.sinks)?;
        self.validate_tenants()?;
        self.network.validate(self.docusign().proxy.as_ref(), self.docusign().ca_file.as_deref())?;
        self.rate_limit.validate()?;
        if self.state.interval.get() < MIN_INTERVAL {
            return Err(ConfigError::invalid(
                "state.interval",
                format!(
                    "is {}, under the {} minimum: DocuSign's Monitor guide asks that an up-to-date stream is not \
                     polled more often than once a minute (a backlog is still read without pause)",
                    humantime::format_duration(self.state.interval.get()),
                    humantime::format_duration(MIN_INTERVAL)
                ),
            ));
        }
        self.state.max_run_time.require_nonzero("state.max_run_time")
    }

    /// Whether events get `_user` from the stored snapshot records of their actor.
    pub fn enrich_users(&self) -> bool {
        self.sources.enrich()
    }

    /// Whether the source with config key `key` is enabled.
    pub fn source_enabled(&self, key: &str) -> bool {
        // A Yousign stream belongs to one API version: v3's or v2's.
        let version = self.yousign.as_ref().map(|y| y.api_version).unwrap_or_default();
        crate::connectors::yousign::config::enabled_for(&self.sources, key, version)
            .unwrap_or_else(|| self.sources.enabled(key))
    }

    /// Whether an enabled source needs the organization id.
    pub fn needs_organization(&self) -> bool {
        self.sources.needs_organization()
    }

    /// The minimal scopes the enabled sources need.
    pub fn required_scopes(&self) -> Vec<&'static str> {
        self.sources.required_scopes(self.docusign().auth)
    }

    /// The scopes requested: the configured ones, or the minimum.
    pub fn scopes(&self) -> Vec<String> {
        self.docusign().scopes(&self.sources)
    }

    /// The DocuSign client's settings: `[docusign]`'s timeout, proxy and trust keys with
    /// `[network]`'s.
    pub fn client_settings(&self) -> ClientSettings<'_> {
        let (d, n) = (self.docusign(), &self.network);
        ClientSettings {
            table: "docusign",
            timeout: d.timeout.get(),
            connect_timeout: n.connect_timeout(d.timeout.get()),
            follow_redirects: true,
            proxy: d.proxy.as_ref(),
            no_proxy: &n.no_proxy,
            ca_file: d.ca_file.as_deref(),
            ca_file_only: n.ca_file_only,
            client_cert: None,
            insecure_skip_verify: d.insecure_skip_verify,
        }
    }

    /// Requests per burst window: configured, or DocuSign's published value for the environment.
    pub fn burst(&self) -> u32 {
        self.rate_limit.burst.map_or_else(|| self.docusign().environment.default_burst(), Bounded::get)
    }
}

#[cfg(test)]
mod tests;
