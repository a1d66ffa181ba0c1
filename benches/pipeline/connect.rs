//! The Connect receiver under sustained load: the release binary's `run` with
//! `[receivers.connect]` and a file sink, `clients` threads each POSTing signed JSON SIM
//! messages one after another (a new connection each, as a webhook sender does). Each 200 is
//! a durable acknowledgement (the inbox transaction committed with `synchronous=FULL`), so the
//! rate is bounded by the state file's fsyncs. Time to acknowledge: from connecting to reading
//! the status line.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use esign_collector::connectors::docusign::connect::sign;

use super::harness::{Keys, Sim, count_lines, file_sink};

const KEY: &str = "bench-hmac-key-0123456789abcdef=";

fn body(account: &str, client: usize, i: usize) -> Vec<u8> {
    let v = serde_json::json!({"event": "recipient-completed", "apiVersion": "v2.1",
        "uri": "/restapi/v2.1/accounts/acct/envelopes/env", "retryCount": 0, "configurationId": 1,
        "generatedDateTime": "2026-01-15T10:30:00.1230000Z",
        "data": {"accountId": account, "userId": "u", "envelopeId": format!("env-{client}-{i}"), "recipientId": "1",
            "envelopeSummary": {"status": "sent", "emailSubject": "Please sign the agreement", "statusChangedDateTime": "2026-01-15T10:30:00.0000000Z",
                "sender": {"userName": "Sam Sender", "userId": "u", "email": "sam@example.com", "ipAddress": "192.0.2.10"},
                "recipients": {"signers": [{"recipientId": "1", "email": "rita@example.org", "name": "Rita", "status": "completed"}]}}}});
    serde_json::to_vec(&v).unwrap()
}

/// One POST; its time to acknowledge.
fn post(addr: std::net::SocketAddr, body: &[u8]) -> Duration {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /connect HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nX-DocuSign-Signature-1: {}\r\nContent-Length: {}\r\n\r\n",
        sign(KEY, body),
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    assert!(reply.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&reply));
    started.elapsed()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Rows: clients, messages, messages/s, p50/p99/max ms to acknowledge, collector CPU per 1k.
pub fn connect(keys: &Keys, messages: usize, clients: &[usize]) -> Vec<String> {
    let sim = Sim::start(keys.sim_config(0));
    let mut rows = Vec::new();
    for &c in clients {
        let out = keys.path(&format!("connect-{c}.jsonl"));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let extra = format!(
            "{}\n[sources.customer_events]\nenabled = false\n\n[receivers.connect]\nlisten = \"127.0.0.1:{port}\"\nhmac_keys_env = [\"BENCH_HMAC\"]\n",
            file_sink(&out)
        );
        // No source enabled: only the receiver runs.
        let config = sim.config(keys, &format!("connect-{c}"), "", &extra);
        rows.push(one(&config, &out, port, &sim.sc.account_id, messages, c));
    }
    rows
}

fn one(config: &Path, out: &Path, port: u16, account: &str, messages: usize, clients: usize) -> String {
    let child = Command::new(env!("CARGO_BIN_EXE_esign-collector"))
        .arg("--config")
        .arg(config)
        .args(["--log-level", "warn", "run"])
        .env("BENCH_HMAC", KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the receiver did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(messages)));
    let per = messages / clients;
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let l = latencies.clone();
            let account = account.to_owned();
            std::thread::spawn(move || {
                let mut own = Vec::with_capacity(per);
                for i in 0..per {
                    own.push(post(addr, &body(&account, c, i)));
                }
                l.lock().unwrap().extend(own);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let wall = started.elapsed();
    let sent = per * clients;
    let deadline = Instant::now() + Duration::from_secs(60);
    while count_lines(out) < sent {
        assert!(Instant::now() < deadline, "not every message was delivered");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    assert_eq!((reaped, status), (pid, 0));
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    let mut l = latencies.lock().unwrap().clone();
    l.sort_unstable();
    format!(
        "| {clients} | {sent} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} |",
        sent as f64 / wall.as_secs_f64(),
        pct(&l, 0.5),
        pct(&l, 0.99),
        pct(&l, 1.0),
        cpu.as_secs_f64() * 1000.0 * 1000.0 / sent as f64,
    )
}
