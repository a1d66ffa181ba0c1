//! `run` with `[metrics]`: /metrics counts what the simulator served, /healthz is 200 while
//! every source succeeds and 503 once DocuSign keeps failing.

#![allow(clippy::unwrap_used)]
// Counter samples are whole numbers, exact in an f64.
#![allow(clippy::float_cmp)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Harness, backlog};
use esign_sim::docusign::{Fault, FaultKind, Route};

/// A plain HTTP/1.1 GET: (status, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let status = reply.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// The value of the sample line starting with `series` (`name{labels}`), or 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Waits until `check` returns `Some`, or fails after `limit`.
fn until<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

const EVENTS: &str = r#"esign_events_delivered_total{tenant="default",source="customer_events"}"#;

#[test]
fn metrics_follow_the_run_and_healthz_turns_503_when_docusign_fails() {
    let h = Harness::start(backlog(250), 0);
    h.write_config(&common::Opts { extra: "[metrics]\nlisten = \"127.0.0.1:0\"\n".into(), ..Default::default() });
    // Cycle every minute, the shortest interval allowed (DocuSign's guidance for a stream that is
    // caught up), so the test sees three cycles.
    let text = std::fs::read_to_string(&h.config).unwrap().replace("[state]\n", "[state]\ninterval = \"60s\"\n");
    std::fs::write(&h.config, text).unwrap();
    let mut daemon = h.spawn(&["--log-format", "json", "run"], Stdio::null(), Stdio::piped());
    let (tx, rx) = mpsc::channel::<String>();
    let err = daemon.child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The bound address comes from the structured start line.
    let addr: SocketAddr = until(Duration::from_secs(30), "the metrics address in the log", || {
        let line = rx.recv_timeout(Duration::from_millis(100)).ok()?;
        let v: serde_json::Value = serde_json::from_str(&line).ok()?;
        (v["message"] == "Serving /metrics and /healthz.").then(|| v["addr"].as_str().unwrap().parse().unwrap())
    });

    let (_, body) = until(Duration::from_secs(60), "/healthz 200", || {
        let r = get(addr, "/healthz");
        (r.0 == 200).then_some(r)
    });
    assert!(body.contains(r#""status":"ok""#), "{body}");
    let text = until(Duration::from_secs(30), "all events counted", || {
        let (code, text) = get(addr, "/metrics");
        assert_eq!(code, 200);
        (sample(&text, EVENTS) >= 250.0).then_some(text)
    });
    let stats = h.sim.stats();
    assert_eq!(sample(&text, EVENTS), 250.0);
    assert_eq!(stats.events_served, 250, "no event served twice, none counted twice");
    assert_eq!(sample(&text, r#"esign_sink_events_total{sink="stdout"}"#), 250.0);
    assert!(sample(&text, r#"esign_sink_bytes_total{sink="stdout"}"#) > 250.0 * 100.0, "{text}");
    assert!(sample(&text, r#"esign_sink_send_duration_seconds_count{sink="stdout"}"#) >= 1.0, "{text}");
    assert!(sample(&text, r#"esign_pages_total{tenant="default",source="customer_events"}"#) >= 1.0, "{text}");
    assert_eq!(sample(&text, r#"esign_token_requests_total{tenant="default"}"#), 1.0);
    assert_eq!(sample(&text, r#"esign_source_healthy{tenant="default",source="customer_events"}"#), 1.0);
    assert!(
        sample(&text, r#"esign_last_success_timestamp_seconds{tenant="default",source="customer_events"}"#) > 1.7e9
    );
    assert!(sample(&text, r#"esign_checkpoint_lag_seconds{tenant="default",source="customer_events"}"#) > 0.0);
    let ok = r#"esign_api_requests_total{tenant="default",source="customer_events",class="2xx"}"#;
    assert!(sample(&text, ok) >= 2.0, "a token and at least one page: {text}");
    assert!(text.contains(r#"esign_source_run_duration_seconds_count{tenant="default",source="customer_events"}"#));

    // New events are delivered by a later cycle and counted once.
    h.sim.append_events(20);
    until(Duration::from_secs(90), "the appended events counted", || {
        (sample(&get(addr, "/metrics").1, EVENTS) == 270.0).then_some(())
    });

    // DocuSign keeps answering 502: the next cycle fails after its retries; /healthz says so.
    h.sim.push_fault(Fault {
        route: Route::Monitor,
        kind: FaultKind::Status { code: 502, retry_after: None },
        times: 10_000,
    });
    let (_, body) = until(Duration::from_secs(120), "/healthz 503", || {
        let r = get(addr, "/healthz");
        (r.0 == 503).then_some(r)
    });
    assert!(body.contains(r#""verdict":"failing""#), "{body}");
    let text = get(addr, "/metrics").1;
    assert!(sample(&text, r#"esign_api_retries_total{tenant="default",source="customer_events"}"#) >= 5.0, "{text}");
    assert!(sample(&text, r#"esign_api_requests_total{tenant="default",source="customer_events",class="5xx"}"#) >= 6.0);
    assert_eq!(sample(&text, r#"esign_source_healthy{tenant="default",source="customer_events"}"#), 0.0);
    assert!(
        sample(&text, r#"esign_source_runs_total{tenant="default",source="customer_events",result="failed"}"#) >= 1.0
    );

    daemon.signal(libc::SIGTERM);
    assert!(daemon.wait(Duration::from_secs(30)).success());
}
