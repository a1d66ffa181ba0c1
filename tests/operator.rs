//! What a new operator tripped over: each test here failed on the build before the fix.
//! Rate-limit pauses, sources that block each other, a timer that falls behind, `--since`
//! that skips, the first-run log, the end of the Monitor stream, and a fault storm drained
//! with nothing lost under the default configuration.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Harness, Opts, backlog, checkpoint, code, ids, lines, stderr};
use esign_sim::docusign::{Chaos, EventFeed, Fault, FaultKind, Route};

fn status_verdict(h: &Harness, source: &str) -> (i32, String) {
    let out = h.run(&["status", "--output", "json"]);
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let s = doc["sources"].as_array().unwrap().iter().find(|s| s["source"] == source).unwrap();
    (code(&out), s["verdict"].as_str().unwrap().to_owned())
}

/// Item 1: a 429 with `Retry-After: 1` and `X-BurstLimit-Remaining: 0` waits a second, not
/// the 30-second burst window (three of them cost 90 s before).
#[test]
fn a_429_waits_what_retry_after_says_not_the_burst_window() {
    let h = Harness::start(backlog(100), 0);
    h.write_config(&Opts::default());
    h.sim.push_fault(Fault { route: Route::Monitor, kind: FaultKind::Throttle { retry_after: 1 }, times: 3 });
    let started = Instant::now();
    let out = h.run(&["fetch"]);
    let took = started.elapsed();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out).len(), 100);
    assert!(took < Duration::from_secs(20), "three 1-second Retry-Afters took {took:?}");
    assert!(h.sim.stats().status_429 >= 3);
}

