//! Connectors: one folder per platform. A connector owns its sources (and, later, receivers),
//! its auth wiring, its API quirks and error hints, and its ECS/OCSF mapping; it declares each
//! source's [`Stream`] descriptor. Nothing outside this folder names a stream.
//!
//! The registry below lists the connectors, one line each.

pub mod docusign;

use crate::stream::Stream;

/// Every connector's streams, one line per connector.
pub static REGISTRY: &[&[&Stream]] = &[docusign::STREAMS];

/// Every stream of every connector.
pub fn streams() -> impl Iterator<Item = &'static Stream> {
    REGISTRY.iter().flat_map(|s| s.iter().copied())
}

/// The stream whose key (config/state name) or `get-events --kind` value is `name`.
pub fn stream(name: &str) -> Option<&'static Stream> {
    streams().find(|s| s.key == name || s.cli_name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_and_log_types_are_unique() {
        let all: Vec<&Stream> = streams().collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.key, b.key);
                assert_ne!(a.cli_name(), b.cli_name());
            }
        }
        assert!(all.iter().all(|s| stream(s.key) == Some(*s) && stream(&s.cli_name()) == Some(*s)));
    }
}
