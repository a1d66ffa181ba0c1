//! Test harness: the simulator in-process on 127.0.0.1:0 (its own runtime), a private key in
//! a temporary folder, a config pointing at the simulator, and the real binary run with a
//! bounded time.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::let_underscore_must_use)]

pub mod batch;

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use esign_sim::docusign::{EventFeed, SimConfig, Simulator};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

/// How long one run of the binary may take before the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Harness {
    pub sim: Simulator,
    pub base: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub sc: SimConfig,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.server.take() {
            let _ = t.join();
        }
    }
}

/// Options for the generated config.
#[derive(Clone)]
pub struct Opts {
    pub api: &'static str,
    pub users: bool,
    pub events: bool,
    pub extra: String,
}

impl Default for Opts {
    fn default() -> Self {
        Self { api: "org-stream", users: false, events: true, extra: String::new() }
    }
}

pub fn write_private(path: &Path, data: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).unwrap();
    f.write_all(data).unwrap();
}

impl Harness {
    pub fn start(feed: EventFeed, users: usize) -> Self {
        Self::start_with(feed, users, |_| {})
    }

    pub fn start_with(feed: EventFeed, users: usize, tweak: impl FnOnce(&mut SimConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        write_private(&dir.path().join("key.pem"), pem.as_bytes());
        let public = key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        let mut sc = SimConfig::new(public);
        sc.feed = feed;
        sc.users = users;
        tweak(&mut sc);
        let sim = Simulator::new(sc.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let s = sim.clone();
        // The simulator serves from its own thread and runtime, so tests can block on the binary.
        let server = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                s.serve(listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let base = format!("http://{}", addr_rx.recv_timeout(Duration::from_secs(10)).unwrap());
        let config = dir.path().join("collector.toml");
        let h = Self { sim, base, dir, config, sc, stop: Some(stop), server: Some(server) };
        h.write_config(&Opts::default());
        h
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state/collector.db")
    }

    pub fn write_config(&self, o: &Opts) {
        let text = format!(
            r#"[docusign]
environment = "developer"
integration_key = "{ik}"
user_id = "{user}"
account_id = "{acc}"
organization_id = "{org}"
private_key_file = "{key}"
auth_base_url = "{base}"
monitor_base_url = "{base}"
admin_base_url = "{base}/management"
timeout = "5s"

[sources.customer_events]
enabled = {events}
api = "{api}"

[sources.user_data]
enabled = {users}

[state]
path = "{state}"

[rate_limit]
initial_backoff = "100ms"
max_backoff = "1s"
{extra}
"#,
            ik = self.sc.integration_key,
            user = self.sc.user_id,
            acc = self.sc.account_id,
            org = self.sc.organization_id,
            key = self.dir.path().join("key.pem").display(),
            base = self.base,
            events = o.events,
            users = o.users,
            api = o.api,
            state = self.state().display(),
            extra = o.extra,
        );
        std::fs::write(&self.config, text).unwrap();
    }

    pub fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::cargo_bin("esign-collector").unwrap();
        c.arg("--config").arg(&self.config).args(args).timeout(RUN_TIMEOUT).env_remove("ESIGN_COLLECTOR_CONFIG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

/// The JSON lines of stdout.
pub fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}")))
        .collect()
}

pub fn ids(out: &Output) -> Vec<String> {
    lines(out).iter().map(|v| v["event_id"].as_str().unwrap().to_owned()).collect()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// A checkpoint as stored.
pub fn checkpoint(state: &Path, source: &str) -> Option<String> {
    let c = rusqlite::Connection::open(state).ok()?;
    c.query_row("SELECT cursor FROM checkpoints WHERE source = ?1", [source], |r| r.get(0)).ok()
}

pub fn backlog(count: usize) -> EventFeed {
    EventFeed::Backlog { count, span: Duration::from_secs(2 * 86_400) }
}

/// A background run of the binary, killed (by PID) and reaped if the test ends first.
pub struct Spawned {
    pub child: std::process::Child,
    done: bool,
}

impl Spawned {
    /// Waits at most `limit` for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                self.done = true;
                return s;
            }
            assert!(std::time::Instant::now() < deadline, "process {} did not exit in {limit:?}", self.child.id());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal.
    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(i32::try_from(self.child.id()).unwrap(), sig);
        }
    }

    /// What it wrote to stderr (after it exited).
    pub fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
        }
        s
    }
}

impl From<std::process::Child> for Spawned {
    fn from(child: std::process::Child) -> Self {
        Self { child, done: false }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Harness {
    /// Starts the binary in the background with this config; stdout and stderr as given.
    pub fn spawn(&self, args: &[&str], stdout: std::process::Stdio, stderr: std::process::Stdio) -> Spawned {
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("esign-collector"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("ESIGN_COLLECTOR_CONFIG")
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap();
        Spawned { child, done: false }
    }
}

/// A tool on `PATH` that a test needs; the test fails (never skips) without it.
pub fn tool(name: &str, package: &str) -> PathBuf {
    let found =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|c| c.is_file()));
    found.unwrap_or_else(|| panic!("`{name}` is missing: install Debian's `{package}` package (scripts/test does)"))
}
