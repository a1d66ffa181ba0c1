//! Yousign's configuration: the `[yousign]` table (environment, API key, host override, API
//! generation and pacing) and the `[sources.yousign_*]` tables of its streams.

use std::path::PathBuf;

use serde::Deserialize;

use super::{SIGNATURE_REQUESTS, USERS};
use crate::connectors::SourcesConfig;
use crate::values::{Bounded, ConfigError, HttpUrl, HumanDuration};

/// Where Yousign is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// The built-in Yousign simulator, started in-process on a loopback port.
    Demo,
    /// Yousign's sandbox (`api-sandbox.yousign.app`; v2 `staging-api.yousign.com`).
    Sandbox,
    /// Yousign production (`api.yousign.app`; v2 `api.yousign.com`).
    Production,
}

/// Which API generation to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    /// API v3 (`/v3`, cursor pagination, signed webhooks).
    #[default]
    V3,
    /// The legacy API v2 (procedures and members, page pagination, unsigned webhooks).
    V2,
}

impl Environment {
    /// The API base of `version` in this environment (the demo's is the simulator's).
    pub fn base(self, version: ApiVersion) -> &'static str {
        match (self, version) {
            (Environment::Production, ApiVersion::V3) => "https://api.yousign.app/v3",
            (Environment::Production, ApiVersion::V2) => "https://api.yousign.com",
            (Environment::Sandbox | Environment::Demo, ApiVersion::V3) => "https://api-sandbox.yousign.app/v3",
            (Environment::Sandbox | Environment::Demo, ApiVersion::V2) => "https://staging-api.yousign.com",
        }
    }

    /// Yousign's published limits: `(per minute, per hour)` (sandbox 30 and 200, production
    /// 60 and 1,200); the demo's simulator is paced as production.
    pub fn limits(self) -> (u32, u32) {
        match self {
            Environment::Production | Environment::Demo => (60, 1200),
            Environment::Sandbox => (30, 200),
        }
    }
}

/// `[yousign]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YousignConfig {
    /// `demo` (built-in simulator), `sandbox` or `production`.
    pub environment: Environment,
    /// `v3` (default) or `v2`.
    #[serde(default)]
    pub api_version: ApiVersion,
    /// The environment variable holding the API key (Yousign advises a read-only key scoped
    /// to one workspace).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// A file holding the API key (mode 0600).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// A systemd credential holding the API key.
    #[serde(default)]
    pub api_key_credential: Option<String>,
    /// API base override (proxies, tests): ending in `/v3` for API v3, the API root for v2.
    #[serde(default)]
    pub base_url: Option<HttpUrl>,
    /// Requests per minute this collector allows itself; default Yousign's for the environment.
    #[serde(default)]
    pub requests_per_minute: Option<Bounded<1, 100_000>>,
    /// Requests per hour this collector allows itself; default Yousign's for the environment.
    #[serde(default)]
    pub requests_per_hour: Option<Bounded<1, 1_000_000>>,
    /// Timeout of one HTTP request.
    #[serde(default = "HumanDuration::secs::<30>")]
    pub timeout: HumanDuration,
    /// HTTP(S) proxy for every Yousign call (else `HTTPS_PROXY`/`NO_PROXY` apply).
    #[serde(default)]
    pub proxy: Option<HttpUrl>,
    /// Extra CA certificate (PEM) to trust.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// With `[shard]`: the shard that collects the Yousign tenant, instead of its name's hash.
    #[serde(default)]
    pub shard: Option<u32>,
}

impl std::fmt::Debug for YousignConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YousignConfig")
            .field("environment", &self.environment)
            .field("api_version", &self.api_version)
            .field("api_key_env", &self.api_key_env)
            .field("api_key_file", &self.api_key_file)
            .field("api_key_credential", &self.api_key_credential)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl YousignConfig {
    /// Checks the key source and the enabled sources.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming the key.
    pub fn validate(&self, sources: &SourcesConfig) -> Result<(), ConfigError> {
        self.timeout.require_nonzero("yousign.timeout")?;
        sources.yousign_signature_requests.validate()?;
        sources.yousign_users.validate()?;
        sources.yousign_webhook_subscriptions.validate()?;
        if self.environment == Environment::Demo {
            return Ok(());
        }
        let set: Vec<&str> = [
            ("yousign.api_key_env", self.api_key_env.is_some()),
            ("yousign.api_key_file", self.api_key_file.is_some()),
            ("yousign.api_key_credential", self.api_key_credential.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        match set.as_slice() {
            [] => Err(ConfigError::invalid(
                "yousign.api_key_env",
                "is required (or yousign.api_key_file, or yousign.api_key_credential under systemd): a Yousign API key, \
                 ideally read-only and scoped to one workspace",
            )),
            [_] => Ok(()),
            [first, second, ..] => {
                Err(ConfigError::invalid(*second, format!("cannot be set together with {first}: choose one")))
            }
        }
    }

    /// `(per minute, per hour)`: configured, or Yousign's for the environment.
    pub fn limits(&self) -> (u32, u32) {
        let (m, h) = self.environment.limits();
        (self.requests_per_minute.map_or(m, Bounded::get), self.requests_per_hour.map_or(h, Bounded::get))
    }
}

/// `[sources.yousign_signature_requests]`. A key left out takes its value from
/// [`SignatureRequestsConfig::default`].
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignatureRequestsConfig {
    /// Collect signature requests (reconciliation beside the webhooks).
    pub enabled: bool,
    /// How often `run` reconciles (Yousign: "we don't allow polling"): at least 15 minutes.
    pub interval: HumanDuration,
    /// How far back a brand-new checkpoint starts (day-granular filters).
    pub first_fetch: HumanDuration,
    /// Requests asked for per page (`limit`, Yousign allows 1 to 100).
    pub page_size: Bounded<1, 100>,
    /// Read each signed signer's audit trail (signer and sender IP, authentication mode).
    pub audit_trails: bool,
}

impl Default for SignatureRequestsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: HumanDuration::secs::<3600>(),
            first_fetch: HumanDuration::secs::<{ 30 * 86_400 }>(),
            page_size: Bounded::of::<100>(),
            audit_trails: true,
        }
    }
}

