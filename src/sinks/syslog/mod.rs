//! Placeholder: the syslog sink is being written.

use serde::Deserialize;

use super::Sink;
use crate::config::ConfigError;

/// `[[sinks]] type = "syslog"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSinkConfig {}

/// Builds the sink.
///
/// # Errors
/// `ConfigError` for unusable settings.
pub fn build(name: &str, cfg: &SyslogSinkConfig) -> Result<Box<dyn Sink>, ConfigError> {
    let _ = (name, cfg);
    Err(ConfigError::Invalid { key: "sinks".into(), message: "syslog is not available yet".into() })
}
