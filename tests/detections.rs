//! The Sigma rules in `detections/` proven on simulated attacks: each scenario runs against the
//! simulator, the real binary writes ECS lines into a file sink, and `detections/evaluate.py`
//! runs every rule's SQL (pysigma-backend-sqlite) over them. Each rule must fire on its attack
//! and on nothing else, none may fire on the benign baseline, and every rule must be covered.
//! The kept conversions (Splunk, ES|QL, Sentinel KQL, SecOps) must be what `convert.py` makes
//! from the rules now.
//!
//! Needs `python3` with `detections/requirements.txt` installed (scripts/test does it).
#![allow(clippy::unwrap_used, clippy::missing_panics_doc, clippy::let_underscore_must_use)]

mod common;
#[path = "support/connect.rs"]
mod connect;
#[path = "support/yousign.rs"]
mod ys;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Harness, Opts, backlog, code, stderr};
use serde_json::Value;

fn detections() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("detections")
}

/// The rule files' stems.
fn rules() -> BTreeSet<String> {
    std::fs::read_dir(detections().join("rules"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "yml").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect()
}

/// `python3 detections/<script> args…`, bounded; its stdout.
fn python(script: &str, args: &[&Path]) -> String {
    let mut child = Command::new("python3")
        .arg(detections().join(script))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{script} took over 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script} failed ({}): {}\n(install detections/requirements.txt)",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// {rule: result rows} over the ECS lines in `file`. With `DETECTIONS_DUMP=<folder>` the
/// lines are also copied there (`<case>.jsonl`), to write or debug a rule against them.
fn evaluate(case: &str, file: &Path) -> BTreeMap<String, u64> {
    if let Some(dir) = std::env::var_os("DETECTIONS_DUMP") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(file, Path::new(&dir).join(format!("{case}.jsonl"))).unwrap();
    }
    let v: Value = serde_json::from_str(&python("evaluate.py", &[file])).unwrap();
    v.as_object().unwrap().iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap())).collect()
}

fn fired(counts: &BTreeMap<String, u64>) -> BTreeSet<String> {
    counts.iter().filter(|(_, n)| **n > 0).map(|(k, _)| k.clone()).collect()
}

/// Monitor (and Admin) scenario → the rules it must fire, and no other.
const MONITOR: &[(&str, &[&str])] = &[
    ("password_spray", &["docusign_password_spray"]),
    // The guessed password then works, from a country this user never logged in from.
    ("brute_force", &["docusign_brute_force", "docusign_login_new_country"]),
    ("new_country_login", &["docusign_login_new_country"]),
    // The TOR exit is in another country than the user's office logins of the baseline.
    ("tor_login", &["docusign_login_via_tor", "docusign_login_new_country"]),
    ("mass_download", &["docusign_mass_envelope_download"]),
    ("bulk_void", &["docusign_bulk_envelope_void"]),
    ("admin_permission_granted", &["docusign_admin_permission_granted"]),
    ("integration_key_added", &["docusign_integration_key_added"]),
    ("two_factor_disabled", &["docusign_two_factor_disabled"]),
    ("high_alert", &["docusign_monitor_high_alert"]),
    ("mass_user_closure", &["docusign_mass_user_closure"]),
    ("closed_user_reactivated", &["docusign_closed_user_reactivated"]),
    ("admin_group_added", &["docusign_admin_group_added"]),
];

/// Runs `scenario` (after the benign baseline, when `with_baseline`) between two `fetch`es of
/// Monitor events and Admin users into an ECS file; the file's path.
fn monitor_run(h: &Harness, scenario: Option<&str>) -> PathBuf {
    let out = h.dir.path().join("ecs.jsonl");
    let extra = format!("[[sinks]]\ntype = \"file\"\npath = {:?}\nformat = \"ecs\"\n", out.display().to_string());
    h.write_config(&Opts { users: true, extra, ..Opts::default() });
    // The first fetch observes the directory (and whatever the baseline wrote).
    let first = h.run(&["fetch"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    if let Some(name) = scenario {
        assert!(h.sim.run_scenario(name).unwrap() > 0, "{name} changed nothing");
    }
    let second = h.run(&["fetch"]);
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    out
}

fn harness() -> Harness {
    Harness::start(backlog(0), 50)
}

#[test]
fn every_scenario_is_a_simulator_scenario_and_every_rule_is_covered() {
    let covered: BTreeSet<String> =
        MONITOR.iter().chain(PUSHED).flat_map(|(_, r)| r.iter().map(|s| (*s).to_owned())).collect();
    assert_eq!(covered, rules(), "rules without an attack that proves them (or attacks naming no rule)");
    for (name, _) in MONITOR {
        assert!(esign_sim::docusign::SCENARIOS.contains(name), "{name}");
    }
    assert!(rules().len() >= 15, "the issue asks for at least 15 rules");
}

#[test]
fn benign_baseline_fires_no_rule() {
    let h = harness();
    h.sim.run_scenario("benign").unwrap();
    let out = monitor_run(&h, None);
    let lines = std::fs::read_to_string(&out).unwrap().lines().count();
    assert!(lines > 40, "the baseline wrote {lines} lines");
    let counts = evaluate("benign", &out);
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), rules());
    assert!(fired(&counts).is_empty(), "rules fired on the benign baseline: {counts:?}");
}

