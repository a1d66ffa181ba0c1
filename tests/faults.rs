//! Failure paths: revoked consent, 429 with Retry-After, 5xx, 401 mid-run, malformed replies,
//! refusals, and two runs on one state file.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Harness, backlog, checkpoint, code, ids, stderr};
use esign_sim::docusign::{Fault, FaultKind, Route};

fn fault(route: Route, kind: FaultKind, times: u32) -> Fault {
    Fault { route, kind, times }
}

#[test]
fn revoked_consent_stops_with_its_code_and_the_url() {
    let h = Harness::start(backlog(10), 0);
    h.sim.revoke_consent();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("consent_required"), "{e}");
    assert!(
        e.contains(&format!("{}/oauth/auth?response_type=code&scope=signature%20impersonation&client_id=", h.base)),
        "{e}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(checkpoint(&h.state(), "customer_events"), None);
    assert_eq!(h.sim.stats().token_requests, 1, "a revoked consent halts, it never loops");
}

#[test]
fn rate_limit_with_retry_after_is_waited_out() {
    let h = Harness::start(backlog(300), 0);
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Status { code: 429, retry_after: Some(1) }, 2));
    let t = Instant::now();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(t.elapsed() >= Duration::from_secs(2), "Retry-After honoured twice");
    assert_eq!(ids(&out), h.sim.event_ids());
    assert!(stderr(&out).contains("429"), "{}", stderr(&out));
}

#[test]
fn server_errors_are_retried() {
    let h = Harness::start(backlog(50), 0);
    // Five failures of one request, each a different kind; the sixth try (max_retries = 5)
    // succeeds.
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Status { code: 503, retry_after: None }, 1));
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Status { code: 500, retry_after: None }, 1));
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Status { code: 429, retry_after: None }, 1));
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Truncated, 1));
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Reset, 1));
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out), h.sim.event_ids());
}

#[test]
fn persistent_outage_exits_unavailable_and_keeps_the_cursor() {
    let h = Harness::start(backlog(50), 0);
    assert_eq!(code(&h.run(&["fetch"])), 0);
    let before = checkpoint(&h.state(), "customer_events");
    h.sim.append_events(5);
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Status { code: 502, retry_after: None }, 100));
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains("after 6 attempts"), "{}", stderr(&out));
    assert_eq!(checkpoint(&h.state(), "customer_events"), before);
    h.sim.clear_faults();
    let out = h.run(&["fetch"]);
    assert_eq!(ids(&out).len(), 5, "the next run delivers the rest");
}

#[test]
fn malformed_reply_exits_api_error() {
    let h = Harness::start(backlog(50), 0);
    h.sim.push_fault(fault(Route::Monitor, FaultKind::NotJson, 100));
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("not JSON"), "{}", stderr(&out));
    assert_eq!(checkpoint(&h.state(), "customer_events"), None);
}

#[test]
fn forbidden_is_explained() {
    let h = Harness::start(backlog(5), 0);
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Status { code: 403, retry_after: None }, 1));
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("entitlement"), "{}", stderr(&out));
}

#[test]
fn expired_token_is_renewed_once() {
    let h = Harness::start(backlog(20), 0);
    assert_eq!(code(&h.run(&["fetch"])), 0);
    h.sim.append_events(3);
    h.sim.expire_tokens();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out).len(), 3);
    assert_eq!(h.sim.stats().token_requests, 2);
}

#[test]
fn wrong_user_is_an_auth_error() {
    let h = Harness::start(backlog(5), 0);
    let cfg =
        std::fs::read_to_string(&h.config).unwrap().replace(&h.sc.user_id, "11111111-2222-3333-4444-555555555555");
    std::fs::write(&h.config, cfg).unwrap();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("user_not_found"), "{}", stderr(&out));
}

