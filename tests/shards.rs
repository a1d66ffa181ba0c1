//! Static sharding: with `[shard] count = N`, each process collects exactly the tenants whose
//! name hashes to its index (or that name its shard), `status` lists what it owns and skips,
//! `--tenant` refuses another shard's tenant, and `index = "auto"` reads a StatefulSet pod's
//! ordinal or an Indexed Job's `JOB_COMPLETION_INDEX`. The shards together collect every
//! tenant once.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{Harness, backlog, code, lines, stderr};
use esign_collector::config::shard_of;
use serde_json::Value;

const TENANTS: [&str; 6] = ["acme", "globex", "initech", "umbrella", "hooli", "pinned"];

/// A config with six tenants on the harness's simulator (`pinned` names shard 1), sharded in
/// `count` with `index`, each shard with its own state file.
fn sharded(h: &Harness, count: u32, index: &str, state: &str) -> std::path::PathBuf {
    let mut text = format!(
        "[docusign]\nenvironment = \"developer\"\nintegration_key = \"{}\"\nuser_id = \"{}\"\naccount_id = \"{}\"\n\
         organization_id = \"{}\"\nprivate_key_file = \"{}\"\nauth_base_url = \"{base}\"\nmonitor_base_url = \"{base}\"\n\
         admin_base_url = \"{base}/management\"\ntimeout = \"5s\"\n\n[shard]\ncount = {count}\nindex = {index}\n\n\
         [state]\npath = \"{}\"\n\n[rate_limit]\ninitial_backoff = \"100ms\"\nmax_backoff = \"1s\"\n\n",
        h.sc.integration_key,
        h.sc.user_id,
        h.sc.account_id,
        h.sc.organization_id,
        h.dir.path().join("key.pem").display(),
        h.dir.path().join(state).display(),
        base = h.base,
    );
    for t in TENANTS {
        text.push_str("[[tenants]]\nname = \"");
        text.push_str(t);
        text.push_str("\"\n");
        if t == "pinned" {
            text.push_str("shard = 1\n");
        }
    }
    let path = h.dir.path().join(format!("{state}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn run(config: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = assert_cmd::Command::cargo_bin("esign-collector").unwrap();
    c.arg("--config").arg(config).args(args).timeout(common::RUN_TIMEOUT).env_remove("ESIGN_COLLECTOR_CONFIG");
    c.env_remove("JOB_COMPLETION_INDEX");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn tenants_of(out: &std::process::Output) -> BTreeSet<String> {
    lines(out).iter().filter_map(|v| v["_tenant"].as_str().map(str::to_owned)).collect()
}

#[test]
fn each_shard_collects_its_tenants_and_together_they_collect_all_once() {
    let h = Harness::start(backlog(4), 0);
    let expected = |index: u32| -> BTreeSet<String> {
        TENANTS
            .iter()
            .filter(|t| if **t == "pinned" { index == 1 } else { shard_of(t, 3) == index })
            .map(|t| (*t).to_owned())
            .collect()
    };
    let mut union = BTreeSet::new();
    for index in 0..3 {
        let config = sharded(&h, 3, &index.to_string(), &format!("shard-{index}.db"));
        let out = run(&config, &["fetch"], &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let got = tenants_of(&out);
        assert_eq!(got, expected(index), "shard {index}");
        assert!(got.iter().all(|t| union.insert(t.clone())), "a tenant collected by two shards");
        let status = run(&config, &["status", "--output", "json"], &[]);
        let doc: Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(doc["shard"]["index"], index, "{doc}");
        let owned: BTreeSet<String> =
            doc["shard"]["owned"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        let skipped = doc["shard"]["skipped"].as_array().unwrap().len();
        assert_eq!(owned, expected(index));
        assert_eq!(owned.len() + skipped, TENANTS.len());
        let listed: BTreeSet<&str> =
            doc["sources"].as_array().unwrap().iter().map(|s| s["tenant"].as_str().unwrap()).collect();
        assert!(listed.iter().all(|t| owned.contains(*t)), "status judges only the shard's tenants: {listed:?}");
        assert_eq!(code(&status), 0, "the skipped tenants are not stale: {doc}");
        let table = String::from_utf8_lossy(&run(&config, &["status"], &[]).stdout).into_owned();
        assert!(table.contains(&format!("SHARD {index} of 3")), "{table}");
    }
    assert_eq!(union.len(), TENANTS.len(), "every tenant once");

    // Another shard's tenant is refused by name.
    let config = sharded(&h, 3, "0", "shard-0.db");
    let out = run(&config, &["fetch", "--tenant", "pinned"], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("belongs to shard 1 of 3"), "{}", stderr(&out));
}

#[test]
fn auto_takes_the_pod_ordinal_or_the_job_index() {
    let h = Harness::start(backlog(2), 0);
    let config = sharded(&h, 2, "\"auto\"", "auto.db");
    let mine = |i: u32| -> BTreeSet<String> {
        TENANTS
            .iter()
            .filter(|t| if **t == "pinned" { i == 1 } else { shard_of(t, 2) == i })
            .map(|t| (*t).to_owned())
            .collect()
    };
    let out = run(&config, &["fetch"], &[("HOSTNAME", "esign-collector-1")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(tenants_of(&out), mine(1));
    let out = run(&config, &["fetch"], &[("HOSTNAME", "esign-collector-1"), ("JOB_COMPLETION_INDEX", "0")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(tenants_of(&out), mine(0), "the job index wins");
    let out = run(&config, &["fetch"], &[("HOSTNAME", "laptop")]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("shard.index"), "{}", stderr(&out));
}
