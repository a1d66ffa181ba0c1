//! Every command's happy path, and `get-events` moving no checkpoint.

mod common;
#[path = "support/connect.rs"]
mod connect;

use base64::Engine as _;
use common::{Harness, Opts, backlog, checkpoint, code, ids, lines, stderr};

#[test]
fn get_events_prints_and_moves_no_checkpoint() {
    let h = Harness::start(backlog(100), 12);
    h.write_config(&Opts { users: true, ..Opts::default() });
    let out = h.run(&["get-events", "--type", "customer-events", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out).len(), 10, "default limit 10");
    assert_eq!(checkpoint(&h.state(), "customer_events"), None);

    let out = h.run(&["get-events", "--type", "customer-events", "--limit", "3"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let header = text.lines().next().unwrap();
    for col in ["eventId", "timestamp", "userId", "object/action", "result", "ipAddress", "accountId"] {
        assert!(header.contains(col), "{header}");
    }
    assert!(text.contains("(3 records)"), "{text}");

    // After a fetch, get-events still moves nothing; --from-checkpoint peeks at what the
    // next fetch would read.
    assert_eq!(code(&h.run(&["fetch"])), 0);
    let before = checkpoint(&h.state(), "customer_events");
    let out = h.run(&["get-events", "--type", "customer-events", "--since", "3d", "--limit", "25", "--output", "json"]);
    assert_eq!(ids(&out).len(), 25);
    let out = h.run(&["get-events", "--type", "customer-events", "--from-checkpoint", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ids(&out).is_empty(), "nothing new after the fetch");
    h.sim.append_events(2);
    let out = h.run(&["get-events", "--type", "customer-events", "--from-checkpoint", "--output", "json"]);
    assert_eq!(ids(&out), h.sim.event_ids()[100..].to_vec());
    assert_eq!(checkpoint(&h.state(), "customer_events"), before);

    let out = h.run(&["get-events", "--type", "user-data", "--limit", "5"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().next().unwrap().contains("email"), "{text}");
    assert!(text.contains("(5 records)"), "{text}");
}

#[test]
fn auth_test_prints_ok_and_accounts() {
    let h = Harness::start(backlog(0), 0);
    let out = h.run(&["auth-test"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("ok\n"), "{text}");
    assert!(text.contains(&h.sc.account_id), "{text}");
    assert!(text.contains(&h.sc.organization_id), "{text}");
}

#[test]
fn consent_url_is_encoded_with_minimal_scopes() {
    let h = Harness::start(backlog(0), 0);
    let out = h.run(&["generate-consent-url"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        url.starts_with(&format!(
            "{}/oauth/auth?response_type=code&scope=signature%20impersonation&client_id=",
            h.base
        )),
        "{url}"
    );
    assert!(url.contains("redirect_uri=https%3A%2F%2Fdevelopers.docusign.com%2Fplatform%2Fauth%2Fconsent"), "{url}");

    h.write_config(&Opts { users: true, ..Opts::default() });
    let out = h.run(&["generate-consent-url"]);
    let url = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(url.contains("scope=signature%20impersonation%20organization_read%20user_read"), "{url}");
}

#[test]
fn token_is_cached_across_runs_and_reset_forgets_it() {
    let h = Harness::start(backlog(5), 0);
    assert_eq!(code(&h.run(&["fetch"])), 0);
    assert_eq!(code(&h.run(&["fetch"])), 0);
    assert_eq!(h.sim.stats().token_requests, 1, "second run reuses the sealed token");
    let out = h.run(&["reset-access-token"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Forgot 1 cached"));
    assert_eq!(code(&h.run(&["fetch"])), 0);
    assert_eq!(h.sim.stats().token_requests, 2);
}

#[test]
fn secrets_appear_nowhere() {
    let h = Harness::start(backlog(5), 0);
    let out = h.run(&["--log-level", "trace", "fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    h.sim.expire_tokens();
    let again = h.run(&["--log-level", "trace", "fetch"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let tokens = h.sim.issued_tokens();
    assert!(!tokens.is_empty());
    // A distinctive slice of the private key's base64 body.
    let pem = std::fs::read_to_string(h.dir.path().join("key.pem")).unwrap();
    let key_part: String = pem.lines().nth(5).unwrap().to_owned();
    let state_dir = h.state().parent().unwrap().to_owned();
    let mut haystacks = vec![out.stdout, out.stderr, again.stdout, again.stderr];
    for f in std::fs::read_dir(&state_dir).unwrap() {
        haystacks.push(std::fs::read(f.unwrap().path()).unwrap());
    }
    for hay in &haystacks {
        for needle in tokens.iter().map(String::as_str).chain([key_part.as_str()]) {
            assert!(!hay.windows(needle.len()).any(|w| w == needle.as_bytes()), "a secret leaked");
        }
    }
}

/// The secret canary of the push path: Connect's HMAC keys and the Basic auth password,
/// through signed, forged and unauthenticated requests at trace level, appear in no log, no
/// output line and no state file.
#[test]
fn receiver_secrets_appear_nowhere() {
    let (key_1, key_2, password) = ("CANARY-hmac-one-Zm9vYmFy=", "CANARY-hmac-two-YmF6cXV4=", "CANARY-basic-pw");
    let h = Harness::start(backlog(0), 0);
    let out = connect::out_file(h.dir.path());
    let receiver = "hmac_keys_env = [\"K1\", \"K2\"]\nbasic_auth_user = \"ds\"\nbasic_auth_password_env = \"PW\"";
    h.write_config(&Opts { events: false, users: false, extra: connect::tables(&out, receiver), ..Opts::default() });
    let d = connect::Daemon::start_at("trace", &h.config, &[("K1", key_1), ("K2", key_2), ("PW", password)], false);
    let body = connect::message("acct-1", "env-1", "envelope-sent", None, 1, 0);
    let auth = |pw: &str| {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("ds:{pw}"));
        ("Authorization".to_owned(), format!("Basic {b}"))
    };
    let mut good = connect::signed(&[key_1, key_2], &body);
    good.push(auth(password));
    assert_eq!(connect::post(d.addr, "/connect", &good, &body), 200);
    let mut forged = connect::signed(&["CANARY-forged"], &body);
    forged.push(auth(password));
    assert_eq!(connect::post(d.addr, "/connect", &forged, &body), 401);
    let mut wrong_pw = connect::signed(&[key_1], &body);
    wrong_pw.push(auth("CANARY-wrong-pw"));
    assert_eq!(connect::post(d.addr, "/connect", &wrong_pw, &body), 401);
    connect::until(std::time::Duration::from_secs(20), "the line delivered", || {
        (connect::file_lines(&out).len() == 1).then_some(())
    });
    let (status, logs) = d.stop();
    assert!(status.success());
    assert!(logs.len() > 5, "trace logs were written");
    let mut haystacks = vec![logs.join("\n").into_bytes(), std::fs::read(&out).unwrap()];
    for f in std::fs::read_dir(h.state().parent().unwrap()).unwrap() {
        haystacks.push(std::fs::read(f.unwrap().path()).unwrap());
    }
    let signatures = [connect::sign(key_1, &body), connect::sign(key_2, &body)];
    for hay in &haystacks {
        for needle in [key_1, key_2, password, "CANARY-wrong-pw", &signatures[0], &signatures[1]] {
            assert!(!hay.windows(needle.len()).any(|w| w == needle.as_bytes()), "a secret leaked: {needle}");
        }
        // The Basic auth header as sent.
        let header = base64::engine::general_purpose::STANDARD.encode(format!("ds:{password}"));
        assert!(!hay.windows(header.len()).any(|w| w == header.as_bytes()), "the Basic auth header leaked");
    }
}

#[test]
fn help_and_bad_config() {
    let h = Harness::start(backlog(0), 0);
    let out = h.run(&["--help"]);
    assert_eq!(code(&out), 0);
    for cmd in ["fetch", "run", "get-events", "auth-test", "generate-consent-url", "reset-access-token", "simulate"] {
        assert!(String::from_utf8_lossy(&out.stdout).contains(cmd), "{cmd}");
    }
    let cfg = std::fs::read_to_string(&h.config).unwrap().replace("timeout = \"5s\"", "timeout = \"5s\"\ntimeuot = 3");
    std::fs::write(&h.config, cfg).unwrap();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 2);
    let e = stderr(&out);
    assert!(e.contains("unknown field `timeuot`") && e.contains("line 12"), "{e}");
    let out = h.run(&["get-events", "--type", "customer-events", "--limit", "0"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn demo_environment_runs_out_of_the_box() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = std::fs::read_to_string("config.example.toml")
        .unwrap()
        .replace("path = \"state/esign-collector.db\"", &format!("path = \"{}\"", dir.path().join("s.db").display()));
    let path = dir.path().join("demo.toml");
    std::fs::write(&path, cfg).unwrap();
    let run = || {
        assert_cmd::Command::cargo_bin("esign-collector")
            .unwrap()
            .args(["fetch", "--config"])
            .arg(&path)
            .timeout(common::RUN_TIMEOUT)
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let l = lines(&out);
    assert!(l.iter().filter(|v| v["source_log_type"] == "customerevent").count() >= 2000, "a week of backlog");
    assert_eq!(l.iter().filter(|v| v["source_log_type"] == "auditusers").count(), 40);
    let out = run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let again = lines(&out);
    let first: std::collections::HashSet<_> = l.iter().map(|v| v["event_id"].clone()).collect();
    assert!(again.iter().all(|v| !first.contains(&v["event_id"])), "second demo run repeats nothing");
}

#[test]
fn simulate_serves_and_writes_a_working_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sim.toml");
    let key = dir.path().join("keys/sim.pem");
    let mut sim = common::Spawned::from(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("esign-collector"))
            .args(["simulate", "--port", "0", "--backlog", "300", "--write-config"])
            .arg(&cfg)
            .arg("--key-out")
            .arg(&key)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&cfg).is_ok_and(|t| t.contains("[state]")) {
        assert!(std::time::Instant::now() < deadline, "simulate wrote no config");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions()) & 0o777, 0o600);
    let out = assert_cmd::Command::cargo_bin("esign-collector")
        .unwrap()
        .args(["fetch", "--config"])
        .arg(&cfg)
        .current_dir(dir.path())
        .timeout(common::RUN_TIMEOUT)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let l = lines(&out);
    assert_eq!(l.iter().filter(|v| v["source_log_type"] == "customerevent").count(), 300);
    assert!(l.iter().any(|v| v["source_log_type"] == "auditusers"));
    // The Yousign simulator beside it: the same config reads it too.
    assert!(l.iter().any(|v| v["source_log_type"] == "yousign_signature_request"), "{}", stderr(&out));
    assert!(l.iter().any(|v| v["source_log_type"] == "yousign_user"));
    sim.signal(libc::SIGTERM);
    assert_eq!(sim.wait(std::time::Duration::from_secs(20)).code(), Some(0));
}

#[test]
fn a_cached_token_is_not_reused_for_other_scopes() {
    let h = Harness::start(backlog(5), 3);
    assert_eq!(code(&h.run(&["fetch"])), 0);
    // Enabling user data asks for more scopes: the token cached for fewer must not be reused.
    h.write_config(&Opts { users: true, ..Opts::default() });
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(h.sim.stats().token_requests, 2);
}

#[test]
fn a_token_reply_is_never_quoted() {
    use esign_sim::docusign::{Fault, FaultKind, Route};
    let h = Harness::start(backlog(5), 0);
    h.sim.push_fault(Fault { route: Route::Token, kind: FaultKind::Truncated, times: 100 });
    let out = h.run(&["--log-level", "trace", "fetch"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("access_token"), "{err}");
    for t in h.sim.issued_tokens() {
        assert!(!err.contains(&t[..12]), "part of a token leaked: {err}");
    }
}
