//! The Yousign simulator served on 127.0.0.1 from its own thread and runtime (so a test can
//! block on the binary), with generous rate limits (the collector honours
//! `X-RateLimit-Remaining-*` even when the simulator does not enforce them, and these tests
//! are not about pacing), and a temporary folder; stopped when dropped.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::let_underscore_must_use)]

use std::path::PathBuf;
use std::time::Duration;

use esign_sim::yousign::{RateLimits, YousignConfig, YousignSim};

pub struct Served {
    pub sim: YousignSim,
    /// `http://127.0.0.1:PORT`: the v2 API root; v3 is under `/v3`.
    pub root: String,
    pub dir: tempfile::TempDir,
    /// The simulator's runtime: its webhook sender must be started inside it.
    pub rt: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves a simulator configured by `tune` (after the generous limits are set).
pub fn serve(tune: impl FnOnce(&mut YousignConfig)) -> Served {
    let mut cfg = YousignConfig::new();
    cfg.limits = RateLimits { per_minute: 100_000, per_hour: 1_000_000, enforce: false };
    tune(&mut cfg);
    let sim = YousignSim::new(cfg);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = std::sync::mpsc::channel();
    let s = sim.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send((listener.local_addr().unwrap(), tokio::runtime::Handle::current())).unwrap();
            s.serve(listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    let (addr, rt) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Served {
        sim,
        root: format!("http://{addr}"),
        dir: tempfile::tempdir().unwrap(),
        rt,
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// Where the tests keep the collector's files in the served folder.
impl Served {
    /// The collector's configuration file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("collector.toml")
    }

    /// The collector's state file.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state/collector.db")
    }

    /// The file sink's output.
    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out/yousign.jsonl")
    }
}
