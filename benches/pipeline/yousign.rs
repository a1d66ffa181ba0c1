//! Yousign, both ways in. Pull: the release binary's `fetch --all` against the Yousign
//! simulator (signature requests of every source with each signed signer's audit trail, and
//! users) into a file sink, then a `fetch` with nothing new. Push: `run` with
//! `[receivers.yousign]` and a file sink, `clients` threads each POSTing signed v3 webhook
//! messages one after another (a new connection each, as Yousign does); each 2xx is a durable
//! acknowledgement (the inbox transaction committed with `synchronous=FULL`). Every
//! measurement is taken `reps` times on a fresh state file and the median is reported.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use esign_collector::connectors::yousign::webhook::sign;
use esign_sim::yousign::{DEFAULT_API_KEY, RateLimits, YousignConfig, YousignSim};

use super::harness::{Keys, Measure, count_lines, file_sink, run_env};

/// The environment variable the collector reads the API key from.
const KEY_VAR: &str = "BENCH_YS_KEY";
/// The environment variable the receiver reads the subscription's secret from.
const SECRET_VAR: &str = "BENCH_YS_SECRET";
const SECRET: &str = "bench-yousign-secret-0123456789abcdef";

/// Yousign's production limits, which bound a real pass (the simulator here does not).
const PROD_PER_MINUTE: u64 = 60;
const PROD_PER_HOUR: u64 = 1200;

/// The Yousign simulator served from its own thread and current-thread runtime.
struct Served {
    sim: YousignSim,
    /// `http://127.0.0.1:PORT/v3`.
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// An organisation of `requests` signature requests and `users` users, with limits no
    /// run reaches (and not enforced): the collector's CPU is measured, not Yousign's pacing.
    fn start(requests: usize, users: usize) -> Self {
        let mut cfg = YousignConfig::new();
        cfg.limits = RateLimits { per_minute: 100_000, per_hour: 1_000_000, enforce: false };
        cfg.signature_requests = requests;
        cfg.users = users;
        let sim = YousignSim::new(cfg);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let s = sim.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                s.serve(l, async {
                    stopped.await.ok();
                })
                .await
                .unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Self { sim, base: format!("http://{addr}/v3"), stop: Some(stop), thread: Some(thread) }
    }

    /// Requests the simulator answered so far, every route (refused ones included).
    fn requests(&self) -> BTreeMap<String, u64> {
        self.sim.stats().requests
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            s.send(()).ok();
        }
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// Sizes of the pull item.
#[derive(Debug, Clone, Copy)]
pub struct Pull {
    pub requests: usize,
    pub users: usize,
    pub reps: usize,
}

fn median<T: Copy + Ord>(mut v: Vec<T>) -> T {
    v.sort_unstable();
    v[v.len() / 2]
}

fn total(m: &BTreeMap<String, u64>) -> u64 {
    m.values().sum()
}

/// `after - before`, route by route.
fn delta(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after.iter().map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0))).filter(|(_, v)| *v > 0).collect()
}

/// Lines of `path` by `source_log_type`.
fn by_type(path: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        *out.entry(v["source_log_type"].as_str().unwrap_or("?").to_owned()).or_insert(0) += 1;
    }
    out
}

/// How long `requests` take at Yousign's production limits, 60 a minute and 1,200 an hour:
/// each hour's 1,200 go out 60 a minute, then the pass waits for the next hour.
fn at_production_limits(requests: u64) -> String {
    let full_hours = requests.saturating_sub(1) / PROD_PER_HOUR;
    let rest = requests - full_hours * PROD_PER_HOUR;
    let minutes = rest.div_ceil(PROD_PER_MINUTE).saturating_sub(1);
    match (full_hours, minutes) {
        _ if requests == 0 => "none".to_owned(),
        (0, 0) => "under 1 min".to_owned(),
        (0, m) => format!("≈ {m} min"),
        (h, m) => format!("≈ {h} h {m} min"),
    }
}

/// One `fetch` of a pull repetition: its measure, the lines it delivered by type, and the
/// requests it made by route.
struct Pass {
    m: Measure,
    lines: BTreeMap<String, usize>,
    requests: BTreeMap<String, u64>,
}

impl Pass {
    fn records(&self) -> usize {
        self.lines.values().sum()
    }

    fn count(&self, t: &str) -> usize {
        self.lines.get(t).copied().unwrap_or(0)
    }
}

