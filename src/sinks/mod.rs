//! Sinks: where normalized lines go. `Sink::send` returning `Ok` **is** the acknowledgement:
//! it returns only after the receiver accepted every line of the batch (written and flushed,
//! acknowledged, or answered 2xx). The collector commits the checkpoint only after every
//! configured sink returned `Ok`.
//!
//! # Architecture
//! - this file: the [`Sink`] trait, [`Batch`], [`SinkError`], building the configured sinks.
//! - `writer.rs`: a sink over any `Write` (stdout today; files reuse it).

pub mod file;
pub mod http;
pub mod syslog;
#[cfg(test)]
pub(crate) mod testkit;
mod writer;

use async_trait::async_trait;

use crate::config::{ConfigError, SinkConfig};
use crate::format::{Format, FormatOptions};
use crate::stream::Stream;

pub use writer::WriterSink;

/// Sink problems: the page is not confirmed and the checkpoint stays.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing failed.
    #[error("sink {sink}: {source}")]
    Io {
        /// Which sink.
        sink: String,
        /// Why.
        source: std::io::Error,
    },
}

/// One output line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The event's dedup key.
    pub event_id: String,
    /// The event's time (`_time`, RFC 3339 UTC), for sinks whose envelope carries a time.
    pub time: String,
    /// The JSON object, one line, no trailing newline.
    pub json: String,
}

/// One page's lines, from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Where the lines come from.
    pub source: &'static Stream,
    /// The lines.
    pub lines: Vec<Line>,
}

/// Where lines go.
#[async_trait]
pub trait Sink: Send {
    /// A name for logs and errors.
    fn name(&self) -> &str;

    /// Delivers `batch`; `Ok` means the receiver holds every line.
    ///
    /// # Errors
    /// `SinkError` when any line may not have arrived.
    async fn send(&mut self, batch: &Batch) -> Result<(), SinkError>;
}

/// `[[sinks]] type = "stdout"`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {
    /// What each line is: `raw` (the record as it came plus our fields), `ecs` or `ocsf`
    /// (see docs/mapping.md).
    #[serde(default)]
    pub format: Format,
    /// With `ecs` or `ocsf`: keep the raw line in `event.original` / `raw_data`.
    #[serde(default)]
    pub include_original: bool,
}

/// A sink's output: its format and options.
pub type Output = (Format, FormatOptions);

impl SinkConfig {
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
}

/// Builds the configured sinks.
///
/// # Errors
/// `ConfigError` when a sink's settings are unusable (e.g. an unreadable certificate).
pub fn build(cfgs: &[SinkConfig]) -> Result<Vec<Box<dyn Sink>>, ConfigError> {
    cfgs.iter()
        .enumerate()
        .map(|(i, c)| -> Result<Box<dyn Sink>, ConfigError> {
            // Named by type and position, e.g. `syslog[1]`, in logs and errors.
            Ok(match c {
                SinkConfig::Stdout(_) => Box::new(WriterSink::new("stdout", std::io::stdout())),
                SinkConfig::File(f) => Box::new(file::FileSink::open(&format!("file[{i}]"), f)?),
                SinkConfig::Syslog(s) => syslog::build(&format!("syslog[{i}]"), s)?,
                SinkConfig::Http(h) => http::build(&format!("http[{i}]"), h)?,
            })
        })
        .collect()
}
