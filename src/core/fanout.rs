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

    /// Delivers `batch` (raw lines) to every sink, rendered once per format in use (each raw
    /// line is parsed once, for every mapped format at once); `Ok` means every sink holds
    /// every line.
    ///
    /// # Errors
    /// The first sink's failure; the sinks after it are not tried (the page is not confirmed).
    pub async fn send(&self, batch: &Batch) -> Result<(), SinkError> {
        let mut sinks = self.0.lock().await;
        let mut outputs: Vec<Output> = Vec::new();
        for (_, o) in sinks.iter() {
            if o.0 != Format::Raw && !outputs.contains(o) {
                outputs.push(*o);
            }
        }
        let rendered = render_all(batch, &outputs);
        for (sink, output) in sinks.iter_mut() {
            match outputs.iter().position(|o| o == output) {
                Some(i) => sink.send(&rendered[i]).await?,
                None => sink.send(batch).await?,
            }
        }
        Ok(())
    }
}

/// `batch` in each of `outputs`, in one pass: a line is rendered straight from its text where
/// the stream can (`Stream::render_text`), else parsed once, mapped in every output that needs
/// the tree, and dropped before the next (a page's parsed objects are never all held at once).
fn render_all(batch: &Batch, outputs: &[Output]) -> Vec<Batch> {
    let mut out: Vec<Batch> =
        outputs.iter().map(|_| Batch { source: batch.source, lines: Vec::with_capacity(batch.lines.len()) }).collect();
    if outputs.is_empty() {
        return out;
    }
    for l in &batch.lines {
        // Parsed only when some output needs the tree.
        let mut tree: Option<Option<Map<String, Value>>> = None;
        for ((format, opts), b) in outputs.iter().zip(out.iter_mut()) {
            if let Some(text) = batch.source.render_text.filter(|_| *format != Format::Raw) {
                let mut json = String::with_capacity(l.json.len() * 2);
                if text(*format, &l.json, *opts, &mut json) {
                    b.lines.push(Line { event_id: l.event_id.clone(), time: l.time.clone(), json });
                    continue;
                }
            }
            // Raw lines are our own serialization of a JSON object: they always parse.
            let Some(raw) = tree.get_or_insert_with(|| serde_json::from_str(&l.json).ok()) else {
                b.lines.push(l.clone());
                continue;
            };
            for doc in batch.source.render(*format, raw, opts) {
                let json = Value::Object(doc.value).to_string();
                b.lines.push(Line { event_id: doc.event_id, time: l.time.clone(), json });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{Stream, TEST};

    /// Renders a line as text unless it asks for the tree; the tree gives the raw line.
    static TEXT: Stream = Stream {
        render_text: Some(|format, json, _, out| {
            if json.contains("tree") {
                return false;
            }
            out.push_str("{\"text\":\"");
            out.push_str(format.as_str());
            out.push_str("\"}");
            true
        }),
        ..TEST
    };

    #[test]
    fn lines_take_the_text_path_unless_it_declines() {
        let line = |id: &str, json: &str| Line { event_id: id.into(), time: "t".into(), json: json.into() };
        let batch =
            Batch { source: &TEXT, lines: vec![line("a", r#"{"id":"a"}"#), line("b", r#"{"id":"b","x":"tree"}"#)] };
        let opts = FormatOptions::default();
        let rendered = render_all(&batch, &[(Format::Ecs, opts), (Format::Ocsf, opts)]);
        let lines: Vec<Vec<(&str, &str)>> =
            rendered.iter().map(|b| b.lines.iter().map(|l| (l.event_id.as_str(), l.json.as_str())).collect()).collect();
        assert_eq!(lines[0], [("a", r#"{"text":"ecs"}"#), ("", r#"{"id":"b","x":"tree"}"#)]);
        assert_eq!(lines[1], [("a", r#"{"text":"ocsf"}"#), ("", r#"{"id":"b","x":"tree"}"#)]);
        assert!(render_all(&batch, &[]).is_empty());
    }
}
