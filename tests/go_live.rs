//! `go-live-check` against the simulator: 20 distinct read-only eSignature calls, each sent
//! once, printed with status and trace token; a failed call fails the check and is not
//! retried; the production environment is refused.

mod common;

use common::{Harness, code, stderr};
use esign_sim::docusign::{Fault, FaultKind, Route};

fn harness() -> Harness {
    Harness::start(common::backlog(10), 5)
}

/// The numbered call lines of the report.
fn call_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().next().is_some_and(|n| n.parse::<u32>().is_ok()))
        .map(str::to_owned)
        .collect()
}

#[test]
fn twenty_distinct_calls_succeed_each_with_a_trace_token() {
    let h = harness();
    let before = h.sim.stats().esignature_requests;
    let out = h.run(&["go-live-check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = call_lines(&out);
    assert_eq!(lines.len(), 20, "{lines:#?}");
    let mut paths = std::collections::HashSet::new();
    let mut traces = std::collections::HashSet::new();
    for l in &lines {
        let cols: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(cols[1], "200", "{l}");
        assert_eq!(cols[2], "GET", "{l}");
        paths.insert(cols[3].to_owned());
        let trace = cols.last().copied().unwrap_or_default();
        assert_eq!(trace.len(), 36, "a trace token GUID: {l}");
        traces.insert(trace.to_owned());
    }
    assert_eq!(paths.len(), 20, "distinct calls");
    assert_eq!(traces.len(), 20, "a fresh trace token per call");
    assert!(String::from_utf8_lossy(&out.stdout).contains("20/20 calls succeeded"));
    // Exactly the 20 counted calls reached the eSignature API (userinfo is not one of them),
    // and none was an envelope resource.
    assert_eq!(h.sim.stats().esignature_requests - before, 20);
    assert_eq!(h.sim.envelope_polling_violations(), 0);
}

#[test]
fn a_failed_call_fails_the_check_and_is_not_retried() {
    let h = harness();
    h.sim.push_fault(Fault {
        route: Route::Esignature,
        kind: FaultKind::Status { code: 503, retry_after: None },
        times: 1,
    });
    let before = h.sim.stats().esignature_requests;
    let out = h.run(&["go-live-check"]);
    assert_ne!(code(&out), 0, "{}", stderr(&out));
    let lines = call_lines(&out);
    assert_eq!(lines.len(), 20, "every call is still made and printed: {lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.split_whitespace().nth(1) == Some("503")).count(), 1, "{lines:#?}");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("19/20 calls succeeded: not ready"), "{report}");
    assert!(stderr(&out).contains("503"), "{}", stderr(&out));
    // A retry would be a 21st call, and a failed one in DocuSign's log.
    assert_eq!(h.sim.stats().esignature_requests - before, 20);
}

#[test]
fn production_is_refused_before_any_call() {
    let h = harness();
    let text = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace("environment = \"developer\"", "environment = \"production\"");
    std::fs::write(&h.config, text).unwrap();
    let before = h.sim.stats();
    let out = h.run(&["go-live-check"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("developer"), "{}", stderr(&out));
    assert_eq!(h.sim.stats().esignature_requests, before.esignature_requests);
}
