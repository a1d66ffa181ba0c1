//! The Yousign connector on the legacy API v2 (`[yousign] api_version = "v2"`), end to end
//! against the Yousign simulator on 127.0.0.1 (the API root, no `/v3`): every procedure once
//! per status change across several small pages, with its members in the line and no extra
//! `/members` call; a second pass that adds nothing; exactly the new statuses after the
//! procedures move on; the users as a snapshot (a changed permission is one line); a 5xx on
//! the v2 routes waited out; the lines rendered in ECS and OCSF hold to the schemas; and
//! the v2 webhook receiver under `run` (Basic authentication, unsigned procedure bodies, each
//! delivered once).
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)]

mod common;
#[path = "support/connect.rs"]
mod connect;
#[path = "../src/connectors/yousign/mapping/schema_check.rs"]
mod schema_check;
#[path = "support/yousign.rs"]
mod ys;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{RUN_TIMEOUT, code, lines, stderr};
use connect::until;
use esign_collector::connectors::yousign::{YOUSIGN_PROCEDURES, YOUSIGN_V2_USERS};
use esign_collector::format::{Format, FormatOptions};
use esign_sim::yousign::{DEFAULT_API_KEY, Fault, FaultKind, Route};
use serde_json::{Map, Value};
use ys::serve;

const KEY_VAR: &str = "YOUSIGN_API_KEY";
const PAGE: usize = 4;

impl ys::Served {
    /// A Yousign v2 configuration pulling procedures (small pages) and users.
    fn write(&self) {
        self.write_with("");
    }

    /// [`Served::write`] with `rate_limit` keys added.
    fn write_with(&self, rate_limit: &str) {
        let text = format!(
            "[yousign]\nenvironment = \"sandbox\"\napi_version = \"v2\"\napi_key_env = \"{KEY_VAR}\"\nbase_url = \"{}\"\n\
             timeout = \"5s\"\nrequests_per_minute = 100000\nrequests_per_hour = 1000000\n\n\
             [sources.yousign_signature_requests]\nenabled = true\npage_size = {PAGE}\nfirst_fetch = \"400d\"\n\n\
             [sources.yousign_users]\nenabled = true\n\n\
             [state]\npath = \"{}\"\n\n[rate_limit]\ninitial_backoff = \"100ms\"\nmax_backoff = \"1s\"\n{rate_limit}",
            self.root,
            self.dir.path().join("state/collector.db").display()
        );
        std::fs::write(self.config(), text).unwrap();
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut c = assert_cmd::Command::cargo_bin("esign-collector").unwrap();
        c.arg("--config").arg(self.config()).args(args).timeout(RUN_TIMEOUT).env_remove("ESIGN_COLLECTOR_CONFIG");
        c.env(KEY_VAR, DEFAULT_API_KEY);
        c.output().unwrap()
    }

    /// The simulator's whole procedure list, unpaged: `(id, status, updatedAt)` of each.
    fn procedures(&self) -> BTreeSet<(String, String, String)> {
        self.procedure_list().iter().map(key).collect()
    }

    /// The simulator's whole procedure list as Yousign v2 returns it.
    fn procedure_list(&self) -> Vec<Value> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let body: Value = rt.block_on(async {
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            let resp = http.get(format!("{}/procedures", self.root)).bearer_auth(DEFAULT_API_KEY).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.json().await.unwrap()
        });
        body.as_array().unwrap().clone()
    }

    fn v2_requests(&self) -> u64 {
        self.sim.stats().requests.get("v2").copied().unwrap_or(0)
    }
}

fn key(p: &Value) -> (String, String, String) {
    let f = |k: &str| p[k].as_str().unwrap().to_owned();
    (f("id"), f("status"), f("updatedAt"))
}

fn of_type<'a>(l: &'a [Value], t: &str) -> Vec<&'a Value> {
    l.iter().filter(|v| v["source_log_type"] == t).collect()
}

fn procedure_keys(l: &[Value]) -> Vec<(String, String, String)> {
    of_type(l, "yousign_procedure").into_iter().map(key).collect()
}

