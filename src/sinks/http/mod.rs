//! The http sink: a page of lines goes out as one or more batched, gzipped POSTs to an NDJSON
//! receiver, a Splunk HTTP Event Collector or an Elasticsearch / OpenSearch `_bulk` endpoint.
//! `send` returns `Ok` only when every request of the page was accepted, item by item where
//! the protocol reports items, and (HEC with indexer acknowledgement) indexed.
//!
//! # Architecture
//! - this file: [`HttpSinkConfig`] and its pure [`HttpSinkConfig::validate`], and [`build`].
//! - `setup.rs`: what `build` reads: credentials (env or file), custom headers, the TLS client.
//! - `sink.rs`: [`HttpSink`]: encodes the page, cuts it into requests under the size limits,
//!   splits a request the receiver found too large (413), polls HEC acknowledgements.
//! - `client.rs`: one request's tries: send, judge, back off (`Retry-After`, jitter), retry.
//! - `ndjson.rs`, `hec.rs`, `bulk.rs`: each preset's body and its reading of the reply.
//! - `error.rs`: [`HttpSinkError`], carried inside `SinkError::Io` so callers can downcast.

mod bulk;
mod client;
mod error;
mod hec;
mod ndjson;
mod setup;
mod sink;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Sink;
use crate::http::{RetryPolicy, tls};
use crate::values::{Bounded, ConfigError, HttpUrl, HumanDuration};

pub use error::HttpSinkError;
pub use sink::HttpSink;

/// `[[sinks]] type = "http"`. Holds no secret: tokens and passwords are named by environment
/// variable or file and read by [`build`], so the derived `Debug` prints nothing secret
/// (custom header values are hidden too, in case someone put a key there).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    /// Where to POST. `ndjson`: used as is. `splunk_hec`: the HEC base URL
    /// (`/services/collector/event` is appended unless the path already ends in
    /// `/services/collector` or `/services/collector/event`). `elasticsearch`: the cluster URL
    /// (`/_bulk` is appended unless present). Credentials in the URL are refused: use `auth`.
    pub url: HttpUrl,
    /// The receiver's protocol.
    #[serde(default)]
    pub preset: Preset,
    /// What each line is: `raw` (the record as it came plus our fields), `ecs` or `ocsf`
    /// (see docs/mapping.md).
    #[serde(default)]
    pub format: crate::format::Format,
    /// With `ecs` or `ocsf`: keep the raw line in `event.original` / `raw_data`.
    #[serde(default)]
    pub include_original: bool,
    /// How to authenticate. Optional for `ndjson` and `elasticsearch`, required for `splunk_hec`.
    #[serde(default)]
    pub auth: Option<HttpAuthConfig>,
    /// Extra request headers (e.g. a tenant id for a gateway). Not for secrets: use `auth`.
    #[serde(default)]
    pub headers: Headers,
    /// Request body compression. gzip typically shrinks event JSON 5–10×.
    #[serde(default)]
    pub compression: Compression,
    /// Largest request body before compression, each event's wrapper included; a page is cut into
    /// requests under it. An event larger than this on its own is sent alone.
    #[serde(default = "Bounded::of::<1_000_000>")]
    pub max_batch_bytes: Bounded<1024, 104_857_600>,
    /// Most events per request.
    #[serde(default = "Bounded::of::<2000>")]
    pub max_batch_events: Bounded<1, 100_000>,
    /// Timeout of one request, from connecting to the end of the reply.
    #[serde(default = "HumanDuration::secs::<30>")]
    pub timeout: HumanDuration,
    /// Retries of one request after 429, 5xx, HEC "busy", timeouts or connection errors.
    #[serde(default = "Bounded::of::<5>")]
    pub max_retries: Bounded<0, 20>,
    /// First backoff; it doubles per retry, with jitter.
    #[serde(default = "HumanDuration::secs::<1>")]
    pub initial_backoff: HumanDuration,
    /// Longest backoff between retries.
    #[serde(default = "HumanDuration::secs::<30>")]
    pub max_backoff: HumanDuration,
    /// Longest `Retry-After` honoured; a longer one fails the page at once (the checkpoint
    /// stays) instead of blocking the run.
    #[serde(default = "HumanDuration::secs::<300>")]
    pub max_wait: HumanDuration,
    /// Extra CA certificates (PEM bundle) to trust besides the built-in roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM, chain allowed) for mutual TLS; needs `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM); a group/other-readable file is warned about.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate. Lab use only: logged as a warning at every start.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// `splunk_hec`: the Splunk index; `elasticsearch`: the index or data stream. `{source}`
    /// becomes the source key (its `[sources.<key>]` name). HEC default: the token's
    /// default index; Elasticsearch default: `docusign-{source}`.
    #[serde(default)]
    pub index: Option<String>,
    /// `splunk_hec`: the sourcetype (`{source}` allowed). Default: `docusign:{source}`.
    #[serde(default)]
    pub sourcetype: Option<String>,
    /// `splunk_hec`: the `source` field. Default: the token's.
    #[serde(default)]
    pub source: Option<String>,
    /// `splunk_hec`: the `host` field. Default: the sending host, as HEC records it.
    #[serde(default)]
    pub host: Option<String>,
    /// `splunk_hec`: wait for indexer acknowledgement when the token has it enabled (the
    /// reply then carries an `ackId`). Default: true.
    #[serde(default)]
    pub acknowledgements: Option<bool>,
    /// `splunk_hec`: how long to wait for indexer acknowledgement. Default: 60s.
    #[serde(default)]
    pub ack_timeout: Option<HumanDuration>,
    /// `elasticsearch`: an ingest pipeline to run (`?pipeline=`).
    #[serde(default)]
    pub pipeline: Option<String>,
    /// `elasticsearch`: `index` names a data stream, so each document gets `@timestamp`
    /// (from `_time`) when it has none. Default: false.
    #[serde(default)]
    pub data_stream: Option<bool>,
}

