//! Output formats, vendor-neutral: which shape a sink writes ([`Format`]), the options every
//! mapped format shares, and one output document ([`Doc`]). Each connector maps its own
//! streams (see `Stream::render`); `docs/mapping.md` is the field-by-field table.
//!
//! # Architecture
//! - this file: [`Format`], [`FormatOptions`], [`Doc`].
//! - `time.rs`: reading and writing event times.

pub mod time;

use serde_json::{Map, Value};

/// The ECS version the ECS mapping follows (`ecs.version`).
pub const ECS_VERSION: &str = "9.4.0";
/// The OCSF version the OCSF mapping follows (`metadata.version`).
pub const OCSF_VERSION: &str = "1.4.0";

/// The shape of output documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The normalized line: the API record as it came plus our fields.
    #[default]
    Raw,
    /// Elastic Common Schema documents.
    Ecs,
    /// Open Cybersecurity Schema Framework events.
    Ocsf,
}

impl Format {
    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Ecs => "ecs",
            Format::Ocsf => "ocsf",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Choices that apply to every format but raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FormatOptions {
    /// Keep the whole raw line as a JSON string: ECS `event.original`, OCSF `raw_data`.
    pub include_original: bool,
}

/// One output document.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// Its id: the line's `event_id`, or `chg:` + that for a user's change event.
    pub event_id: String,
    /// The document.
    pub value: Map<String, Value>,
}

impl Doc {
    /// A raw line object as its own document (its `event_id` as the id).
    pub fn raw(line: &Map<String, Value>) -> Self {
        let event_id = line.get("event_id").and_then(Value::as_str).unwrap_or_default().to_owned();
        Doc { event_id, value: line.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_parses_lowercase() {
        #[derive(serde::Deserialize)]
        struct C {
            f: Format,
        }
        let c: C = toml::from_str("f = \"ocsf\"").unwrap();
        assert_eq!(c.f, Format::Ocsf);
        assert!(toml::from_str::<C>("f = \"OCSF\"").is_err());
        assert_eq!(Format::default(), Format::Raw);
        assert_eq!(Format::Ecs.to_string(), "ecs");
    }
}
