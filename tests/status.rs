//! `status`: fresh, stale, failing and never-run sources, table and JSON, exit codes, and
//! reading the state file while a daemon holds its lock.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{Harness, Opts, backlog, code, stderr};
use esign_collector::state::{RunOutcome, Store};
use esign_sim::docusign::{Fault, FaultKind, Route};
use serde_json::Value;

fn status_json(h: &Harness, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["status", "--output", "json"];
    args.extend_from_slice(extra);
    let out = h.run(&args);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    (code(&out), doc, stderr(&out))
}

fn source<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["sources"].as_array().unwrap().iter().find(|s| s["source"] == name).unwrap()
}

#[test]
fn never_run_without_a_state_file() {
    let h = Harness::start(backlog(10), 0);
    let (c, doc, err) = status_json(&h, &[]);
    assert_eq!(c, 10, "{err}");
    assert!(err.contains("no state in"), "{err}");
    assert_eq!(doc["healthy"], false);
    assert_eq!(source(&doc, "customer_events")["verdict"], "never-run");
    assert!(!h.state().exists(), "status creates nothing");
    let out = h.run(&["status"]);
    assert_eq!(code(&out), 10);
    assert!(String::from_utf8_lossy(&out.stdout).contains("never-run"));
}

#[test]
fn fresh_after_a_fetch_then_stale_by_threshold() {
    let h = Harness::start(backlog(120), 0);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (c, doc, err) = status_json(&h, &[]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["healthy"], true);
    let s = source(&doc, "customer_events");
    assert_eq!(s["verdict"], "ok");
    assert_eq!(s["events_total"], 120);
    assert_eq!(s["last_run"]["events"], 120);
    assert!(s["last_run"]["pages"].as_u64().unwrap() >= 1);
    assert_eq!(s["consecutive_failures"], 0);
    assert_eq!(s["last_error"], Value::Null);
    assert!(s["event_lag_seconds"].as_i64().is_some(), "{s}");
    assert!(s["checkpoint_age_seconds"].as_i64().is_some(), "{s}");
    // A second run with nothing new adds nothing to the total.
    assert_eq!(code(&h.run(&["fetch"])), 0);
    let (_, doc, _) = status_json(&h, &[]);
    assert_eq!(source(&doc, "customer_events")["events_total"], 120);
    assert_eq!(source(&doc, "customer_events")["last_run"]["events"], 0);

    let out = h.run(&["status"]);
    assert_eq!(code(&out), 0);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(table.starts_with("TENANT"), "{table}");
    assert!(table.contains("customer_events") && table.contains(" ok "), "{table}");
    assert!(table.contains("120/0"), "{table}");

    // The flag overrides the configured threshold: zero makes any success stale.
    let (c, doc, err) = status_json(&h, &["--stale-after", "0s"]);
    assert_eq!(c, 10, "{err}");
    assert_eq!(source(&doc, "customer_events")["verdict"], "stale");
    assert!(err.contains("default/customer_events: stale"), "{err}");
}

#[test]
fn a_failed_source_is_failing_with_its_error_retries_and_429s() {
    let h = Harness::start(backlog(30), 0);
    assert_eq!(code(&h.run(&["fetch"])), 0);
    h.sim.push_fault(Fault {
        route: Route::Monitor,
        kind: FaultKind::Status { code: 429, retry_after: None },
        times: 100,
    });
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("Source run failed; summary.") && e.contains("retries=5") && e.contains("throttled=6"), "{e}");
    let (c, doc, err) = status_json(&h, &[]);
    assert_eq!(c, 10, "{err}");
    let s = source(&doc, "customer_events");
    assert_eq!(s["verdict"], "failing");
    assert_eq!(s["consecutive_failures"], 1);
    assert_eq!(s["last_run"]["retries"], 5);
    assert_eq!(s["last_run"]["throttled"], 6);
    assert_eq!(s["last_error"]["exit_code"], 5);
    assert!(s["last_error"]["message"].as_str().unwrap().contains("429"), "{s}");
    assert!(s["last_success_at"].is_string(), "the earlier success stays on record");
    let table = String::from_utf8_lossy(&h.run(&["status"]).stdout).into_owned();
    assert!(table.contains("failing") && table.contains("last error (exit 5"), "{table}");

    h.sim.clear_faults();
    assert_eq!(code(&h.run(&["fetch"])), 0);
    let (c, doc, _) = status_json(&h, &[]);
    assert_eq!(c, 0);
    assert_eq!(source(&doc, "customer_events")["consecutive_failures"], 0);
    assert_eq!(source(&doc, "customer_events")["last_error"]["exit_code"], 5);
}

#[test]
fn an_old_success_is_stale_and_a_disabled_source_does_not_count() {
    let h = Harness::start(backlog(10), 0);
    h.write_config(&Opts { users: true, ..Opts::default() });
    {
        // Run records as a collector that stopped two hours ago left them.
        let mut store = Store::open(&h.state()).unwrap();
        let ended = Utc::now() - chrono::Duration::hours(2);
        let o = RunOutcome {
            started_at: ended - chrono::Duration::seconds(3),
            ended_at: ended,
            events: 7,
            pages: 1,
            retries: 0,
            throttled: 0,
            error: None,
            backlog: false,
        };
        store.record_run("default", "customer_events", &o).unwrap();
        store.record_run("default", "user_data", &o).unwrap();
    }
    let (c, doc, err) = status_json(&h, &[]);
    assert_eq!(c, 10, "{err}");
    assert_eq!(source(&doc, "customer_events")["verdict"], "stale");
    assert_eq!(source(&doc, "user_data")["verdict"], "stale");
    assert_eq!(doc["stale_after_seconds"], 3600);
    let (c, doc, _) = status_json(&h, &["--stale-after", "3h"]);
    assert_eq!(c, 0);
    assert_eq!(source(&doc, "user_data")["last_run"]["duration_ms"], 3000);
    // Configured threshold.
    let mut o = Opts { users: true, ..Opts::default() };
    o.extra = "[status]\nstale_after = \"5h\"\n".into();
    h.write_config(&o);
    assert_eq!(status_json(&h, &[]).0, 0);
    // Only enabled sources count: with users off, a stale user_data is not shown.
    o.users = false;
    o.extra = "[status]\nstale_after = \"90m\"\n".into();
    h.write_config(&o);
    let (c, doc, _) = status_json(&h, &[]);
    assert_eq!(c, 10);
    assert_eq!(doc["sources"].as_array().unwrap().len(), 1);
}

#[test]
fn status_reads_while_a_daemon_holds_the_lock() {
    let h = Harness::start(backlog(50), 0);
    let mut daemon = h.spawn(&["run"], Stdio::null(), Stdio::piped());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (c, doc, err) = status_json(&h, &[]);
        if c == 0 {
            assert_eq!(source(&doc, "customer_events")["events_total"], 50);
            break;
        }
        assert_eq!(c, 10, "{err}");
        assert!(Instant::now() < deadline, "the daemon's first cycle never showed up: {err}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The lock is really held: a second collector is refused, status is not.
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert_eq!(code(&h.run(&["status"])), 0);
    daemon.signal(libc::SIGTERM);
    assert!(daemon.wait(Duration::from_secs(30)).success(), "{}", daemon.stderr());
}
