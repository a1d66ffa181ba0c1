//! `[[tenants]]`: several DocuSign accounts or organizations in one configuration. Each entry
//! names a tenant and overrides the `[docusign]` keys that differ for it (an MSSP usually shares
//! one integration key and key file and sets each customer's user, account and organization).
//! Without `[[tenants]]`, `[docusign]` alone is one tenant called `default`, as it always was.

use std::path::PathBuf;

use serde::Deserialize;

use super::{Config, ConfigError, DocusignConfig, Environment, HttpUrl};

/// The tenant name of a configuration without `[[tenants]]` (also its state namespace).
pub const DEFAULT_TENANT: &str = "default";

/// A tenant's name: a state namespace, a log field and the value of `--tenant`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TenantName(String);

impl TenantName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Self(s))
        } else {
            Err(format!(
                "invalid tenant name {s:?}: use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"
            ))
        }
    }
}

/// One `[[tenants]]` entry. Every key but `name` is optional and replaces the `[docusign]` key
/// of the same name for this tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant's name (state namespace, `--tenant` value, `tenant` field of logs and metrics).
    pub name: TenantName,
    /// `docusign.environment` for this tenant.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// `docusign.integration_key` for this tenant (omit to share the one in `[docusign]`).
    #[serde(default)]
    pub integration_key: Option<String>,
    /// The shard that collects this tenant (with `[shard]`), instead of its name's hash.
    #[serde(default)]
    pub shard: Option<u32>,
    /// `docusign.auth`: `jwt` or `authorization_code` for this tenant.
    #[serde(default)]
    pub auth: Option<super::AuthFlow>,
    /// `docusign.user_id`: the user impersonated in this tenant's account.
    #[serde(default)]
    pub user_id: Option<String>,
    /// `docusign.private_key_file` (replaces every key source set in `[docusign]`).
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// `docusign.private_key_env` (replaces every key source set in `[docusign]`).
    #[serde(default)]
    pub private_key_env: Option<String>,
    /// `docusign.private_key_credential`: a systemd credential name (replaces every key source
    /// set in `[docusign]`).
    #[serde(default)]
    pub private_key_credential: Option<String>,
    /// `docusign.private_key_files` (replaces every key source set in `[docusign]`).
    #[serde(default)]
    pub private_key_files: Option<Vec<PathBuf>>,
    /// `docusign.private_key_credentials` (replaces every key source set in `[docusign]`).
    #[serde(default)]
    pub private_key_credentials: Option<Vec<String>>,
    /// `docusign.client_secret_env` (replaces every secret source set in `[docusign]`).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// `docusign.client_secret_file` (replaces every secret source set in `[docusign]`).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// `docusign.client_secret_credential` (replaces every secret source set in `[docusign]`).
    #[serde(default)]
    pub client_secret_credential: Option<String>,
    /// `docusign.account_id` of this tenant.
    #[serde(default)]
    pub account_id: Option<String>,
    /// `docusign.organization_id` of this tenant.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// `docusign.scopes` for this tenant.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// `docusign.auth_base_url` for this tenant.
    #[serde(default)]
    pub auth_base_url: Option<HttpUrl>,
    /// `docusign.monitor_base_url` for this tenant.
    #[serde(default)]
    pub monitor_base_url: Option<HttpUrl>,
    /// `docusign.admin_base_url` for this tenant.
    #[serde(default)]
    pub admin_base_url: Option<HttpUrl>,
    /// `docusign.esignature_base_url` for this tenant.
    #[serde(default)]
    pub esignature_base_url: Option<HttpUrl>,
}

impl TenantConfig {
    /// Whether this tenant sets its own key (file, environment variable or credential).
    fn has_key_source(&self) -> bool {
        self.private_key_file.is_some()
            || self.private_key_env.is_some()
            || self.private_key_credential.is_some()
            || self.private_key_files.is_some()
            || self.private_key_credentials.is_some()
    }

    /// Whether this tenant sets its own client secret.
    fn has_secret_source(&self) -> bool {
        self.client_secret_env.is_some() || self.client_secret_file.is_some() || self.client_secret_credential.is_some()
    }

