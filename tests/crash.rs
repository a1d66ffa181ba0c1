//! Crash consistency: the real binary is killed again and again — with SIGKILL at random
//! moments and by abort at each named commit point (mid-page, after the sink confirmed but
//! before the checkpoint commit, right after the commit) — then run healthy, and everything
//! delivered is compared with everything the simulator served.
//!
//! Invariants: nothing lost; the checkpoint never moves backwards; duplicates only for pages
//! in flight when it died; once healthy, the checkpoint advances to the end.
//!
//! The failpoints exist only in a build with the `failpoints` feature (`scripts/test` builds
//! with it): `cargo test --features failpoints --test crash`.
#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Harness, Opts, backlog, checkpoint};
use esign_sim::docusign::Simulator;
use rand::{Rng, SeedableRng};

const KILLS: usize = 200;
const PAGE: usize = 100;

fn position(state: &std::path::Path) -> (i64, u64) {
    checkpoint(state, "customer_events")
        .and_then(|c| serde_json::from_str::<serde_json::Value>(&c).ok())
        .and_then(|v| v["cursor"].as_str().and_then(Simulator::cursor_position))
        .unwrap_or((0, 0))
}

fn delivered(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn line in the output");
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn two_hundred_kills_lose_nothing() {
    let seed: u64 = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let h = Harness::start(backlog(3000), 0);
    let out = h.dir.path().join("events.jsonl");
    h.write_config(&Opts {
        extra: format!("[[sinks]]\ntype = \"file\"\npath = \"{}\"\n", out.display()),
        ..Opts::default()
    });
    let cfg = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace("enabled = true\napi", &format!("enabled = true\npage_size = {PAGE}\napi"));
    std::fs::write(&h.config, cfg).unwrap();

    let started = Instant::now();
    let (mut kills, mut risky, mut runs) = (0usize, 0usize, 0usize);
    let mut by_point: HashMap<&str, usize> = HashMap::new();
    let mut last = position(&h.state());
    while kills < KILLS {
        assert!(started.elapsed() < Duration::from_secs(600), "too slow: {kills} kills in 10 minutes");
        if rng.gen_bool(0.5) {
            h.sim.append_events(rng.gen_range(1..=2 * PAGE));
        }
        let point = ["before_send", "after_send", "after_commit", "sigkill"][rng.gen_range(0..4)];
        let mut run = if point == "sigkill" {
            h.spawn(&["fetch", "--all"], Stdio::null(), Stdio::null())
        } else {
            let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("esign-collector"));
            c.arg("--config")
                .arg(&h.config)
                .args(["fetch", "--all"])
                .env("ESIGN_COLLECTOR_FAILPOINT", format!("{point}:{}", rng.gen_range(1..=4)))
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            common::Spawned::from(c.spawn().unwrap())
        };
        if point == "sigkill" {
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..250)));
            run.signal(libc::SIGKILL);
        }
        let status = run.wait(Duration::from_secs(60));
        runs += 1;
        let died = std::os::unix::process::ExitStatusExt::signal(&status).is_some();
        assert!(died || status.code() == Some(0), "run {runs} ({point}) failed: {status:?}");
        if died {
            kills += 1;
            *by_point.entry(point).or_default() += 1;
            // Only a death between the sink's write and the commit can repeat a page.
            if matches!(point, "after_send" | "sigkill") {
                risky += 1;
            }
        }
        let now = position(&h.state());
        assert!(now >= last, "checkpoint moved backwards after run {runs} ({point})");
        last = now;
    }

    // Healthy again: the checkpoint advances to the end and everything is there.
    let out_run = h.run(&["fetch", "--all"]);
    assert_eq!(common::code(&out_run), 0, "{}", common::stderr(&out_run));
    let served = h.sim.event_ids();
    let got = delivered(&out);
    let unique: std::collections::HashSet<&String> = got.iter().collect();
    let missing: Vec<_> = served.iter().filter(|id| !unique.contains(id)).collect();
    assert!(missing.is_empty(), "{} events lost, e.g. {:?}", missing.len(), missing.first());
    assert_eq!(unique.len(), served.len(), "nothing delivered that was not served");
    let dups = got.len() - served.len();
    println!(
        "runs={runs} kills={kills} by_point={by_point:?} served={} delivered_lines={} duplicates={dups} risky_deaths={risky} elapsed={:?}",
        served.len(),
        got.len(),
        started.elapsed()
    );
    assert!(dups <= risky * PAGE, "{dups} duplicates, more than the {risky} pages in flight could explain");
    let again = h.run(&["fetch", "--all"]);
    assert_eq!(common::code(&again), 0);
    assert_eq!(delivered(&out).len(), got.len(), "a healthy run after the end repeats nothing");
}