/// `auth = { strategy = …, … }`: the credential is read from an environment variable or a file
/// at start, never written inline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAuthConfig {
    /// `bearer` (`Authorization: Bearer`), `splunk` (`Authorization: Splunk`, HEC tokens),
    /// `api_key` (`Authorization: ApiKey`, Elasticsearch's encoded API key) or `basic`.
    pub strategy: AuthStrategy,
    /// Environment variable holding the token (`bearer`, `splunk`, `api_key`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding the token; surrounding whitespace is ignored (`bearer`, `splunk`, `api_key`).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// User name (`basic`).
    #[serde(default)]
    pub user: Option<String>,
    /// Environment variable holding the password (`basic`).
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password (`basic`).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// The receiver's protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// One JSON object per line, `Content-Type: application/x-ndjson`; any 2xx accepts all.
    #[default]
    Ndjson,
    /// Splunk HTTP Event Collector, `/services/collector/event`.
    SplunkHec,
    /// Elasticsearch or OpenSearch `_bulk` with `create` and `_id` = event id.
    #[serde(alias = "opensearch")]
    Elasticsearch,
}

/// How `auth` presents the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthStrategy {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: Splunk <token>`.
    Splunk,
    /// `Authorization: ApiKey <token>` (Elasticsearch: the base64 `id:api_key`).
    ApiKey,
    /// `Authorization: Basic base64(user:password)`.
    Basic,
}

/// Request body compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// `Content-Encoding: gzip`.
    #[default]
    Gzip,
    /// Plain bodies.
    None,
}

/// Custom headers; `Debug` prints the names only.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Headers(pub BTreeMap<String, String>);

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// HEC acknowledgement wait when `ack_timeout` is not set.
const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(60);

