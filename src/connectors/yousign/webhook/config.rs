//! `[receivers.yousign]`: where the Yousign webhook listener binds, the subscription's secret
//! (v3 signs every message), or for the unsigned v2 webhooks a Basic password (v2 lets each
//! procedure's webhook carry headers, so `Authorization: Basic` can be set there; a secret in
//! the URL would end up in every proxy and access log, so there is no path-token mode); its
//! limits and optional TLS. Secrets are read when `run` starts, never at parse time, never
//! logged, never in `Debug`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::values::{Bounded, ConfigError, HumanDuration};

/// The table's name in error messages.
const TABLE: &str = "receivers.yousign";

/// `[receivers.yousign]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YousignReceiverConfig {
    /// The socket address to listen on. With `[receivers.connect]` on the same address, one
    /// listener serves both (on their own paths).
    pub listen: SocketAddr,
    /// The URL path the subscription's `endpoint` ends with.
    #[serde(default = "default_path")]
    pub path: String,
    /// `v3` (signed with the subscription's `secret_key`) or `v2` (unsigned: the Basic
    /// authentication set in each procedure's webhook headers instead).
    #[serde(default)]
    pub api_version: super::super::ApiVersion,
    /// v3: the environment variable holding the subscription's secret key.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// v3: a file holding the secret key (mode 0600).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// v3: a systemd credential holding the secret key.
    #[serde(default)]
    pub secret_credential: Option<String>,
    /// v2: the Basic authentication user set in each procedure's webhook headers.
    #[serde(default)]
    pub basic_auth_user: Option<String>,
    /// v2: the environment variable holding the Basic authentication password.
    #[serde(default)]
    pub basic_auth_password_env: Option<String>,
    /// Largest body accepted, in bytes (larger: 413).
    #[serde(default = "default_max_body")]
    pub max_body: Bounded<1024, 268_435_456>,
    /// Longest a client may take to send the headers, then the body. Yousign's first attempt
    /// gives up after 1 s, so the answer must come faster than that (it does: one commit).
    #[serde(default = "HumanDuration::secs::<10>")]
    pub read_timeout: HumanDuration,
    /// Most messages waiting for the sinks; past it Yousign is answered 503 and retries later.
    #[serde(default = "default_inbox_capacity")]
    pub inbox_capacity: Bounded<100, 10_000_000>,
    /// The server certificate chain (PEM), to terminate TLS here (Yousign posts to HTTPS
    /// endpoints with a valid certificate only; else put the listener behind a TLS proxy).
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of `tls_cert_file`.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
}

impl std::fmt::Debug for YousignReceiverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YousignReceiverConfig")
            .field("listen", &self.listen)
            .field("path", &self.path)
            .field("api_version", &self.api_version)
            .field("secret_env", &self.secret_env)
            .field("secret_file", &self.secret_file)
            .field("secret_credential", &self.secret_credential)
            .field("basic_auth_user", &self.basic_auth_user)
            .finish_non_exhaustive()
    }
}

fn default_path() -> String {
    "/yousign".into()
}

fn default_max_body() -> Bounded<1024, 268_435_456> {
    Bounded::of::<{ 1024 * 1024 }>()
}

fn default_inbox_capacity() -> Bounded<100, 10_000_000> {
    Bounded::of::<100_000>()
}

/// How a request is authenticated.
pub enum Check {
    /// v3: `X-Yousign-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`.
    Signature(SecretString),
    /// v2: Basic authentication.
    Basic(String, SecretString),
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Check::Signature(_) => "Signature(<redacted>)",
            Check::Basic(..) => "Basic(<redacted>)",
        })
    }
}

impl YousignReceiverConfig {
    /// Checks the keys that do not need the environment.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !crate::core::push::literal_path(&self.path) {
            return Err(ConfigError::invalid(
                format!("{TABLE}.path"),
                "must be a literal path starting with '/' (no ':', '*', '{', '}', '?' or '#')",
            ));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(ConfigError::invalid(
                format!("{TABLE}.tls_cert_file"),
                "and tls_key_file go together: set both, or neither (plain HTTP behind a TLS proxy)",
            ));
        }
        let v3 = self.secret_env.is_some() || self.secret_file.is_some() || self.secret_credential.is_some();
        let basic = self.basic_auth_user.is_some() || self.basic_auth_password_env.is_some();
        match self.api_version {
            super::super::ApiVersion::V3 => {
                if !v3 {
                    return Err(ConfigError::invalid(
                        format!("{TABLE}.secret_env"),
                        "is required (or secret_file, or secret_credential): the subscription's secret_key, which \
                         signs every v3 webhook (X-Yousign-Signature-256)",
                    ));
                }
                if basic {
                    return Err(ConfigError::invalid(
                        format!("{TABLE}.basic_auth_user"),
                        "is for api_version = \"v2\" (unsigned webhooks); v3 webhooks are signed",
                    ));
                }
            }
            super::super::ApiVersion::V2 => {
                if v3 {
                    return Err(ConfigError::invalid(
                        format!("{TABLE}.secret_env"),
                        "is for api_version = \"v3\": v2 webhooks are not signed",
                    ));
                }
                if self.basic_auth_user.is_none() || self.basic_auth_password_env.is_none() {
                    return Err(ConfigError::invalid(
                        format!("{TABLE}.basic_auth_user"),
                        "and basic_auth_password_env are required for api_version = \"v2\": v2 webhooks are unsigned, so \
                         without a password anyone could post events; set an Authorization: Basic header in each \
                         procedure's webhook configuration",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Joins relative file paths onto `folder`.
    pub fn resolve_paths(&mut self, folder: &Path) {
        for p in [&mut self.secret_file, &mut self.tls_cert_file, &mut self.tls_key_file].into_iter().flatten() {
            if p.is_relative() {
                *p = folder.join(&*p);
            }
        }
    }

    /// Reads the secret the configuration names.
    ///
    /// # Errors
    /// `ConfigError::Invalid` when the variable is unset, the file unreadable or shared.
    pub fn check(&self) -> Result<Check, ConfigError> {
        let env = |key: &str, var: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| SecretString::from(v.trim().to_owned()))
                .ok_or_else(|| {
                    ConfigError::invalid(format!("{TABLE}.{key}"), format!("names {var}, which is not set (or empty)"))
                })
        };
        if let (Some(user), Some(var)) = (&self.basic_auth_user, &self.basic_auth_password_env) {
            return Ok(Check::Basic(user.clone(), env("basic_auth_password_env", var)?));
        }
        crate::auth::read_secret(
            &format!("{TABLE}.secret"),
            self.secret_env.as_deref(),
            self.secret_file.as_deref(),
            self.secret_credential.as_deref(),
        )
        .map(Check::Signature)
    }
}
