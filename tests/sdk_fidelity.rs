//! The simulator as Docusign's official Python SDKs see it.
//!
//! Starts the simulator in-process, gets a token through `/oauth/token` with a JWT signed
//! here, then runs `tests/sdk/check_sdk.py`, which pages both Monitor generations, the
//! Admin users list and the eSignature status-change list (plus audit events and the go-live
//! read-only endpoints) with the SDKs' own `ApiClient`, API classes and models. The SDKs are a
//! hard requirement: without them this test fails and says how to install them.

#![allow(clippy::unwrap_used, reason = "tests may unwrap: a panic is a failed test")]

use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use esign_sim::docusign::{EventFeed, SimConfig, Simulator};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(150);
const INSTALL_HINT: &str =
    "the official Docusign SDKs are required: pip install docusign-monitor docusign-admin docusign-esign";

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Fails (not skips) when the SDKs cannot be imported.
fn require_sdks() {
    let out = Command::new(python())
        .args(["-c", "import docusign_monitor, docusign_admin, docusign_esign"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL_HINT}", python()));
    assert!(out.status.success(), "{INSTALL_HINT}\n{}", String::from_utf8_lossy(&out.stderr));
}

/// Runs the check script, killing it by PID if it outlives `SCRIPT_TIMEOUT`.
fn run_script(args: &[String], dir: &Path) -> (Option<ExitStatus>, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/check_sdk.py");
    let (out_path, err_path) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let mut child = Command::new(python())
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status, read(&out_path), read(&err_path))
}

#[tokio::test]
async fn official_python_sdks_accept_every_reply() {
    require_sdks();
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let mut cfg = SimConfig::new(key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap());
    cfg.feed = EventFeed::Backlog { count: 4500, span: Duration::from_secs(3 * 86_400) };
    cfg.users = 70;
    cfg.envelopes = 60;
    let sim = Simulator::new(cfg.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let sim = sim.clone();
        tokio::spawn(async move {
            sim.serve(listener, async move {
                stopped.await.ok();
            })
            .await
        })
    };

    let now = Utc::now().timestamp();
    let claims = json!({
        "iss": cfg.integration_key, "sub": cfg.user_id, "aud": host, "iat": now, "exp": now + 3600,
        "scope": "signature impersonation organization_read user_read",
    });
    let assertion = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
    )
    .unwrap();
    let base = format!("http://{host}");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let reply: Value = http
        .post(format!("{base}/oauth/token"))
        .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = reply["access_token"].as_str().expect("token reply").to_owned();

    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let args: Vec<String> = [
        "--base",
        &base,
        "--token",
        &token,
        "--org",
        &cfg.organization_id,
        "--account",
        &cfg.account_id,
        "--summary",
        summary.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    let script_dir = dir.path().to_owned();
    // The script blocks; run it off the runtime so the in-process server keeps serving.
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || run_script(&args, &script_dir)).await.unwrap();
    println!("{stdout}");
    eprintln!("{stderr}");
    let status = status.unwrap_or_else(|| panic!("check_sdk.py timed out after {SCRIPT_TIMEOUT:?}"));
    assert_ne!(status.code(), Some(3), "{INSTALL_HINT}");
    assert!(status.success(), "check_sdk.py failed ({status}):\n{stderr}");

    let seen: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let current: Vec<String> = serde_json::from_value(seen["current"].clone()).unwrap();
    assert_eq!(current, sim.event_ids(), "the SDK saw every event once, in ingestion order");
    assert_eq!(seen["users"].as_array().unwrap().len(), sim.user_count());
    let envelopes: Vec<String> = serde_json::from_value(seen["envelopes"].clone()).unwrap();
    let mut truth: Vec<String> = sim.envelope_transitions().into_iter().map(|t| t.envelope_id).collect();
    truth.sort();
    truth.dedup();
    let mut got = envelopes.clone();
    got.sort();
    assert_eq!(got, truth, "the SDK paged every envelope once");
    assert_eq!(sim.envelope_polling_violations(), 0, "one audit read per envelope");
    let counters = sim.stats();
    assert!(counters.monitor_requests >= 6 && counters.admin_requests >= 4, "{counters:?}");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap().unwrap();
}
