//! The Authorization Code Grant end to end: `auth login` through its loopback listener with
//! this test playing the browser (and with a pasted redirect), refresh tokens rotating across
//! process restarts, expiry and its warning, a revoked refresh token, a public (PKCE-only)
//! client, the Monitor rule, JWT key rotation while a timer runs, and a canary that no code,
//! verifier, token or secret reaches any output or the state file.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Harness, Opts, code, stderr};
use esign_sim::docusign::{DEFAULT_CLIENT_SECRET, LoginMode, RefreshRotation};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::Value;
use sha2::{Digest, Sha256};

const SECRET_VAR: &str = "DS_CLIENT_SECRET";

/// One HTTP/1.1 request on a fresh connection: status, head and body of the reply.
fn http(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, body) = reply.split_once("\r\n\r\n").map(|(h, b)| (h.to_owned(), b.to_owned())).unwrap_or_default();
    (status, head, body)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// GET `url` (absolute) as a browser that does not follow redirects.
fn get(url: &str) -> (u16, String, String) {
    let u = url::Url::parse(url).unwrap();
    let addr: SocketAddr = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap()).parse().unwrap();
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    http(addr, "GET", &target, &[], b"")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The harness's config turned into an authorization-code tenant reading Admin users
/// (`secret`: a confidential client; else a public one).
fn code_config(h: &Harness, secret: bool) {
    h.write_config(&Opts { events: false, users: true, ..Opts::default() });
    let text = std::fs::read_to_string(&h.config).unwrap();
    let key_line = text.lines().find(|l| l.starts_with("private_key_file")).unwrap().to_owned();
    let auth = if secret {
        format!("auth = \"authorization_code\"\nclient_secret_env = \"{SECRET_VAR}\"")
    } else {
        "auth = \"authorization_code\"".to_owned()
    };
    std::fs::write(&h.config, text.replace(&key_line, &auth)).unwrap();
}