#[test]
fn overlapping_runs_are_refused_and_run_stops_cleanly() {
    let h = Harness::start(backlog(30), 0);
    let mut daemon = h.spawn(&["run"], Stdio::null(), Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(30);
    while checkpoint(&h.state(), "customer_events").is_none() {
        assert!(Instant::now() < deadline, "run never committed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(stderr(&out).contains("locked"), "{}", stderr(&out));
    // SIGTERM: the daemon finishes and exits 0.
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait(Duration::from_secs(20)).code(), Some(0));
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "lock released: {}", stderr(&out));
}

#[test]
fn failed_sink_leaves_the_checkpoint_unchanged() {
    let h = Harness::start(backlog(40), 0);
    // stdout is a pipe whose reader is gone: every write fails with EPIPE.
    let mut run = h.spawn(&["fetch"], Stdio::piped(), Stdio::piped());
    drop(run.child.stdout.take());
    let status = run.wait(common::RUN_TIMEOUT);
    let err = run.stderr();
    assert_eq!(status.code(), Some(7), "{err}");
    assert!(err.contains("sink stdout"), "{err}");
    assert_eq!(checkpoint(&h.state(), "customer_events"), None, "nothing confirmed, nothing committed");
    let out = h.run(&["fetch"]);
    assert_eq!(ids(&out), h.sim.event_ids(), "the next run delivers everything");
}

/// Replaces the stored Monitor cursor by one DocuSign no longer accepts, keeping its position.
fn expire_stored_cursor(h: &Harness) {
    let stored: serde_json::Value = serde_json::from_str(&checkpoint(&h.state(), "customer_events").unwrap()).unwrap();
    let tampered = serde_json::json!({"cursor": "expired-cursor", "at": stored["at"]}).to_string();
    rusqlite::Connection::open(h.state())
        .unwrap()
        .execute("UPDATE checkpoints SET cursor = ?1 WHERE source = 'customer_events'", [&tampered])
        .unwrap();
}

#[test]
fn rejected_cursor_mid_backlog_skips_nothing() {
    let h = Harness::start(backlog(500), 0);
    let cfg = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace("enabled = true\napi", "enabled = true\nmax_events_per_fetch = 50\napi");
    std::fs::write(&h.config, cfg).unwrap();
    assert_eq!(ids(&h.run(&["fetch"])).len(), 50);
    // The cursor points days back into the backlog; DocuSign now rejects it.
    expire_stored_cursor(&h);
    let out = h.run(&["fetch", "--all"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out), h.sim.event_ids()[50..].to_vec(), "the rest of the backlog, none twice, none skipped");
}

#[test]
fn rejected_cursor_resumes_from_a_time_before_the_last_page() {
    let h = Harness::start(backlog(200), 0);
    assert_eq!(code(&h.run(&["fetch"])), 0);
    h.sim.append_events(6);
    expire_stored_cursor(&h);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("rejected the stored Monitor cursor"), "{}", stderr(&out));
    assert_eq!(ids(&out), h.sim.event_ids()[200..].to_vec(), "the new events, none twice, none lost");
    // A rejected ISO cursor (nothing to fall back to) stops with the API code and a hint.
    rusqlite::Connection::open(h.state())
        .unwrap()
        .execute("UPDATE checkpoints SET cursor = '{\"cursor\":\"garbage\"}' WHERE source = 'customer_events'", [])
        .unwrap();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("cursor"), "{}", stderr(&out));
}

fn set_timeout(h: &Harness, timeout: &str, retries: u32) {
    let cfg = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace("timeout = \"5s\"", &format!("timeout = \"{timeout}\""))
        .replace("[rate_limit]\n", &format!("[rate_limit]\nmax_retries = {retries}\n"));
    std::fs::write(&h.config, cfg).unwrap();
}

#[test]
fn slow_replies_past_the_timeout_are_retried() {
    let h = Harness::start(backlog(30), 0);
    set_timeout(&h, "1s", 5);
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Slow { millis: 2500 }, 2));
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out), h.sim.event_ids());
    assert!(stderr(&out).to_lowercase().contains("timed out"), "{}", stderr(&out));
}

#[test]
fn a_hung_api_ends_as_unavailable_in_bounded_time() {
    let h = Harness::start(backlog(30), 0);
    set_timeout(&h, "1s", 2);
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Slow { millis: 30_000 }, 100));
    let t = Instant::now();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(t.elapsed() < Duration::from_secs(20), "bounded by timeout × tries: {:?}", t.elapsed());
    assert_eq!(checkpoint(&h.state(), "customer_events"), None);
}

#[test]
fn consent_revoked_mid_run_halts_with_the_url() {
    let h = Harness::start(backlog(30), 0);
    assert_eq!(code(&h.run(&["fetch"])), 0);
    let before = checkpoint(&h.state(), "customer_events");
    h.sim.append_events(4);
    // The admin revokes consent; the cached token expires: re-authentication is refused.
    h.sim.revoke_consent();
    h.sim.expire_tokens();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("/oauth/auth?response_type=code"), "{}", stderr(&out));
    assert_eq!(checkpoint(&h.state(), "customer_events"), before);
    h.sim.grant_consent();
    let out = h.run(&["fetch"]);
    assert_eq!(ids(&out).len(), 4, "consent granted again: the rest arrives");
}

#[test]
fn connection_dropped_mid_reply_is_retried() {
    let h = Harness::start(backlog(80), 0);
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Reset, 3));
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out), h.sim.event_ids());
    assert!(stderr(&out).contains("retrying"), "{}", stderr(&out));
}

#[test]
fn pages_larger_than_asked_are_delivered_whole() {
    let h = Harness::start(backlog(500), 0);
    let cfg = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace("enabled = true\napi", "enabled = true\npage_size = 50\napi");
    std::fs::write(&h.config, cfg).unwrap();
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Oversize, 3));
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out), h.sim.event_ids(), "every event once, in order");
    assert!(stderr(&out).contains("larger page than asked"), "{}", stderr(&out));
}

#[test]
fn sigterm_cuts_a_long_retry_wait_short() {
    let h = Harness::start(backlog(30), 0);
    h.sim.push_fault(fault(Route::Monitor, FaultKind::Status { code: 429, retry_after: Some(40) }, 1));
    let mut daemon = h.spawn(&["run"], Stdio::null(), Stdio::piped());
    // Wait until the daemon is waiting out the Retry-After.
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.sim.stats().status_429 == 0 {
        assert!(Instant::now() < deadline, "no 429 served");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    daemon.signal(libc::SIGTERM);
    let status = daemon.wait(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    assert!(t.elapsed() < Duration::from_secs(5), "stopped in {:?}, not after the 40 s wait", t.elapsed());
    assert_eq!(checkpoint(&h.state(), "customer_events"), None, "the page in flight was not committed");
    let out = h.run(&["fetch"]);
    assert_eq!(ids(&out), h.sim.event_ids(), "the next run delivers it");
}
