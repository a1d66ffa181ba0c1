//! `run` hosting `[receivers.connect]` on 127.0.0.1, with a file sink: DocuSign Connect
//! messages signed as DocuSign signs them are delivered once each (redeliveries and copies
//! absorbed), keys rotate, and every kind of bad request is refused with its status, counted
//! in the metrics and logged without the body, a signature or a key; a slow client is cut off;
//! Basic auth, routing to tenants and TLS.
// Counters are whole numbers, exactly representable: comparing them exactly is right.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use, clippy::float_cmp)]

use std::fmt::Write as _;

mod common;
#[path = "support/connect.rs"]
mod connect;
#[path = "support/rsyslog.rs"]
mod rsyslog;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Harness, Opts, backlog};
use connect::{Daemon, file_lines, message, out_file, post, request, sample, signed, tables, until};
use serde_json::Value;

const KEY_1: &str = "hmac-key-one-CANARYKEY1=";
const KEY_2: &str = "hmac-key-two-CANARYKEY2=";
const ACCOUNT: &str = "6a3b1c2d-0000-4000-8000-00000000a001";

fn harness(receiver: &str, extra: &str) -> Harness {
    let h = Harness::start(backlog(0), 0);
    let extra = format!("{}{extra}", tables(&out_file(h.dir.path()), receiver));
    h.write_config(&Opts { events: false, users: false, extra, ..Opts::default() });
    h
}

/// The file sink's lines of pushed messages. The collector's own health lines (a minute's
/// refused signatures) are left out: they reach the sink whenever a test straddles a
/// clock minute, and the health tests count them on their own.
fn messages(h: &Harness) -> Vec<Value> {
    let mut lines = file_lines(&out_file(h.dir.path()));
    lines.retain(|l| l["source_log_type"] != "collector_health");
    lines
}

