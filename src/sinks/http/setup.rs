//! What `build` reads and prepares: the credential (from an environment variable or a file,
//! never from the config text), the custom headers, and the reqwest client with its TLS
//! settings. Nothing here contacts the receiver.

use std::path::Path;

use base64::Engine;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::{AuthStrategy, Headers, HttpAuthConfig, HttpSinkConfig};
use crate::http::ClientSettings;
use crate::http::redact;
use crate::http::tls::warn_if_shared;
use crate::values::ConfigError;

/// Headers the sink sets itself; a custom header must not override them.
const RESERVED: [&str; 7] = [
    "authorization",
    "content-type",
    "content-encoding",
    "content-length",
    "host",
    "transfer-encoding",
    "x-splunk-request-channel",
];

/// The `Authorization` header value, and the raw secrets to cut from any receiver reply we
/// quote in an error. `Debug` prints nothing of either.
pub(super) struct Credential {
    header: SecretString,
    hide: Vec<SecretString>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

impl Credential {
    /// Reads the credential `auth` names.
    ///
    /// # Errors
    /// `(key, message)`: the variable is unset or empty, the file unreadable or empty, or the
    /// value cannot travel in an HTTP header. The message never holds the secret.
    pub(super) fn read(sink: &str, auth: &HttpAuthConfig) -> Result<Self, (&'static str, String)> {
        let (secret, keys) = if auth.strategy == AuthStrategy::Basic {
            let keys = ("password_env", "password_file");
            (read_secret(sink, auth.password_env.as_deref(), auth.password_file.as_deref(), keys)?, keys)
        } else {
            let keys = ("token_env", "token_file");
            (read_secret(sink, auth.token_env.as_deref(), auth.token_file.as_deref(), keys)?, keys)
        };
        let raw = secret.expose_secret();
        let (header, mut hide) = match auth.strategy {
            AuthStrategy::Bearer => (format!("Bearer {raw}"), vec![]),
            AuthStrategy::Splunk => (format!("Splunk {raw}"), vec![]),
            AuthStrategy::ApiKey => (format!("ApiKey {raw}"), vec![]),
            AuthStrategy::Basic => {
                let user = auth.user.as_deref().unwrap_or_default();
                let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{raw}"));
                (format!("Basic {encoded}"), vec![SecretString::from(encoded)])
            }
        };
        if HeaderValue::from_str(&header).is_err() {
            let key = if auth.token_file.is_some() || auth.password_file.is_some() { keys.1 } else { keys.0 };
            return Err((key, "the credential holds characters an HTTP header cannot carry".into()));
        }
        hide.push(secret);
        Ok(Self { header: SecretString::from(header), hide })
    }

    /// The `Authorization` header, marked sensitive so that no HTTP-layer `Debug` prints it.
    pub(super) fn header(&self) -> Option<(HeaderName, HeaderValue)> {
        // Checked in `read`, so this never fails; on failure the receiver's 401 says so.
        let mut v = HeaderValue::from_str(self.header.expose_secret()).ok()?;
        v.set_sensitive(true);
        Some((AUTHORIZATION, v))
    }

    /// `text` with every occurrence of the secret cut out (a receiver may echo what it got).
    pub(super) fn scrub(&self, text: &str) -> String {
        redact::cut_secrets(text, self.hide.iter().map(ExposeSecret::expose_secret))
    }
}

/// Reads the secret from `env` or `file` (exactly one is set, checked by `validate`); `keys`
/// are the config keys to blame, `(env key, file key)`.
fn read_secret(
    sink: &str,
    env: Option<&str>,
    file: Option<&Path>,
    keys: (&'static str, &'static str),
) -> Result<SecretString, (&'static str, String)> {
    if let Some(var) = env {
        let v =
            std::env::var(var).map_err(|_| (keys.0, format!("environment variable {var} is not set or not UTF-8")))?;
        if v.trim().is_empty() {
            return Err((keys.0, format!("environment variable {var} is empty")));
        }
        return Ok(SecretString::from(v.trim().to_owned()));
    }
    let Some(path) = file else {
        return Err((keys.1, "no credential source is set".into()));
    };
    let k = keys.1;
    let meta = std::fs::metadata(path).map_err(|e| (k, format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err((k, format!("{} is not a regular file", path.display())));
    }
    warn_if_shared(&format!("sinks.{sink}.auth.{k}"), path, &meta);
    let text = std::fs::read_to_string(path).map_err(|e| (k, format!("cannot read {}: {e}", path.display())))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err((k, format!("{} is empty", path.display())));
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

/// Custom header names and values are valid and do not override the sink's own.
///
/// # Errors
/// A message naming the header (never its value, which might be a secret).
pub(super) fn check_headers(h: &Headers) -> Result<(), String> {
    header_map(h).map(|_| ())
}

/// The custom headers as a map.
///
/// # Errors
/// See [`check_headers`].
pub(super) fn header_map(h: &Headers) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (k, v) in &h.0 {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("{k:?} is not a valid header name"))?;
        if RESERVED.contains(&name.as_str()) {
            return Err(format!("{k:?} is set by the sink itself (use `auth` for credentials)"));
        }
        let value = HeaderValue::from_str(v).map_err(|_| format!("the value of {k:?} is not a valid header value"))?;
        map.insert(name, value);
    }
    Ok(map)
}

/// The reqwest client: timeouts, no redirects, extra CA, client certificate, verification.
///
/// Redirects are off: reqwest turns a POST into a GET on 301/302, and a 2xx from that GET
/// would confirm a page nobody received.
///
/// # Errors
/// `ConfigError::Invalid` naming the file key when a PEM cannot be read or used.
pub(super) fn client(name: &str, cfg: &HttpSinkConfig) -> Result<reqwest::Client, ConfigError> {
    let timeout = cfg.timeout.get();
    crate::http::build_client(&ClientSettings {
        table: &format!("sinks.{name}"),
        timeout,
        connect_timeout: timeout.min(std::time::Duration::from_secs(10)),
        follow_redirects: false,
        proxy: None,
        no_proxy: &[],
        ca_file: cfg.ca_file.as_deref(),
        ca_file_only: false,
        client_cert: cfg.cert_file.as_deref().zip(cfg.key_file.as_deref()),
        insecure_skip_verify: cfg.insecure_skip_verify,
    })
}
