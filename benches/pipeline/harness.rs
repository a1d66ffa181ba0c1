//! What every benchmark item needs: the key pair, an in-thread simulator, a collector config,
//! the release binary run as a measured child, sink receivers, and a raw API client.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use esign_sim::docusign::{EventFeed, SimConfig, Simulator};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

/// A temporary folder with the collector's private key and the matching public PEM.
pub struct Keys {
    pub dir: tempfile::TempDir,
    pub public: String,
    pub private: String,
}

impl Keys {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.path().join("key.pem"))
            .unwrap();
        f.write_all(private.as_bytes()).unwrap();
        let public = key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        Self { dir, public, private }
    }

    /// A fresh path inside the temporary folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A simulator config for this key with a backlog of `events` over six days, no users,
    /// and the backlog's rows rendered at start (so serving costs the collector no time).
    pub fn sim_config(&self, events: usize) -> SimConfig {
        let mut sc = SimConfig::new(self.public.clone());
        sc.feed = EventFeed::Backlog { count: events, span: Duration::from_secs(6 * 86_400) };
        sc.users = 0;
        sc.prerender = true;
        // The account's counted budget must not run out: its headers would pause the collector
        // (DocuSign's 500 requests per 30 s window caps a page-2000 stream at about 33k events/s,
        // see the drain item). These items measure the collector; the drain item sets its quota.
        sc.quota.per_hour = 1_000_000;
        sc.quota.burst = 100_000;
        sc
    }
}

/// The simulator serving from its own thread and current-thread runtime.
pub struct Sim {
    pub sim: Simulator,
    pub base: String,
    pub sc: SimConfig,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sim {
    pub fn start(sc: SimConfig) -> Self {
        let sim = Simulator::new(sc.clone());
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
        Self { sim, base: format!("http://{addr}"), sc, stop: Some(stop), thread: Some(thread) }
    }

    /// A collector config against this simulator: `[docusign]`, `[state]` (the file `name`.db
    /// plus the lines `state`), then `extra` (sinks, sources, pacing). Pacing defaults to
    /// limits the runs never reach.
    pub fn config(&self, keys: &Keys, name: &str, state: &str, extra: &str) -> PathBuf {
        let sc = &self.sc;
        let pacing = if extra.contains("[rate_limit]") {
            ""
        } else {
            "[rate_limit]\nrequests_per_hour = 1000000\nburst = 100000\n\n"
        };
        let cfg = format!(
            "[docusign]\nenvironment = \"developer\"\nintegration_key = \"{}\"\nuser_id = \"{}\"\naccount_id = \"{}\"\n\
organization_id = \"{}\"\nprivate_key_file = \"{}\"\nauth_base_url = \"{base}\"\nmonitor_base_url = \"{base}\"\n\
admin_base_url = \"{base}/management\"\n\n[state]\npath = \"{}\"\n{state}\n{pacing}{extra}",
            sc.integration_key,
            sc.user_id,
            sc.account_id,
            sc.organization_id,
            keys.path("key.pem").display(),
            keys.path(&format!("{name}.db")).display(),
            base = self.base,
        );
        let path = keys.path(&format!("{name}.toml"));
        std::fs::write(&path, cfg).unwrap();
        path
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            s.send(()).ok();
        }
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// A `[[sinks]]` section of one file sink.
pub fn file_sink(path: &Path) -> String {
    format!("[[sinks]]\ntype = \"file\"\npath = \"{}\"\n", path.display())
}

/// One measured run of the binary.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    pub wall: Duration,
    pub cpu: Duration,
    pub max_rss_kib: i64,
}

/// Runs the release binary with `args` and measures it: CPU from wait4's rusage (the child
/// alone, user + system), peak RSS from `VmHWM` sampled every 10 ms while it runs (rusage's
/// `ru_maxrss` would include the memory the child inherited from this process before `exec`).
/// With `stop_after`, SIGTERM goes to the child then; it must still exit 0. With `log`, the
/// child logs at that level to that file (else warnings to this process's stderr).
pub fn run(config: &Path, args: &[&str], stop_after: Option<Duration>, log: Option<(&str, &Path)>) -> Measure {
    run_env(config, args, &[], stop_after, log)
}

/// [`run`] with the environment variables `env` set in the child (API keys read through
/// `api_key_env`).
pub fn run_env(
    config: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stop_after: Option<Duration>,
    log: Option<(&str, &Path)>,
) -> Measure {
    let started = Instant::now();
    let stderr = match log {
        Some((_, file)) => Stdio::from(std::fs::File::create(file).unwrap()),
        None => Stdio::inherit(),
    };
    let child = Command::new(env!("CARGO_BIN_EXE_esign-collector"))
        .arg("--config")
        .arg(config)
        .args(["--log-level", log.map_or("warn", |l| l.0)])
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let watching = done.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0i64;
        let mut signalled = false;
        while !watching.load(Ordering::SeqCst) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            {
                peak = peak.max(kib);
            }
            if !signalled && stop_after.is_some_and(|d| started.elapsed() >= d) {
                // The child is not reaped before `done` is set, so the pid is still ours.
                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                signalled = true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        peak
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid as i32, &raw mut status, 0, &raw mut usage) };
    let wall = started.elapsed();
    done.store(true, Ordering::SeqCst);
    assert_eq!(reaped, pid as i32);
    assert_eq!(status, 0, "the benchmarked run failed: {} {args:?}", config.display());
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Measure { wall, cpu: tv(usage.ru_utime) + tv(usage.ru_stime), max_rss_kib: sampler.join().unwrap() }
}