/// The three passes of one repetition on a fresh organisation and state file: `fetch --all`;
/// a `fetch` that reads the audit trails the first one queued (the trails source runs beside
/// the signature requests source and found its queue empty); a `fetch` with nothing new.
fn pull_once(keys: &Keys, p: Pull, rep: usize) -> Vec<Pass> {
    let served = Served::start(p.requests, p.users);
    let name = format!("yousign-{rep}");
    let out = keys.path(&format!("{name}.jsonl"));
    let config = keys.path(&format!("{name}.toml"));
    let text = format!(
        "[yousign]\nenvironment = \"sandbox\"\napi_key_env = \"{KEY_VAR}\"\nbase_url = \"{}\"\n\
         requests_per_minute = 100000\nrequests_per_hour = 1000000\n\n\
         [sources.yousign_signature_requests]\nenabled = true\naudit_trails = true\n\n\
         [sources.yousign_users]\nenabled = true\n\n[state]\npath = \"{}\"\n\n{}",
        served.base,
        keys.path(&format!("{name}.db")).display(),
        file_sink(&out)
    );
    std::fs::write(&config, text).unwrap();
    let env = [(KEY_VAR, DEFAULT_API_KEY)];
    [&["fetch", "--all"][..], &["fetch"], &["fetch"]]
        .iter()
        .map(|args| {
            let before = served.requests();
            let m = run_env(&config, args, &env, None, None);
            let requests = delta(&served.requests(), &before);
            let lines = by_type(&out);
            std::fs::remove_file(&out).ok();
            Pass { m, lines, requests }
        })
        .collect()
}

/// One row of the pull table: the medians of `passes` (each a repetition's measure of the
/// same work, so the records and requests are the same in each).
fn pass_row(org: &str, label: &str, passes: &[Pass]) -> String {
    let first = &passes[0];
    let records = first.records();
    let requests = total(&first.requests);
    for p in passes {
        assert_eq!(p.lines, first.lines, "the same organisation gives the same records");
        assert_eq!(total(&p.requests), requests, "and takes the same requests");
    }
    let wall = median(passes.iter().map(|p| p.m.wall).collect());
    let cpu = median(passes.iter().map(|p| p.m.cpu).collect());
    let rss = passes.iter().map(|p| p.m.max_rss_kib).max().unwrap_or_default();
    let routes = first.requests.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    // Rates of nothing are not shown.
    let (rate, per_1k) = if records == 0 {
        ("–".to_owned(), "–".to_owned())
    } else {
        (
            format!("{:.0}", records as f64 / wall.as_secs_f64()),
            format!("{:.1}", cpu.as_secs_f64() * 1e6 / records as f64),
        )
    };
    format!(
        "| {org} | {label} | {records} ({} statuses, {} audit trails, {} users) | {:.3} | {rate} | {:.3} | {per_1k} | {:.1} | {requests} ({routes}) | {} |",
        first.count("yousign_signature_request"),
        first.count("yousign_audit_trail"),
        first.count("yousign_user"),
        wall.as_secs_f64(),
        cpu.as_secs_f64(),
        rss as f64 / 1024.0,
        at_production_limits(requests),
    )
}

/// Rows: each pass of [`pull_once`], then passes 1 and 2 together (the whole collection of
/// the organisation), each the median of `p.reps` repetitions.
pub fn pull(keys: &Keys, p: Pull) -> Vec<String> {
    let mut by_pass: [Vec<Pass>; 4] = Default::default();
    for rep in 0..p.reps {
        let mut passes = pull_once(keys, p, rep);
        let both = Pass {
            m: Measure {
                wall: passes[0].m.wall + passes[1].m.wall,
                cpu: passes[0].m.cpu + passes[1].m.cpu,
                max_rss_kib: passes[0].m.max_rss_kib.max(passes[1].m.max_rss_kib),
            },
            lines: sum(&passes[0].lines, &passes[1].lines),
            requests: sum(&passes[0].requests, &passes[1].requests),
        };
        by_pass[3].push(both);
        for i in (0..3).rev() {
            by_pass[i].push(passes.pop().unwrap());
        }
    }
    let org = format!("{} requests, {} users", p.requests, p.users);
    let labels = [
        "1: fetch --all",
        "2: fetch (trails queued by 1)",
        "3: fetch, nothing new",
        "1 + 2: the organisation collected",
    ];
    labels.iter().zip(&by_pass).map(|(label, passes)| pass_row(&org, label, passes)).collect()
}

fn sum<T: Copy + Default + std::ops::Add<Output = T>>(
    a: &BTreeMap<String, T>,
    b: &BTreeMap<String, T>,
) -> BTreeMap<String, T> {
    let mut out = a.clone();
    for (k, v) in b {
        let e = out.entry(k.clone()).or_default();
        *e = *e + *v;
    }
    out
}

