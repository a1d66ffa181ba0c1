//! The Yousign connector end to end, against the Yousign simulator on 127.0.0.1: signature
//! requests (every source, never the API-only default) and users pulled, a second pass that
//! adds nothing, new statuses after the requests move on, a signer of an old `ongoing` request
//! found on the next pass; a refused key (exit 3), throttling
//! and 5xx waited out; the webhook receiver under `run` (signed messages delivered once each,
//! forged and unsigned ones refused and delivered once Yousign retries them correctly, copies
//! absorbed, every 2xx'd event kept across a SIGKILL); a demo Yousign tenant out of the box,
//! beside a DocuSign one; and the API key and webhook secret nowhere in output or state.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)]

mod common;
#[path = "support/connect.rs"]
mod connect;
#[path = "support/yousign.rs"]
mod ys;

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::Duration;

use common::{RUN_TIMEOUT, code, lines, stderr};
use connect::{Daemon, file_lines, until};
use esign_sim::yousign::{
    DEFAULT_API_KEY, DEFAULT_WEBHOOK_SECRET, Fault, FaultKind, Route, WebhookKnobs, WebhookTarget,
};
use serde_json::Value;
use ys::serve;

const KEY_VAR: &str = "YOUSIGN_API_KEY";
const SECRET_VAR: &str = "YOUSIGN_WEBHOOK_SECRET";

impl ys::Served {
    /// A Yousign-only configuration pulling both streams, plus `extra` tables.
    fn write(&self, extra: &str) {
        let text = format!(
            "[yousign]\nenvironment = \"sandbox\"\napi_key_env = \"{KEY_VAR}\"\nbase_url = \"{}/v3\"\ntimeout = \"5s\"\n\
             requests_per_minute = 100000\nrequests_per_hour = 1000000\n\n\
             [sources.yousign_signature_requests]\nenabled = true\npage_size = 7\n\n[sources.yousign_users]\nenabled = true\npage_size = 5\n\n\
             [sources.yousign_webhook_subscriptions]\nenabled = true\n\n\
             [state]\npath = \"{}\"\n\n[rate_limit]\ninitial_backoff = \"100ms\"\nmax_backoff = \"1s\"\n{extra}",
            self.root,
            self.state().display()
        );
        std::fs::write(self.config(), text).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::cargo_bin("esign-collector").unwrap();
        c.arg("--config").arg(self.config()).args(args).timeout(RUN_TIMEOUT).env_remove("ESIGN_COLLECTOR_CONFIG");
        c.env(KEY_VAR, DEFAULT_API_KEY);
        c
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd(args).output().unwrap()
    }
}

fn of_type<'a>(l: &'a [Value], t: &str) -> Vec<&'a Value> {
    l.iter().filter(|v| v["source_log_type"] == t).collect()
}

