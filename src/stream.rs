//! What a source is, as everything outside its connector sees it: its names, how its events
//! are identified and deduplicated, where their time is, and how its lines map to ECS and
//! OCSF. Each connector declares one `static` [`Stream`] per source; the core, the sinks, the
//! state and the commands read these descriptors and never name a stream themselves.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::format::{Doc, Format, FormatOptions};

/// How a stream's records are identified, which decides how they are deduplicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// Each record is an event whose id is in this field; delivered ids are kept in the
    /// state's id ledger. A record without one gets a content fingerprint (`fp:` + hash).
    Field(&'static str),
    /// Each record is the current state of an entity whose id is in this field: a record
    /// unchanged since the stored one is dropped, a changed one becomes its own event (with
    /// `_change`), and the latest record of each entity is kept in the state.
    Snapshot(&'static str),
    /// Each record is an event identified by the values of these fields together (a status
    /// change: entity id, status and time); its `event_id` is a hash of them, and delivered
    /// ids are kept in the id ledger as for [`Identity::Field`]. Such records take the tree
    /// path of normalization.
    Composite(&'static [&'static str]),
}

/// Enrichment: an event's acting entity joined with the stored snapshot of that entity.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    /// The record field naming the acting entity (a snapshot stream's entity id).
    pub field: &'static str,
    /// What of the stored snapshot record an event carries (as `_user`).
    pub summary: fn(&Map<String, Value>) -> Map<String, Value>,
}

/// Renders one raw line's JSON text in a format straight into text: appends one document and
/// returns `true`, or appends nothing and returns `false` (see [`Stream::render_text`]).
pub type RenderText = fn(Format, &str, FormatOptions, &mut String) -> bool;

/// A source's descriptor.
#[derive(Debug)]
pub struct Stream {
    /// Config and state key (`[sources.<key>]`, the checkpoint's name) and the `source` of
    /// logs, metrics and run records.
    pub key: &'static str,
    /// `source_log_type` written into every line.
    pub log_type: &'static str,
    /// `vendor` written into every line.
    pub vendor: &'static str,
    /// `product` written into every line.
    pub product: &'static str,
    /// How records are identified and deduplicated.
    pub identity: Identity,
    /// The record field with the event's time (RFC 3339); `None`: a record's `_time` is when
    /// it was collected.
    pub time_field: Option<&'static str>,
    /// The enrichment join, if the stream has one.
    pub actor: Option<Actor>,
    /// The columns `get-events` shows first: field names, `a/b` for two fields joined by `/`.
    pub columns: &'static [&'static str],
    /// Renders one raw line object in `ecs` or `ocsf`: usually one document; a snapshot record
    /// that changed gives its state record and a change event.
    pub render: fn(Format, &Map<String, Value>, FormatOptions) -> Vec<Doc>,
    /// Renders one raw line (its JSON text) in `ecs` or `ocsf` straight into text, without
    /// building a tree: appends exactly one document (whose id is the line's `event_id`) and
    /// returns `true`, or appends nothing and returns `false` when the line needs `render`
    /// (which stays the reference). `None`: the stream always takes `render`.
    pub render_text: Option<RenderText>,
    /// The newest event time a stored cursor of this stream records, if its cursors do.
    pub newest_event: fn(&str) -> Option<DateTime<Utc>>,
}

impl Stream {
    /// The `get-events --kind` value: the key with dashes.
    pub fn cli_name(&self) -> String {
        self.key.replace('_', "-")
    }

    /// Renders one raw line object in `format` (raw: the line itself).
    pub fn render(&self, format: Format, raw: &Map<String, Value>, opts: &FormatOptions) -> Vec<Doc> {
        match format {
            Format::Raw => vec![Doc::raw(raw)],
            other => (self.render)(other, raw, *opts),
        }
    }
}

impl PartialEq for Stream {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Stream {}

impl std::hash::Hash for Stream {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key)
    }
}

/// A stream descriptor for tests in any module: events identified by `id`, no enrichment,
/// every format rendered as the raw line.
#[cfg(test)]
pub(crate) static TEST: Stream = Stream {
    key: "test_events",
    log_type: "testevent",
    vendor: "testvendor",
    product: "testproduct",
    identity: Identity::Field("id"),
    time_field: Some("time"),
    actor: None,
    columns: &["id", "time"],
    render: |_, raw, _| vec![Doc::raw(raw)],
    render_text: None,
    newest_event: |_| None,
};

/// A snapshot stream descriptor for tests in any module: entities identified by `id`.
#[cfg(test)]
pub(crate) static TEST_SNAPSHOT: Stream = Stream {
    key: "test_users",
    log_type: "testusers",
    identity: Identity::Snapshot("id"),
    time_field: None,
    columns: &["id"],
    ..TEST
};
