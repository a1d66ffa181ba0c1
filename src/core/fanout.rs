//! Every configured sink behind one lock: a page goes to each sink in the sink's format,
//! rendered once per format in use, and is confirmed only when every sink confirmed it.

use serde_json::{Map, Value};

use crate::format::{Format, FormatOptions};
use crate::sinks::SinkConfig;
use crate::sinks::{Batch, Line, Output, Sink, SinkError};

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

    /// Delivers `batch` (raw lines) to every sink, rendered once per format in use (the raw
    /// lines are parsed once for all mapped formats); `Ok` means every sink holds every line.
    ///
    /// # Errors
    /// The first sink's failure; the sinks after it are not tried (the page is not confirmed).
    pub async fn send(&self, batch: &Batch) -> Result<(), SinkError> {
        let mut sinks = self.0.lock().await;
        let mut parsed: Option<Vec<Option<Map<String, Value>>>> = None;
        let mut rendered: Vec<(Output, Batch)> = Vec::new();
        for (sink, output) in sinks.iter_mut() {
            if output.0 == Format::Raw {
                sink.send(batch).await?;
                continue;
            }
            let i = if let Some(i) = rendered.iter().position(|(o, _)| o == output) {
                i
            } else {
                let objects = parsed.get_or_insert_with(|| parse(batch));
                rendered.push((*output, render_parsed(batch, objects, *output)));
                rendered.len() - 1
            };
            sink.send(&rendered[i].1).await?;
        }
        Ok(())
    }
}

/// Each raw line as an object (`None` for a line that is not one, which passes unchanged).
fn parse(batch: &Batch) -> Vec<Option<Map<String, Value>>> {
    batch.lines.iter().map(|l| serde_json::from_str(&l.json).ok()).collect()
}

/// A raw batch in another format: each line mapped, a changed snapshot giving two documents.
pub fn render(batch: &Batch, output: Output) -> Batch {
    render_parsed(batch, &parse(batch), output)
}

fn render_parsed(batch: &Batch, objects: &[Option<Map<String, Value>>], (format, opts): Output) -> Batch {
    let mut lines = Vec::with_capacity(batch.lines.len());
    for (l, raw) in batch.lines.iter().zip(objects) {
        // Raw lines are our own serialization of a JSON object: they always parse.
        let Some(raw) = raw else {
            lines.push(l.clone());
            continue;
        };
        for doc in batch.source.render(format, raw, &opts) {
            let json = Value::Object(doc.value).to_string();
            lines.push(Line { event_id: doc.event_id, time: l.time.clone(), json });
        }
    }
    Batch { source: batch.source, lines }
}
