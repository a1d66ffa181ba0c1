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
mod writer;

use async_trait::async_trait;

use crate::config::{ConfigError, SinkConfig};
use crate::sources::SourceKind;

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
    pub source: SourceKind,
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

/// Every configured sink behind one lock, shared by the tenants collected concurrently: a page
/// is sent to each sink in turn and is confirmed only when all confirmed it.
pub struct Fanout(tokio::sync::Mutex<Vec<Box<dyn Sink>>>);

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout").finish_non_exhaustive()
    }
}

impl Fanout {
    /// Wraps `sinks`.
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Self {
        Self(tokio::sync::Mutex::new(sinks))
    }

    /// Delivers `batch` to every sink; `Ok` means every sink holds every line.
    ///
    /// # Errors
    /// The first sink's failure; the sinks after it are not tried (the page is not confirmed).
    pub async fn send(&self, batch: &Batch) -> Result<(), SinkError> {
        let mut sinks = self.0.lock().await;
        for sink in sinks.iter_mut() {
            sink.send(batch).await?;
        }
        Ok(())
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
                SinkConfig::Stdout => Box::new(WriterSink::new("stdout", std::io::stdout())),
                SinkConfig::File(f) => Box::new(file::FileSink::open(&format!("file[{i}]"), f)?),
                SinkConfig::Syslog(s) => syslog::build(&format!("syslog[{i}]"), s)?,
                SinkConfig::Http(h) => http::build(&format!("http[{i}]"), h)?,
            })
        })
        .collect()
}
