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
mod writer;

use async_trait::async_trait;

use crate::exit::Exit;
use crate::format::{Format, FormatOptions};
use crate::sources::SourceKind;
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
/// is sent to each sink in turn, in the sink's format, and is confirmed only when all
/// confirmed it.
pub struct Fanout(tokio::sync::Mutex<Vec<(Box<dyn Sink>, Output)>>);

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout").finish_non_exhaustive()
    }
}

impl Fanout {
    /// Wraps `sinks`, each writing raw lines.
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Self {
        Self::with_outputs(sinks.into_iter().map(|s| (s, (Format::Raw, FormatOptions::default()))).collect())
    }

    /// Wraps `sinks` built from `cfgs` (same order), each in its configured format.
    pub fn configured(sinks: Vec<Box<dyn Sink>>, cfgs: &[SinkConfig]) -> Self {
        Self::with_outputs(sinks.into_iter().zip(cfgs.iter().map(SinkConfig::output)).collect())
    }

    fn with_outputs(sinks: Vec<(Box<dyn Sink>, Output)>) -> Self {
        Self(tokio::sync::Mutex::new(sinks))
    }

    /// Delivers `batch` (raw lines) to every sink, rendered once per format in use; `Ok` means
    /// every sink holds every line.
    ///
    /// # Errors
    /// The first sink's failure; the sinks after it are not tried (the page is not confirmed).
    pub async fn send(&self, batch: &Batch) -> Result<(), SinkError> {
        let mut sinks = self.0.lock().await;
        let mut rendered: Vec<(Output, Batch)> = Vec::new();
        for (sink, output) in sinks.iter_mut() {
            if output.0 == Format::Raw {
                sink.send(batch).await?;
                continue;
            }
            let i = rendered.iter().position(|(o, _)| o == output).unwrap_or_else(|| {
                rendered.push((*output, render(batch, *output)));
                rendered.len() - 1
            });
            sink.send(&rendered[i].1).await?;
        }
        Ok(())
    }
}

/// A raw batch in another format: each line mapped, a changed user giving two documents.
pub(crate) fn render(batch: &Batch, (format, opts): Output) -> Batch {
    let mut lines = Vec::with_capacity(batch.lines.len());
    for l in &batch.lines {
        // Raw lines are our own serialization of a JSON object: they always parse.
        let Ok(raw) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&l.json) else {
            lines.push(l.clone());
            continue;
        };
        for doc in crate::format::render(format, batch.source, &raw, &opts) {
            let json = serde_json::Value::Object(doc.value).to_string();
            lines.push(Line { event_id: doc.event_id, time: l.time.clone(), json });
        }
    }
    Batch { source: batch.source, lines }
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
