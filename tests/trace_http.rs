//! `--trace-http`: every DocuSign call recorded as JSON lines, no secret in the file, mode 600.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Harness, backlog, code, stderr};
use esign_sim::docusign::{Fault, FaultKind, Route};
use serde_json::Value;

fn read_trace(path: &std::path::Path) -> (String, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}"))).collect();
    (text, lines)
}

/// Lines of `kind` (`request`, `reply`, `error`) for the call named `call`.
fn of<'a>(lines: &'a [Value], kind: &str, call: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == kind && l["call"] == call).collect()
}

fn assert_no_secret(h: &Harness, text: &str) {
    let tokens = h.sim.issued_tokens();
    assert!(!tokens.is_empty());
    for t in &tokens {
        assert!(!text.contains(t.as_str()), "an issued token is in the trace");
    }
    let pem = std::fs::read_to_string(h.dir.path().join("key.pem")).unwrap();
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!text.contains(line), "a line of the private key is in the trace");
    }
    // The JWT assertion (and any other JWT) starts with a base64url JSON header.
    assert!(!text.contains("eyJ"), "a JWT is in the trace");
}

#[test]
fn a_traced_fetch_and_auth_test_record_every_call_and_no_secret() {
    let h = Harness::start(backlog(25), 0);
    let cfg = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace("api = \"org-stream\"", "api = \"org-stream\"\npage_size = 10");
    std::fs::write(&h.config, cfg).unwrap();
    let trace = h.dir.path().join("http-trace.jsonl");
    let t = trace.to_str().unwrap();
    let out = h.run(&["--trace-http", t, "fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = h.run(&["--trace-http", t, "auth-test"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let (text, lines) = read_trace(&trace);
    assert_eq!(std::fs::metadata(&trace).unwrap().permissions().mode() & 0o777, 0o600);
    for call in ["token request", "userinfo", "Monitor stream"] {
        let (req, rep) = (of(&lines, "request", call), of(&lines, "reply", call));
        assert!(!req.is_empty(), "no request line for {call}");
        assert_eq!(req.len(), rep.len(), "every {call} request has its reply");
        for (q, r) in req.iter().zip(&rep) {
            assert_eq!(q["id"], r["id"]);
            assert_eq!(r["status"], 200);
            assert!(r["elapsed_ms"].is_u64() && q["attempt"] == 1 && q["url"].is_string());
        }
    }
    // 25 events in pages of 10: 3 full pages, then the end of the stream.
    assert!(of(&lines, "request", "Monitor stream").len() >= 3);
    let token_req = of(&lines, "request", "token request")[0];
    assert_eq!(token_req["method"], "POST");
    assert_eq!(token_req["body"]["assertion"], "<redacted>");
    assert_eq!(token_req["body"]["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
    assert_eq!(of(&lines, "reply", "token request")[0]["body"]["access_token"], "<redacted>");
    let stream_req = of(&lines, "request", "Monitor stream")[0];
    assert_eq!(stream_req["headers"]["authorization"], "Bearer <redacted>");
    let page = of(&lines, "reply", "Monitor stream")[0];
    assert_eq!(page["body"]["resultData"].as_array().unwrap().len(), 10, "{page}");
    assert_no_secret(&h, &text);
}

#[test]
fn a_cut_token_reply_leaves_no_part_of_the_token_in_the_trace() {
    let h = Harness::start(backlog(5), 0);
    h.sim.push_fault(Fault { route: Route::Token, kind: FaultKind::Truncated, times: 100 });
    let cfg = std::fs::read_to_string(&h.config).unwrap().replace("[rate_limit]", "[rate_limit]\nmax_retries = 1");
    std::fs::write(&h.config, cfg).unwrap();
    let trace = h.dir.path().join("trace.jsonl");
    let out = h.run(&["--trace-http", trace.to_str().unwrap(), "fetch"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    let (text, lines) = read_trace(&trace);
    let replies = of(&lines, "reply", "token request");
    assert_eq!(replies.len(), 2, "both attempts recorded");
    assert_eq!(replies[1]["attempt"], 2);
    assert!(text.contains("access_token"), "the cut body is recorded: {text}");
    for t in h.sim.issued_tokens() {
        assert!(!text.contains(&t[..12]), "part of a token is in the trace: {text}");
    }
    assert_no_secret(&h, &text);
}

#[test]
fn an_unwritable_trace_path_is_a_usage_error() {
    let h = Harness::start(backlog(1), 0);
    let bad = h.dir.path().join("no-such-dir/trace.jsonl");
    let out = h.run(&["--trace-http", bad.to_str().unwrap(), "fetch"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--trace-http"), "{}", stderr(&out));
    assert_eq!(h.sim.stats().token_requests, 0, "nothing was sent");
}
