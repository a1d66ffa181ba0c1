//! Placeholder: the http sink is being written.

use serde::Deserialize;

use super::Sink;
use crate::config::ConfigError;

/// `[[sinks]] type = "http"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {}

/// Builds the sink.
///
/// # Errors
/// `ConfigError` for unusable settings.
pub fn build(name: &str, cfg: &HttpSinkConfig) -> Result<Box<dyn Sink>, ConfigError> {
    let _ = (name, cfg);
    Err(ConfigError::Invalid { key: "sinks".into(), message: "http is not available yet".into() })
}
