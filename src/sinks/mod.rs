//! Sinks: where normalized lines go. `Sink::send` returning `Ok` **is** the acknowledgement:
//! it returns only after the receiver accepted every line of the batch (written and flushed,
//! acknowledged, or answered 2xx). The collector commits the checkpoint only after every
//! configured sink returned `Ok`.
//!
//! Sinks own their configuration types ([`SinkConfig`] and each `*SinkConfig`); `config`
//! imports them, never the reverse. Below `config` and `error`, sinks name their setup
//! problems with `crate::values::ConfigError`.
//!
//! # Architecture
//! - this file: the [`Sink`] trait, [`Batch`], [`SinkError`], building the configured sinks.
//! - `config.rs`: [`SinkConfig`] (one `[[sinks]]` entry), the stdout sink's table, checks.
//! - `writer.rs`: a sink over any `Write` (stdout today; files reuse it).
//! - `file.rs`, `syslog/`, `http/`: the other sinks, each with its config table.

mod config;
pub mod file;
pub mod http;
pub mod syslog;
#[cfg(test)]
pub(crate) mod testkit;
mod writer;

use async_trait::async_trait;

use crate::exit::Exit;

use crate::stream::Stream;
use crate::values::ConfigError;

pub use config::{Output, SinkConfig, StdoutSinkConfig, default_sinks, validate};
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

impl SinkError {
    /// Every sink failure ends the process with the same code: the checkpoint did not move.
    pub fn exit_code(&self) -> Exit {
        Exit::Sink
    }
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

/// Builds the configured sinks.
///
/// # Errors
/// `ConfigError` when a sink's settings are unusable (e.g. an unreadable certificate).
pub fn build(cfgs: &[SinkConfig]) -> Result<Vec<Box<dyn Sink>>, ConfigError> {
    cfgs.iter()
        .enumerate()
        .map(|(i, c)| -> Result<Box<dyn Sink>, ConfigError> {
            let name = c.name(i);
            Ok(match c {
                SinkConfig::Stdout(_) => Box::new(WriterSink::new(&name, std::io::stdout())),
                SinkConfig::File(f) => Box::new(file::FileSink::open(&name, f)?),
                SinkConfig::Syslog(s) => syslog::build(&name, s)?,
                SinkConfig::Http(h) => http::build(&name, h)?,
            })
        })
        .collect()
}