/// A running `auth login`, its stderr collected.
struct LoginRun {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl LoginRun {
    fn start(h: &Harness, args: &[&str], stdin: bool) -> Self {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("esign-collector"));
        cmd.arg("--config").arg(&h.config).args(["auth", "login"]).args(args);
        cmd.env_remove("ESIGN_COLLECTOR_CONFIG")
            .env_remove("BROWSER")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        cmd.env(SECRET_VAR, DEFAULT_CLIENT_SECRET).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().unwrap();
        let err = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    /// The authorize URL it printed.
    fn url(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(u) = self.lines.lock().unwrap().iter().find(|l| l.contains("/oauth/auth?")) {
                return u.trim().to_owned();
            }
            assert!(Instant::now() < deadline, "no URL printed: {:?}", self.lines.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (at most 60 s) for the exit: its code and stderr.
    fn finish(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("auth login did not end: {:?}", self.lines.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        (status.code().unwrap_or(-1), self.lines.lock().unwrap().join("\n"))
    }
}

impl Drop for LoginRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a login showed the browser: the code DocuSign issued and the PKCE challenge.
struct Seen {
    code: String,
    challenge: String,
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

/// A whole login through the loopback listener; panics unless it exits 0.
fn login(h: &Harness) -> (Seen, String) {
    login_with(h, &[])
}

/// [`login`] with more arguments.
fn login_with(h: &Harness, extra: &[&str]) -> (Seen, String) {
    let port = free_port();
    let mut args = vec!["--port".to_owned(), port.to_string()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = LoginRun::start(h, &args, false);
    let url = run.url();
    assert!(url.starts_with(&h.base), "{url}");
    let q = query(&url);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], format!("http://127.0.0.1:{port}/callback"));
    assert!(q["scope"].split(' ').any(|s| s == "extended"), "{url}");
    let (status, head, _) = get(&url);
    assert_eq!(status, 302, "{head}");
    let location = header(&head, "location").unwrap();
    let code = query(&location)["code"].clone();
    let (status, _, body) = get(&location);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Logged in"), "{body}");
    let (exit, err) = run.finish();
    assert_eq!(exit, 0, "{err}");
    (Seen { code, challenge: q["code_challenge"].clone() }, err)
}

fn status_json(h: &Harness) -> (i32, Value) {
    let out = h.run(&["status", "--output", "json"]);
    (code(&out), serde_json::from_slice(&out.stdout).unwrap())
}

fn fetch(h: &Harness) -> std::process::Output {
    h.cmd(&["fetch"]).env(SECRET_VAR, DEFAULT_CLIENT_SECRET).output().unwrap()
}

#[test]
fn a_login_through_the_loopback_listener_then_refreshes_that_rotate_across_restarts() {
    let h = Harness::start(common::backlog(10), 30);
    code_config(&h, true);
    let (seen, _) = login(&h);
    let stats = h.sim.stats();
    assert_eq!((stats.code_grants, stats.refresh_grants), (1, 0));
    let (_, doc) = status_json(&h);
    let cred = &doc["credentials"][0];
    assert_eq!(cred["flow"], "authorization_code");
    assert!(cred["refresh_token"]["user"].as_str().unwrap().contains('@'), "{cred}");
    assert!(cred["refresh_token"]["expires_in_seconds"].as_i64().unwrap() > 29 * 86_400, "{cred}");
    assert_eq!(cred["problem"], Value::Null);

    // The login's access token serves the first fetch: no refresh yet.
    let out = fetch(&h);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(common::lines(&out).len(), 30);
    assert_eq!(h.sim.stats().refresh_grants, 0);

    // The access token expires: the next run (a new process) refreshes, and the refresh token rotates.
    let before = refresh_row(&h);
    h.sim.expire_tokens();
    let out = fetch(&h);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(h.sim.stats().refresh_grants, 1);
    let after = refresh_row(&h);
    assert_ne!(before.0, after.0, "a new sealed refresh token");
    assert!(after.1 >= before.1, "issued no earlier");
    // Under strict rotation the old token is dead: only the stored (new) one can work.
    h.sim.set_refresh_rotation(RefreshRotation::RevokeOld);
    for _ in 0..3 {
        h.sim.expire_tokens();
        let out = fetch(&h);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    assert_eq!(h.sim.stats().refresh_grants, 4);
    assert_eq!(h.sim.stats().code_grants, 1, "one login for all of it");

    canary(&h, &seen, &[]);
}

/// The stored refresh token's ciphertext and issue time.
fn refresh_row(h: &Harness) -> (Vec<u8>, i64) {
    let c = rusqlite::Connection::open(h.state()).unwrap();
    c.query_row("SELECT ciphertext, issued_at FROM refresh_tokens WHERE tenant = 'default'", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .unwrap()
}

/// No code, verifier, token or secret anywhere in the state folder or in `outputs`: every
/// access and refresh token the simulator ever issued is searched for, the login's own
/// (expired by now) included.
fn canary(h: &Harness, seen: &Seen, outputs: &[String]) {
    let access = h.sim.all_issued_tokens();
    let refresh = h.sim.all_issued_refresh_tokens();
    let stats = h.sim.stats();
    assert_eq!(access.len() as u64, stats.tokens_issued, "every access token issued is searched for");
    assert_eq!(refresh.len() as u64, stats.code_grants + stats.refresh_grants, "every refresh token too");
    assert!(access.len() >= 2 && !refresh.is_empty(), "a login and a refresh at least");
    let mut secrets = access;
    secrets.extend(refresh);
    secrets.push(seen.code.clone());
    secrets.push(DEFAULT_CLIENT_SECRET.to_owned());
    let mut haystacks: Vec<(String, Vec<u8>)> =
        outputs.iter().map(|o| ("output".to_owned(), o.clone().into_bytes())).collect();
    for entry in std::fs::read_dir(h.state().parent().unwrap()).unwrap() {
        let p = entry.unwrap().path();
        haystacks.push((p.display().to_string(), std::fs::read(&p).unwrap()));
    }
    for (name, hay) in &haystacks {
        for s in &secrets {
            assert!(!hay.windows(s.len()).any(|w| w == s.as_bytes()), "{name} holds a secret");
        }
        // The PKCE verifier: any URL-safe word whose S256 is the login's challenge.
        let text = String::from_utf8_lossy(hay);
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
            if (43..=128).contains(&word.len()) {
                let c = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(word.as_bytes()));
                assert_ne!(c, seen.challenge, "{name} holds the PKCE verifier");
            }
        }
    }
}

#[test]
fn every_secret_stays_out_of_traces_logs_and_state() {
    let h = Harness::start(common::backlog(5), 5);
    code_config(&h, true);
    let login_trace = h.dir.path().join("login-trace.jsonl");
    let (seen, login_err) = login_with(&h, &["--log-level", "trace", "--trace-http", login_trace.to_str().unwrap()]);
    h.sim.expire_tokens();
    let trace = h.dir.path().join("trace.jsonl");
    let out = h
        .cmd(&["--log-level", "trace", "--trace-http", trace.to_str().unwrap(), "fetch"])
        .env(SECRET_VAR, DEFAULT_CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status = h.run(&["status", "--output", "json"]);
    let outputs = vec![
        login_err,
        stderr(&out),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read_to_string(&trace).unwrap(),
        String::from_utf8_lossy(&status.stdout).into_owned(),
        std::fs::read_to_string(&login_trace).unwrap(),
    ];
    assert!(outputs[3].contains("refresh_token"), "the trace records the refresh request");
    assert!(outputs[5].contains("code_verifier"), "the login's trace records the code exchange");
    canary(&h, &seen, &outputs);
}

#[test]
fn no_browser_reads_the_pasted_redirect_and_refuses_another_logins() {
    let h = Harness::start(common::backlog(5), 5);
    code_config(&h, true);
    // A redirect from another login (its state is not ours) is refused: exit 3.
    let run = LoginRun::start(&h, &["--no-browser"], true);
    let url = run.url();
    let (_, head, _) = get(&url);
    let location = header(&head, "location").unwrap();
    let forged = location.replace(&format!("state={}", query(&location)["state"]), "state=someone-elses");
    let mut r = run;
    r.child.stdin.take().unwrap().write_all(format!("{forged}\n").as_bytes()).unwrap();
    let (exit, err) = r.finish();
    assert_eq!(exit, 3, "{err}");
    assert!(err.contains("state does not match"), "{err}");

    let run = LoginRun::start(&h, &["--no-browser"], true);
    let url = run.url();
    let (_, head, _) = get(&url);
    let location = header(&head, "location").unwrap();
    let mut r = run;
    r.child.stdin.take().unwrap().write_all(format!("{location}\n").as_bytes()).unwrap();
    let (exit, err) = r.finish();
    assert_eq!(exit, 0, "{err}");
    let out = fetch(&h);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn the_consent_page_can_be_accepted_or_declined_and_a_public_client_needs_no_secret() {
    let h = Harness::start(common::backlog(5), 5);
    code_config(&h, false);
    h.sim.set_login_mode(LoginMode::ConsentPage);
    let sim: SocketAddr = h.base.trim_start_matches("http://").parse().unwrap();
    let consent = |decision: &str| {
        let port = free_port();
        let run = LoginRun::start(&h, &["--port", &port.to_string()], false);
        let (status, _, page) = get(&run.url());
        assert_eq!(status, 200);
        let request = page.split("name=\"request\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let form = format!("request={request}&decision={decision}");
        let (status, head, _) = http(
            sim,
            "POST",
            "/oauth/auth/consent",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        );
        assert_eq!(status, 302, "{head}");
        let (_, _, body) = get(&header(&head, "location").unwrap());
        (run.finish(), body)
    };
    let ((exit, err), body) = consent("deny");
    assert_eq!(exit, 3, "{err}");
    assert!(err.contains("access_denied") && body.contains("access_denied"), "{err}\n{body}");
    let ((exit, err), _) = consent("accept");
    assert_eq!(exit, 0, "{err}");
    let out = fetch(&h);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_revoked_or_expired_refresh_token_asks_for_a_new_login() {
    let h = Harness::start(common::backlog(5), 5);
    code_config(&h, true);
    login(&h);
    h.sim.revoke_refresh_tokens();
    h.sim.expire_tokens();
    let out = fetch(&h);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("auth login --tenant default"), "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid_grant"), "{}", stderr(&out));

    // The refusal shows at once, long before the stored expiry: status fails (exit 10).
    let (exit, doc) = status_json(&h);
    assert_eq!(exit, 10, "{doc}");
    let problem = doc["credentials"][0]["problem"].as_str().unwrap_or_default().to_owned();
    assert!(problem.contains("refused") && problem.contains("invalid_grant"), "{doc}");
    assert!(problem.contains("auth login --tenant default"), "{doc}");
    assert!(doc["credentials"][0]["refresh_token"]["expires_in_seconds"].as_i64().unwrap() > 29 * 86_400, "{doc}");
    // And the refused token is not sent to DocuSign again.
    let asked = h.sim.stats().token_requests;
    let out = fetch(&h);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("auth login --tenant default"), "{}", stderr(&out));
    assert_eq!(h.sim.stats().token_requests, asked, "no token request for a refused refresh token");

    // A new login mends it, and clears the refusal.
    login(&h);
    let (_, doc) = status_json(&h);
    assert_eq!(doc["credentials"][0]["problem"], Value::Null, "{doc}");
    h.sim.expire_tokens();
    let out = fetch(&h);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(h.sim.stats().refresh_grants, 1, "the new login's refresh token is used");
    let (exit, doc) = status_json(&h);
    assert_eq!(exit, 0, "{doc}");

    // Six days before its expiry the status warns (and still exits 0); after it, status and
    // fetch say a login is needed.
    let set_expiry = |at: i64| {
        let c = rusqlite::Connection::open(h.state()).unwrap();
        c.execute("UPDATE refresh_tokens SET expires_at = ?1", [at]).unwrap();
    };
    let now = chrono::Utc::now().timestamp();
    set_expiry(now + 6 * 86_400);
    let (exit, doc) = status_json(&h);
    assert_eq!(exit, 0, "{doc}");
    let warnings = doc["credentials"][0]["warnings"].to_string();
    assert!(warnings.contains("expires in 6d"), "{warnings}");
    set_expiry(now - 60);
    let (exit, doc) = status_json(&h);
    assert_eq!(exit, 10, "{doc}");
    assert!(doc["credentials"][0]["problem"].as_str().unwrap().contains("expired"), "{doc}");
    h.sim.expire_tokens();
    let out = fetch(&h);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("auth login --tenant default"), "{}", stderr(&out));
}

#[test]
fn monitor_with_the_code_grant_is_a_configuration_error() {
    let h = Harness::start(common::backlog(5), 5);
    code_config(&h, true);
    let text = std::fs::read_to_string(&h.config).unwrap();
    std::fs::write(
        &h.config,
        text.replace("[sources.customer_events]\nenabled = false", "[sources.customer_events]\nenabled = true"),
    )
    .unwrap();
    let out = fetch(&h);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("JWT Authentication Grant"), "{}", stderr(&out));
    // And `auth login` on a JWT-only configuration says what it is for.
    h.write_config(&Opts::default());
    let out = h.run(&["auth", "login", "--no-browser"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("authorization_code"), "{}", stderr(&out));
}

#[test]
fn a_jwt_key_rotation_while_a_timer_runs() {
    let h = Harness::start(common::backlog(20), 5);
    // The new key is listed first; DocuSign knows only the old one (the harness's) yet.
    let new = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let new_pem = h.dir.path().join("new.pem");
    common::write_private(&new_pem, new.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes());
    let new_public = new.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let old_pem = h.dir.path().join("key.pem");
    let text = std::fs::read_to_string(&h.config).unwrap();
    let key_line = text.lines().find(|l| l.starts_with("private_key_file")).unwrap().to_owned();
    let keys =
        format!("private_key_files = [{:?}, {:?}]", new_pem.display().to_string(), old_pem.display().to_string());
    std::fs::write(&h.config, text.replace(&key_line, &keys)).unwrap();

    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("trying the next key"), "{}", stderr(&out));
    let (exit, doc) = status_json(&h);
    assert_eq!(exit, 0, "{doc}");
    let cred = &doc["credentials"][0];
    assert_eq!((cred["key_in_use"].as_i64(), cred["key_count"].as_i64()), (Some(2), Some(2)), "{cred}");
    assert!(cred["warnings"].to_string().contains("refused the first private key"), "{cred}");
    let table = String::from_utf8_lossy(&h.run(&["status"]).stdout).into_owned();
    assert!(table.contains("key 2 of 2 in use") && table.contains("WARNING"), "{table}");

    // The timer's next runs: the operator registers the new key; once the cached token
    // expires the first key is used and the warning clears.
    h.sim.append_events(5);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    h.sim.set_public_keys(vec![new_public.clone(), h.sc.public_key_pem.clone()]);
    h.sim.expire_tokens();
    h.sim.append_events(5);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("trying the next key"), "{}", stderr(&out));
    let (_, doc) = status_json(&h);
    let cred = &doc["credentials"][0];
    assert_eq!(cred["key_in_use"].as_i64(), Some(1), "{cred}");
    assert_eq!(cred["warnings"], serde_json::json!([]), "{cred}");
    // The old key is retired at DocuSign: nothing changes for the collector.
    h.sim.set_public_keys(vec![new_public]);
    h.sim.expire_tokens();
    h.sim.append_events(5);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let delivered = common::checkpoint(&h.state(), "customer_events");
    assert!(delivered.is_some());
}

/// Crash points around a rotation (`failpoints` builds): at each, the next run can still
/// refresh; with strict rotation too, except in the one window DocuSign's reply is not yet
/// committed (see the next test).
#[cfg(feature = "failpoints")]
#[test]
fn a_crash_at_any_step_of_a_rotation_keeps_the_ability_to_refresh() {
    let cases = [
        ("refresh_before_send", RefreshRotation::KeepOld),
        ("refresh_after_reply", RefreshRotation::KeepOld),
        ("refresh_after_store", RefreshRotation::KeepOld),
        ("refresh_before_send", RefreshRotation::RevokeOld),
        ("refresh_after_store", RefreshRotation::RevokeOld),
    ];
    for (point, rotation) in cases {
        let h = Harness::start(common::backlog(5), 5);
        code_config(&h, true);
        login(&h);
        h.sim.set_refresh_rotation(rotation);
        h.sim.expire_tokens();
        let out = h
            .cmd(&["fetch"])
            .env(SECRET_VAR, DEFAULT_CLIENT_SECRET)
            .env("ESIGN_COLLECTOR_FAILPOINT", format!("{point}:1"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{point}: {}", stderr(&out));
        assert!(stderr(&out).contains("failpoint"), "{point}: {}", stderr(&out));
        for round in 0..2 {
            h.sim.expire_tokens();
            let out = fetch(&h);
            assert_eq!(code(&out), 0, "{point} {rotation:?} round {round}: {}", stderr(&out));
        }
    }
}

/// With strict rotation (the used token revoked at once), a crash after DocuSign's reply and
/// before the commit loses the chain: the next run says to log in again (exit 4) instead of
/// failing obscurely. DocuSign does not document revoking a used refresh token.
#[cfg(feature = "failpoints")]
#[test]
fn strict_rotation_loses_the_chain_only_between_the_reply_and_its_commit() {
    let h = Harness::start(common::backlog(5), 5);
    code_config(&h, true);
    login(&h);
    h.sim.set_refresh_rotation(RefreshRotation::RevokeOld);
    h.sim.expire_tokens();
    let out = h
        .cmd(&["fetch"])
        .env(SECRET_VAR, DEFAULT_CLIENT_SECRET)
        .env("ESIGN_COLLECTOR_FAILPOINT", "refresh_after_reply:1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = fetch(&h);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("auth login --tenant default"), "{}", stderr(&out));
}

/// `run` serving `/healthz` and `/metrics`; killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `GET path` until `done` accepts the reply (at most 30 s).
fn poll(addr: SocketAddr, path: &str, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            drop(s.set_read_timeout(Some(Duration::from_secs(10))));
            let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).is_ok() {
                let mut reply = String::new();
                let _ = s.read_to_string(&mut reply);
                let status = reply.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
                let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
                if done(status, &body) {
                    return (status, body);
                }
            }
        }
        assert!(Instant::now() < deadline, "{path} never answered as expected");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn healthz_and_metrics_show_the_refresh_tokens_age_and_expiry() {
    let h = Harness::start(common::backlog(5), 5);
    code_config(&h, true);
    login(&h);
    let port = free_port();
    let text = std::fs::read_to_string(&h.config).unwrap();
    std::fs::write(&h.config, format!("{text}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n")).unwrap();
    let set_expiry = |at: i64| {
        let c = rusqlite::Connection::open(h.state()).unwrap();
        c.execute("UPDATE refresh_tokens SET expires_at = ?1", [at]).unwrap();
    };
    let now = chrono::Utc::now().timestamp();
    set_expiry(now + 6 * 86_400);
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("esign-collector"));
    cmd.arg("--config").arg(&h.config).arg("run").env_remove("ESIGN_COLLECTOR_CONFIG");
    cmd.env(SECRET_VAR, DEFAULT_CLIENT_SECRET).stdout(Stdio::null()).stderr(Stdio::null());
    let _daemon = Daemon(cmd.spawn().unwrap());
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // The first cycle uses the login's access token: healthy, with the expiry warning.
    let (_, body) = poll(addr, "/healthz", |s, _| s == 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    let cred = &doc["credentials"][0];
    assert_eq!(cred["flow"], "authorization_code", "{doc}");
    assert!(cred["warnings"].to_string().contains("expires in"), "{doc}");
    let age = cred["refresh_token"]["age_seconds"].as_i64().unwrap();
    assert!((0..600).contains(&age), "{doc}");
    let (_, metrics) = poll(addr, "/metrics", |s, _| s == 200);
    let series = |name: &str| {
        let prefix = format!("{name}{{tenant=\"default\",flow=\"authorization_code\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().parse::<f64>().unwrap()))
    };
    assert_eq!(series("esign_auth_refresh_token_expiring"), Some(1.0), "{metrics}");
    assert_eq!(series("esign_auth_login_required"), Some(0.0), "{metrics}");
    #[allow(clippy::cast_precision_loss)]
    let expiry = (now + 6 * 86_400) as f64;
    assert_eq!(series("esign_auth_refresh_token_expiry_timestamp_seconds"), Some(expiry), "{metrics}");
    assert!(series("esign_auth_refresh_token_age_seconds").is_some(), "{metrics}");
    // Expired: /healthz says a login is needed.
    set_expiry(now - 60);
    let (_, body) = poll(addr, "/healthz", |s, _| s == 503);
    assert!(body.contains("auth login --tenant default"), "{body}");

    // A new login (while `run` runs), then its refresh token refused by DocuSign (revoked) in
    // a `get-events` beside `run`: /healthz and the gauge say so at once, although the stored
    // expiry is 30 days away. (The expiry edited above is sealed with the token, which no
    // longer opens: only a login mends that.)
    login(&h);
    poll(addr, "/healthz", |s, _| s == 200);
    h.sim.revoke_refresh_tokens();
    h.sim.expire_tokens();
    let out = h
        .cmd(&["get-events", "--type", "user-data", "--limit", "1"])
        .env(SECRET_VAR, DEFAULT_CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid_grant"), "{}", stderr(&out));
    let (_, body) = poll(addr, "/healthz", |s, _| s == 503);
    assert!(body.contains("refused") && body.contains("auth login --tenant default"), "{body}");
    let login_required = || {
        let (_, metrics) = poll(addr, "/metrics", |s, _| s == 200);
        let prefix = "esign_auth_login_required{tenant=\"default\",flow=\"authorization_code\"} ";
        metrics.lines().find_map(|l| l.strip_prefix(prefix).map(|v| v.trim().parse::<f64>().unwrap()))
    };
    assert_eq!(login_required(), Some(1.0));
    // A new login (while `run` runs) clears it.
    login(&h);
    poll(addr, "/healthz", |s, _| s == 200);
    assert_eq!(login_required(), Some(0.0));
}

#[test]
fn a_login_nobody_completes_gives_up_after_its_timeout() {
    let h = Harness::start(common::backlog(5), 5);
    code_config(&h, true);
    // The listener waits `--timeout`, then says so: exit 3 (a login that did not complete).
    let port = free_port();
    let started = Instant::now();
    let run = LoginRun::start(&h, &["--port", &port.to_string(), "--timeout", "1s"], false);
    assert!(run.url().contains("/oauth/auth?"));
    let (exit, err) = run.finish();
    assert_eq!(exit, 3, "{err}");
    assert!(err.contains("no login completed within 1 s") && err.contains("auth login"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "it gave up in time");
    // Waiting for a paste (stdin left open, nothing typed) gives up the same way.
    let run = LoginRun::start(&h, &["--no-browser", "--timeout", "1s"], true);
    let (exit, err) = run.finish();
    assert_eq!(exit, 3, "{err}");
    assert!(err.contains("no login completed within 1 s"), "{err}");
    assert_eq!(h.sim.stats().code_grants, 0);
    let (exit, doc) = status_json(&h);
    assert_eq!(exit, 10, "still no login: {doc}");
    assert!(doc["credentials"][0]["problem"].as_str().unwrap().contains("no login is stored"), "{doc}");
}

#[test]
fn a_busy_port_is_a_usage_error_naming_the_port() {
    let h = Harness::start(common::backlog(5), 5);
    code_config(&h, true);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = h
        .cmd(&["auth", "login", "--port", &port.to_string(), "--timeout", "5s"])
        .env(SECRET_VAR, DEFAULT_CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("127.0.0.1:{port}")), "{}", stderr(&out));
    assert!(stderr(&out).contains("--port"), "{}", stderr(&out));
    assert_eq!(h.sim.stats().authorize_requests, 0);
    drop(taken);
}

#[test]
fn auth_login_picks_its_tenant_among_several() {
    let h = Harness::start(common::backlog(5), 5);
    code_config(&h, true);
    let text = std::fs::read_to_string(&h.config).unwrap();
    let key = h.dir.path().join("key.pem");
    let tenants = format!(
        "{text}\n[[tenants]]\nname = \"alpha\"\n\n[[tenants]]\nname = \"beta\"\n\n\
         [[tenants]]\nname = \"jot\"\nauth = \"jwt\"\nprivate_key_file = {:?}\n",
        key.display().to_string()
    );
    std::fs::write(&h.config, tenants).unwrap();
    // Two code-grant tenants: `auth login` alone cannot choose, and names them.
    let out = h.run(&["auth", "login", "--no-browser", "--timeout", "5s"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("several tenants") && stderr(&out).contains("alpha, beta"), "{}", stderr(&out));
    // A JWT tenant has nothing to log in.
    let out = h.run(&["--tenant", "jot", "auth", "login", "--no-browser", "--timeout", "5s"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("\"jot\" uses the JWT grant"), "{}", stderr(&out));
    assert!(stderr(&out).contains("authorization_code"), "{}", stderr(&out));
    assert_eq!(h.sim.stats().authorize_requests, 0);
    // Named, one of them logs in; the other still needs its login.
    login_with(&h, &["--tenant", "beta"]);
    let (exit, doc) = status_json(&h);
    assert_eq!(exit, 10, "{doc}");
    let creds = doc["credentials"].as_array().unwrap();
    let of = |name: &str| creds.iter().find(|c| c["tenant"] == name).unwrap().clone();
    assert_eq!(of("beta")["problem"], Value::Null, "{doc}");
    assert!(of("alpha")["problem"].as_str().unwrap().contains("auth login --tenant alpha"), "{doc}");
    assert_eq!(of("jot")["flow"], "jwt", "{doc}");
}

#[test]
fn a_login_without_the_scopes_a_newly_enabled_source_needs_asks_for_a_new_one() {
    let h = Harness::start(common::backlog(5), 5);
    // Logged in while only envelopes were collected: `signature extended`, no Admin scopes.
    h.write_config(&Opts {
        events: false,
        users: false,
        extra: "[sources.envelopes]\nenabled = true\n".into(),
        ..Opts::default()
    });
    let text = std::fs::read_to_string(&h.config).unwrap();
    let key_line = text.lines().find(|l| l.starts_with("private_key_file")).unwrap().to_owned();
    let code_grant = format!("auth = \"authorization_code\"\nclient_secret_env = \"{SECRET_VAR}\"");
    std::fs::write(&h.config, text.replace(&key_line, &code_grant)).unwrap();
    let (_, err) = login(&h);
    assert!(!err.contains("organization_read"), "{err}");
    // Then user data is enabled: the next refresh refuses the stored login, naming the scope.
    let text = std::fs::read_to_string(&h.config).unwrap();
    std::fs::write(
        &h.config,
        text.replace("[sources.user_data]\nenabled = false", "[sources.user_data]\nenabled = true"),
    )
    .unwrap();
    h.sim.expire_tokens();
    let asked = h.sim.stats().refresh_grants;
    let out = fetch(&h);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("need `organization_read`"), "{err}");
    assert!(err.contains("auth login --tenant default"), "{err}");
    assert_eq!(h.sim.stats().refresh_grants, asked, "no refresh with a login that cannot serve");
    // A new login asks for the Admin scopes too, and serves.
    login(&h);
    let out = fetch(&h);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