    /// `base` with this tenant's keys applied.
    fn apply(&self, base: &DocusignConfig) -> DocusignConfig {
        fn set<T: Clone>(slot: &mut Option<T>, v: Option<&T>) {
            if let Some(v) = v {
                *slot = Some(v.clone());
            }
        }
        let mut d = base.clone();
        if let Some(e) = self.environment {
            d.environment = e;
        }
        set(&mut d.integration_key, self.integration_key.as_ref());
        if let Some(flow) = self.auth {
            d.auth = flow;
        }
        set(&mut d.user_id, self.user_id.as_ref());
        // A tenant's key source replaces all of [docusign]'s, not only the one of the same
        // name: a shared credential plus the tenant's own file would be two sources.
        if self.has_key_source() {
            d.private_key_file.clone_from(&self.private_key_file);
            d.private_key_env.clone_from(&self.private_key_env);
            d.private_key_credential.clone_from(&self.private_key_credential);
            d.private_key_files = self.private_key_files.clone().unwrap_or_default();
            d.private_key_credentials = self.private_key_credentials.clone().unwrap_or_default();
        }
        if self.has_secret_source() {
            d.client_secret_env.clone_from(&self.client_secret_env);
            d.client_secret_file.clone_from(&self.client_secret_file);
            d.client_secret_credential.clone_from(&self.client_secret_credential);
        }
        set(&mut d.account_id, self.account_id.as_ref());
        set(&mut d.organization_id, self.organization_id.as_ref());
        set(&mut d.scopes, self.scopes.as_ref());
        set(&mut d.auth_base_url, self.auth_base_url.as_ref());
        set(&mut d.monitor_base_url, self.monitor_base_url.as_ref());
        set(&mut d.admin_base_url, self.admin_base_url.as_ref());
        set(&mut d.esignature_base_url, self.esignature_base_url.as_ref());
        d
    }
}

/// The tenant name of the `[yousign]` table (its state namespace).
pub const YOUSIGN_TENANT: &str = "yousign";

/// Which platform a tenant is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// DocuSign (`[docusign]`, `[[tenants]]`).
    Docusign,
    /// Yousign (`[yousign]`).
    Yousign,
}

impl Vendor {
    /// The connector's name (the `vendor` of its streams and lines).
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Docusign => crate::connectors::docusign::NAME,
            Vendor::Yousign => crate::connectors::yousign::NAME,
        }
    }
}

/// One tenant ready to collect: its name and a configuration whose `[docusign]` (or
/// `[yousign]`) is its own, the other vendor's table removed.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The tenant's name.
    pub name: String,
    /// The configuration as this tenant sees it (`tenants` emptied).
    pub cfg: Config,
    /// Whether it comes from `[[tenants]]`: its lines then carry `_tenant`.
    pub named: bool,
    /// Its platform.
    pub vendor: Vendor,
    /// The shard it names, if it does (else its name's hash decides).
    pub shard: Option<u32>,
}

impl Config {
    /// Every tenant, in configuration order: the DocuSign tenants (`[docusign]` alone is one
    /// called `default`; with `[[tenants]]`, one per entry), then the Yousign tenant
    /// `yousign` when `[yousign]` is set.
    pub fn tenants(&self) -> Vec<Tenant> {
        let mut out = Vec::new();
        if let Some(base) = &self.docusign {
            let mut cfg = self.clone();
            cfg.yousign = None;
            cfg.tenants = Vec::new();
            if self.tenants.is_empty() {
                out.push(Tenant {
                    name: DEFAULT_TENANT.to_owned(),
                    cfg,
                    named: false,
                    vendor: Vendor::Docusign,
                    shard: None,
                });
            } else {
                for t in &self.tenants {
                    let mut cfg = cfg.clone();
                    cfg.docusign = Some(t.apply(base));
                    out.push(Tenant {
                        name: t.name.as_str().to_owned(),
                        cfg,
                        named: true,
                        vendor: Vendor::Docusign,
                        shard: t.shard,
                    });
                }
            }
        }
        if self.yousign.is_some() {
            let mut cfg = self.clone();
            cfg.docusign = None;
            cfg.tenants = Vec::new();
            let named = !self.tenants.is_empty();
            let shard = self.yousign.as_ref().and_then(|y| y.shard);
            out.push(Tenant { name: YOUSIGN_TENANT.to_owned(), cfg, named, vendor: Vendor::Yousign, shard });
        }
        out
    }

