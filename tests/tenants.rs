//! Several tenants in one configuration: each collected in the same run, with its own
//! checkpoints, ledger and token, and its lines labelled; `--tenant` narrows any command.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, backlog, code, ids, lines, stderr};

/// A config in `a`'s folder with tenant `acme` on simulator `a` and `globex` on simulator `b`
/// (its own integration key and key file).
fn two_tenants(a: &Harness, b: &Harness) -> std::path::PathBuf {
    let tenant = |name: &str, h: &Harness| {
        format!(
            "[[tenants]]\nname = \"{name}\"\nintegration_key = \"{}\"\nuser_id = \"{}\"\naccount_id = \"{}\"\n\
             organization_id = \"{}\"\nprivate_key_file = \"{}\"\nauth_base_url = \"{base}\"\n\
             monitor_base_url = \"{base}\"\nadmin_base_url = \"{base}/management\"\n",
            h.sc.integration_key,
            h.sc.user_id,
            h.sc.account_id,
            h.sc.organization_id,
            h.dir.path().join("key.pem").display(),
            base = h.base,
        )
    };
    let text = format!(
        "[docusign]\nenvironment = \"developer\"\ntimeout = \"5s\"\n\n[state]\npath = \"{}\"\n\n\
         [rate_limit]\ninitial_backoff = \"100ms\"\nmax_backoff = \"1s\"\n\n{}\n{}",
        a.state().display(),
        tenant("acme", a),
        tenant("globex", b),
    );
    let path = a.dir.path().join("tenants.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("esign-collector")
        .unwrap()
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("ESIGN_COLLECTOR_CONFIG")
        .env_remove("ESIGN_COLLECTOR_TENANT")
        .timeout(common::RUN_TIMEOUT)
        .output()
        .unwrap()
}

fn checkpoints(a: &Harness) -> Vec<(String, String)> {
    let c = rusqlite::Connection::open(a.state()).unwrap();
    let mut st = c.prepare("SELECT tenant, source FROM checkpoints ORDER BY tenant, source").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

#[test]
fn two_tenants_in_one_run_with_separate_checkpoints() {
    let (a, b) = (Harness::start(backlog(300), 0), Harness::start(backlog(450), 0));
    let config = two_tenants(&a, &b);
    let out = run(&config, &["fetch", "--all"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = lines(&out);
    let of = |t: &str| got.iter().filter(|l| l["_tenant"] == t).count();
    assert_eq!((of("acme"), of("globex"), got.len()), (300, 450, 750), "every line says its tenant");
    let mut want: Vec<String> = a.sim.event_ids().into_iter().chain(b.sim.event_ids()).collect();
    let mut seen = ids(&out);
    want.sort();
    seen.sort();
    assert_eq!(seen, want, "each tenant's own events, nothing lost or mixed");
    assert_eq!(
        checkpoints(&a),
        [("acme".into(), "customer_events".into()), ("globex".into(), "customer_events".into())]
    );
    assert!(stderr(&out).contains("acme") && stderr(&out).contains("globex"), "logs name the tenant");

    // New events for one tenant only: the other's checkpoint is untouched and re-reads nothing.
    b.sim.append_events(20);
    let out = run(&config, &["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = lines(&out);
    assert_eq!(got.len(), 20);
    assert!(got.iter().all(|l| l["_tenant"] == "globex"));

    // --tenant narrows a command to one tenant.
    a.sim.append_events(5);
    b.sim.append_events(7);
    let out = run(&config, &["--tenant", "globex", "fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(lines(&out).len(), 7);
    let out = run(&config, &["fetch"]);
    assert_eq!(lines(&out).len(), 5, "acme's events waited for its own run");
}

#[test]
fn tenant_selection_errors_are_clear() {
    let (a, b) = (Harness::start(backlog(3), 0), Harness::start(backlog(3), 0));
    let config = two_tenants(&a, &b);
    let out = run(&config, &["--tenant", "initech", "fetch"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("no tenant is called \"initech\"; configured: acme, globex"), "{}", stderr(&out));
    let out = run(&config, &["get-events", "--type", "customer-events"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--tenant"), "{}", stderr(&out));
    let out = run(&config, &["--tenant", "acme", "get-events", "--type", "customer-events", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(lines(&out).len(), 3);
    let out = run(&config, &["generate-consent-url"]);
    assert_eq!(code(&out), 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("acme\t") && text.contains("\nglobex\t"), "{text}");
    assert!(text.contains(&b.sc.integration_key), "globex's own integration key: {text}");
}

#[test]
fn single_tenant_lines_are_unchanged() {
    let h = Harness::start(backlog(5), 0);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(lines(&out).iter().all(|l| l.get("_tenant").is_none()));
    let c = rusqlite::Connection::open(h.state()).unwrap();
    let t: String = c.query_row("SELECT tenant FROM checkpoints", [], |r| r.get(0)).unwrap();
    assert_eq!(t, "default", "existing state files keep working");
}