/// Waits until the file sink holds `n` message lines, and a little longer to see no more arrive.
fn delivered(h: &Harness, n: usize) -> Vec<Value> {
    until(Duration::from_secs(20), &format!("{n} lines in the file sink"), || (messages(h).len() >= n).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    messages(h)
}

#[test]
fn signed_messages_are_delivered_once_and_every_refusal_is_counted_and_logged_without_secrets() {
    let h = harness(
        "hmac_keys_env = [\"DS_HMAC_UNSET\", \"DS_HMAC_1\", \"DS_HMAC_2\"]\nmax_body = 65536",
        "\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
    );
    let d = Daemon::start(&h.config, &[("DS_HMAC_1", KEY_1), ("DS_HMAC_2", KEY_2)], true);
    let path = "/connect";
    let sent = message(ACCOUNT, "env-1", "envelope-sent", None, 1, 0);
    assert_eq!(post(d.addr, path, &signed(&[KEY_1], &sent), &sent), 200);
    // The redelivery (retryCount 1), signed with the other key (a rotation), and a plain copy.
    let again = message(ACCOUNT, "env-1", "envelope-sent", None, 1, 1);
    assert_eq!(post(d.addr, path, &signed(&[KEY_2], &again), &again), 200);
    assert_eq!(post(d.addr, path, &signed(&[KEY_1], &sent), &sent), 200);
    // DocuSign during a rotation: one header per active key.
    let done = message(ACCOUNT, "env-1", "recipient-completed", Some("1"), 2, 0);
    assert_eq!(post(d.addr, path, &signed(&[KEY_2, KEY_1], &done), &done), 200);
    let lines = delivered(&h, 2);
    assert_eq!(lines.len(), 2, "{lines:#?}");

    // Refusals.
    let forged = message(ACCOUNT, "env-2", "envelope-sent", None, 3, 0);
    assert_eq!(post(d.addr, path, &signed(&["not-our-key"], &forged), &forged), 401);
    let tampered = message(ACCOUNT, "env-3", "envelope-voided", None, 3, 0);
    assert_eq!(post(d.addr, path, &signed(&[KEY_1], &sent), &tampered), 401);
    let unsigned = [("Content-Type".to_owned(), "application/json".to_owned())];
    assert_eq!(post(d.addr, path, &unsigned, &forged), 401);
    let not_json = b"{\"event\": \"envelope-sent\", \"secret\": \"CANARYBODY\"".to_vec();
    assert_eq!(post(d.addr, path, &signed(&[KEY_1], &not_json), &not_json), 400);
    let not_connect = br#"{"hello": "CANARYBODY"}"#.to_vec();
    assert_eq!(post(d.addr, path, &signed(&[KEY_1], &not_connect), &not_connect), 400);
    let huge = vec![b' '; 70_000];
    assert_eq!(post(d.addr, path, &signed(&[KEY_1], &huge), &huge), 413);
    let mut text = signed(&[KEY_1], &forged);
    text[0].1 = "text/plain".into();
    assert_eq!(post(d.addr, path, &text, &forged), 415);
    assert_eq!(request(d.addr, "GET", path, &[], b"").0, 405);
    assert_eq!(post(d.addr, "/elsewhere", &signed(&[KEY_1], &forged), &forged), 404);

    let m = d.scrape();
    let count =
        |outcome: &str| sample(&m, &format!("esign_push_requests_total{{receiver=\"connect\",outcome=\"{outcome}\"}}"));
    assert_eq!(count("accepted"), 4.0, "{m}");
    assert_eq!(count("unauthorized"), 3.0, "{m}");
    assert_eq!(count("malformed"), 2.0, "{m}");
    assert_eq!(count("too_large"), 1.0, "{m}");
    assert_eq!(count("unsupported_media"), 1.0, "{m}");
    assert_eq!(count("method_not_allowed"), 1.0, "{m}");
    let msgs = |r: &str| sample(&m, &format!("esign_push_messages_total{{receiver=\"connect\",result=\"{r}\"}}"));
    assert_eq!((msgs("stored"), msgs("duplicate"), msgs("delivered")), (2.0, 2.0, 2.0), "{m}");

    // Nothing else arrived, and what arrived is the payload as received plus our fields.
    let lines = messages(&h);
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    assert_eq!(first["event"], "envelope-sent");
    assert_eq!(first["retryCount"], 0, "the first delivery is kept");
    assert_eq!(first["data"]["envelopeId"], "env-1");
    assert_eq!(first["data"]["accountId"], ACCOUNT);
    assert_eq!(first["source_log_type"], "connect");
    assert_eq!(first["vendor"], "docusign");
    assert_eq!(first["product"], "esignature");
    assert_eq!(first["_time"], "2026-01-15T10:00:01.1230000Z");
    assert!(first["event_id"].as_str().is_some_and(|id| id.len() == 64));
    assert!(first.get("_tenant").is_none(), "one tenant without [[tenants]]: no _tenant, as pulled lines");
    assert_eq!(lines[1]["event"], "recipient-completed");
    assert_ne!(lines[0]["event_id"], lines[1]["event_id"]);

    let (status, logs) = d.stop();
    assert!(status.success(), "{status}\n{}", logs.join("\n"));
    let all = logs.join("\n");
    for canary in ["CANARYKEY1", "CANARYKEY2", "CANARYBODY", &super_sig(&forged)] {
        assert!(!all.contains(canary), "the log holds {canary}:\n{all}");
    }
    for why in ["verification failed (401)", "malformed body (400)", "size limit (413)", "content type (415)"] {
        assert_eq!(logs.iter().filter(|l| l.contains(why)).count(), 1, "{why} logged once:\n{all}");
    }
    // The state file holds no key either.
    let state = std::fs::read(h.state()).unwrap();
    assert!(!state.windows(10).any(|w| w == b"CANARYKEY1" || w == b"CANARYKEY2"));
}

/// The signature a forger would send (must never be logged).
fn super_sig(body: &[u8]) -> String {
    connect::sign("not-our-key", body)
}

#[test]
fn no_key_found_is_a_clear_configuration_error() {
    let h = harness("hmac_keys_env = [\"DS_HMAC_A\", \"DS_HMAC_B\"]", "");
    let out = h.cmd(&["run"]).env_remove("DS_HMAC_A").env_remove("DS_HMAC_B").output().unwrap();
    assert_eq!(common::code(&out), 2, "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert!(err.contains("receivers.connect.hmac_keys_env") && err.contains("DS_HMAC_A, DS_HMAC_B"), "{err}");
}

#[test]
fn a_slow_client_is_cut_off_at_the_read_timeout() {
    let h = harness("hmac_keys_env = [\"DS_HMAC_1\"]\nread_timeout = \"1s\"", "");
    let d = Daemon::start(&h.config, &[("DS_HMAC_1", KEY_1)], false);
    // Headers that never end.
    let started = Instant::now();
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /connect HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let headers_held = started.elapsed();
    assert!(
        headers_held >= Duration::from_millis(900) && headers_held < Duration::from_secs(5),
        "headers held {headers_held:?}"
    );
    // A body that trickles: the headers arrive, the body does not.
    let body = message(ACCOUNT, "env-9", "envelope-sent", None, 9, 0);
    let started = Instant::now();
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request_head = format!("POST /connect HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in signed(&[KEY_1], &body) {
        let _ = write!(request_head, "{k}: {v}\r\n");
    }
    request_head.push_str("\r\n");
    s.write_all(request_head.as_bytes()).unwrap();
    s.write_all(&body[..10]).unwrap();
    let (code, _) = connect::read_reply(&mut s);
    let body_held = started.elapsed();
    assert_eq!(code, 408);
    assert!(body_held < Duration::from_secs(5), "body held {body_held:?}");
    // The listener still serves.
    assert_eq!(post(d.addr, "/connect", &signed(&[KEY_1], &body), &body), 200);
    assert_eq!(delivered(&h, 1).len(), 1);
    let (status, _) = d.stop();
    assert!(status.success());
}

#[test]
fn basic_auth_is_required_as_well_as_the_signature() {
    let h = harness(
        "hmac_keys_env = [\"DS_HMAC_1\"]\nbasic_auth_user = \"docusign\"\nbasic_auth_password_env = \"DS_PW\"",
        "",
    );
    let d = Daemon::start(&h.config, &[("DS_HMAC_1", KEY_1), ("DS_PW", "pw-CANARYPASS")], false);
    let body = message(ACCOUNT, "env-1", "envelope-completed", None, 5, 0);
    let with = |user_pass: &str| {
        use base64::Engine;
        let mut hd = signed(&[KEY_1], &body);
        let b = base64::engine::general_purpose::STANDARD.encode(user_pass);
        hd.push(("Authorization".into(), format!("Basic {b}")));
        hd
    };
    assert_eq!(post(d.addr, "/connect", &signed(&[KEY_1], &body), &body), 401, "signed, no Basic auth");
    assert_eq!(post(d.addr, "/connect", &with("docusign:wrong"), &body), 401);
    assert_eq!(post(d.addr, "/connect", &with("other:pw-CANARYPASS"), &body), 401);
    let mut unsigned = with("docusign:pw-CANARYPASS");
    unsigned.retain(|(k, _)| !k.starts_with("X-DocuSign-Signature"));
    assert_eq!(post(d.addr, "/connect", &unsigned, &body), 401, "Basic auth without a signature");
    assert_eq!(post(d.addr, "/connect", &with("docusign:pw-CANARYPASS"), &body), 200);
    assert_eq!(delivered(&h, 1).len(), 1);
    let (status, logs) = d.stop();
    assert!(status.success());
    assert!(!logs.join("\n").contains("CANARYPASS"));
    // `status` shows the receiver from the state file.
    let out = h.run(&["status", "--output", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &doc["receivers"][0];
    assert_eq!(
        (r["receiver"].as_str(), r["waiting"].as_u64(), r["accepted_total"].as_u64()),
        (Some("connect"), Some(0), Some(1)),
        "{doc:#}"
    );
    assert!(r["last_accepted_at"].as_str().is_some_and(|t| t.starts_with("20")), "{doc:#}");
    let table = String::from_utf8_lossy(&h.run(&["status"]).stdout).into_owned();
    assert!(table.contains("receiver connect: 0 waiting in the inbox, last accepted"), "{table}");
}

#[test]
fn messages_go_to_the_tenant_of_their_account_and_an_unknown_account_is_kept() {
    let tenants = "\n[[tenants]]\nname = \"acme\"\naccount_id = \"AAAA0000-0000-4000-8000-000000000001\"\n\n\
                   [[tenants]]\nname = \"globex\"\naccount_id = \"bbbb0000-0000-4000-8000-000000000002\"\n";
    let h = harness("hmac_keys_env = [\"DS_HMAC_1\"]", tenants);
    let d = Daemon::start(&h.config, &[("DS_HMAC_1", KEY_1)], false);
    let send = |account: &str, env: &str| {
        let b = message(account, env, "envelope-sent", None, 7, 0);
        assert_eq!(post(d.addr, "/connect", &signed(&[KEY_1], &b), &b), 200);
    };
    // One HMAC key for every account (integratorManaged); ids compare without case.
    send("aaaa0000-0000-4000-8000-000000000001", "e-acme");
    send("bbbb0000-0000-4000-8000-000000000002", "e-globex");
    send("cccc0000-0000-4000-8000-000000000003", "e-stray-1");
    send("cccc0000-0000-4000-8000-000000000003", "e-stray-2");
    let lines = delivered(&h, 4);
    let tenant = |env: &str| {
        let l = lines.iter().find(|l| l["data"]["envelopeId"] == env).unwrap();
        l.get("_tenant").and_then(Value::as_str).map(str::to_owned)
    };
    assert_eq!(tenant("e-acme").as_deref(), Some("acme"));
    assert_eq!(tenant("e-globex").as_deref(), Some("globex"));
    assert_eq!(tenant("e-stray-1"), None, "delivered, without a tenant");
    let (status, logs) = d.stop();
    assert!(status.success());
    let warned = logs.iter().filter(|l| l.contains("account no tenant has")).count();
    assert_eq!(warned, 1, "warned once per account");
}

#[test]
fn tls_is_terminated_with_the_configured_certificate() {
    let h = Harness::start(backlog(0), 0);
    let certs = rsyslog::Certs::make(&h.dir.path().join("certs"));
    let receiver = format!(
        "hmac_keys_env = [\"DS_HMAC_1\"]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
        certs.server_cert.display(),
        certs.server_key.display()
    );
    let extra = tables(&out_file(h.dir.path()), &receiver);
    h.write_config(&Opts { events: false, users: false, extra, ..Opts::default() });
    let d = Daemon::start(&h.config, &[("DS_HMAC_1", KEY_1)], false);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&certs.ca).unwrap()).unwrap();
    let client = reqwest::Client::builder().add_root_certificate(ca).build().unwrap();
    let body = message(ACCOUNT, "env-tls", "envelope-sent", None, 8, 0);
    let url = format!("https://127.0.0.1:{}/connect", d.addr.port());
    let status = rt.block_on(async {
        let mut req = client.post(&url).body(body.clone());
        for (k, v) in signed(&[KEY_1], &body) {
            req = req.header(k, v);
        }
        req.send().await.unwrap().status().as_u16()
    });
    assert_eq!(status, 200);
    // Plain HTTP to the TLS port gets no answer.
    assert_eq!(request(d.addr, "POST", "/connect", &signed(&[KEY_1], &body), &body).0, 0);
    assert_eq!(delivered(&h, 1).len(), 1);
    let (status, _) = d.stop();
    assert!(status.success());
}

/// The simulator's Connect sender against `run`: every event it generates is delivered once,
/// whatever it does wrong first (copies, forged and unsigned POSTs, an oversize body, a slow
/// trickle), because each refused POST is retried with `retryCount` + 1.
#[test]
fn the_simulated_connect_sender_is_delivered_once_through_its_faults() {
    use esign_sim::docusign::{ConnectKnobs, ConnectTarget};
    let h = harness(
        "hmac_keys_env = [\"DS_HMAC_1\", \"DS_HMAC_2\"]\nread_timeout = \"5s\"",
        "\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
    );
    let d = Daemon::start(&h.config, &[("DS_HMAC_1", KEY_1), ("DS_HMAC_2", KEY_2)], true);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _enter = rt.enter();
    let target = ConnectTarget {
        hmac_keys: vec![KEY_2.to_owned(), "a-key-we-do-not-have".to_owned()],
        max_retries: 10,
        ..ConnectTarget::new(format!("http://{}/connect", d.addr))
    };
    h.sim.connect_start(target);
    h.sim.connect_knobs(ConnectKnobs {
        duplicate_next: 3,
        forge_next: 2,
        unsigned_next: 1,
        oversize_next: 1,
        ..ConnectKnobs::default()
    });
    let mut transitions = h.sim.advance_envelopes(6);
    assert!(rt.block_on(h.sim.connect_idle(Duration::from_secs(60))), "{:?}", h.sim.connect_stats());
    // A slow sender, within the read timeout.
    h.sim.connect_knobs(ConnectKnobs { slow_ms: 50, ..ConnectKnobs::default() });
    transitions.extend(h.sim.advance_envelopes(2));
    assert!(rt.block_on(h.sim.connect_idle(Duration::from_secs(60))), "{:?}", h.sim.connect_stats());
    let stats = h.sim.connect_stats();
    assert_eq!((stats.abandoned, stats.pending), (0, 0), "{stats:?}");
    // Forged and unsigned POSTs are 401; the oversize one is answered 413 before its body is
    // read, which a sender still writing it may see as a broken connection.
    assert!(stats.statuses.get(&401).copied().unwrap_or(0) >= 2, "forged and unsigned refused: {stats:?}");
    assert!(stats.refused + stats.errors >= 3, "{stats:?}");
    assert!(stats.retries >= 1, "{stats:?}");
    let m = d.scrape();
    // Counter values are whole numbers; the text form parses exactly.
    let count = |series: &str| sample(&m, series).to_string().parse::<u64>().unwrap();
    assert!(count(r#"esign_push_requests_total{receiver="connect",outcome="too_large"}"#) >= 1, "{m}");

    // Every POST answered 2xx is one line, or a copy absorbed: none is delivered twice.
    let lines = delivered(&h, transitions.len());
    let ids: std::collections::BTreeSet<&str> = lines.iter().map(|l| l["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), lines.len(), "no message delivered twice");
    let copies = count(r#"esign_push_messages_total{receiver="connect",result="duplicate"}"#);
    assert!(copies >= 1, "the duplicated POSTs were absorbed: {m}");
    assert_eq!(lines.len() as u64 + copies, stats.delivered, "{stats:?}\n{m}");
    for t in &transitions {
        let found = lines.iter().any(|l| {
            l["event"] == t.event.as_str()
                && l["data"]["envelopeId"] == t.envelope_id.as_str()
                && l["generatedDateTime"] == t.status_changed.as_str()
        });
        assert!(found, "{t:?} not delivered");
    }
    assert!(lines.iter().any(|l| l["event"].as_str().is_some_and(|e| e.starts_with("recipient-"))));
    h.sim.connect_stop();
    let (exit, _) = d.stop();
    assert!(exit.success());
}

/// Sends signed messages `env-<from>`… one by one until the connection fails; the envelope
/// ids answered 200 land in `accepted`.
fn send_until_refused(addr: std::net::SocketAddr, from: u32, accepted: &std::sync::Mutex<Vec<String>>) {
    for i in from..from + 100_000 {
        let env = format!("env-{i:06}");
        let body = message(ACCOUNT, &env, "envelope-sent", None, i % 3600, 0);
        let Ok(mut s) = TcpStream::connect(addr) else { return };
        let mut head =
            format!("POST /connect HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in signed(&[KEY_1], &body) {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        head.push_str("\r\n");
        if s.write_all(head.as_bytes()).and_then(|()| s.write_all(&body)).is_err() {
            return;
        }
        if connect::read_reply(&mut s).0 != 200 {
            return;
        }
        accepted.lock().unwrap().push(env);
    }
}

/// Starts the daemon, sends until `n` more messages were answered 200, and SIGKILLs it while
/// the sender goes on.
fn kill_while_sending(h: &Harness, from: u32, n: usize, accepted: &std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let mut d = Daemon::start(&h.config, &[("DS_HMAC_1", KEY_1)], false);
    let (addr, acc) = (d.addr, accepted.clone());
    let had = accepted.lock().unwrap().len();
    let sender = std::thread::spawn(move || send_until_refused(addr, from, &acc));
    until(Duration::from_secs(30), "messages accepted", || (accepted.lock().unwrap().len() >= had + n).then_some(()));
    d.signal(libc::SIGKILL);
    d.wait(Duration::from_secs(10));
    sender.join().unwrap();
}

/// A 200 is a promise: SIGKILL the daemon while messages arrive (once while its only sink is
/// down, so they wait in the inbox; once while it delivers), start it again, and every
/// message answered 200 reaches the file sink (one may arrive twice: at least once, never
/// lost).
#[test]
fn every_message_answered_200_survives_a_sigkill() {
    let h = harness("hmac_keys_env = [\"DS_HMAC_1\"]", "");
    let with_file = std::fs::read_to_string(&h.config).unwrap();
    // A syslog receiver that is not there: every delivery fails, the inbox fills.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = out_file(h.dir.path());
    let file_sink = format!("type = \"file\"\npath = \"{}\"", out.display());
    assert!(with_file.contains(&file_sink));
    let down = format!("type = \"syslog\"\naddress = \"{dead}\"\ntransport = \"tcp\"");
    std::fs::write(&h.config, with_file.replace(&file_sink, &down)).unwrap();
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    kill_while_sending(&h, 0, 100, &accepted);
    assert!(file_lines(&out).is_empty());

    std::fs::write(&h.config, &with_file).unwrap();
    kill_while_sending(&h, 10_000, 150, &accepted);
    let promised = accepted.lock().unwrap().clone();
    assert!(promised.len() >= 250);

    let d = Daemon::start(&h.config, &[("DS_HMAC_1", KEY_1)], false);
    let missing = until(Duration::from_secs(30), "every promised message delivered", || {
        let got: std::collections::HashSet<String> =
            file_lines(&out).iter().filter_map(|l| l["data"]["envelopeId"].as_str().map(str::to_owned)).collect();
        let missing = promised.iter().filter(|e| !got.contains(*e)).count();
        (missing == 0).then_some(missing)
    });
    assert_eq!(missing, 0);
    let (status, logs) = d.stop();
    assert!(status.success(), "{}", logs.join("\n"));
}

/// The push path's own crash points (a `failpoints` build): the process aborts right after
/// storing a request (before its 200) or right after the sinks confirmed a batch (before the
/// commit). After a restart every message answered 200 is in the sink.
#[cfg(feature = "failpoints")]
#[test]
fn every_message_answered_200_survives_an_abort_at_each_push_crash_point() {
    for point in ["push_after_store", "push_after_send"] {
        let h = harness("hmac_keys_env = [\"DS_HMAC_1\"]", "");
        let fail = format!("{point}:20");
        let d = Daemon::start(&h.config, &[("DS_HMAC_1", KEY_1), ("ESIGN_COLLECTOR_FAILPOINT", &fail)], false);
        let accepted = std::sync::Mutex::new(Vec::<String>::new());
        send_until_refused(d.addr, 0, &accepted);
        let mut d = d;
        let status = d.wait(Duration::from_secs(10));
        assert!(!status.success(), "{point}: aborted");
        let promised = accepted.lock().unwrap().clone();
        assert!(!promised.is_empty(), "{point}");
        let d = Daemon::start(&h.config, &[("DS_HMAC_1", KEY_1)], false);
        let out = out_file(h.dir.path());
        until(Duration::from_secs(30), &format!("{point}: every promised message delivered"), || {
            let got: std::collections::HashSet<String> =
                file_lines(&out).iter().filter_map(|l| l["data"]["envelopeId"].as_str().map(str::to_owned)).collect();
            promised.iter().all(|e| got.contains(e)).then_some(())
        });
        let (exit, _) = d.stop();
        assert!(exit.success());
    }
}