    /// The tenants this process collects and those another shard does (with `[shard]`;
    /// without it, every tenant and none).
    ///
    /// # Errors
    /// `ConfigError::Invalid` (`shard.index`) when `"auto"` finds no index.
    pub fn sharded_tenants(&self) -> Result<(Vec<Tenant>, Vec<Tenant>), ConfigError> {
        let all = self.tenants();
        let Some(place) = self.shard.as_ref().map(super::ShardConfig::place).transpose()? else {
            return Ok((all, Vec::new()));
        };
        Ok(all.into_iter().partition(|t| place.owns(&t.name, t.shard)))
    }

    /// The tenants this process collects (every tenant when `[shard]` cannot be placed: the
    /// commands refuse to start then, see [`Config::select_tenants`]).
    pub fn owned_tenants(&self) -> Vec<Tenant> {
        self.sharded_tenants().map_or_else(|_| self.tenants(), |(owned, _)| owned)
    }

    /// The tenants a command works on: those of this shard, or the one `--tenant` names.
    ///
    /// # Errors
    /// `ConfigError::Argument` when no tenant has that name, or another shard collects it;
    /// `ConfigError::Invalid` when the shard cannot be placed.
    pub fn select_tenants(&self, only: Option<&str>) -> Result<Vec<Tenant>, ConfigError> {
        let (owned, skipped) = self.sharded_tenants()?;
        let Some(name) = only else { return Ok(owned) };
        if let Some(t) = skipped.iter().find(|t| t.name == name) {
            let count = self.shard.as_ref().map_or(1, |s| s.count.get());
            let home = t.shard.unwrap_or_else(|| super::shard_of(&t.name, count));
            return Err(ConfigError::Argument {
                arg: "--tenant".into(),
                message: format!("tenant {name:?} belongs to shard {home} of {count}, not to this one"),
            });
        }
        let names: Vec<String> = owned.iter().map(|t| t.name.clone()).collect();
        owned.into_iter().find(|t| t.name == name).map(|t| vec![t]).ok_or_else(|| ConfigError::Argument {
            arg: "--tenant".into(),
            message: format!("no tenant is called {name:?}; configured: {}", names.join(", ")),
        })
    }

    /// `[shard]`'s own checks, and each tenant's explicit `shard` below its `count`.
    pub(super) fn validate_shard(&self) -> Result<(), ConfigError> {
        let Some(s) = &self.shard else {
            if let Some((i, _)) = self.tenants.iter().enumerate().find(|(_, t)| t.shard.is_some()) {
                return Err(ConfigError::invalid(
                    format!("tenants[{i}].shard"),
                    "needs a [shard] table with its count",
                ));
            }
            return Ok(());
        };
        s.validate()?;
        let count = s.count.get();
        for (i, t) in self.tenants.iter().enumerate() {
            if let Some(k) = t.shard.filter(|k| *k >= count) {
                return Err(ConfigError::invalid(
                    format!("tenants[{i}].shard"),
                    format!("is {k}, but shards are numbered 0 to {} (shard.count = {count})", count - 1),
                ));
            }
        }
        if let Some(k) = self.yousign.as_ref().and_then(|y| y.shard).filter(|k| *k >= count) {
            return Err(ConfigError::invalid(
                "yousign.shard",
                format!("is {k}, but shards are numbered 0 to {} (shard.count = {count})", count - 1),
            ));
        }
        Ok(())
    }

    /// Checks every tenant's `[docusign]` as it will be used.
    pub(super) fn validate_tenants(&self) -> Result<(), ConfigError> {
        let Some(base) = &self.docusign else {
            if self.tenants.is_empty() {
                return Ok(());
            }
            return Err(ConfigError::invalid(
                "tenants",
                "needs [docusign]: each [[tenants]] entry overrides its keys for one DocuSign account",
            ));
        };
        if self.tenants.is_empty() {
            return base.validate(&self.sources);
        }
        for (i, t) in self.tenants.iter().enumerate() {
            let name = t.name.as_str();
            if self.tenants[..i].iter().any(|o| o.name == t.name) {
                return Err(ConfigError::invalid(
                    format!("tenants[{i}].name"),
                    format!("repeats {name:?}: tenant names must be unique"),
                ));
            }
            t.apply(base).validate(&self.sources).map_err(|e| match e {
                // `docusign.user_id` → `tenants[1].user_id (tenant "acme", or [docusign])`.
                ConfigError::Invalid { key, message } => ConfigError::Invalid {
                    key: format!(
                        "tenants[{i}].{} (tenant {name:?}, or [docusign] for all)",
                        key.trim_start_matches("docusign.")
                    ),
                    message,
                },
                other => other,
            })?;
        }
        Ok(())
    }
}
