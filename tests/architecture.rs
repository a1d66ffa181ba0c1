//! The layering of `src/`, checked on the source text (docs/architecture.md draws it):
//! - no import cycle between top-level modules (every `crate::<module>` reference, in code and
//!   in unit tests, is an edge);
//! - nothing outside `src/connectors/` names a connector's stream: the core, the sinks, the
//!   state and the commands know streams only by their descriptors. (Unit-test files named
//!   `tests.rs` may: the config tests parse real configuration text.)

#![allow(clippy::unwrap_used, reason = "tests may unwrap: a panic is a failed test")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use esign_collector::connectors;

#[path = "support/files.rs"]
mod files;
use files::rust_files;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file belongs to (`None` for the crate roots).
fn top_module(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy().into_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (name != "main" && name != "lib").then_some(name)
}

fn ident(text: &str) -> &str {
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    &text[..end]
}

/// The top-level modules `text` refers to: `crate::a::…` and `crate::{a::…, b, …}`.
fn references(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // e.g. `esign_collector::crate::` cannot occur; `$crate::` in macros can.
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Names at the group's first level.
            let mut depth = 0usize;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && depth == 0 && (c.is_ascii_alphabetic() || c == '_') => {
                        out.insert(ident(&group[j..]).to_owned());
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name.to_owned());
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let Some(top) = top_module(&f) else { continue };
        let text = std::fs::read_to_string(&f).unwrap();
        let to = edges.entry(top.clone()).or_default();
        to.extend(references(&text).into_iter().filter(|t| *t != top));
    }
    edges
}

/// A cycle through `node`, if one is reachable: the path back to a module on the stack.
fn find_cycle(
    node: &str,
    edges: &BTreeMap<String, BTreeSet<String>>,
    stack: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(i) = stack.iter().position(|s| s == node) {
        let mut cycle = stack[i..].to_vec();
        cycle.push(node.to_owned());
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    stack.push(node.to_owned());
    for next in edges.get(node).into_iter().flatten() {
        if let Some(c) = find_cycle(next, edges, stack, done) {
            return Some(c);
        }
    }
    stack.pop();
    done.insert(node.to_owned());
    None
}

#[test]
fn top_level_modules_form_no_cycle() {
    let edges = graph();
    assert!(edges.len() > 10, "the walk found too few modules: {edges:?}");
    assert!(edges["commands"].contains("core"), "the walk misses edges: {:?}", edges["commands"]);
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = find_cycle(node, &edges, &mut Vec::new(), &mut done) {
            panic!("import cycle between top-level modules: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_walk_sees_grouped_and_plain_references() {
    let r = references("use crate::a::X;\nuse crate::{b::Y, c, d::{e, f}};\nlet x = crate::g::h();");
    assert_eq!(r, ["a", "b", "c", "d", "g"].into_iter().map(String::from).collect());
    // A cycle is found and named.
    let edges: BTreeMap<String, BTreeSet<String>> = [("x", "y"), ("y", "z"), ("z", "x")]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), BTreeSet::from([b.to_owned()])))
        .collect();
    let c = find_cycle("x", &edges, &mut Vec::new(), &mut BTreeSet::new()).unwrap();
    assert_eq!(c, ["x", "y", "z", "x"]);
}

/// `customer_events` → `CustomerEvents`.
fn camel(key: &str) -> String {
    key.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}

fn is_word_at(text: &str, i: usize, len: usize) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !text[..i].chars().next_back().is_some_and(word) && !text[i + len..].chars().next().is_some_and(word)
}

/// Stream names (or their CamelCase forms) that are ordinary words and identifiers too.
const COMMON_WORDS: &[&str] = &["connect", "Connect"];

#[test]
fn nothing_outside_connectors_names_a_stream() {
    let mut names = BTreeSet::new();
    for s in connectors::streams() {
        names.extend([s.key.to_owned(), s.log_type.to_owned(), camel(s.key)]);
    }
    assert!(names.len() >= 6, "{names:?}");
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut found = Vec::new();
    let outside = |f: &&PathBuf| !f.starts_with(src().join("connectors")) && !f.ends_with("tests.rs");
    for f in files.iter().filter(outside) {
        let text = std::fs::read_to_string(f).unwrap();
        for name in &names {
            for (i, _) in text.match_indices(name.as_str()) {
                // A name that is also a common word (the DocuSign Connect stream is `connect`,
                // as in `TcpStream::connect`, prose "DocuSign Connect") names the stream only
                // as a string literal.
                let quoted = text[..i].ends_with('"') && text[i + name.len()..].starts_with('"');
                if is_word_at(&text, i, name.len()) && (!COMMON_WORDS.contains(&name.as_str()) || quoted) {
                    let line = text[..i].lines().count().max(1);
                    found.push(format!("{}:{line}: {name}", f.strip_prefix(src()).unwrap().display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "streams named outside src/connectors/:\n{}", found.join("\n"));
}
