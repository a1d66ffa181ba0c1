//! `fetch` against the simulator: first fetch, incremental fetches without duplicates, the
//! per-fetch maximum, an empty stream, both Monitor generations, `--since`, `--all`.

mod common;

use common::{Harness, Opts, backlog, checkpoint, code, ids, lines, stderr};

#[test]
fn first_fetch_then_only_new_events() {
    let h = Harness::start(backlog(700), 0);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let first = ids(&out);
    assert_eq!(first, h.sim.event_ids(), "every event once, in stream order");
    let c1 = checkpoint(&h.state(), "customer_events").expect("checkpoint committed");

    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ids(&out).is_empty(), "nothing new, nothing delivered");

    h.sim.append_events(25);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let next = ids(&out);
    assert_eq!(next.len(), 25);
    assert_eq!(next, h.sim.event_ids()[700..].to_vec());
    assert_ne!(checkpoint(&h.state(), "customer_events").unwrap(), c1, "cursor moved");
}

#[test]
fn output_lines_carry_the_added_fields() {
    let h = Harness::start(backlog(20), 0);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for v in lines(&out) {
        assert_eq!(v["source_log_type"], "customerevent");
        assert_eq!(v["vendor"], "docusign");
        assert_eq!(v["product"], "monitor");
        assert_eq!(v["event_id"], v["eventId"]);
        assert!(v["_time"].as_str().unwrap().ends_with('Z'));
        assert!(v["_collected_at"].is_string());
        assert!(v["object"].is_string() && v["action"].is_string(), "API fields kept: {v}");
    }
}

#[test]
fn per_fetch_maximum_is_respected_and_the_rest_comes_next_run() {
    let h = Harness::start(backlog(450), 0);
    h.write_config(&Opts { extra: String::new(), ..Opts::default() });
    let cfg = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace("enabled = true\napi", "enabled = true\nmax_events_per_fetch = 200\napi");
    std::fs::write(&h.config, cfg).unwrap();
    let mut all = Vec::new();
    for expected in [200, 200, 50, 0] {
        let out = h.run(&["fetch"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let got = ids(&out);
        assert_eq!(got.len(), expected);
        all.extend(got);
    }
    assert_eq!(all, h.sim.event_ids());
}

#[test]
fn fetch_all_reads_past_the_maximum() {
    let h = Harness::start(backlog(4500), 0);
    let out = h.run(&["fetch", "--all"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out), h.sim.event_ids());
}

#[test]
fn empty_stream_is_fine() {
    let h = Harness::start(backlog(0), 0);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    h.sim.append_events(3);
    let out = h.run(&["fetch"]);
    assert_eq!(ids(&out).len(), 3);
}

#[test]
fn classic_v2_generation() {
    let h = Harness::start(backlog(300), 0);
    h.write_config(&Opts { api: "v2", ..Opts::default() });
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out), h.sim.event_ids());
    h.sim.append_events(4);
    let out = h.run(&["fetch"]);
    assert_eq!(ids(&out).len(), 4);
}

#[test]
fn since_starts_from_a_time() {
    let h = Harness::start(backlog(480), 0);
    let out = h.run(&["fetch", "--since", "6h"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let n = ids(&out).len();
    // 480 events over two days: about 60 in the last six hours.
    assert!((40..=80).contains(&n), "{n} events");
}