/// CPU time (user + system) of this whole process so far: simulator and receivers.
pub fn own_cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time of the calling thread: timings of in-process work that other processes on a
/// busy machine do not inflate (wall time would count their turns too).
pub fn thread_cpu() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Lines in a file, counted in chunks (outputs reach gigabytes).
pub fn count_lines(path: &Path) -> usize {
    let Ok(mut f) = std::fs::File::open(path) else { return 0 };
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0;
    loop {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => return n,
            Ok(k) => n += buf[..k].iter().filter(|b| **b == b'\n').count(),
        }
    }
}

/// A minimal NDJSON receiver: gunzips each POST and counts its lines.
pub struct HttpCounter {
    pub url: String,
    pub lines: Arc<AtomicUsize>,
}

impl HttpCounter {
    pub fn start() -> Self {
        let lines = Arc::new(AtomicUsize::new(0));
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
                                flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut text).unwrap();
                            } else {
                                text = body.to_vec();
                            }
                            counted.fetch_add(text.iter().filter(|b| **b == b'\n').count(), Ordering::SeqCst);
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

/// rsyslogd with one plain TCP input writing each raw message as one line to one file (the
/// test helper's daemon writes two files and parses them, too slow for a million messages).
pub struct Rsyslog {
    dir: tempfile::TempDir,
    pub port: u16,
    child: std::process::Child,
}

impl Rsyslog {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("work")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conf = format!(
            "global(workDirectory=\"{r}/work\" maxMessageSize=\"64k\")\nmodule(load=\"imtcp\")\n\
template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
ruleset(name=\"rs\") {{ action(type=\"omfile\" file=\"{r}/out.log\" template=\"raw\") }}\n\
input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"rs\")\n",
            r = root.display()
        );
        std::fs::write(root.join("rsyslog.conf"), conf).unwrap();
        let child = Command::new(super::rsyslog::rsyslogd())
            .args(["-n", "-i"])
            .arg(root.join("rsyslog.pid"))
            .arg("-f")
            .arg(root.join("rsyslog.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "rsyslogd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { dir, port, child }
    }

    /// Waits (up to `limit`) until `n` messages arrived; returns how many did.
    pub fn wait_for(&self, n: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        let out = self.dir.path().join("out.log");
        loop {
            let got = count_lines(&out);
            if got >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The Monitor org stream read directly (JWT grant, then pages), for the items that need
/// raw reply bodies or the simulator's serving rate.
pub struct RawApi {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl RawApi {
    pub async fn connect(sim: &Sim, keys: &Keys) -> Self {
        let sc = &sim.sc;
        let http = reqwest::Client::new();
        let now = chrono::Utc::now().timestamp();
        let host = sim.base.trim_start_matches("http://");
        let claims = serde_json::json!({
            "iss": sc.integration_key, "sub": sc.user_id, "aud": host,
            "iat": now - 30, "exp": now + 3000, "scope": "signature impersonation",
        });
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(keys.private.as_bytes()).unwrap();
        let assertion =
            jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &key).unwrap();
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
        let reply: serde_json::Value =
            http.post(format!("{}/oauth/token", sim.base)).form(&form).send().await.unwrap().json().await.unwrap();
        let token = reply["access_token"].as_str().unwrap().to_owned();
        let url = format!("{}/v1/organizations/{}/stream", sim.base, sc.organization_id);
        Self { http, url, token }
    }

    /// One page after `cursor` (from seven days back without one): the body and its
    /// `endCursor`, found without parsing the body.
    pub async fn page(&self, cursor: Option<&str>, limit: usize) -> (bytes::Bytes, String) {
        let mut req = self.http.get(&self.url).bearer_auth(&self.token).query(&[("limit", limit.to_string())]);
        if let Some(c) = cursor {
            req = req.query(&[("cursor", c)]);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.bytes().await.unwrap();
        let at = memfind(&body, b"\"endCursor\":\"").unwrap() + 13;
        let len = body[at..].iter().position(|b| *b == b'"').unwrap();
        let end = String::from_utf8(body[at..at + len].to_vec()).unwrap();
        (body, end)
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