/// The shortest reconciliation interval.
pub const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl SignatureRequestsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.interval.get() < MIN_INTERVAL {
            return Err(ConfigError::invalid(
                "sources.yousign_signature_requests.interval",
                "is under 15 minutes: Yousign writes \"we don't allow polling\" and rate-limits it; the webhooks \
                 (receivers.yousign) deliver in real time, the pull only reconciles",
            ));
        }
        self.first_fetch.require_nonzero("sources.yousign_signature_requests.first_fetch")
    }
}

/// `[sources.yousign_users]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsersConfig {
    /// Collect the organization's users (a full snapshot each pass: the API has no change date).
    pub enabled: bool,
    /// How often `run` reads them (at least 15 minutes).
    pub interval: HumanDuration,
    /// Users asked for per page (`limit`, 1 to 100).
    pub page_size: Bounded<1, 100>,
}

impl Default for UsersConfig {
    fn default() -> Self {
        Self { enabled: false, interval: HumanDuration::secs::<3600>(), page_size: Bounded::of::<100>() }
    }
}

impl UsersConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.interval.get() < MIN_INTERVAL {
            return Err(ConfigError::invalid(
                "sources.yousign_users.interval",
                "is under 15 minutes: Yousign rate-limits polling, and users change rarely",
            ));
        }
        Ok(())
    }
}

/// `[sources.yousign_webhook_subscriptions]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSubscriptionsConfig {
    /// Collect the webhook subscriptions (a new one nobody asked for is a signal).
    pub enabled: bool,
    /// How often `run` reads them (at least 15 minutes).
    pub interval: HumanDuration,
}

impl Default for WebhookSubscriptionsConfig {
    fn default() -> Self {
        Self { enabled: false, interval: HumanDuration::secs::<3600>() }
    }
}

impl WebhookSubscriptionsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.interval.get() < MIN_INTERVAL {
            return Err(ConfigError::invalid(
                "sources.yousign_webhook_subscriptions.interval",
                "is under 15 minutes: Yousign rate-limits polling, and subscriptions change rarely",
            ));
        }
        Ok(())
    }
}

/// Whether the Yousign source with config key `key` is enabled (`None`: not a Yousign key),
/// for the default API v3: this answer does not know `[yousign] api_version`, so a v2 stream
/// is never enabled here; [`enabled_for`] gives the answer for a given version.
pub(crate) fn enabled(s: &SourcesConfig, key: &str) -> Option<bool> {
    enabled_for(s, key, ApiVersion::V3)
}

/// Whether the Yousign source with config key `key` is enabled under API `version`
/// (`None`: not a Yousign key): a v2 stream needs its table enabled and `api_version = "v2"`,
/// a v3 stream its table and `api_version = "v3"`. Each table serves the stream of its
/// generation (`yousign_signature_requests` the procedures under v2).
pub(crate) fn enabled_for(s: &SourcesConfig, key: &str, version: ApiVersion) -> Option<bool> {
    let v2 = key == super::YOUSIGN_PROCEDURES.key || key == super::YOUSIGN_V2_USERS.key;
    table_enabled(s, key).map(|on| on && (v2 == (version == ApiVersion::V2)))
}

/// Whether the table that enables the stream with config key `key` is enabled, whatever the
/// API version.
fn table_enabled(s: &SourcesConfig, key: &str) -> Option<bool> {
    match key {
        k if k == super::YOUSIGN_PROCEDURES.key => Some(s.yousign_signature_requests.enabled),
        k if k == super::YOUSIGN_V2_USERS.key => Some(s.yousign_users.enabled),
        k if k == SIGNATURE_REQUESTS.key => Some(s.yousign_signature_requests.enabled),
        k if k == super::AUDIT_TRAILS.key => {
            Some(s.yousign_signature_requests.enabled && s.yousign_signature_requests.audit_trails)
        }
        k if k == super::WEBHOOK_SUBSCRIPTIONS.key => Some(s.yousign_webhook_subscriptions.enabled),
        k if k == USERS.key => Some(s.yousign_users.enabled),
        _ => None,
    }
}

/// Whether any Yousign source is enabled.
pub(crate) fn any_enabled(s: &SourcesConfig) -> bool {
    s.yousign_signature_requests.enabled || s.yousign_users.enabled || s.yousign_webhook_subscriptions.enabled
}

/// The `[sources.yousign_*]` tables that enable every Yousign source, for a configuration
/// written for the simulator.
pub fn every_source_enabled() -> String {
    format!(
        "[sources.{}]\nenabled = true\n\n[sources.{}]\nenabled = true\n\n[sources.{}]\nenabled = true\n\n",
        SIGNATURE_REQUESTS.key,
        USERS.key,
        super::WEBHOOK_SUBSCRIPTIONS.key
    )
}
