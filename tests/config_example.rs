//! `config.example.toml` parses, and documents every field of every config struct.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use esign_collector::config::Config;

#[test]
fn example_parses() {
    let cfg = Config::load(Path::new("config.example.toml")).expect("config.example.toml must parse");
    assert!(cfg.sources.customer_events.enabled && cfg.sources.user_data.enabled);
}

#[path = "support/files.rs"]
mod files;
use files::rust_files;

/// Field names of the `pub struct …Config` structs in `src/config/`, `src/sinks/`, `src/http/` and `src/connectors/`.
fn config_fields() -> Vec<String> {
    let mut files = Vec::new();
    rust_files(std::path::Path::new("src/config"), &mut files);
    rust_files(std::path::Path::new("src/sinks"), &mut files);
    rust_files(std::path::Path::new("src/http"), &mut files);
    rust_files(std::path::Path::new("src/connectors"), &mut files);
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).unwrap();
        let mut in_struct = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with("pub struct") && t.ends_with('{') {
                in_struct = t.split_whitespace().nth(2).is_some_and(|n| n.ends_with("Config"));
            } else if t == "}" {
                in_struct = false;
            } else if let (true, Some((name, _))) = (in_struct, t.strip_prefix("pub ").and_then(|r| r.split_once(':')))
            {
                out.push(name.trim().to_owned());
            }
        }
    }
    out
}

#[test]
fn example_documents_every_field() {
    let example = std::fs::read_to_string("config.example.toml").unwrap();
    let fields = config_fields();
    assert!(fields.len() > 30, "field scan found too little: {fields:?}");
    let top_tables = [
        "docusign",
        "sources",
        "state",
        "rate_limit",
        "sinks",
        "demo",
        "customer_events",
        "user_data",
        "envelopes",
        "tenants",
        "network",
        "status",
        "metrics",
        "receivers",
        "connect",
        "yousign",
        "yousign_signature_requests",
        "yousign_users",
        "yousign_webhook_subscriptions",
        "shard",
    ];
    for f in fields {
        let as_key = format!("{f} =");
        let as_table = top_tables.contains(&f.as_str());
        assert!(
            example.contains(&as_key)
                || (as_table && (example.contains(&format!("[{f}")) || example.contains(&format!(".{f}]")))),
            "config.example.toml does not document `{f}`"
        );
    }
}
