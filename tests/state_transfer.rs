//! Moving a tenant between shards: `state export --tenant X` from one state file and `state
//! import` into another carry its checkpoints and ledger, so the new shard continues where the
//! old one stopped (nothing lost, nothing repeated); no token or secret travels; both refuse
//! while a run holds the lock.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Harness, Opts, backlog, code, ids, stderr};
use serde_json::Value;

#[test]
fn a_tenant_moves_to_another_state_file_and_continues_where_it_stopped() {
    let h = Harness::start(backlog(3000), 20);
    h.write_config(&Opts { users: true, ..Opts::default() });
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let first = ids(&out);
    assert!(first.len() >= 3000, "events and users");

    let export = h.run(&["state", "export", "--tenant", "default"]);
    assert_eq!(code(&export), 0, "{}", stderr(&export));
    let doc: Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(doc["tenant"], "default");
    assert!(doc["tables"]["checkpoints"].as_array().unwrap().len() >= 2, "{}", doc["tables"]["checkpoints"]);
    assert!(!doc["tables"]["ledger_pages"].as_array().unwrap().is_empty(), "the id ledger");
    assert!(!doc["tables"]["users"].as_array().unwrap().is_empty());
    let text = String::from_utf8_lossy(&export.stdout);
    assert!(!text.contains("ciphertext") && !text.contains("nonce"), "no sealed token is exported");
    for t in h.sim.issued_tokens() {
        assert!(!text.contains(&t), "no token is exported");
    }

    // The new shard: another state file, the same tenant.
    let moved = h.dir.path().join("moved.json");
    std::fs::write(&moved, &export.stdout).unwrap();
    let other = h.dir.path().join("other/collector.db");
    let text = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace(&h.state().display().to_string(), &other.display().to_string());
    let config = h.dir.path().join("other.toml");
    std::fs::write(&config, text).unwrap();
    let run = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("esign-collector")
            .unwrap()
            .arg("--config")
            .arg(&config)
            .args(args)
            .timeout(common::RUN_TIMEOUT)
            .env_remove("ESIGN_COLLECTOR_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&["state", "import", moved.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Nothing new: nothing comes again (the ledger and the user records came along).
    let out = run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ids(&out).is_empty(), "replayed: {:?}", ids(&out).len());
    // New events and a changed user: exactly those.
    h.sim.append_events(25);
    h.sim.modify_users(2);
    let out = run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let next = ids(&out);
    assert_eq!(next.len(), 27, "{next:?}");
    assert!(next.iter().all(|i| !first.contains(i)));

    // A bad document is refused and changes nothing.
    std::fs::write(&moved, r#"{"format": "something else"}"#).unwrap();
    let out = run(&["state", "import", moved.to_str().unwrap()]);
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    let out = h.run(&["state", "export"]);
    assert_eq!(code(&out), 2, "--tenant is required: {}", stderr(&out));
}

#[test]
fn export_and_import_are_refused_while_a_run_holds_the_lock() {
    let h = Harness::start(backlog(10), 0);
    h.write_config(&Opts { extra: "\n[metrics]\nlisten = \"127.0.0.1:0\"\n".into(), ..Opts::default() });
    assert_eq!(code(&h.run(&["fetch"])), 0);
    let mut daemon = h.spawn(&["run"], Stdio::null(), Stdio::null());
    // `run` takes the lock before its first cycle.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = h.run(&["state", "export", "--tenant", "default"]);
        if code(&out) == 8 {
            assert!(stderr(&out).to_lowercase().contains("lock"), "{}", stderr(&out));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "export was never refused: {}", stderr(&out));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = h.run(&["state", "import", "whatever.json"]);
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait(Duration::from_secs(30)).code(), Some(0));
}
