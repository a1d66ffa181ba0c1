//! Cost of `format::render` per event: the simulator's Monitor events (plain and with the
//! actor's Admin record attached) through raw, ECS and OCSF, alone and followed by the JSON
//! serialization a sink does; then, from the line's text as the fanout gets it, the tree path
//! (parse, render, serialize) against the text path (`Stream::render_text`). Run with `cargo bench --bench format`; `-- --print` prints one
//! rendered event per OCSF class instead. Times are this thread's CPU time (the machine may be
//! shared), per event. Nothing here asserts timings.
#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;

use esign_collector::connectors::docusign::MONITOR_EVENTS;
use esign_collector::core::normalize::normalize;
use esign_collector::format::{Format, FormatOptions};
use esign_sim::docusign::{EventFeed, SimConfig, Simulator};
use serde_json::{Map, Value};

const EVENTS: usize = 2000;
/// Rounds under `cargo bench`; `cargo test` runs one round as a smoke test.
const ROUNDS: usize = 50;

/// This thread's CPU time in nanoseconds.
fn cpu_nanos() -> u128 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut t) };
    u128::try_from(t.tv_sec).unwrap() * 1_000_000_000 + u128::try_from(t.tv_nsec).unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn main() {
    let mut cfg = SimConfig::new(String::new());
    cfg.feed = EventFeed::Backlog { count: EVENTS, span: std::time::Duration::from_secs(86_400) };
    let sim = Simulator::new(cfg);
    let users: HashMap<String, Value> =
        sim.sample_users().into_iter().map(|u| (u["id"].as_str().unwrap().to_owned(), u)).collect();
    let plain: Vec<Map<String, Value>> = sim
        .sample_events(EVENTS)
        .into_iter()
        .map(|r| normalize(&MONITOR_EVENTS, obj(r), "2026-11-23T12:00:00.000Z").value)
        .collect();
    let enriched: Vec<Map<String, Value>> = plain
        .iter()
        .map(|l| {
            let mut l = l.clone();
            if let Some(u) = l.get("userId").and_then(Value::as_str).and_then(|id| users.get(id)) {
                l.insert("_user".into(), u.clone());
            }
            l
        })
        .collect();
    let opts = FormatOptions::default();
    let rounds = if std::env::args().any(|a| a == "--bench") { ROUNDS } else { 1 };

    if std::env::args().any(|a| a == "--print") {
        let mut by_class = BTreeMap::new();
        for line in &plain {
            let doc = MONITOR_EVENTS.render(Format::Ocsf, line, &opts).remove(0);
            let key = (doc.value["class_uid"].as_u64(), doc.value["activity_id"].as_u64());
            by_class.entry(key).or_insert_with(|| (line.clone(), doc.value));
        }
        for (line, ocsf) in by_class.values() {
            let ecs = MONITOR_EVENTS.render(Format::Ecs, line, &opts).remove(0).value;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"raw": line, "ecs": ecs, "ocsf": ocsf})).unwrap()
            );
        }
        return;
    }

    // The floor: serializing the raw line alone, as the raw format's sink does today.
    let start = cpu_nanos();
    for _ in 0..rounds {
        for line in &plain {
            black_box(serde_json::to_vec(line).unwrap());
        }
    }
    let floor = (cpu_nanos() - start) as f64 / (rounds * plain.len()) as f64;
    println!("serializing a plain raw line alone: {floor:.0} ns/ev");
    println!(
        "{:<8} {:<9} {:>14} {:>22} {:>12}",
        "format", "lines", "render ns/ev", "render+serialize ns/ev", "bytes/ev"
    );
    for (label, lines) in [("plain", &plain), ("enriched", &enriched)] {
        for format in [Format::Raw, Format::Ecs, Format::Ocsf] {
            let run = |serialize: bool| {
                let mut bytes = 0usize;
                let start = cpu_nanos();
                for _ in 0..rounds {
                    for line in lines {
                        for doc in MONITOR_EVENTS.render(format, line, &opts) {
                            if serialize {
                                bytes += serde_json::to_vec(&doc.value).unwrap().len();
                            } else {
                                black_box(&doc);
                            }
                        }
                    }
                }
                ((cpu_nanos() - start) as f64 / (rounds * lines.len()) as f64, bytes / (rounds * lines.len()))
            };
            run(true); // warm-up
            let (render_ns, _) = run(false);
            let (total_ns, bytes) = run(true);
            println!("{:<8} {label:<9} {render_ns:>14.0} {total_ns:>22.0} {bytes:>12}", format.as_str());
        }
    }

    text_table(&plain, &enriched, rounds, opts);
}

/// From the line's text, as the fanout renders it: the tree path (parse, render, serialize)
/// against the text path.
fn text_table(plain: &[Map<String, Value>], enriched: &[Map<String, Value>], rounds: usize, opts: FormatOptions) {
    println!("from the line's text, as the fanout renders it:");
    println!(
        "{:<8} {:<9} {:>26} {:>12} {:>8} {:>10}",
        "format", "lines", "tree parse+render+ser ns/ev", "text ns/ev", "speedup", "fallbacks"
    );
    let text = MONITOR_EVENTS.render_text.unwrap();
    for (label, lines) in [("plain", plain), ("enriched", enriched)] {
        let texts: Vec<String> = lines.iter().map(|l| serde_json::to_string(l).unwrap()).collect();
        for format in [Format::Ecs, Format::Ocsf] {
            let tree = || {
                let start = cpu_nanos();
                for _ in 0..rounds {
                    for t in &texts {
                        let raw: Map<String, Value> = serde_json::from_str(t).unwrap();
                        for doc in MONITOR_EVENTS.render(format, &raw, &opts) {
                            black_box(Value::Object(doc.value).to_string());
                        }
                    }
                }
                (cpu_nanos() - start) as f64 / (rounds * texts.len()) as f64
            };
            let direct = || {
                let mut fallbacks = 0usize;
                let start = cpu_nanos();
                for _ in 0..rounds {
                    for t in &texts {
                        // As the fanout does: one owned String per document.
                        let mut out = String::with_capacity(t.len() * 2);
                        if !text(format, t, opts, &mut out) {
                            fallbacks += 1;
                        }
                        black_box(out);
                    }
                }
                ((cpu_nanos() - start) as f64 / (rounds * texts.len()) as f64, fallbacks / rounds)
            };
            tree(); // warm-up
            direct();
            let tree_ns = tree();
            let (text_ns, fallbacks) = direct();
            println!(
                "{:<8} {label:<9} {tree_ns:>26.0} {text_ns:>12.0} {:>7.1}x {fallbacks:>10}",
                format.as_str(),
                tree_ns / text_ns
            );
        }
    }
}