#[test]
fn signature_requests_of_every_source_and_users_are_pulled_once_each() {
    let s = serve(|c| c.signature_requests = 60);
    s.write("");
    let out = s.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = lines(&out);
    let requests = of_type(&got, "yousign_signature_request");
    let ids: BTreeSet<&str> = requests.iter().map(|v| v["id"].as_str().unwrap()).collect();
    let all: BTreeSet<String> = s.sim.signature_request_ids().into_iter().collect();
    assert_eq!(ids.len(), all.len(), "every request, whatever its source");
    assert!(all.iter().all(|id| ids.contains(id.as_str())));
    let sources: HashSet<&str> = requests.iter().map(|v| v["source"].as_str().unwrap()).collect();
    assert!(sources.contains("app") && sources.contains("public_api"), "{sources:?}");
    // One line per (id, status): no duplicate from overlapping windows.
    let pairs: HashSet<(String, String)> =
        requests.iter().map(|v| (v["id"].to_string(), v["status"].to_string())).collect();
    assert_eq!(pairs.len(), requests.len());
    assert!(requests.iter().all(|v| v["vendor"] == "yousign" && v["event_id"].is_string()));
    let users = of_type(&got, "yousign_user");
    assert_eq!(users.len(), s.sim.user_ids().len());
    let calls = s.sim.stats().list_calls;
    assert!(calls.len() >= 7, "a pass asks each lifecycle filter: {calls:?}");
    assert!(calls.iter().all(|q| q.contains("source[in]=app,public_api")), "{calls:?}");
    assert!(calls.iter().all(|q| !q.contains(':')), "day-granular filters only: {calls:?}");

    let subs = of_type(&got, "yousign_webhook_subscription");
    assert_eq!(subs.len(), 1, "the seeded subscription");
    assert!(subs.iter().all(|v| v.get("secret_key").is_none()), "the secret never leaves the reply");
    // Every signed signer's audit trail, once, in the same pass: the trails source waits for
    // what the requests' pass queues.
    let signed: BTreeSet<(String, String)> = requests
        .iter()
        .flat_map(|r| {
            let id = r["id"].as_str().unwrap().to_owned();
            r["signers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["status"] == "signed")
                .map(move |s| (id.clone(), s["id"].as_str().unwrap().to_owned()))
        })
        .collect();
    assert!(!signed.is_empty(), "the seed has signed signers");
    let mut trails: Vec<Value> = of_type(&got, "yousign_audit_trail").into_iter().cloned().collect();
    assert!(!trails.is_empty(), "the trails come with the pass that found the signers");

    // Nothing changed: the next pass delivers nothing but the trails still queued.
    let out = s.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let again = lines(&out);
    trails.extend(of_type(&again, "yousign_audit_trail").into_iter().cloned());
    assert_eq!(again.len(), of_type(&again, "yousign_audit_trail").len(), "{}", String::from_utf8_lossy(&out.stdout));
    let got_trails: BTreeSet<(String, String)> = trails
        .iter()
        .map(|t| {
            (t["signature_request"]["id"].as_str().unwrap().to_owned(), t["signer"]["id"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(trails.len(), got_trails.len(), "one trail per signer");
    assert_eq!(got_trails, signed);
    assert!(trails.iter().all(|t| t["signer"]["ip_address"].is_string()), "the evidence: the signer's IP");

    // A subscription nobody asked for shows up as a new record.
    s.sim.add_webhook_subscription("https://exfil.example/hook");
    let out = s.run(&["fetch"]);
    let new_subs: Vec<Value> = of_type(&lines(&out), "yousign_webhook_subscription").into_iter().cloned().collect();
    assert_eq!(new_subs.len(), 1, "{new_subs:?}");
    assert_eq!(new_subs[0]["endpoint"], "https://exfil.example/hook");

    // Requests move on and a user changes role: exactly those changes come next.
    s.sim.advance(30);
    s.sim.change_user_roles(2);
    let out = s.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let next = lines(&out);
    assert_eq!(of_type(&next, "yousign_user").len(), 2, "{next:#?}");
    let moved = of_type(&next, "yousign_signature_request");
    assert!(!moved.is_empty());
    for v in &moved {
        let pair = (v["id"].to_string(), v["status"].to_string());
        assert!(!pairs.contains(&pair), "a status already delivered came again: {pair:?}");
    }
    let status = s.run(&["status", "--output", "json"]);
    assert_eq!(code(&status), 0, "{}", String::from_utf8_lossy(&status.stdout));
}

/// A signer who signs a request activated before the pass's day windows leaves it `ongoing`
/// and moves none of its dates: the next pass still finds the signer (its sweep of `ongoing`
/// requests) and delivers the audit trail, instead of waiting for the request to end.
#[test]
fn a_signer_of_an_old_ongoing_request_gets_the_trail_on_the_next_pass() {
    let s = serve(|c| c.signature_requests = 20);
    s.write("");
    let out = s.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Play steps until a signer signs a request that stays `ongoing`, activated before today
    // (outside `activated_at[after]` of the next pass).
    let today = chrono::Utc::now().date_naive();
    let old = |at: &Value| {
        at.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t.with_timezone(&chrono::Utc).date_naive() < today)
    };
    let signed = (0..400)
        .flat_map(|_| s.sim.advance(1))
        .find(|e| {
            let r = &e.body["data"]["signature_request"];
            e.event_name == "signer.done" && r["status"] == "ongoing" && old(&r["activated_at"])
        })
        .map(|e| {
            let d = &e.body["data"];
            (d["signature_request"]["id"].as_str().unwrap().to_owned(), d["signer"]["id"].as_str().unwrap().to_owned())
        })
        .expect("the seed has a multi-signer request activated before today");
    let out = s.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let trails: BTreeSet<(String, String)> = of_type(&lines(&out), "yousign_audit_trail")
        .iter()
        .map(|t| {
            (t["signature_request"]["id"].as_str().unwrap().to_owned(), t["signer"]["id"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(trails.contains(&signed), "{signed:?} not in {trails:?}");
}

#[test]
fn a_refused_key_is_exit_3_and_throttling_and_outages_are_waited_out() {
    let s = serve(|_| {});
    s.write("");
    let out = s.cmd(&["fetch"]).env(KEY_VAR, "ys-wrong-key-CANARY").output().unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("API key"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("CANARY"), "the key is never printed");
    assert!(common::checkpoint(&s.state(), "yousign_signature_requests").is_none(), "nothing committed");

    s.sim.push_fault(Fault { route: Route::SignatureRequests, kind: FaultKind::Throttle { retry_after: 1 }, times: 1 });
    s.sim.push_fault(Fault { route: Route::Users, kind: FaultKind::Status { code: 503, retry_after: None }, times: 2 });
    s.sim.push_fault(Fault { route: Route::SignatureRequests, kind: FaultKind::MalformedJson, times: 1 });
    let out = s.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = lines(&out);
    assert_eq!(of_type(&got, "yousign_user").len(), s.sim.user_ids().len());
    let ids: HashSet<&str> =
        of_type(&got, "yousign_signature_request").iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), s.sim.signature_request_ids().len(), "nothing lost to the faults");
}

/// The `[[sinks]]` file sink and `[receivers.yousign]` tables.
fn receiver_tables(out: &Path) -> String {
    format!(
        "\n[[sinks]]\ntype = \"file\"\npath = \"{}\"\n\n[receivers.yousign]\nlisten = \"127.0.0.1:0\"\npath = \"/yousign\"\nsecret_env = \"{SECRET_VAR}\"\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
        out.display()
    )
}

fn webhook_lines(out: &Path) -> Vec<Value> {
    file_lines(out).into_iter().filter(|v| v["source_log_type"] == "yousign_webhook").collect()
}

#[test]
fn webhooks_are_verified_delivered_once_each_and_survive_a_kill() {
    let s = serve(|c| c.signature_requests = 20);
    s.write(&receiver_tables(&s.out()));
    // Pull is off here: only the receiver runs.
    let text = std::fs::read_to_string(s.config()).unwrap().replace("enabled = true", "enabled = false");
    std::fs::write(s.config(), text).unwrap();
    let env = [(SECRET_VAR, DEFAULT_WEBHOOK_SECRET), (KEY_VAR, DEFAULT_API_KEY)];
    let d = Daemon::start(&s.config(), &env, true);
    // The restart below must listen where the sender posts: pin the port the kernel chose.
    let text = std::fs::read_to_string(s.config()).unwrap();
    let pinned = text.replace(
        "listen = \"127.0.0.1:0\"\npath = \"/yousign\"",
        &format!("listen = \"{}\"\npath = \"/yousign\"", d.addr),
    );
    assert_ne!(pinned, text, "the receiver's listen line");
    std::fs::write(s.config(), pinned).unwrap();
    s.sim.webhook_knobs(WebhookKnobs {
        retry_scale: 0.001,
        duplicate_next: 3,
        forge_next: 2,
        unsigned_next: 1,
        ..WebhookKnobs::default()
    });
    {
        let _inside = s.rt.enter();
        s.sim.webhook_start(WebhookTarget {
            url: format!("http://{}/yousign", d.addr),
            secret: DEFAULT_WEBHOOK_SECRET.to_owned(),
        });
    }
    let mut sent: Vec<String> = Vec::new();
    for _ in 0..4 {
        sent.extend(s.sim.advance(10).into_iter().map(|e| e.event_id));
    }
    until(Duration::from_secs(30), "the sender idle", || s.sim.webhook_idle().then_some(()));
    let want: BTreeSet<&str> = sent.iter().map(String::as_str).collect();
    until(Duration::from_secs(20), "every event in the sink", || {
        (webhook_lines(&s.out()).len() >= want.len()).then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    let got = webhook_lines(&s.out());
    let ids: Vec<&str> = got.iter().map(|v| v["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), want.len(), "once each: {ids:?}");
    assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), want);
    assert!(got.iter().all(|v| v["event_name"].is_string() && v["data"].is_object() && v["vendor"] == "yousign"));
    let stats = s.sim.webhook_stats();
    assert!(stats.statuses.get(&401).copied().unwrap_or(0) >= 3, "forged and unsigned refused: {stats:?}");
    let metrics = d.scrape();
    // Each refused delivery came back as a retry (X-Yousign-Retry > 0) until one passed.
    let redeliveries = connect::sample(&metrics, "esign_push_redeliveries_total{receiver=\"yousign\"}");
    #[allow(clippy::cast_precision_loss)] // a handful of retries
    let retries = stats.retries as f64;
    assert!(redeliveries >= 1.0 && redeliveries <= retries, "{redeliveries} of {retries}: {metrics}");
    assert!(
        connect::sample(&metrics, "esign_push_requests_total{receiver=\"yousign\",outcome=\"unauthorized\"}") >= 3.0
    );

    // SIGKILL while events keep coming: every event answered 2xx is in the sink after a restart.
    // Retries come after 24 ms, 72 ms, 0.4 s, 0.7 s, 3.6 s, 13 s…: whenever the restart is done.
    s.sim.webhook_knobs(WebhookKnobs { retry_scale: 0.0002, ..WebhookKnobs::default() });
    let mut more: Vec<String> = s.sim.advance(15).into_iter().map(|e| e.event_id).collect();
    std::thread::sleep(Duration::from_millis(50));
    d.signal(libc::SIGKILL);
    drop(d);
    // And while it is down: these reach it only through the sender's retries.
    more.extend(s.sim.advance(10).into_iter().map(|e| e.event_id));
    std::thread::sleep(Duration::from_millis(200));
    let d = Daemon::start(&s.config(), &env, false);
    until(Duration::from_secs(120), "the sender idle after the restart", || s.sim.webhook_idle().then_some(()));
    let all: BTreeSet<&str> = sent.iter().chain(&more).map(String::as_str).collect();
    let stats = s.sim.webhook_stats();
    assert_eq!(stats.abandoned, 0, "the sender reached the restarted daemon: {stats:?}");
    // Every event the sender saw answered 2xx (before or after the kill) is in the sink.
    let answered: BTreeSet<&str> =
        stats.by_event.iter().filter(|(_, e)| e.delivered > 0).map(|(id, _)| id.as_str()).collect();
    assert_eq!(answered, all, "every event was answered 2xx in the end");
    until(Duration::from_secs(20), "every event after the kill", || {
        (webhook_lines(&s.out()).iter().filter_map(|v| v["event_id"].as_str()).collect::<BTreeSet<_>>().len()
            >= all.len())
        .then_some(())
    });
    let (exit, logs) = d.stop();
    assert!(exit.success(), "{logs:?}");
    let logs = logs.join("\n");
    assert!(!logs.contains(DEFAULT_WEBHOOK_SECRET), "the secret is never logged");
    for f in std::fs::read_dir(s.dir.path().join("state")).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        assert!(!bytes.windows(DEFAULT_WEBHOOK_SECRET.len()).any(|w| w == DEFAULT_WEBHOOK_SECRET.as_bytes()));
        assert!(!bytes.windows(DEFAULT_API_KEY.len()).any(|w| w == DEFAULT_API_KEY.as_bytes()));
    }
}

#[test]
fn a_demo_yousign_tenant_works_out_of_the_box_beside_a_docusign_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let yousign_only = format!(
        "[yousign]\nenvironment = \"demo\"\n\n[sources.yousign_signature_requests]\nenabled = true\n[sources.yousign_users]\nenabled = true\n\n\
         [state]\npath = \"{}\"\n",
        dir.path().join("state.db").display()
    );
    std::fs::write(&config, &yousign_only).unwrap();
    let run = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("esign-collector")
            .unwrap()
            .arg("--config")
            .arg(&config)
            .args(args)
            .timeout(RUN_TIMEOUT)
            .env_remove("ESIGN_COLLECTOR_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = lines(&out);
    assert!(!of_type(&got, "yousign_signature_request").is_empty() && !of_type(&got, "yousign_user").is_empty());
    let out = run(&["auth-test"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Beside a DocuSign demo tenant: both collect, each with its own vendor.
    let both = yousign_only.replace("state.db", "both.db");
    std::fs::write(&config, format!("[docusign]\nenvironment = \"demo\"\n\n{both}")).unwrap();
    let out = run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let vendors: HashSet<String> = lines(&out).iter().map(|v| v["vendor"].as_str().unwrap().to_owned()).collect();
    assert_eq!(vendors, ["docusign".to_owned(), "yousign".to_owned()].into_iter().collect());
    let status = run(&["status", "--output", "json"]);
    let doc: Value = serde_json::from_slice(&status.stdout).unwrap();
    let tenants: HashSet<&str> =
        doc["sources"].as_array().unwrap().iter().map(|s| s["tenant"].as_str().unwrap()).collect();
    assert!(tenants.contains("yousign") && tenants.contains("default"), "{doc}");
    // get-events picks the tenant of the stream's platform.
    let out = run(&["get-events", "--type", "yousign-users", "--output", "json", "--limit", "3"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(lines(&out).len(), 3);
}

/// Crash points of the pull path (`failpoints` builds): killed mid-page, after the sink
/// confirmed a page but before its checkpoint, and right after the commit, then run healthy:
/// every signature request status and user is in the file sink, none lost.
#[cfg(feature = "failpoints")]
#[test]
fn a_crash_at_any_commit_point_loses_nothing() {
    for point in ["before_send", "after_send", "after_commit"] {
        let s = serve(|c| c.signature_requests = 40);
        s.write(&format!("\n[[sinks]]\ntype = \"file\"\npath = \"{}\"\n", s.out().display()));
        let out = s.cmd(&["fetch"]).env("ESIGN_COLLECTOR_FAILPOINT", format!("{point}:3")).output().unwrap();
        assert!(!out.status.success(), "{point}: {}", stderr(&out));
        assert!(stderr(&out).contains("failpoint"), "{point}: {}", stderr(&out));
        let out = s.run(&["fetch"]);
        assert_eq!(code(&out), 0, "{point}: {}", stderr(&out));
        let delivered = file_lines(&s.out());
        let ids: HashSet<&str> =
            of_type(&delivered, "yousign_signature_request").iter().map(|v| v["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), s.sim.signature_request_ids().len(), "{point}: a request was lost");
        let users: HashSet<&str> =
            of_type(&delivered, "yousign_user").iter().map(|v| v["id"].as_str().unwrap()).collect();
        assert_eq!(users.len(), s.sim.user_ids().len(), "{point}: a user was lost");
    }
}

#[test]
fn the_api_key_and_the_webhook_secret_appear_nowhere() {
    let s = serve(|c| c.signature_requests = 10);
    s.write("");
    let trace = s.dir.path().join("trace.jsonl");
    let out = s.run(&["--log-level", "trace", "--trace-http", trace.to_str().unwrap(), "fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status = s.run(&["status", "--output", "json"]);
    let mut hay: Vec<(String, Vec<u8>)> = vec![
        ("stdout".into(), out.stdout.clone()),
        ("stderr".into(), out.stderr),
        ("trace".into(), std::fs::read(&trace).unwrap()),
        ("status".into(), status.stdout),
    ];
    for f in std::fs::read_dir(s.dir.path().join("state")).unwrap() {
        let p = f.unwrap().path();
        hay.push((p.display().to_string(), std::fs::read(&p).unwrap()));
    }
    assert!(String::from_utf8_lossy(&hay[2].1).contains("signature_requests"), "the trace recorded the calls");
    for (name, bytes) in &hay {
        for secret in [DEFAULT_API_KEY, DEFAULT_WEBHOOK_SECRET] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{name} holds a secret");
        }
    }
}