#[test]
fn each_monitor_and_admin_attack_fires_its_rule_and_no_other() {
    for (scenario, expected) in MONITOR {
        let h = harness();
        // The baseline's noise is there too, so a rule must pick the attack out of it.
        h.sim.run_scenario("benign").unwrap();
        let out = monitor_run(&h, Some(scenario));
        let counts = evaluate(scenario, &out);
        let want: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(fired(&counts), want, "{scenario}: {counts:?}");
    }
}

/// Pushed scenarios (Connect, Yousign webhooks, the collector's own health lines) → rules.
const PUSHED: &[(&str, &[&str])] = &[
    ("connect:recipient_authentication_failed", &["docusign_recipient_authentication_failed"]),
    ("yousign:identification_blocked", &["yousign_signer_identification_blocked"]),
    ("health:forged_connect_flood", &["collector_webhook_signature_failed"]),
];

/// The expected rules of pushed scenario `name`.
fn pushed(name: &str) -> BTreeSet<String> {
    let (_, r) = PUSHED.iter().find(|(n, _)| *n == name).unwrap();
    r.iter().map(|s| (*s).to_owned()).collect()
}

const HMAC_KEY: &str = "hmac-key-detections-CANARY=";

/// Connect scenario `name` signed and POSTed to a `run` daemon's receiver; the ECS file.
fn connect_run(h: &Harness, name: &str) -> PathBuf {
    let out = h.dir.path().join("connect-ecs.jsonl");
    let extra = format!(
        "[[sinks]]\ntype = \"file\"\npath = {:?}\nformat = \"ecs\"\n\n[receivers.connect]\nlisten = \"127.0.0.1:0\"\nhmac_keys_env = [\"DS_HMAC_1\"]\n",
        out.display().to_string()
    );
    h.write_config(&Opts { events: false, users: false, extra, ..Opts::default() });
    let d = connect::Daemon::start(&h.config, &[("DS_HMAC_1", HMAC_KEY)], false);
    let messages = esign_sim::docusign::connect_scenario(name, &h.sc.account_id).unwrap();
    for m in &messages {
        assert_eq!(connect::post(d.addr, "/connect", &connect::signed(&[HMAC_KEY], m), m), 200);
    }
    connect::until(Duration::from_secs(20), "the Connect lines", || {
        (connect::file_lines(&out).len() >= messages.len()).then_some(())
    });
    let (status, _) = d.stop();
    assert!(status.success());
    out
}

#[test]
fn connect_attack_fires_its_rule_and_the_benign_envelope_nothing() {
    for name in esign_sim::docusign::CONNECT_SCENARIOS {
        let h = Harness::start(backlog(0), 0);
        let out = connect_run(&h, name);
        let counts = evaluate(&format!("connect-{name}"), &out);
        let want = if *name == "benign" { BTreeSet::new() } else { pushed(&format!("connect:{name}")) };
        assert_eq!(fired(&counts), want, "{name}: {counts:?}");
    }
}