/// Item 2: a slow Admin API does not hold the events back: both sources run at once.
#[test]
fn a_slow_user_source_does_not_delay_events() {
    let h = Harness::start(backlog(300), 20);
    h.write_config(&Opts { users: true, ..Opts::default() });
    h.sim.push_fault(Fault { route: Route::Admin, kind: FaultKind::Slow { millis: 3000 }, times: 1 });
    let out = h.run(&["--log-format", "json", "fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let order: Vec<String> = stderr(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "Source collected.")
        .map(|v| v["source"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, ["customer_events", "user_data"], "events finish while users still wait");
    let l = lines(&out);
    assert_eq!(l.iter().filter(|v| v["source_log_type"] == "customerevent").count(), 300);
    assert_eq!(l.iter().filter(|v| v["source_log_type"] == "auditusers").count(), 20);
}

/// Item 3: a busy account is drained by one `fetch` (no 2,000-event cap by default); a run cut
/// by `state.max_run_time` ends with a backlog that `status` reports, and the next run goes on.
#[test]
fn fetch_drains_the_stream_and_a_spent_budget_leaves_a_backlog_verdict() {
    let h = Harness::start(backlog(5001), 0);
    h.write_config(&Opts::default());
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out).len(), 5001, "one run drains past 2,000");
    assert_eq!(status_verdict(&h, "customer_events"), (0, "ok".to_owned()));

    // Pages of 500, each slowed to 700 ms, within a 1-second budget: two pages, then stop.
    h.sim.append_events(3000);
    let cfg = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace(
            "[sources.customer_events]\nenabled = true\n",
            "[sources.customer_events]\nenabled = true\npage_size = 500\n",
        )
        .replace("[state]\n", "[state]\nmax_run_time = \"1s\"\n");
    std::fs::write(&h.config, cfg).unwrap();
    h.sim.push_fault(Fault { route: Route::Monitor, kind: FaultKind::Slow { millis: 700 }, times: 100 });
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = ids(&out).len();
    assert!((500..3000).contains(&got), "the budget stops the run with data left: {got}");
    assert!(stderr(&out).contains("Run-time budget (state.max_run_time) spent with data left"), "{}", stderr(&out));
    assert_eq!(status_verdict(&h, "customer_events"), (10, "backlog".to_owned()));
    h.sim.clear_faults();
    // The next run with the default budget: a 1-second one could be spent again on a loaded
    // machine, and the rest would then take more than one run.
    let cfg = std::fs::read_to_string(&h.config).unwrap().replace("max_run_time = \"1s\"\n", "");
    std::fs::write(&h.config, cfg).unwrap();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(got + ids(&out).len(), 3000, "the next run delivers the rest, nothing twice");
    assert_eq!(status_verdict(&h, "customer_events"), (0, "ok".to_owned()));
}

/// Item 4: `--since` later than the checkpoint is refused before any request (unless
/// `--skip-backlog`); future and ancient times are exit 2; the first user snapshot is kept.
#[test]
fn since_never_skips_without_being_told() {
    // 5,001 events over two days; a cap of 2,000 leaves the checkpoint well before "2h ago".
    let h = Harness::start(backlog(5001), 30);
    h.write_config(&Opts::default());
    let capped = std::fs::read_to_string(&h.config).unwrap().replace(
        "[sources.customer_events]\nenabled = true\n",
        "[sources.customer_events]\nenabled = true\nmax_events_per_fetch = 2000\n",
    );
    std::fs::write(&h.config, &capped).unwrap();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out).len(), 2000);
    let before = checkpoint(&h.state(), "customer_events");
    let requests = h.sim.stats().monitor_requests;

    let out = h.run(&["fetch", "--since", "2h"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("would skip up to"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--skip-backlog"), "{}", stderr(&out));
    assert!(ids(&out).is_empty());
    assert_eq!(checkpoint(&h.state(), "customer_events"), before, "the checkpoint stays");
    assert_eq!(h.sim.stats().monitor_requests, requests, "refused before any request");

    for (since, says) in [("+2d", "future"), ("999999d", "2021-01-01"), ("10d", "7 days")] {
        let out = h.run(&["fetch", "--since", since]);
        assert_eq!(code(&out), 2, "--since {since}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "--since {since}: {}", stderr(&out));
    }
    assert_eq!(h.sim.stats().monitor_requests, requests);
    assert_eq!(h.sim.stats().token_requests, 1, "no request at all for a refused --since");

    // An earlier --since re-reads (the ledger drops what was delivered); --skip-backlog skips.
    let out = h.run(&["fetch", "--since", "2h", "--skip-backlog"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("skips up to"), "{}", stderr(&out));

    // Users: on a fresh state --since does not replace the first full snapshot.
    let h = Harness::start(backlog(10), 30);
    h.write_config(&Opts { users: true, events: false, ..Opts::default() });
    let out = h.run(&["fetch", "--since", "1h"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out).len(), 30, "every user: the first snapshot");
}

/// Item 9: a new state file is created at the current version without an "upgraded" line.
#[test]
fn a_new_state_file_is_not_upgraded() {
    let h = Harness::start(backlog(5), 0);
    h.write_config(&Opts::default());
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("schema upgraded"), "{}", stderr(&out));
}

/// Item 10: an empty page whose `endCursor` moved is not the end of the stream.
#[test]
fn an_empty_page_whose_cursor_moved_is_not_the_end() {
    for api in ["org-stream", "v2"] {
        let h = Harness::start(backlog(50), 0);
        h.write_config(&Opts { api, ..Opts::default() });
        h.sim.push_fault(Fault { route: Route::Monitor, kind: FaultKind::EmptyPage, times: 2 });
        let out = h.run(&["fetch"]);
        assert_eq!(code(&out), 0, "{api}: {}", stderr(&out));
        assert_eq!(ids(&out).len(), 50, "{api}: the events after two empty pages");
    }
}

/// Item 10: `state.interval` under a minute is refused with DocuSign's reason.
#[test]
fn an_interval_under_a_minute_is_refused() {
    let h = Harness::start(backlog(5), 0);
    h.write_config(&Opts::default());
    let text = std::fs::read_to_string(&h.config).unwrap().replace("[state]\n", "[state]\ninterval = \"10s\"\n");
    std::fs::write(&h.config, text).unwrap();
    let out = h.run(&["run"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("once a minute"), "{}", stderr(&out));
}

/// The fault storm: 429 on 20 % of every route's replies (`Retry-After: 1`, burst spent),
/// 5 % 503, 5 % truncated bodies, and one forced 401 on each API, drained by timer-style
/// `fetch` runs of the default configuration, each within a 60-second budget, with nothing
/// lost, on both Monitor generations.
#[test]
fn a_fault_storm_drains_with_nothing_lost_under_the_default_config() {
    for api in ["org-stream", "v2"] {
        let h = Harness::start(EventFeed::Backlog { count: 5001, span: Duration::from_secs(2 * 86_400) }, 60);
        // Default [rate_limit], timeouts and caps: only the endpoints, ids and key are set.
        let text = format!(
            "[docusign]\nenvironment = \"developer\"\nintegration_key = \"{}\"\nuser_id = \"{}\"\naccount_id = \"{}\"\n\
             organization_id = \"{}\"\nprivate_key_file = \"{}\"\nauth_base_url = \"{b}\"\nmonitor_base_url = \"{b}\"\n\
             admin_base_url = \"{b}/management\"\n\n[sources.customer_events]\napi = \"{api}\"\n\n\
             [sources.user_data]\nenabled = true\n\n[state]\npath = \"{}\"\nmax_run_time = \"60s\"\n",
            h.sc.integration_key,
            h.sc.user_id,
            h.sc.account_id,
            h.sc.organization_id,
            h.dir.path().join("key.pem").display(),
            h.state().display(),
            b = h.base,
        );
        std::fs::write(&h.config, text).unwrap();
        h.sim.set_chaos(Some(Chaos {
            throttle_percent: 20,
            retry_after: 1,
            server_error_percent: 5,
            truncated_percent: 5,
            seed: 11,
        }));
        for route in [Route::Monitor, Route::Admin] {
            h.sim.push_fault(Fault { route, kind: FaultKind::Status { code: 401, retry_after: None }, times: 1 });
        }
        let mut events = Vec::new();
        let mut users = 0;
        for run in 1..=5 {
            let started = Instant::now();
            let out = h.cmd(&["fetch"]).timeout(Duration::from_secs(90)).output().unwrap();
            let took = started.elapsed();
            assert_eq!(code(&out), 0, "{api} run {run}: {}", stderr(&out));
            assert!(took < Duration::from_secs(75), "{api} run {run} took {took:?}");
            for v in lines(&out) {
                match v["source_log_type"].as_str() {
                    Some("customerevent") => events.push(v["event_id"].as_str().unwrap().to_owned()),
                    Some("auditusers") => users += 1,
                    _ => {}
                }
            }
            if status_verdict(&h, "customer_events").1 == "ok" && status_verdict(&h, "user_data").1 == "ok" {
                break;
            }
        }
        let delivered: HashSet<&str> = events.iter().map(String::as_str).collect();
        let expected: Vec<String> = h.sim.event_ids();
        let missing = expected.iter().filter(|id| !delivered.contains(id.as_str())).count();
        assert_eq!(missing, 0, "{api}: {missing} of {} events never delivered", expected.len());
        assert!(users >= 60, "{api}: every user delivered ({users})");
        let s = h.sim.stats();
        assert!(s.status_429 > 0 && s.status_401 >= 2, "{api}: the storm happened: {s:?}");
    }
}
