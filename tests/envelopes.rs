//! `[sources.envelopes]` against the simulator: the status changes of a window exactly once,
//! new ones after the envelopes move, audit events of terminal envelopes without breaking
//! DocuSign's per-envelope polling rule, the account's host from userinfo (and found again
//! after a 404), the 15-minute list interval in `run`, and a crash in the middle of a window.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{Harness, Opts, code, lines, stderr};
use esign_sim::docusign::Transition;
use serde_json::Value;

/// A harness with only the envelopes source on (and `extra` under `[sources.envelopes]`).
fn harness(extra: &str) -> Harness {
    let h = Harness::start(common::backlog(0), 0);
    h.write_config(&Opts {
        events: false,
        extra: format!("\n[sources.envelopes]\nenabled = true\nfirst_fetch = \"30d\"\n{extra}\n"),
        ..Opts::default()
    });
    h
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// `(envelopeId, status, statusChangedDateTime)` of the lines of `log_type`.
fn transitions(lines: &[Value], log_type: &str) -> Vec<(String, String, String)> {
    lines
        .iter()
        .filter(|l| l["source_log_type"] == log_type)
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
            (s("envelopeId"), s("status"), s("statusChangedDateTime"))
        })
        .collect()
}

/// What a list over `[from, to]` shows: each envelope with a change inside, at its latest status.
fn expected(all: &[Transition], from: DateTime<Utc>, to: DateTime<Utc>) -> BTreeSet<(String, String, String)> {
    let mut latest: BTreeMap<&str, &Transition> = BTreeMap::new();
    let mut inside = BTreeSet::new();
    for t in all.iter().filter(|t| t.recipient_id.is_none()) {
        let at = time(&t.status_changed);
        if at >= from && at <= to {
            inside.insert(t.envelope_id.as_str());
        }
        let e = latest.entry(&t.envelope_id).or_insert(t);
        if time(&e.status_changed) <= at {
            *e = t;
        }
    }
    inside
        .iter()
        .map(|id| latest[id])
        .map(|t| (t.envelope_id.clone(), t.status.clone(), t.status_changed.clone()))
        .collect()
}

/// The stored envelopes cursor.
fn cursor(h: &Harness) -> Value {
    serde_json::from_str(&common::checkpoint(&h.state(), "envelopes").unwrap()).unwrap()
}

fn stored_base_uri(h: &Harness) -> Option<String> {
    let c = rusqlite::Connection::open(h.state()).unwrap();
    c.query_row("SELECT base_uri FROM base_uris", [], |r| r.get(0)).ok()
}

