//! End-to-end throughput of `fetch --all` from the simulator into each sink, on loopback:
//! events per second, CPU seconds per million events, peak RSS. Run with
//! `cargo bench --bench pipeline` (optionally `-- 200000` for the backlog size); it prints a
//! table. Nothing here asserts timings: the numbers go to README's performance section.
#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::zombie_processes
)]

#[path = "../tests/support/rsyslog.rs"]
#[allow(dead_code, unreachable_pub, clippy::all, clippy::pedantic)]
mod rsyslog;

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use esign_collector::simulator::{EventFeed, SimConfig, Simulator};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

/// One measured run of the binary.
struct Measure {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: i64,
}

fn start_simulator(events: usize, public: String) -> (Simulator, String) {
    let mut sc = SimConfig::new(public);
    sc.feed = EventFeed::Backlog { count: events, span: Duration::from_secs(6 * 86_400) };
    sc.users = 0;
    let sim = Simulator::new(sc);
    let (tx, rx) = std::sync::mpsc::channel();
    let s = sim.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            s.serve(l, std::future::pending()).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (sim, format!("http://{addr}"))
}

fn write_config(dir: &Path, sim: &SimConfig, base: &str, sinks: &str) -> PathBuf {
    let cfg = format!(
        "[docusign]\nenvironment = \"developer\"\nintegration_key = \"{}\"\nuser_id = \"{}\"\naccount_id = \"{}\"\n\
organization_id = \"{}\"\nprivate_key_file = \"{}\"\nauth_base_url = \"{base}\"\nmonitor_base_url = \"{base}\"\n\
admin_base_url = \"{base}/management\"\n\n[state]\npath = \"{}\"\n\n[rate_limit]\nrequests_per_hour = 1000000\nburst = 100000\n\n{sinks}",
        sim.integration_key,
        sim.user_id,
        sim.account_id,
        sim.organization_id,
        dir.join("key.pem").display(),
        dir.join("state.db").display(),
    );
    let path = dir.join("bench.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// Runs the release binary and measures it: CPU from wait4's rusage (the child alone), peak
/// RSS from `VmHWM` sampled while it runs (rusage's `ru_maxrss` would include the memory the
/// child inherited from this process before `exec`).
fn run(config: &Path) -> Measure {
    let started = Instant::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_esign-collector"))
        .arg("--config")
        .arg(config)
        .args(["--log-level", "warn", "fetch", "--all"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = done.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0i64;
        while !watching.load(std::sync::atomic::Ordering::SeqCst) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            {
                peak = peak.max(kib);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // WNOWAIT-free wait4 reaps the child; the sampler stops at the next tick.
    let reaped = unsafe { libc::wait4(pid as i32, &raw mut status, 0, &raw mut usage) };
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(reaped, pid as i32);
    assert_eq!(status, 0, "the benchmarked run failed");
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Measure {
        wall: started.elapsed(),
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: sampler.join().unwrap(),
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this file too, without it,
    // and then it is only a quick smoke test that the benchmark still works.
    let benching = std::env::args().any(|a| a == "--bench");
    let events: usize =
        std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(if benching { 100_000 } else { 2_000 });
    let dir = tempfile::tempdir().unwrap();
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(dir.path().join("key.pem"))
        .unwrap();
    f.write_all(key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    let public = key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let (sim, base) = start_simulator(events, public.clone());
    let sc = SimConfig::new(public);
    // Warm the simulator so the first measured run does not pay for generating the backlog.
    assert_eq!(sim.event_ids().len(), events);

    println!("backlog: {events} customer events in pages of 2000, simulator on loopback, release build\n");
    println!("| sink | events/s | CPU s per 1M events | peak RSS MiB | wall s |");
    println!("|---|---:|---:|---:|---:|");
    let out = dir.path().join("events.jsonl");
    let syslog = rsyslog::Rsyslog::start();
    let http = HttpCounter::start();
    let sinks = [
        ("file", format!("[[sinks]]\ntype = \"file\"\npath = \"{}\"\n", out.display())),
        (
            "syslog tcp → rsyslog",
            format!(
                "[[sinks]]\ntype = \"syslog\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:{}\"\nmax_message_size = 65536\n",
                syslog.ports.tcp
            ),
        ),
        ("http ndjson+gzip", format!("[[sinks]]\ntype = \"http\"\nurl = \"{}\"\n", http.url)),
    ];
    for (name, sink) in sinks {
        std::fs::remove_file(dir.path().join("state.db")).ok();
        let cfg = write_config(dir.path(), &sc, &base, &sink);
        let m = run(&cfg);
        let delivered = match name {
            "file" => std::fs::read_to_string(&out).map_or(0, |t| t.lines().count()),
            "http ndjson+gzip" => http.lines.swap(0, std::sync::atomic::Ordering::SeqCst),
            _ => syslog.wait_for(Duration::from_secs(60), |r| r.len() >= events).len(),
        };
        assert!(delivered >= events, "{name}: {delivered} of {events} delivered");
        println!(
            "| {name} | {:.0} | {:.2} | {:.1} | {:.2} |",
            events as f64 / m.wall.as_secs_f64(),
            m.cpu.as_secs_f64() * 1e6 / events as f64,
            m.max_rss_kib as f64 / 1024.0,
            m.wall.as_secs_f64()
        );
    }
}

/// A minimal NDJSON receiver: gunzips each POST and counts its lines.
struct HttpCounter {
    url: String,
    lines: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HttpCounter {
    fn start() -> Self {
        let lines = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = lines.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let app = axum::Router::new().route(
                    "/",
                    axum::routing::post(move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
                        let counted = counted.clone();
                        async move {
                            let gz = headers.get("content-encoding").is_some_and(|v| v == "gzip");
                            let mut text = Vec::new();
                            if gz {
                                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
                                    .unwrap();
                            } else {
                                text = body.to_vec();
                            }
                            let n = text.split(|b| *b == b'\n').count() - 1;
                            counted.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                            "ok"
                        }
                    }),
                );
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                axum::serve(l, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Self { url: format!("http://{addr}/"), lines }
    }
}
