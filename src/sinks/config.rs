//! What a `[[sinks]]` entry is: [`SinkConfig`], chosen by `type`, with each sink's own table,
//! the stdout sink's table, and the checks that span a sink's keys.

use serde::Deserialize;

use super::file::FileSinkConfig;
use super::http::HttpSinkConfig;
use super::syslog::{self, SyslogSinkConfig};
use crate::format::{Format, FormatOptions};
use crate::values::ConfigError;

/// One `[[sinks]]` entry, chosen by its `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    /// JSON lines on standard output.
    Stdout(StdoutSinkConfig),
    /// JSON lines appended to a file, fsynced before confirming.
    File(FileSinkConfig),
    /// RFC 5424/3164 over TCP, TLS, RELP or UDP (boxed: far larger than the other variants).
    Syslog(Box<SyslogSinkConfig>),
    /// Batched POSTs: NDJSON, Splunk HEC, Elasticsearch bulk (boxed, likewise).
    Http(Box<HttpSinkConfig>),
}

/// `[[sinks]] type = "stdout"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StdoutSinkConfig {
    /// What each line is: `raw` (the record as it came plus our fields), `ecs` or `ocsf`
    /// (see docs/mapping.md).
    pub format: Format,
    /// With `ecs` or `ocsf`: keep the raw line in `event.original` / `raw_data`.
    pub include_original: bool,
}

/// A sink's output: its format and options.
pub type Output = (Format, FormatOptions);

impl SinkConfig {
    /// The name of the `i`-th sink in logs, errors and metrics: its type and position, e.g.
    /// `syslog[1]` (there is one standard output, so it is just `stdout`).
    pub fn name(&self, i: usize) -> String {
        match self {
            SinkConfig::Stdout(_) => "stdout".to_owned(),
            SinkConfig::File(_) => format!("file[{i}]"),
            SinkConfig::Syslog(_) => format!("syslog[{i}]"),
            SinkConfig::Http(_) => format!("http[{i}]"),
        }
    }

    /// The format this sink writes.
    pub fn output(&self) -> Output {
        let (format, include_original) = match self {
            SinkConfig::Stdout(c) => (c.format, c.include_original),
            SinkConfig::File(c) => (c.format, c.include_original),
            SinkConfig::Syslog(c) => (c.format, c.include_original),
            SinkConfig::Http(c) => (c.format, c.include_original),
        };
        (format, FormatOptions { include_original })
    }

    /// Cross-field checks of the sink called `name`. Pure: reads no file.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming `sinks.<name>.<key>`.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        match self {
            SinkConfig::Http(h) => h.validate(name),
            SinkConfig::Syslog(s) => syslog::validate(name, s),
            SinkConfig::Stdout(_) | SinkConfig::File(_) => Ok(()),
        }
    }
}

/// The sinks of a configuration without `[[sinks]]`: one stdout sink.
pub fn default_sinks() -> Vec<SinkConfig> {
    vec![SinkConfig::Stdout(StdoutSinkConfig::default())]
}

/// Checks the `[[sinks]]` list: at least one sink, each valid.
///
/// # Errors
/// `ConfigError::Invalid` naming `sinks` or the sink's key.
pub fn validate(cfgs: &[SinkConfig]) -> Result<(), ConfigError> {
    if cfgs.is_empty() {
        return Err(ConfigError::invalid("sinks", "is empty: configure at least one [[sinks]]"));
    }
    cfgs.iter().enumerate().try_for_each(|(i, c)| c.validate(&c.name(i)))
}