#[test]
fn a_fetch_yields_the_windows_transitions_once_and_the_next_repeats_none() {
    let h = harness("");
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = lines(&out);
    let seen = transitions(&got, "envelopes");
    let through = time(cursor(&h)["through"].as_str().unwrap());
    let want = expected(&h.sim.envelope_transitions(), through - chrono::Duration::days(30), through);
    assert!(want.len() >= 30, "the simulator's envelopes are in the window: {}", want.len());
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(seen.len(), want.len(), "no duplicates");
    for l in &got {
        assert_eq!(l["vendor"], "docusign");
        assert_eq!(l["product"], "esignature");
        assert_eq!(l["_time"], l["statusChangedDateTime"]);
        assert!(l["event_id"].as_str().is_some_and(|i| i.len() == 32), "{l}");
        assert!(l["recipients"]["signers"].is_array(), "include=recipients: {l}");
    }
    // The host came from userinfo (no override) and is kept.
    assert_eq!(stored_base_uri(&h).as_deref(), Some(h.base.as_str()));

    let again = h.run(&["fetch"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(transitions(&lines(&again), "envelopes").is_empty(), "the overlap repeats nothing");
    assert!(stderr(&again).contains("sooner than sources.envelopes.interval"), "{}", stderr(&again));
    assert_eq!(h.sim.envelope_polling_violations(), 0);
    let status = h.run(&["status", "--output", "json"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("\"envelopes\""), "{text}\n{}", stderr(&status));
}

#[test]
fn envelopes_that_move_are_fetched_after_the_settling_minute() {
    let h = harness("");
    assert_eq!(code(&h.run(&["fetch"])), 0);
    let moved = h.sim.advance_envelopes(5);
    assert!(!moved.is_empty());
    // A window ends a minute before now: what changed just now comes once that minute passed.
    std::thread::sleep(Duration::from_secs(62));
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let seen: BTreeSet<_> = transitions(&lines(&out), "envelopes").into_iter().collect();
    let mut want = BTreeMap::new();
    for t in &moved {
        want.insert(t.envelope_id.clone(), (t.status.clone(), t.status_changed.clone()));
    }
    let want: BTreeSet<_> = want.into_iter().map(|(id, (s, t))| (id, s, t)).collect();
    assert_eq!(seen, want);
}

#[test]
fn audit_events_of_terminal_envelopes_are_read_once_within_the_polling_rule() {
    let h = harness("audit_events = true");
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = lines(&out);
    let terminal: BTreeSet<String> = transitions(&got, "envelopes")
        .into_iter()
        .filter(|(_, s, _)| ["completed", "declined", "voided"].contains(&s.as_str()))
        .map(|(id, _, _)| id)
        .collect();
    assert!(!terminal.is_empty());
    let audit: Vec<&Value> = got.iter().filter(|l| l["source_log_type"] == "envelope_audit").collect();
    let with_audit: BTreeSet<String> = audit.iter().map(|l| l["envelopeId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(with_audit, terminal, "every terminal envelope's audit trail, and only theirs");
    for l in &audit {
        assert!(l["Action"].is_string() && l["logTime"].is_string(), "{l}");
        assert_eq!(time(l["_time"].as_str().unwrap()), time(l["logTime"].as_str().unwrap()));
        assert_eq!(l["product"], "esignature");
    }
    let ids: BTreeSet<&str> = audit.iter().map(|l| l["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), audit.len(), "audit events are told apart");
    for _ in 0..2 {
        let more = h.run(&["fetch"]);
        assert_eq!(code(&more), 0, "{}", stderr(&more));
        assert!(lines(&more).iter().all(|l| l["source_log_type"] != "envelope_audit"), "read once");
    }
    assert_eq!(h.sim.envelope_polling_violations(), 0, "no envelope read twice within 15 minutes");
}

#[test]
fn the_host_is_asked_again_after_a_404() {
    let h = harness("");
    assert_eq!(code(&h.run(&["fetch"])), 0);
    let c = rusqlite::Connection::open(h.state()).unwrap();
    c.execute("UPDATE base_uris SET base_uri = ?1", [format!("{}/moved-away", h.base)]).unwrap();
    drop(c);
    h.sim.advance_envelopes(1);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("host changed"), "{}", stderr(&out));
    assert_eq!(stored_base_uri(&h).as_deref(), Some(h.base.as_str()));
}

#[test]
fn an_interval_under_fifteen_minutes_is_refused_with_the_reason() {
    let h = harness("interval = \"10m\"");
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("sources.envelopes.interval") && e.contains("15 minutes"), "{e}");
    assert!(h.sim.envelope_list_calls().is_empty());
}

#[test]
fn run_reads_a_windows_pages_at_once_then_waits_the_interval() {
    let h = harness("page_size = 10");
    let mut cfg = std::fs::read_to_string(&h.config).unwrap();
    cfg = cfg.replace("[state]\n", "[state]\ninterval = \"1m\"\n");
    std::fs::write(&h.config, cfg).unwrap();
    let out_path = h.dir.path().join("run.out");
    let mut run = h.spawn(&["run"], Stdio::from(std::fs::File::create(&out_path).unwrap()), Stdio::null());
    let started = std::time::Instant::now();
    while h.sim.envelope_list_calls().len() < 4 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    run.signal(libc::SIGTERM);
    assert!(run.wait(Duration::from_secs(30)).success());
    let text = std::fs::read_to_string(&out_path).unwrap();
    let n = text.lines().filter(|l| l.contains("\"source_log_type\":\"envelopes\"")).count();
    assert!(n >= 30, "{n} lines");
    // Every page of the one window, and no second window within the interval.
    assert_eq!(h.sim.envelope_list_calls().len(), n.div_ceil(10));
    // A restart within the interval waits out its rest too.
    let mut again = h.spawn(&["run"], Stdio::null(), Stdio::piped());
    std::thread::sleep(Duration::from_secs(3));
    again.signal(libc::SIGTERM);
    assert!(again.wait(Duration::from_secs(30)).success());
    assert!(again.stderr().contains("waiting out the rest"));
    assert_eq!(h.sim.envelope_list_calls().len(), n.div_ceil(10), "no list call after the restart");
}

/// A crash in the middle of a window: the next run resumes that window at the position
/// reached, and nothing is lost or repeated beyond the page in flight.
#[cfg(feature = "failpoints")]
#[test]
fn a_crash_mid_window_resumes_at_the_same_position() {
    let h = harness("page_size = 10");
    let out_path = h.dir.path().join("crash.out");
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("esign-collector"));
    c.arg("--config")
        .arg(&h.config)
        .arg("fetch")
        .env("ESIGN_COLLECTOR_FAILPOINT", "after_commit:2")
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::null());
    let mut crashed = common::Spawned::from(c.spawn().unwrap());
    assert!(!crashed.wait(Duration::from_secs(60)).success());
    let k = cursor(&h);
    assert_eq!(k["window"]["start"], 20, "{k}");
    let first: Vec<Value> =
        std::fs::read_to_string(&out_path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut all = transitions(&first, "envelopes");
    all.extend(transitions(&lines(&out), "envelopes"));
    let through = time(cursor(&h)["through"].as_str().unwrap());
    let want = expected(&h.sim.envelope_transitions(), through - chrono::Duration::days(30), through);
    assert_eq!(all.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(all.len(), want.len(), "nothing repeated");
    // Pages 1-2, then 3.. of the same window: no page read twice.
    assert_eq!(h.sim.envelope_list_calls().len(), want.len().div_ceil(10));
}

/// A crash after the audit GETs and before their delivery: the replay does not read the same
/// envelopes again within 15 minutes (DocuSign would refuse it), and loses none.
#[cfg(feature = "failpoints")]
#[test]
fn a_crash_after_the_audit_reads_waits_instead_of_reading_again() {
    let h = harness("audit_events = true");
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("esign-collector"));
    // The envelope page is the first to be sent, the audit page the second.
    c.arg("--config")
        .arg(&h.config)
        .arg("fetch")
        .env("ESIGN_COLLECTOR_FAILPOINT", "before_send:2")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut crashed = common::Spawned::from(c.spawn().unwrap());
    assert!(!crashed.wait(Duration::from_secs(60)).success());
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(lines(&out).iter().all(|l| l["source_log_type"] != "envelope_audit"));
    assert!(stderr(&out).contains("15 minutes"), "{}", stderr(&out));
    assert_eq!(h.sim.envelope_polling_violations(), 0);
    let c = rusqlite::Connection::open(h.state()).unwrap();
    let queued: i64 = c.query_row("SELECT count(*) FROM work_queue", [], |r| r.get(0)).unwrap();
    assert!(queued > 0, "the envelopes stay queued");
}

/// A host that sends every request on to `target` with a 301, on its own thread until dropped.
struct Redirector {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Redirector {
    fn start(target: String) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
                    let to = format!("{target}{uri}");
                    async move { (axum::http::StatusCode::MOVED_PERMANENTLY, [(axum::http::header::LOCATION, to)]) }
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let base = format!("http://{}", rx.recv_timeout(Duration::from_secs(10)).unwrap());
        Self { base, stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for Redirector {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn the_host_is_asked_again_after_a_redirect() {
    let h = harness("");
    assert_eq!(code(&h.run(&["fetch"])), 0);
    let old = Redirector::start(h.base.clone());
    let c = rusqlite::Connection::open(h.state()).unwrap();
    c.execute("UPDATE base_uris SET base_uri = ?1", [&old.base]).unwrap();
    drop(c);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("host changed"), "{}", stderr(&out));
    assert_eq!(stored_base_uri(&h).as_deref(), Some(h.base.as_str()));
}

#[test]
fn get_events_reads_both_streams_without_moving_a_checkpoint() {
    let h = harness("audit_events = true");
    let out = h.run(&["get-events", "--type", "envelopes", "--output", "json", "--limit", "25"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = lines(&out);
    assert_eq!(transitions(&got, "envelopes").len(), 25, "{got:?}");
    let table = h.run(&["get-events", "--type", "envelopes", "--limit", "3"]);
    assert_eq!(code(&table), 0, "{}", stderr(&table));
    assert!(String::from_utf8_lossy(&table.stdout).contains("statusChangedDateTime"));
    // The terminal envelopes seen are queued; their audit trail is read once.
    let audit = h.run(&["get-events", "--type", "envelope-audit", "--output", "json", "--limit", "1000"]);
    assert_eq!(code(&audit), 0, "{}", stderr(&audit));
    let events = lines(&audit);
    assert!(!events.is_empty() && events.iter().all(|l| l["source_log_type"] == "envelope_audit"));
    assert!(common::checkpoint(&h.state(), "envelopes").is_none());
    assert!(common::checkpoint(&h.state(), "envelope_audit").is_none());
    assert_eq!(h.sim.envelope_polling_violations(), 0);
}

#[test]
fn the_override_is_used_as_it_is() {
    let h = harness("");
    let cfg = std::fs::read_to_string(&h.config).unwrap();
    let cfg = cfg.replacen("[docusign]\n", &format!("[docusign]\nesignature_base_url = \"{}/\"\n", h.base), 1);
    std::fs::write(&h.config, cfg).unwrap();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(transitions(&lines(&out), "envelopes").len() >= 30);
    assert_eq!(stored_base_uri(&h), None, "userinfo is not asked, nothing is stored");
    assert!(!stderr(&out).contains("found through userinfo"));
}