#[test]
fn procedures_once_per_status_across_pages_then_only_what_changed() {
    let s = serve(|c| c.signature_requests = 30);
    s.write();
    let want = s.procedures();
    assert!(want.len() > 3 * PAGE, "several pages: {}", want.len());

    let before = s.v2_requests();
    let out = s.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = lines(&out);
    let keys = procedure_keys(&got);
    assert_eq!(keys.len(), want.len(), "once each");
    assert_eq!(keys.iter().cloned().collect::<BTreeSet<_>>(), want);
    let procedures = of_type(&got, "yousign_procedure");
    assert!(procedures.iter().all(|p| p["vendor"] == "yousign" && p["event_id"].is_string()));
    assert!(procedures.iter().all(|p| p["members"].as_array().is_some_and(|m| !m.is_empty())), "members kept");
    assert!(
        procedures.iter().all(|p| p["_time"].as_str().unwrap().starts_with(&p["updatedAt"].as_str().unwrap()[..19]))
    );
    let stats = s.sim.stats();
    assert!(!stats.served.contains_key("v2 members"), "no /members call: the list embeds them: {stats:?}");
    let pages = want.len().div_ceil(PAGE);
    // The users' list, then the pages (one more when the last page was full).
    assert!(s.v2_requests() - before > pages as u64, "{stats:?}");

    let users = of_type(&got, "yousign_v2_user");
    assert_eq!(users.len(), s.sim.user_ids().len());
    assert!(users.iter().all(|u| u["id"].as_str().unwrap().starts_with("/users/")));
    assert!(of_type(&got, "yousign_user").is_empty() && of_type(&got, "yousign_signature_request").is_empty());

    // Nothing changed: nothing new, though the overlap re-reads the last hour's updates.
    let out = s.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(lines(&out).is_empty(), "{}", String::from_utf8_lossy(&out.stdout));

    // Procedures move on, two users change permission: exactly those changes come.
    s.sim.advance(12);
    s.sim.change_user_roles(2);
    let after = s.procedures();
    let fresh: BTreeSet<_> = after.difference(&want).cloned().collect();
    assert!(!fresh.is_empty());
    let out = s.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = lines(&out);
    let keys = procedure_keys(&got);
    assert_eq!(keys.len(), fresh.len(), "once each");
    assert_eq!(keys.into_iter().collect::<BTreeSet<_>>(), fresh);
    let changed = of_type(&got, "yousign_v2_user");
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(changed.iter().all(|u| u["_change"]["fields"].get("permission").is_some()), "{changed:?}");

    // Each line holds to the schemas in ECS and OCSF.
    let opts = FormatOptions { include_original: true };
    for line in got.iter().chain(procedures.iter().copied()) {
        let stream =
            if line["source_log_type"] == "yousign_procedure" { &YOUSIGN_PROCEDURES } else { &YOUSIGN_V2_USERS };
        let raw: &Map<String, Value> = line.as_object().unwrap();
        for d in stream.render(Format::Ecs, raw, &opts) {
            schema_check::check_ecs(&d.event_id, &d.value);
        }
        for d in stream.render(Format::Ocsf, raw, &opts) {
            schema_check::check_ocsf(&d.event_id, &d.value);
        }
    }
}

#[test]
fn a_5xx_on_the_v2_routes_is_waited_out() {
    let s = serve(|c| c.signature_requests = 12);
    s.write();
    // Read before the faults are queued: this call would take one.
    let want = s.procedures();
    s.sim.push_fault(Fault { route: Route::V2, kind: FaultKind::Status { code: 503, retry_after: None }, times: 2 });
    s.sim.push_fault(Fault { route: Route::V2, kind: FaultKind::Status { code: 502, retry_after: Some(1) }, times: 1 });
    let out = s.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = lines(&out);
    assert_eq!(procedure_keys(&got).into_iter().collect::<BTreeSet<_>>(), want, "nothing lost to the faults");
    assert_eq!(of_type(&got, "yousign_v2_user").len(), s.sim.user_ids().len());
    assert!(s.sim.stats().faults >= 3);
}

#[test]
fn a_pass_cut_short_resumes_at_its_page() {
    let s = serve(|c| c.signature_requests = 30);
    s.write_with("max_retries = 1\n");
    let want = s.procedures();
    let pages = want.len().div_ceil(PAGE) as u64;
    assert!(pages > 3, "{pages}");
    // Faults apply in order: three requests pass untouched (the users, procedure pages 1 and
    // 2), then page 3 fails beyond the retries.
    s.sim.push_fault(Fault { route: Route::V2, kind: FaultKind::Slow { millis: 0 }, times: 3 });
    s.sim.push_fault(Fault { route: Route::V2, kind: FaultKind::Status { code: 500, retry_after: None }, times: 20 });
    let out = s.run(&["fetch"]);
    assert_ne!(code(&out), 0, "{}", stderr(&out));
    let first = procedure_keys(&lines(&out));
    assert_eq!(first.len(), 2 * PAGE, "two pages delivered and committed: {}", stderr(&out));

    s.sim.clear_faults();
    let before = s.v2_requests();
    let out = s.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rest = procedure_keys(&lines(&out));
    assert_eq!(first.len() + rest.len(), want.len(), "once each");
    assert_eq!(first.into_iter().chain(rest).collect::<BTreeSet<_>>(), want);
    // The users, then pages 3 to the last (and one past it when the last was full): page 1
    // was not asked for again.
    assert!(s.v2_requests() - before <= 1 + (pages - 2) + 1, "{:?}", s.sim.stats());
}

const HOOK_PASSWORD_VAR: &str = "YOUSIGN_HOOK_PASSWORD";
const HOOK_PASSWORD: &str = "hook-pass-CANARY";