/// A Yousign v3 webhook body (`signer.done`) with a unique `event_id`.
fn body(rep: usize, client: usize, i: usize) -> Vec<u8> {
    let v = serde_json::json!({
        "event_id": format!("{i:08x}-{client:04x}-4{rep:03x}-8000-00000000bench"),
        "event_name": "signer.done", "event_time": "1670855889",
        "subscription_id": "s", "subscription_description": "d", "sandbox": false,
        "data": {
            "signature_request": {"id": format!("sr-{rep}-{client}-{i}"), "status": "ongoing"},
            "signer": {"id": format!("signer-{rep}-{client}-{i}"), "status": "signed"}}});
    serde_json::to_vec(&v).unwrap()
}

/// One signed POST; its time to acknowledge (connect to the whole reply read).
fn post(addr: SocketAddr, body: &[u8]) -> Duration {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /yousign HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nX-Yousign-Signature-256: {}\r\nContent-Length: {}\r\n\r\n",
        sign(SECRET, body),
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    assert!(reply.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&reply));
    started.elapsed()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One push repetition's measures.
#[derive(Debug, Clone, Copy)]
struct PushRun {
    sent: usize,
    wall: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
    over_1s: usize,
    cpu: Duration,
}

/// A push configuration: `[yousign]` demo (the file needs a platform table; no source is
/// enabled, so the receiver alone runs), the receiver on `port`, a file sink to `out`.
fn push_config(keys: &Keys, name: &str, port: u16, out: &Path) -> PathBuf {
    let config = keys.path(&format!("{name}.toml"));
    let text = format!(
        "[yousign]\nenvironment = \"demo\"\n\n[sources.yousign_signature_requests]\nenabled = false\n\n\
         [sources.yousign_users]\nenabled = false\n\n[sources.yousign_webhook_subscriptions]\nenabled = false\n\n\
         [state]\npath = \"{}\"\n\n{}\n[receivers.yousign]\nlisten = \"127.0.0.1:{port}\"\npath = \"/yousign\"\n\
         secret_env = \"{SECRET_VAR}\"\n",
        keys.path(&format!("{name}.db")).display(),
        file_sink(out)
    );
    std::fs::write(&config, text).unwrap();
    config
}

fn push_once(keys: &Keys, messages: usize, clients: usize, rep: usize) -> PushRun {
    let name = format!("yousign-webhook-{clients}-{rep}");
    let out = keys.path(&format!("{name}.jsonl"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = push_config(keys, &name, port, &out);
    let child = Command::new(env!("CARGO_BIN_EXE_esign-collector"))
        .arg("--config")
        .arg(&config)
        .args(["--log-level", "warn", "run"])
        .env(SECRET_VAR, SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
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
            std::thread::spawn(move || {
                let own: Vec<Duration> = (0..per).map(|i| post(addr, &body(rep, c, i))).collect();
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
    while count_lines(&out) < sent {
        assert!(Instant::now() < deadline, "not every message was delivered");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    assert_eq!((reaped, status), (pid, 0));
    assert_eq!(count_lines(&out), sent, "once each");
    std::fs::remove_file(&out).ok();
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    let mut l = latencies.lock().unwrap().clone();
    l.sort_unstable();
    PushRun {
        sent,
        wall,
        p50: pct(&l, 0.5),
        p99: pct(&l, 0.99),
        max: pct(&l, 1.0),
        over_1s: l.iter().filter(|d| **d >= Duration::from_secs(1)).count(),
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Rows: clients, messages, messages/s, p50/p99/max ms to acknowledge, answers past Yousign's
/// 1 s first-attempt timeout, collector CPU per 1k; each the median of `reps` runs.
pub fn push(keys: &Keys, messages: usize, clients: &[usize], reps: usize) -> Vec<String> {
    let mut rows = Vec::new();
    for &c in clients {
        let runs: Vec<PushRun> = (0..reps).map(|rep| push_once(keys, messages, c, rep)).collect();
        let sent = runs[0].sent;
        let rate = median(runs.iter().map(|r| (sent as f64 / r.wall.as_secs_f64()) as u64).collect());
        let maxes: Vec<String> = runs.iter().map(|r| format!("{:.1}", ms(r.max))).collect();
        rows.push(format!(
            "| {c} | {sent} | {rate} | {:.2} | {:.2} | {:.2} ({}) | {} | {:.1} |",
            ms(median(runs.iter().map(|r| r.p50).collect())),
            ms(median(runs.iter().map(|r| r.p99).collect())),
            ms(median(runs.iter().map(|r| r.max).collect())),
            maxes.join(" / "),
            runs.iter().map(|r| r.over_1s).sum::<usize>(),
            ms(median(runs.iter().map(|r| r.cpu).collect())) * 1000.0 / sent as f64,
        ));
    }
    rows
}