#[test]
fn yousign_attack_fires_its_rule_and_the_benign_request_nothing() {
    use esign_sim::yousign::{DEFAULT_API_KEY, DEFAULT_WEBHOOK_SECRET, WebhookKnobs, WebhookTarget};
    for name in esign_sim::yousign::SCENARIOS {
        let s = ys::serve(|c| c.signature_requests = 0);
        let out = s.dir.path().join("yousign-ecs.jsonl");
        let config = s.dir.path().join("collector.toml");
        let text = format!(
            "[yousign]\nenvironment = \"sandbox\"\napi_key_env = \"YOUSIGN_API_KEY\"\nbase_url = \"{}/v3\"\ntimeout = \"5s\"\n\n\
             [sources.yousign_signature_requests]\nenabled = false\n\n[sources.yousign_users]\nenabled = false\n\n\
             [state]\npath = {:?}\n\n[[sinks]]\ntype = \"file\"\npath = {:?}\nformat = \"ecs\"\n\n\
             [receivers.yousign]\nlisten = \"127.0.0.1:0\"\npath = \"/yousign\"\nsecret_env = \"YOUSIGN_WEBHOOK_SECRET\"\n",
            s.root,
            s.dir.path().join("state/collector.db").display().to_string(),
            out.display().to_string()
        );
        std::fs::write(&config, text).unwrap();
        let env = [("YOUSIGN_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET), ("YOUSIGN_API_KEY", DEFAULT_API_KEY)];
        let d = connect::Daemon::start(&config, &env, false);
        s.sim.webhook_knobs(WebhookKnobs { retry_scale: 0.001, ..WebhookKnobs::default() });
        {
            let _inside = s.rt.enter();
            s.sim.webhook_start(WebhookTarget {
                url: format!("http://{}/yousign", d.addr),
                secret: DEFAULT_WEBHOOK_SECRET.to_owned(),
            });
        }
        let events = s.sim.run_scenario(name).unwrap();
        connect::until(Duration::from_secs(30), "the Yousign lines", || {
            (connect::file_lines(&out).len() >= events.len()).then_some(())
        });
        let (status, _) = d.stop();
        assert!(status.success());
        let counts = evaluate(&format!("yousign-{name}"), &out);
        let want = if *name == "benign" { BTreeSet::new() } else { pushed(&format!("yousign:{name}")) };
        assert_eq!(fired(&counts), want, "{name}: {counts:?}");
    }
}

#[test]
fn kept_conversions_are_what_the_rules_convert_to() {
    let tmp = tempfile::tempdir().unwrap();
    python("convert.py", &[Path::new("--out"), tmp.path()]);
    let kept = detections().join("converted");
    let files = |root: &Path| -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        for backend in std::fs::read_dir(root).unwrap() {
            let backend = backend.unwrap().path();
            if backend.is_dir() {
                for f in std::fs::read_dir(&backend).unwrap() {
                    let f = f.unwrap().path();
                    out.insert(f.strip_prefix(root).unwrap().to_owned(), std::fs::read_to_string(&f).unwrap());
                }
            } else {
                out.insert(backend.strip_prefix(root).unwrap().to_owned(), std::fs::read_to_string(&backend).unwrap());
            }
        }
        out
    };
    let (now, kept) = (files(tmp.path()), files(&kept));
    let differ: Vec<_> = now
        .keys()
        .chain(kept.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| now.get(*k) != kept.get(*k))
        .collect();
    assert!(differ.is_empty(), "conversions out of date (run python3 detections/convert.py): {differ:?}");
    for backend in ["splunk", "elastic-esql", "sentinel-kql", "secops"] {
        for rule in rules() {
            assert!(
                now.keys().any(|k| k.starts_with(backend) && k.file_stem().unwrap() == rule.as_str()),
                "{backend}/{rule}"
            );
        }
    }
}

/// `forged` wrongly signed POSTs (and one good message) to the Connect receiver, then a stop:
/// the health lines counted so far are written into the inbox at the stop and delivered by the
/// next start. The ECS file, and every raw line the sink saw.
fn forged_run(h: &Harness, forged: usize) -> PathBuf {
    let out = h.dir.path().join("health-ecs.jsonl");
    let raw = h.dir.path().join("health-raw.jsonl");
    let extra = format!(
        "[[sinks]]\ntype = \"file\"\npath = {:?}\nformat = \"ecs\"\n\n[[sinks]]\ntype = \"file\"\npath = {:?}\n\n\
         [receivers.connect]\nlisten = \"127.0.0.1:0\"\nhmac_keys_env = [\"DS_HMAC_1\"]\n",
        out.display().to_string(),
        raw.display().to_string()
    );
    h.write_config(&Opts { events: false, users: false, extra, ..Opts::default() });
    let env = [("DS_HMAC_1", HMAC_KEY)];
    let d = connect::Daemon::start(&h.config, &env, false);
    let messages = esign_sim::docusign::connect_scenario("benign", &h.sc.account_id).unwrap();
    assert_eq!(connect::post(d.addr, "/connect", &connect::signed(&[HMAC_KEY], &messages[0]), &messages[0]), 200);
    // Health windows are the clock's minutes: a burst straddling one is rightly two lines.
    let into_minute = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60;
    if into_minute >= 55 {
        std::thread::sleep(Duration::from_secs(61 - into_minute));
    }
    for m in messages.iter().cycle().take(forged) {
        assert_eq!(connect::post(d.addr, "/connect", &connect::signed(&["FORGED-KEY-CANARY"], m), m), 401);
    }
    let (status, _) = d.stop();
    assert!(status.success());
    let d = connect::Daemon::start(&h.config, &env, false);

    let health =
        |f: &Path| connect::file_lines(f).into_iter().filter(|v| v["source_log_type"] == "collector_health").count();
    connect::until(Duration::from_secs(20), "the health line", || (health(&raw) >= 1).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    let (status, _) = d.stop();
    assert!(status.success());
    let lines = connect::file_lines(&raw);
    let health: Vec<&Value> = lines.iter().filter(|v| v["source_log_type"] == "collector_health").collect();
    assert_eq!(health.len(), 1, "one line per key and minute: {health:?}");
    assert_eq!(health[0]["count"], forged);
    assert_eq!(health[0]["health_event"], "webhook_signature_failed");
    assert_eq!(health[0]["remote_addr"], "127.0.0.1");
    assert_eq!(health[0]["vendor"], "esign-collector");
    for f in [&out, &raw] {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(!text.contains("CANARY"), "no key or signature in the lines");
    }
    out
}

#[test]
fn a_forged_webhook_flood_is_one_health_line_that_fires_and_a_few_failures_do_not() {
    for (forged, want) in [(3, BTreeSet::new()), (40, pushed("health:forged_connect_flood"))] {
        let h = Harness::start(backlog(0), 0);
        let out = forged_run(&h, forged);
        let counts = evaluate(&format!("health-{forged}"), &out);
        assert_eq!(fired(&counts), want, "{forged} forged: {counts:?}");
    }
}
