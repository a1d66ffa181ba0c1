//! The syslog sink against a real rsyslogd on 127.0.0.1 (see `support/rsyslog.rs`): what
//! rsyslog wrote to its file is compared with what was sent, over TCP, TLS, mutual TLS, RELP
//! and UDP; oversize events arrive truncated with their marker; a receiver killed and
//! restarted mid-run loses nothing; a receiver that is down fails the send. Without rsyslogd
//! these tests fail and name the Debian packages to install.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/rsyslog.rs"]
mod rsyslog;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::batch::{TIME, event, events, line, typical, users};
use esign_collector::sinks::syslog::{SyslogSinkConfig, build};
use esign_collector::sinks::{Batch, Line, Sink, SinkError};
use rsyslog::{Record, Rsyslog};
use serde_json::{Value, json};

/// Longest any one `send` may take in these tests.
const SEND_LIMIT: Duration = Duration::from_secs(60);
/// Longest wait for rsyslog to write what it confirmed (it writes before confirming; this
/// only covers reading the file).
const OUTPUT_LIMIT: Duration = Duration::from_secs(15);

fn sink_for(rs: &Rsyslog, transport: &str, extra: &str) -> Box<dyn Sink> {
    let p = rs.ports;
    let (port, transport) = match transport {
        "tcp" => (p.tcp, "tcp"),
        "tls" => (p.tls, "tls"),
        "mtls" => (p.mtls, "tls"),
        "relp" => (p.relp, "relp"),
        "udp" => (p.udp, "udp"),
        other => panic!("{other}"),
    };
    let text = format!(
        "address = \"127.0.0.1:{port}\"\ntransport = \"{transport}\"\nhostname = \"collector-test\"\n\
         initial_backoff = \"50ms\"\nmax_backoff = \"500ms\"\n{extra}"
    );
    let cfg: SyslogSinkConfig = toml::from_str(&text).unwrap();
    build("syslog[0]", &cfg).unwrap()
}

/// `key = "path"` for the sink config (temporary paths need no TOML escaping).
fn path_key(key: &str, path: &std::path::Path) -> String {
    format!("{key} = \"{}\"\n", path.display())
}

fn tls_keys(rs: &Rsyslog, client: bool) -> String {
    let c = &rs.certs;
    let mut s = path_key("ca_file", &c.ca);
    if client {
        s += &path_key("cert_file", &c.client_cert);
        s += &path_key("key_file", &c.client_key);
    }
    s
}

async fn send(s: &mut Box<dyn Sink>, b: &Batch) -> Result<(), SinkError> {
    tokio::time::timeout(SEND_LIMIT, s.send(b)).await.expect("send did not return within the limit")
}

fn by_id(records: &[Record]) -> HashMap<String, Vec<Record>> {
    let mut m: HashMap<String, Vec<Record>> = HashMap::new();
    for r in records {
        let id = r.sd_event_id().or_else(|| {
            serde_json::from_str::<Value>(r.msg.trim_start()).ok()?["event_id"].as_str().map(str::to_owned)
        });
        m.entry(id.unwrap_or_default()).or_default().push(r.clone());
    }
    m
}

fn has_all(records: &[Record], ids: &HashSet<String>) -> bool {
    let seen = by_id(records);
    ids.iter().all(|i| seen.contains_key(i))
}

