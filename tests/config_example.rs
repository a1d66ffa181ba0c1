//! `config.example.toml` parses, and documents every field of every config struct (as a key
//! of its own, not inside a longer one); its commented `[receivers.yousign]` block documents
//! each of that table's keys and, uncommented, is a valid table for both API versions.
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
        let as_table = top_tables.contains(&f.as_str());
        assert!(
            documents_key(&example, &f)
                || (as_table && (example.contains(&format!("[{f}")) || example.contains(&format!(".{f}]")))),
            "config.example.toml does not document `{f}`"
        );
    }
}

/// A line of `text`, commented out or not, sets `key`, at its start or in an inline table
/// (`secret_env = …` or `{ strategy = … }`, not `client_secret_env = …`).
fn documents_key(text: &str, key: &str) -> bool {
    let set = format!("{key} =");
    text.lines().any(|l| {
        l.match_indices(&set).any(|(at, _)| {
            let before = l[..at].trim_end();
            before.is_empty() || before.ends_with(['#', '{', ','])
        })
    })
}

#[test]
fn documents_key_matches_whole_keys_only() {
    assert!(documents_key("# secret_env = \"X\"", "secret_env"));
    assert!(documents_key("secret_env = 1", "secret_env"));
    assert!(!documents_key("# client_secret_env = \"X\"", "secret_env"));
    assert!(!documents_key("# secret_env_file = 1", "secret_env"));
    assert!(documents_key("# auth = { strategy = \"basic\", user = \"u\" }", "user"));
    assert!(!documents_key("# the prose says secret_env = 1", "secret_env"));
}

/// The lines of the commented `# [receivers.yousign]` block, up to the first blank line,
/// uncommented; prose lines (no `key = `) left out.
fn yousign_receiver_block(example: &str) -> Vec<String> {
    let mut lines = example.lines().skip_while(|l| l.trim() != "# [receivers.yousign]");
    assert!(lines.next().is_some(), "config.example.toml has no commented [receivers.yousign] block");
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim_start_matches('#').trim().to_owned())
        .filter(|l| l.split_once(" = ").is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_')))
        .collect()
}

/// The field names of `pub struct YousignReceiverConfig`.
fn yousign_receiver_fields() -> Vec<String> {
    let text = std::fs::read_to_string("src/connectors/yousign/webhook/config.rs").unwrap();
    text.lines()
        .skip_while(|l| !l.starts_with("pub struct YousignReceiverConfig"))
        .skip(1)
        .take_while(|l| l.trim() != "}")
        .filter_map(|l| l.trim().strip_prefix("pub ").and_then(|r| r.split_once(':')).map(|(n, _)| n.to_owned()))
        .collect()
}

#[test]
fn the_yousign_receiver_block_documents_every_key_and_is_valid() {
    use esign_collector::connectors::yousign::webhook::YousignReceiverConfig;

    let example = std::fs::read_to_string("config.example.toml").unwrap();
    let block = yousign_receiver_block(&example);
    let fields = yousign_receiver_fields();
    assert!(fields.len() >= 13, "field scan found too little: {fields:?}");
    for f in &fields {
        assert!(documents_key(&block.join("\n"), f), "the [receivers.yousign] block does not document `{f}`");
    }
    let is = |l: &String, keys: &[&str]| keys.iter().any(|k| l.starts_with(&format!("{k} =")));
    // v3: the block without the v2 keys.
    let v3: Vec<&String> = block.iter().filter(|l| !is(l, &["basic_auth_user", "basic_auth_password_env"])).collect();
    let v3 = v3.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n");
    let cfg: YousignReceiverConfig = toml::from_str(&v3).unwrap_or_else(|e| panic!("{e}\n{v3}"));
    cfg.validate().unwrap_or_else(|e| panic!("v3: {e}"));
    // v2: without the secret keys, with api_version = "v2".
    let v2: Vec<String> = block
        .iter()
        .filter(|l| !is(l, &["secret_env", "secret_file", "secret_credential"]))
        .map(|l| if is(l, &["api_version"]) { "api_version = \"v2\"".to_owned() } else { l.clone() })
        .collect();
    let v2 = v2.join("\n");
    let cfg: YousignReceiverConfig = toml::from_str(&v2).unwrap_or_else(|e| panic!("{e}\n{v2}"));
    cfg.validate().unwrap_or_else(|e| panic!("v2: {e}"));
}
