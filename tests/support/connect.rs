//! Driving `run` with `[receivers.connect]`: the daemon with JSON logs on stderr (the bound
//! address read from its start line), Connect messages signed as DocuSign signs them, raw
//! HTTP/1.1 requests over a plain socket (so a test controls every byte and its timing), and
//! the file sink's lines.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::missing_panics_doc, clippy::let_underscore_must_use)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// Waits until `check` returns `Some`, or fails after `limit`.
pub fn until<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// base64(HMAC-SHA256(key, body)), as DocuSign signs.
pub fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    B64.encode(mac.finalize().into_bytes())
}

/// A JSON SIM message.
pub fn message(
    account: &str,
    envelope: &str,
    event: &str,
    recipient: Option<&str>,
    second: u32,
    retry: u32,
) -> Vec<u8> {
    let mut data = json!({"accountId": account, "userId": "11111111-2222-3333-4444-555555555555", "envelopeId": envelope,
        "envelopeSummary": {"status": "sent", "emailSubject": "Please sign", "statusChangedDateTime": format!("2026-01-15T10:{:02}:{:02}.0000000Z", second / 60, second % 60),
            "sender": {"userName": "Sam Sender", "userId": "11111111-2222-3333-4444-555555555555", "email": "sam@example.com", "ipAddress": "192.0.2.10"},
            "recipients": {"signers": [{"recipientId": "1", "email": "rita@example.org", "name": "Rita Recipient", "status": "sent"}]}}});
    if let Some(r) = recipient {
        data["recipientId"] = json!(r);
    }
    serde_json::to_vec(&json!({"event": event, "apiVersion": "v2.1",
        "uri": format!("/restapi/v2.1/accounts/{account}/envelopes/{envelope}"), "retryCount": retry,
        "configurationId": 10_501, "generatedDateTime": format!("2026-01-15T10:{:02}:{:02}.1230000Z", second / 60, second % 60),
        "data": data}))
    .unwrap()
}

/// Headers DocuSign sends with a body signed by each of `keys`.
pub fn signed(keys: &[&str], body: &[u8]) -> Vec<(String, String)> {
    let mut h = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    for (i, k) in keys.iter().enumerate() {
        h.push((format!("X-DocuSign-Signature-{}", i + 1), sign(k, body)));
    }
    h.push(("x-authorization-digest".into(), "HMACSHA256".into()));
    h
}

/// One HTTP/1.1 request on a fresh connection: the status and body of the reply (0 when the
/// connection closed without one).
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    head.push_str("\r\n");
    // The server may answer (413) and close before reading a large body: a write error then.
    let _ = s.write_all(head.as_bytes()).and_then(|()| s.write_all(body));
    read_reply(&mut s)
}

/// The status and body of what `s` answers.
pub fn read_reply(s: &mut TcpStream) -> (u16, String) {
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// `POST path` with `headers`.
pub fn post(addr: SocketAddr, path: &str, headers: &[(String, String)], body: &[u8]) -> u16 {
    request(addr, "POST", path, headers, body).0
}

/// The value of the sample line starting with `series`, or 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// The JSON lines of a file sink's file (none when it does not exist yet).
pub fn file_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}")))
        .collect()
}

/// `run` in the background: its stderr (JSON logs) collected by a thread; killed on drop.
pub struct Daemon {
    pub child: Child,
    /// The receiver's bound address.
    pub addr: SocketAddr,
    /// The /metrics listener, when configured.
    pub metrics: Option<SocketAddr>,
    logs: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    done: bool,
}

impl Daemon {
    /// Starts `esign-collector --config <config> run` with `env`, and waits until the
    /// receiver (and /metrics when `metrics`) listen.
    pub fn start(config: &Path, env: &[(&str, &str)], metrics: bool) -> Self {
        Self::start_at("debug", config, env, metrics)
    }

    /// [`Daemon::start`] with `--log-level level`.
    pub fn start_at(level: &str, config: &Path, env: &[(&str, &str)], metrics: bool) -> Self {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("esign-collector"));
        cmd.arg("--config").arg(config).args(["--log-format", "json", "--log-level", level, "run"]);
        cmd.env_remove("ESIGN_COLLECTOR_CONFIG").stdout(Stdio::null()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let err = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let sink = logs.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut d =
            Self { child, addr: ([0, 0, 0, 0], 0).into(), metrics: None, logs, reader: Some(reader), done: false };
        let mut addr = None;
        let mut maddr = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        while addr.is_none() || (metrics && maddr.is_none()) {
            if let Some(status) = d.child.try_wait().unwrap() {
                d.done = true;
                panic!("the daemon exited ({status}) before listening:\n{}", d.logs().join("\n"));
            }
            assert!(Instant::now() < deadline, "the daemon did not listen:\n{}", d.logs().join("\n"));
            let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) else { continue };
            let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
            let at = || v["addr"].as_str().map(|a| a.parse::<SocketAddr>().unwrap());
            if v["message"] == "Receiving pushed events." {
                addr = at();
            } else if v["message"] == "Serving /metrics and /healthz." {
                maddr = at();
            }
        }
        d.addr = addr.unwrap();
        d.metrics = maddr;
        d
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// `GET /metrics`.
    pub fn scrape(&self) -> String {
        let (code, body) = request(self.metrics.unwrap(), "GET", "/metrics", &[], b"");
        assert_eq!(code, 200);
        body
    }

    /// SIGTERM, and the exit status (within 30 s) and every log line.
    pub fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        self.signal(libc::SIGTERM);
        let status = self.wait(Duration::from_secs(30));
        (status, self.logs())
    }

    /// Sends a signal.
    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(i32::try_from(self.child.id()).unwrap(), sig);
        }
    }

    /// Waits at most `limit` for the exit (the log reader drained).
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                self.done = true;
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return s;
            }
            assert!(Instant::now() < deadline, "the daemon did not exit in {limit:?}:\n{}", self.logs().join("\n"));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `[[sinks]]` file sink and `[receivers.connect]` tables, for `Opts::extra`.
pub fn tables(out: &Path, receiver: &str) -> String {
    format!(
        "[[sinks]]\ntype = \"file\"\npath = \"{}\"\n\n[receivers.connect]\nlisten = \"127.0.0.1:0\"\n{receiver}\n",
        out.display()
    )
}

/// Where a test's file sink writes.
pub fn out_file(dir: &Path) -> PathBuf {
    dir.join("out/connect.jsonl")
}