#[tokio::test]
async fn tcp_delivers_every_event_byte_exact() {
    let rs = Rsyslog::start();
    let mut s = sink_for(&rs, "tcp", "");
    let pretty = "{\n  \"event_id\": \"pretty-1\",\n  \"k\": \"v\"\n}".to_owned();
    let lines = vec![
        event("plain-1", &json!({"action": "Login", "user": "alice@example.com"})),
        event("utf8-1", &json!({"name": "Zoë Ñandú 日本語 🚀", "note": "naïve café ✓"})),
        event("escapes-1", &json!({"detail": "line1\nline2\ttab \"quoted\" back\\slash ]bracket"})),
        line("pretty-1", pretty.clone()),
        event("odd\"id]\\x", &json!({"a": 1})),
    ];
    send(&mut s, &events(lines.clone())).await.unwrap();
    let user = event("user-1", &json!({"email": "bob@example.com"}));
    send(&mut s, &users(vec![user])).await.unwrap();

    let records = rs.wait_for(OUTPUT_LIMIT, |r| r.len() >= 6);
    assert_eq!(records.len(), 6, "one record per event, none split: {records:#?}");
    let got = by_id(&records);
    let pid = std::process::id().to_string();
    for l in &lines {
        let r = &got.get(&l.event_id).unwrap_or_else(|| panic!("{} missing: {records:#?}", l.event_id))[0];
        // rsyslog escapes control characters on receipt: the raw LF of the pretty event is `#012`.
        assert_eq!(r.msg, l.json.replace('\n', "#012"), "{}", l.event_id);
        assert_eq!(
            (r.input.as_str(), r.facility.as_str(), r.severity.as_str(), r.hostname.as_str()),
            ("tcp", "local0", "info", "collector-test")
        );
        assert_eq!(
            (r.app_name.as_str(), r.procid.as_str(), r.msgid.as_str()),
            ("esign-collector", pid.as_str(), "customer_events")
        );
        assert_eq!(r.time, "2024-05-01T10:00:00.123456Z", "RFC 5424 allows 6 fractional digits");
    }
    assert_eq!(got["odd\"id]\\x"][0].structured_data, r#"[esign@32473 event_id="odd\"id\]\\x"]"#);
    assert_eq!(got["user-1"][0].msgid, "user_data");
    let raw = rs.raw();
    assert_eq!(raw.len(), 6);
    for r in &raw {
        assert!(r.starts_with("<134>1 2024-05-01T10:00:00.123456Z collector-test esign-collector "), "{r}");
    }
    assert!(raw.iter().any(|r| r.ends_with("#012}")), "embedded LF kept inside its message: {raw:#?}");
}

#[tokio::test]
async fn oversize_events_arrive_truncated_with_their_marker() {
    let rs = Rsyslog::start();
    let mut s = sink_for(&rs, "tcp", "max_message_size = 2048");
    let detail = "é…".repeat(4000);
    let big = event("big-1", &json!({"action": "Sent", "detail": detail, "n": 7}));
    let keys: serde_json::Map<String, Value> = (0..3000).map(|i| (format!("k{i}"), json!(i))).collect();
    let many = event("many-keys-1", &Value::Object(keys));
    let lines = vec![typical("small-1"), big.clone(), many.clone(), typical("small-2")];
    send(&mut s, &events(lines.clone())).await.unwrap();

    let records = rs.wait_for(OUTPUT_LIMIT, |r| r.len() >= 4);
    let got = by_id(&records);
    assert_eq!(records.len(), 4, "{records:#?}");
    for small in [&lines[0], &lines[3]] {
        assert_eq!(got[&small.event_id][0].msg, small.json);
    }
    for r in rs.raw() {
        assert!(r.len() <= 2048, "message over max_message_size: {} bytes", r.len());
    }
    let v: Value = serde_json::from_str(&got["big-1"][0].msg).expect("truncated event is still JSON");
    assert_eq!(v["_truncated"], json!({"fields": ["/detail"], "original_length": big.json.len()}));
    assert_eq!((v["action"].as_str(), v["n"].as_i64(), v["event_id"].as_str()), (Some("Sent"), Some(7), Some("big-1")));
    let cut = v["detail"].as_str().unwrap();
    let (kept, marker) = cut.rsplit_once('…').unwrap();
    assert!(detail.starts_with(kept) && kept.len() > 1000, "kept {} bytes", kept.len());
    assert_eq!(marker, format!("[truncated {} bytes]", detail.len() - kept.len()));
    let m: Value = serde_json::from_str(&got["many-keys-1"][0].msg).unwrap();
    assert_eq!(
        m,
        json!({"event_id": "many-keys-1", "_time": TIME, "_truncated": {"fields": [""], "original_length": many.json.len()}})
    );
}

#[tokio::test]
async fn tls_and_mutual_tls() {
    let rs = Rsyslog::start();
    let mut tls = sink_for(&rs, "tls", &tls_keys(&rs, false));
    send(&mut tls, &events(vec![typical("tls-1"), typical("tls-2")])).await.unwrap();
    let mut mtls = sink_for(&rs, "mtls", &tls_keys(&rs, true));
    // Twice: the second page's connections would resume the first one's TLS session, which
    // rsyslog's ossl driver refuses ("session id context uninitialized") under x509 auth.
    send(&mut mtls, &events(vec![typical("mtls-1")])).await.unwrap();
    send(&mut mtls, &events(vec![typical("mtls-2")])).await.unwrap();
    let named = format!("{}server_name = \"localhost\"\n", tls_keys(&rs, false));
    send(&mut sink_for(&rs, "tls", &named), &users(vec![typical("tls-named-1")])).await.unwrap();

    let records = rs.wait_for(OUTPUT_LIMIT, |r| r.len() >= 5);
    let got = by_id(&records);
    assert_eq!(got["tls-1"][0].input, "tls");
    assert_eq!(got["mtls-2"][0].input, "mtls");
    assert_eq!(got["tls-2"][0].msg, typical("tls-2").json);
    assert_eq!(got["mtls-1"][0].input, "mtls");
    assert_eq!(got["mtls-1"][0].msg, typical("mtls-1").json);
    assert_eq!(got["tls-named-1"][0].msgid, "user_data");

    // Refusals: each must fail the send, none may pass silently.
    let c = &rs.certs;
    let cases = [
        ("mtls", path_key("ca_file", &c.ca), "mutual TLS without a client certificate"),
        ("tls", path_key("ca_file", &c.other_ca), "a CA that did not sign the server"),
        ("tls", String::new(), "the public roots, which do not know the test CA"),
        ("tls", path_key("ca_file", &c.ca) + "server_name = \"wrong.example\"\n", "a name the certificate lacks"),
    ];
    for (i, (port, keys, why)) in cases.iter().enumerate() {
        let mut s = sink_for(&rs, port, &format!("{keys}max_retries = 1\nwrite_timeout = \"5s\""));
        let id = format!("refused-{i}");
        let e = send(&mut s, &events(vec![typical(&id)])).await;
        assert!(e.is_err(), "{why}: the send must fail");
        let e = e.unwrap_err().to_string();
        assert!(e.contains("syslog[0] (tls 127.0.0.1:") && e.contains("1 of 1 messages not confirmed"), "{why}: {e}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused: Vec<Record> = rs.records().into_iter().filter(|r| r.msg.contains("refused-")).collect();
    assert!(refused.is_empty(), "a refused send still arrived: {refused:#?}");
}

#[tokio::test]
async fn relp_delivers_every_message_acknowledged() {
    let rs = Rsyslog::start();
    let mut s = sink_for(&rs, "relp", "relp_window = 32");
    let lines: Vec<Line> = (0..1000).map(|i| typical(&format!("relp-{i}"))).collect();
    let ids: HashSet<String> = lines.iter().map(|l| l.event_id.clone()).collect();
    send(&mut s, &events(lines.clone())).await.unwrap();
    let pretty = line("relp-pretty", "{\n\"a\": \"ü\"\n}");
    send(&mut s, &users(vec![pretty])).await.unwrap();
    let records = rs.wait_for(OUTPUT_LIMIT, |r| r.len() >= 1001);
    assert_eq!(records.len(), 1001, "exactly once when nothing failed");
    let got = by_id(&records);
    assert!(has_all(&records, &ids));
    for l in lines.iter().step_by(97) {
        let r = &got[&l.event_id][0];
        assert_eq!((r.input.as_str(), r.msg.as_str()), ("relp", l.json.as_str()));
    }
    assert_eq!(got["relp-pretty"][0].msg, "{#012\"a\": \"ü\"#012}");
}

#[tokio::test]
async fn udp_is_best_effort_but_arrives_on_loopback() {
    let rs = Rsyslog::start();
    let mut s = sink_for(&rs, "udp", "");
    let lines: Vec<Line> = (0..20).map(|i| typical(&format!("udp-{i}"))).collect();
    send(&mut s, &events(lines.clone())).await.unwrap();
    let records = rs.wait_for(OUTPUT_LIMIT, |r| r.len() >= 20);
    let got = by_id(&records);
    for l in &lines {
        assert_eq!((got[&l.event_id][0].input.as_str(), got[&l.event_id][0].msg.as_str()), ("udp", l.json.as_str()));
    }
}

#[tokio::test]
async fn rfc3164_over_tcp() {
    let rs = Rsyslog::start();
    let mut s = sink_for(&rs, "tcp", "protocol = \"rfc3164\"\nfacility = \"auth\"\nseverity = \"warning\"");
    let l = typical("bsd-1");
    send(&mut s, &events(vec![l.clone()])).await.unwrap();
    let records = rs.wait_for(OUTPUT_LIMIT, |r| !r.is_empty());
    let r = &records[0];
    assert_eq!((r.facility.as_str(), r.severity.as_str(), r.app_name.as_str()), ("auth", "warning", "esign-collector"));
    assert_eq!(r.procid, std::process::id().to_string());
    // rsyslog keeps the space after `tag:` as part of an RFC 3164 MSG.
    assert_eq!(r.msg.trim_start(), l.json);
    let raw = &rs.raw()[0];
    assert!(
        raw.starts_with(&format!("<36>May  1 10:00:00 collector-test esign-collector[{}]: {{", std::process::id())),
        "{raw}"
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_fails_the_send_until_it_is_back() {
    let mut rs = Rsyslog::start();
    for transport in ["tcp", "relp"] {
        rs.stop(libc::SIGTERM);
        let mut s = sink_for(&rs, transport, "max_retries = 2\nconnect_timeout = \"1s\"");
        let b = events(vec![typical(&format!("down-{transport}"))]);
        let e = send(&mut s, &b).await.unwrap_err().to_string();
        assert!(e.contains(&format!("syslog[0] ({transport} 127.0.0.1:")), "{e}");
        assert!(e.contains("1 of 1 messages not confirmed after 3 tries"), "{e}");
        rs.restart();
        send(&mut s, &b).await.unwrap();
    }
    rs.wait_for(OUTPUT_LIMIT, |r| r.len() >= 2);
}

/// Sends 30 pages of 300 events from a thread of its own while this thread kills rsyslogd
/// (SIGKILL), restarts it, stops it again (SIGTERM) and restarts it, all on the same ports.
/// Each stop lands a few milliseconds into a page, so rsyslogd usually dies while reading
/// one: the page must then fail and be sent again (duplicates), never count as delivered.
fn restart_mid_run(transport: &str) {
    const PAGES: usize = 30;
    let started = Instant::now();
    let mut rs = Rsyslog::start();
    let extra = if transport == "tls" { tls_keys(&rs, false) } else { String::new() };
    let mut s =
        sink_for(&rs, transport, &format!("{extra}max_retries = 60\nconnect_timeout = \"2s\"\nwrite_timeout = \"5s\""));
    let pages: Vec<Batch> =
        (0..PAGES).map(|p| events((0..300).map(|i| typical(&format!("{transport}-p{p}-{i}"))).collect())).collect();
    let ids: HashSet<String> = pages.iter().flat_map(|b| b.lines.iter().map(|l| l.event_id.clone())).collect();
    let confirmed = Arc::new(AtomicUsize::new(0));
    let progress = Arc::clone(&confirmed);
    let sender = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut outcomes = Vec::new();
            for page in &pages {
                let t0 = Instant::now();
                let ok = send(&mut s, page).await.is_ok();
                outcomes.push((ok, t0.elapsed()));
                if ok {
                    progress.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (s, pages, outcomes)
        })
    });
    let wait_until = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while confirmed.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "the sender stalled at {}", confirmed.load(Ordering::SeqCst));
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_until(5);
    // Into the next page: the kill lands while rsyslogd is reading it.
    std::thread::sleep(Duration::from_millis(8));
    rs.stop(libc::SIGKILL);
    std::thread::sleep(Duration::from_millis(700));
    rs.restart();
    wait_until(15);
    std::thread::sleep(Duration::from_millis(8));
    rs.stop(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(700));
    rs.restart();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !sender.is_finished() {
        assert!(Instant::now() < deadline, "the sender did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (mut s, pages, outcomes) = sender.join().unwrap();
    // A page whose send failed was never confirmed; the collector would fetch it again.
    let failed: Vec<&Batch> = pages.iter().zip(&outcomes).filter(|(_, (ok, _))| !ok).map(|(p, _)| p).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for page in &failed {
        rt.block_on(send(&mut s, page)).unwrap();
    }
    let slowest = outcomes.iter().map(|(_, d)| *d).max().unwrap();
    assert!(
        !failed.is_empty() || slowest > Duration::from_millis(500),
        "no send overlapped an outage (slowest {slowest:?}); the test proved nothing"
    );
    let deadline = Instant::now() + OUTPUT_LIMIT;
    let records = loop {
        let records = rs.records();
        if has_all(&records, &ids) {
            break records;
        }
        if Instant::now() > deadline {
            let seen = by_id(&records);
            let mut missing: Vec<&String> = ids.iter().filter(|i| !seen.contains_key(*i)).collect();
            missing.sort();
            let pages_hit: HashSet<&str> = missing.iter().filter_map(|m| m.split('-').nth(1)).collect();
            panic!(
                "LOST {} confirmed events over {transport} (pages {pages_hit:?}; first {:?}); outcomes (ok, time) per page: \
                 {outcomes:?}; rsyslogd stderr: {}",
                missing.len(),
                &missing[..missing.len().min(10)],
                rs.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let duplicates = records.len() - ids.len();
    eprintln!(
        "restart over {transport}: {} events in {PAGES} pages, {} pages failed and were resent, slowest send {slowest:?}, \
         {duplicates} duplicates, {:?} in all",
        ids.len(),
        failed.len(),
        started.elapsed()
    );
}

#[test]
fn tcp_receiver_restarted_mid_run_loses_nothing() {
    restart_mid_run("tcp");
}

#[test]
fn tls_receiver_restarted_mid_run_loses_nothing() {
    restart_mid_run("tls");
}

#[test]
fn relp_receiver_restarted_mid_run_loses_nothing() {
    restart_mid_run("relp");
}

#[tokio::test]
async fn ten_thousand_events_throughput() {
    let rs = Rsyslog::start();
    let mut report = Vec::new();
    let mut expected = 0;
    for transport in ["tcp", "tls", "relp"] {
        let extra = if transport == "tls" { tls_keys(&rs, false) } else { String::new() };
        let mut s = sink_for(&rs, transport, &extra);
        let pages: Vec<Batch> =
            (0..5).map(|p| events((0..2000).map(|i| typical(&format!("{transport}-{p}-{i}"))).collect())).collect();
        let t0 = Instant::now();
        for p in &pages {
            send(&mut s, p).await.unwrap();
        }
        let took = t0.elapsed();
        expected += 10_000;
        report.push(format!("{transport}: 10000 events in {took:?} ({:.0}/s)", 10_000.0 / took.as_secs_f64()));
    }
    let records = rs.wait_for(OUTPUT_LIMIT, |r| r.len() >= expected);
    assert_eq!(records.len(), expected);
    eprintln!("throughput to rsyslog on loopback (2000-event pages, ~600-byte events): {}", report.join("; "));
}

/// The real binary: `fetch` with a RELP syslog sink delivers every event and commits; with
/// the receiver down it exits 7 and the checkpoint does not move.
#[test]
fn fetch_through_the_binary() {
    let rs = Rsyslog::start();
    let h = common::Harness::start(common::backlog(40), 0);
    let sink = |port: u16| common::Opts {
        extra: format!(
            "[[sinks]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{port}\"\ntransport = \"relp\"\n\
             max_retries = 1\ninitial_backoff = \"50ms\"\nconnect_timeout = \"1s\"\n"
        ),
        ..common::Opts::default()
    };
    h.write_config(&sink(rs.ports.relp));
    let out = h.run(&["fetch"]);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    let records = rs.wait_for(OUTPUT_LIMIT, |r| r.len() >= 40);
    let ids: HashSet<String> = records.iter().filter_map(Record::sd_event_id).collect();
    assert_eq!(ids, h.sim.event_ids().into_iter().collect::<HashSet<_>>());
    for r in &records {
        let v: Value = serde_json::from_str(&r.msg).unwrap();
        assert_eq!(v["event_id"].as_str(), r.sd_event_id().as_deref());
    }
    assert!(common::checkpoint(&h.state(), "customer_events").is_some());

    let down = common::Harness::start(common::backlog(5), 0);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    down.write_config(&sink(closed));
    let out = down.run(&["fetch"]);
    assert_eq!(common::code(&out), 7, "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("syslog[0] (relp 127.0.0.1:"), "{}", common::stderr(&out));
    assert_eq!(common::checkpoint(&down.state(), "customer_events"), None);
}