impl HttpSinkConfig {
    /// Cross-field checks. Pure: reads no file or variable and contacts nothing.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming `sinks.<name>.<key>`.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let table = format!("sinks.{name}");
        let bad = |key: &str, message: String| ConfigError::invalid(format!("{table}.{key}"), message);
        let u = &self.url.0;
        if !u.username().is_empty() || u.password().is_some() {
            return Err(bad("url", "must not hold credentials: use `auth`".into()));
        }
        let only = |key: &str, set: bool, preset: Preset| {
            if set && self.preset != preset {
                return Err(bad(key, format!("applies only to preset = \"{}\"", preset.key())));
            }
            Ok(())
        };
        only("sourcetype", self.sourcetype.is_some(), Preset::SplunkHec)?;
        only("source", self.source.is_some(), Preset::SplunkHec)?;
        only("host", self.host.is_some(), Preset::SplunkHec)?;
        only("acknowledgements", self.acknowledgements.is_some(), Preset::SplunkHec)?;
        only("ack_timeout", self.ack_timeout.is_some(), Preset::SplunkHec)?;
        only("pipeline", self.pipeline.is_some(), Preset::Elasticsearch)?;
        only("data_stream", self.data_stream.is_some(), Preset::Elasticsearch)?;
        if self.index.is_some() && self.preset == Preset::Ndjson {
            return Err(bad("index", "applies only to preset = \"splunk_hec\" or \"elasticsearch\"".into()));
        }
        for (key, v) in [
            ("index", &self.index),
            ("sourcetype", &self.sourcetype),
            ("source", &self.source),
            ("host", &self.host),
            ("pipeline", &self.pipeline),
        ] {
            if let Some(v) = v {
                check_text(v).map_err(|m| bad(key, m))?;
            }
        }
        if self.preset == Preset::Elasticsearch
            && let Some(i) = &self.index
            && (i.chars().any(char::is_uppercase) || i.starts_with(['_', '-', '+']))
        {
            return Err(bad(
                "index",
                format!("{i:?} is not a valid Elasticsearch index name (lowercase, not starting with _ - +)"),
            ));
        }
        if self.preset == Preset::SplunkHec {
            hec::endpoint(&self.url).map_err(|m| bad("url", m))?;
            if self.auth.is_none() {
                return Err(bad(
                    "auth",
                    "is required by Splunk HEC: auth = { strategy = \"splunk\", token_file = … }".into(),
                ));
            }
        }
        if let Some(t) = self.ack_timeout {
            t.require_nonzero(format!("{table}.ack_timeout"))?;
        }
        if let Some(a) = &self.auth {
            a.validate().map_err(|(key, m)| bad(&format!("auth.{key}"), m))?;
        }
        setup::check_headers(&self.headers).map_err(|m| bad("headers", m))?;
        tls::client_cert(&table, self.cert_file.as_deref(), self.key_file.as_deref())?;
        self.timeout.require_nonzero(format!("{table}.timeout"))?;
        self.retry_policy().validate(&table)
    }

    /// How one request is retried.
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries.get(),
            initial_backoff: self.initial_backoff.get(),
            max_backoff: self.max_backoff.get(),
            max_wait: self.max_wait.get(),
        }
    }

    /// Whether to wait for HEC indexer acknowledgement.
    fn acknowledgements(&self) -> bool {
        self.acknowledgements.unwrap_or(true)
    }

    /// The HEC acknowledgement wait.
    fn ack_timeout(&self) -> Duration {
        self.ack_timeout.map_or(DEFAULT_ACK_TIMEOUT, HumanDuration::get)
    }
}

impl HttpAuthConfig {
    /// The strategy's required keys are present and the others absent.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        let token = u8::from(self.token_env.is_some()) + u8::from(self.token_file.is_some());
        let password = u8::from(self.password_env.is_some()) + u8::from(self.password_file.is_some());
        if self.strategy == AuthStrategy::Basic {
            if self.user.as_deref().is_none_or(str::is_empty) {
                return Err(("user", "is required by strategy = \"basic\"".into()));
            }
            if password != 1 {
                return Err(("password_env", "basic needs exactly one of password_env or password_file".into()));
            }
            if token != 0 {
                return Err(("strategy", "basic takes user and password_env/password_file, not token_*".into()));
            }
        } else {
            if token != 1 {
                return Err(("token_env", "needs exactly one of token_env or token_file".into()));
            }
            if password != 0 || self.user.is_some() {
                return Err(("strategy", "only strategy = \"basic\" takes user and password_*".into()));
            }
        }
        Ok(())
    }
}

impl Preset {
    /// The config spelling.
    pub fn key(self) -> &'static str {
        match self {
            Preset::Ndjson => "ndjson",
            Preset::SplunkHec => "splunk_hec",
            Preset::Elasticsearch => "elasticsearch",
        }
    }
}

/// A metadata value: non-empty, no control characters, only the `{source}` placeholder.
fn check_text(v: &str) -> Result<(), String> {
    if v.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{v:?} contains control characters"));
    }
    if v.replace("{source}", "").contains(['{', '}']) {
        return Err(format!("{v:?}: the only placeholder is {{source}}"));
    }
    Ok(())
}

/// Builds the sink: checks the settings, reads credentials and certificates. It does not
/// contact the receiver; the first page does.
///
/// # Errors
/// `ConfigError::Invalid` naming `sinks.<name>.<key>` for bad settings, an unset variable,
/// an unreadable or empty credential file, or an unusable certificate or key.
pub fn build(name: &str, cfg: &HttpSinkConfig) -> Result<Box<dyn Sink>, ConfigError> {
    Ok(Box::new(HttpSink::new(name, cfg)?))
}

#[cfg(test)]
mod tests;