/// `Authorization: Basic` of `user:password`, and the JSON content type.
fn basic(user: &str, password: &str) -> Vec<(String, String)> {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    vec![("Content-Type".into(), "application/json".into()), ("Authorization".into(), format!("Basic {token}"))]
}

#[test]
fn v2_webhooks_need_the_basic_password_and_are_delivered_once_each() {
    let s = serve(|c| c.signature_requests = 6);
    s.write();
    let out = s.dir.path().join("out/webhooks.jsonl");
    // Only the receiver runs: the pull sources are off.
    let text = std::fs::read_to_string(s.config()).unwrap().replace("enabled = true", "enabled = false")
        + &format!(
            "\n[[sinks]]\ntype = \"file\"\npath = \"{}\"\n\n[receivers.yousign]\nlisten = \"127.0.0.1:0\"\n\
             path = \"/yousign\"\napi_version = \"v2\"\nbasic_auth_user = \"yousign\"\n\
             basic_auth_password_env = \"{HOOK_PASSWORD_VAR}\"\n",
            out.display()
        );
    std::fs::write(s.config(), text).unwrap();
    let d =
        connect::Daemon::start(&s.config(), &[(HOOK_PASSWORD_VAR, HOOK_PASSWORD), (KEY_VAR, DEFAULT_API_KEY)], false);

    // Bodies in the shapes integrations report: the wrapper with `eventName`, the procedure
    // plus the member for a member's event, and the bare procedure.
    let list = s.procedure_list();
    let (p0, p1) = (&list[0], &list[1]);
    let bodies: Vec<Vec<u8>> = [
        serde_json::json!({"eventName": "procedure.finished", "procedure": p0}),
        serde_json::json!({"eventName": "member.finished", "procedure": p1, "member": p1["members"][0]}),
        p0.clone(),
    ]
    .iter()
    .map(|v| serde_json::to_vec(v).unwrap())
    .collect();
    let right = basic("yousign", HOOK_PASSWORD);
    for b in &bodies {
        let no_auth = &right[..1];
        assert_eq!(connect::post(d.addr, "/yousign", no_auth, b), 401, "no Authorization");
        assert_eq!(connect::post(d.addr, "/yousign", &basic("yousign", "guess"), b), 401, "a wrong password");
        assert_eq!(connect::post(d.addr, "/yousign", &basic("other", HOOK_PASSWORD), b), 401, "a wrong user");
        assert_eq!(connect::post(d.addr, "/yousign", &right, b), 200);
    }
    // Yousign posts again: the same event, re-serialized (keys in another order), is a copy.
    for b in &bodies {
        assert_eq!(connect::post(d.addr, "/yousign", &right, b), 200, "a copy is acknowledged");
    }
    let v: Value = serde_json::from_slice(&bodies[0]).unwrap();
    let mut reordered = v.as_object().unwrap().iter().collect::<Vec<_>>();
    reordered.reverse();
    let reordered = format!(
        "{{{}}}",
        reordered.iter().map(|(k, v)| format!("{}:{v}", Value::from(k.as_str()))).collect::<Vec<_>>().join(",")
    );
    assert_ne!(reordered.as_bytes(), &bodies[0][..]);
    assert_eq!(connect::post(d.addr, "/yousign", &right, reordered.as_bytes()), 200);
    // A v3 event is not a v2 body: 400, and nothing delivered.
    let v3 = br#"{"event_id":"e-1","event_name":"signer.done","event_time":"1670855889","data":{}}"#;
    assert_eq!(connect::post(d.addr, "/yousign", &right, v3), 400);

    until(Duration::from_secs(20), "the webhooks in the sink", || (webhook_lines(&out).len() >= 3).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    let got = webhook_lines(&out);
    assert_eq!(got.len(), 3, "once each: {got:?}");
    let ids: BTreeSet<&str> = got.iter().map(|v| v["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3, "a key per event: {ids:?}");
    assert!(ids.iter().all(|i| i.starts_with("v2-")), "{ids:?}");
    assert!(got.iter().all(|v| v["vendor"] == "yousign" && v["_time"].is_string()));
    assert_eq!(got[0]["event_name"], "procedure.finished");
    assert_eq!(got[0]["procedure"]["id"], p0["id"], "the body as received");
    assert_eq!(got[1]["member"]["id"], p1["members"][0]["id"]);
    assert_eq!(got[2]["id"], p0["id"]);
    let (exit, logs) = d.stop();
    assert!(exit.success(), "{logs:?}");
    assert!(!logs.join("\n").contains(HOOK_PASSWORD), "the password is never logged");
}

fn webhook_lines(out: &std::path::Path) -> Vec<Value> {
    connect::file_lines(out).into_iter().filter(|v| v["source_log_type"] == "yousign_webhook").collect()
}
