//! Deployment: the key as a systemd credential, sd_notify readiness/status/watchdog in `run`,
//! the systemd units (`systemd-analyze verify`, the offline security score, and the syscall
//! filter against every syscall the collector makes), and every config shipped in deploy/.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Harness, Spawned, backlog, code, stderr, tool};
use esign_collector::config::Config;

const UNITS: [&str; 3] = ["esign-collector.service", "esign-collector-daemon.service", "esign-collector.timer"];
/// The highest `systemd-analyze security` exposure either service may have (measured: 1.1 with systemd 252).
const MAX_EXPOSURE: f64 = 1.5;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Points the harness config at the credential `docusign-key` instead of the key file, and
/// returns a credentials directory holding the key as systemd would (mode 0400).
fn use_credential(h: &Harness) -> tempfile::TempDir {
    let text = std::fs::read_to_string(&h.config).unwrap();
    let line = text.lines().find(|l| l.starts_with("private_key_file = ")).unwrap().to_owned();
    std::fs::write(&h.config, text.replace(&line, "private_key_credential = \"docusign-key\"")).unwrap();
    let creds = tempfile::tempdir().unwrap();
    let key = creds.path().join("docusign-key");
    std::fs::copy(h.dir.path().join("key.pem"), &key).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o400)).unwrap();
    creds
}

#[test]
fn key_from_a_systemd_credential() {
    let h = Harness::start(backlog(25), 0);
    let creds = use_credential(&h);
    let out = h.cmd(&["fetch"]).env("CREDENTIALS_DIRECTORY", creds.path()).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(common::ids(&out), h.sim.event_ids());

    let out = h.cmd(&["fetch"]).env_remove("CREDENTIALS_DIRECTORY").output().unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("systemd credential docusign-key: CREDENTIALS_DIRECTORY is not set"), "{e}");
    assert!(e.contains("LoadCredential=docusign-key:"), "{e}");

    let empty = tempfile::tempdir().unwrap();
    let out = h.cmd(&["fetch"]).env("CREDENTIALS_DIRECTORY", empty.path()).output().unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("systemd credential docusign-key: is not in"), "{}", stderr(&out));
}

/// Starts `run` with a notify socket and a 200 ms watchdog; `wrap` puts a tracer in front.
fn spawn_run(h: &Harness, sock: &Path, wrap: &[&std::ffi::OsStr], creds: Option<&Path>) -> Spawned {
    let bin = assert_cmd::cargo::cargo_bin("esign-collector");
    let mut cmd = Command::new(wrap.first().copied().unwrap_or(bin.as_os_str()));
    if !wrap.is_empty() {
        cmd.args(&wrap[1..]).arg(&bin);
    }
    if let Some(dir) = creds {
        cmd.env("CREDENTIALS_DIRECTORY", dir);
    }
    cmd.arg("--config")
        .arg(&h.config)
        .arg("run")
        .env_remove("ESIGN_COLLECTOR_CONFIG")
        .env("NOTIFY_SOCKET", sock)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Spawned::from(cmd.spawn().unwrap())
}

/// Receives notifications until `done` says so or `limit` passes (then fails with what came).
fn receive_until(sock: &UnixDatagram, got: &mut Vec<String>, limit: Duration, done: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while !done(got) {
        assert!(Instant::now() < deadline, "notifications so far: {got:?}");
        if let Ok(n) = sock.recv(&mut buf) {
            got.extend(String::from_utf8_lossy(&buf[..n]).lines().map(str::to_owned));
        }
    }
}

fn bind_notify(h: &Harness) -> (UnixDatagram, PathBuf) {
    let path = h.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    (sock, path)
}

fn has(got: &[String], line: &str) -> bool {
    got.iter().any(|l| l.starts_with(line))
}

#[test]
fn run_notifies_ready_status_watchdog_and_stopping() {
    let h = Harness::start(backlog(30), 0);
    let (sock, path) = bind_notify(&h);
    let mut run = spawn_run(&h, &path, &[], None);
    let mut got = Vec::new();
    receive_until(&sock, &mut got, Duration::from_secs(60), |g| {
        has(g, "READY=1") && has(g, "STATUS=Delivered 30 events (customer_events 30)") && has(g, "WATCHDOG=1")
    });
    assert!(has(&got, "STATUS=Collecting every 5m; first cycle now."), "{got:?}");
    assert!(!has(&got, "STOPPING=1"), "{got:?}");
    run.signal(libc::SIGTERM);
    let status = run.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{}", run.stderr());
    receive_until(&sock, &mut got, Duration::from_secs(5), |g| has(g, "STOPPING=1"));
    assert!(has(&got, "STATUS=Stopped on request"), "{got:?}");
}

/// The units in a temporary folder, ExecStart pointing at the binary under test.
fn units_for_test() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_esign-collector");
    for unit in UNITS {
        let text = std::fs::read_to_string(deploy_dir().join("systemd").join(unit)).unwrap();
        std::fs::write(dir.path().join(unit), text.replace("/usr/local/bin/esign-collector", bin)).unwrap();
    }
    dir
}

/// `systemd-analyze verify` output about our units (it also prints unrelated host noise).
fn verify_complaints(dir: &Path, units: &[&str]) -> Vec<String> {
    let out = Command::new(tool("systemd-analyze", "systemd"))
        .arg("verify")
        .args(units.iter().map(|u| dir.join(u)))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    text.lines().filter(|l| l.contains("esign-collector")).map(str::to_owned).collect()
}

#[test]
fn systemd_units_verify_without_warnings() {
    let dir = units_for_test();
    let complaints = verify_complaints(dir.path(), &UNITS);
    assert!(complaints.is_empty(), "systemd-analyze verify:\n{}", complaints.join("\n"));
    // The filter sees real warnings: a misspelt key in a copy is reported.
    let unit = dir.path().join("esign-collector.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    std::fs::write(&unit, text.replace("ProtectHome=yes", "ProtectHom=yes")).unwrap();
    let complaints = verify_complaints(dir.path(), &["esign-collector.service"]);
    assert!(complaints.iter().any(|l| l.contains("ProtectHom")), "{complaints:?}");
}

#[test]
fn systemd_services_stay_hardened() {
    let dir = units_for_test();
    for unit in &UNITS[..2] {
        let out = Command::new(tool("systemd-analyze", "systemd"))
            .args(["security", "--offline=true", "--no-pager"])
            .arg(dir.path().join(unit))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let prefix = format!("Overall exposure level for {unit}: ");
        let line = text.lines().find_map(|l| l.split_once(&prefix)).map(|(_, rest)| rest.to_owned());
        let line =
            line.unwrap_or_else(|| panic!("no exposure level in:\n{text}{}", String::from_utf8_lossy(&out.stderr)));
        let score: f64 = line.split_whitespace().next().unwrap().parse().unwrap();
        eprintln!("{unit}: exposure {score}");
        assert!(score <= MAX_EXPOSURE, "{unit}: exposure {score} > {MAX_EXPOSURE}:\n{text}");
    }
}

/// The syscalls a `SystemCallFilter=` group (or a single name) stands for.
fn expand_filter(entry: &str, out: &mut BTreeSet<String>) {
    if !entry.starts_with('@') {
        out.insert(entry.to_owned());
        return;
    }
    let listing = Command::new(tool("systemd-analyze", "systemd"))
        .args(["syscall-filter", "--no-pager", entry])
        .output()
        .unwrap();
    assert!(listing.status.success(), "{entry}: {}", String::from_utf8_lossy(&listing.stderr));
    for name in String::from_utf8_lossy(&listing.stdout).lines().skip(1).map(str::trim) {
        if !name.is_empty() && !name.starts_with('#') {
            expand_filter(name, out);
        }
    }
}

/// What the unit's `SystemCallFilter=` lines allow: the allow-list minus the `~` lists.
fn allowed_syscalls(unit: &str) -> BTreeSet<String> {
    let (mut allow, mut deny) = (BTreeSet::new(), BTreeSet::new());
    for value in unit.lines().filter_map(|l| l.strip_prefix("SystemCallFilter=")) {
        let (set, list) = match value.strip_prefix('~') {
            Some(rest) => (&mut deny, rest),
            None => (&mut allow, value),
        };
        for entry in list.split_whitespace() {
            expand_filter(entry, set);
        }
    }
    assert!(allow.len() > 100, "no allow-list in the unit: {allow:?}");
    allow.difference(&deny).cloned().collect()
}

#[test]
fn syscall_filter_allows_every_syscall_the_daemon_makes() {
    let strace = tool("strace", "strace");
    let h = Harness::start(backlog(30), 0);
    let creds = use_credential(&h);
    let events = h.dir.path().join("events.jsonl");
    let cfg = std::fs::read_to_string(&h.config).unwrap();
    let sink = format!("\n[[sinks]]\ntype = \"file\"\npath = \"{}\"\n", events.display());
    std::fs::write(&h.config, cfg + &sink).unwrap();
    let (sock, path) = bind_notify(&h);
    let trace = h.dir.path().join("trace");
    let wrap = [strace.as_os_str(), "-f".as_ref(), "-qq".as_ref(), "-o".as_ref(), trace.as_os_str(), "--".as_ref()];
    let mut run = spawn_run(&h, &path, &wrap, Some(creds.path()));
    let mut got = Vec::new();
    receive_until(&sock, &mut got, Duration::from_secs(120), |g| {
        has(g, "STATUS=Delivered 30 events") && has(g, "WATCHDOG=1")
    });
    // SIGTERM the collector itself (strace's child), so the traced shutdown path runs too.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", run.child.id())).unwrap();
    let pid: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: kill(2) on a pid we started; no memory is involved.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = run.wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{}", run.stderr());
    assert_eq!(std::fs::read_to_string(&events).unwrap().lines().count(), 30);

    let unit = std::fs::read_to_string(deploy_dir().join("systemd/esign-collector-daemon.service")).unwrap();
    let allowed = allowed_syscalls(&unit);
    let oneshot = std::fs::read_to_string(deploy_dir().join("systemd/esign-collector.service")).unwrap();
    assert_eq!(allowed, allowed_syscalls(&oneshot), "both units share one filter");
    let used: BTreeSet<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest.trim_start()))
        .filter_map(|call| call.split_once('(').map(|(name, _)| name.to_owned()))
        .filter(|name| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .collect();
    let synced = used.contains("fdatasync") || used.contains("fsync");
    assert!(used.contains("flock") && synced && used.contains("connect"), "trace too thin: {used:?}");
    // SQLite hands its journal files to the database's owner only when running as root (it
    // never is under the units: DynamicUser=yes), so fchown shows up only in a root test run.
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let root_only: &[&str] = if unsafe { libc::geteuid() } == 0 { &["fchown"] } else { &[] };
    let refused: Vec<&String> =
        used.iter().filter(|s| !allowed.contains(*s) && !root_only.contains(&s.as_str())).collect();
    assert!(refused.is_empty(), "SystemCallFilter= would refuse {refused:?} (used: {used:?})");
}

/// The Kubernetes manifests as JSON, read by PyYAML (small, and Debian packages it).
fn kubernetes_manifests() -> Vec<serde_json::Value> {
    manifests("cronjob.yaml")
}

/// One file of `deploy/kubernetes/` as JSON documents.
fn manifests(file: &str) -> Vec<serde_json::Value> {
    let path = deploy_dir().join("kubernetes").join(file);
    let script = "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))";
    let out = Command::new(tool("python3", "python3")).args(["-c", script]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("No module named 'yaml'"), "PyYAML is missing: install Debian's `python3-yaml` package");
    assert!(out.status.success(), "{} does not parse: {err}", path.display());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn kubernetes_cronjob_is_hardened_and_its_config_parses() {
    let docs = kubernetes_manifests();
    let kind = |k: &str| docs.iter().find(|d| d["kind"] == k).unwrap_or_else(|| panic!("no {k}"));
    let cron = &kind("CronJob")["spec"];
    assert_eq!(cron["concurrencyPolicy"], "Forbid");
    assert!(cron["startingDeadlineSeconds"].is_u64() && cron["jobTemplate"]["spec"]["backoffLimit"].is_u64());
    let pod = &cron["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(kind("PersistentVolumeClaim")["spec"]["accessModes"], serde_json::json!(["ReadWriteOnce"]));
    let text = kind("ConfigMap")["data"]["config.toml"].as_str().unwrap();
    let cfg = Config::parse(text, Path::new("cronjob.yaml ConfigMap")).unwrap();
    assert_eq!(cfg.state.path, Path::new("/var/lib/esign-collector/esign-collector.db"));
    let env = &c["env"][0];
    assert_eq!(cfg.docusign().private_key_env.as_deref(), env["name"].as_str(), "the key variable the pod sets");
}

/// The hardening every collector container keeps.
fn hardened(c: &serde_json::Value) {
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true, "{c}");
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], serde_json::json!(["ALL"]));
}

#[test]
fn kubernetes_shards_are_a_statefulset_with_a_volume_each_and_healthz_probes() {
    let docs = manifests("statefulset.yaml");
    let kind = |k: &str| docs.iter().find(|d| d["kind"] == k).unwrap_or_else(|| panic!("no {k}"));
    let text = kind("ConfigMap")["data"]["config.toml"].as_str().unwrap();
    let cfg = Config::parse(text, Path::new("statefulset.yaml ConfigMap")).unwrap();
    let sts = &kind("StatefulSet")["spec"];
    let shard = cfg.shard.as_ref().expect("[shard]");
    assert_eq!(sts["replicas"].as_u64(), Some(u64::from(shard.count.get())), "one pod per shard");
    assert_eq!(shard.index, esign_collector::config::ShardIndex::Auto, "each pod is its ordinal's shard");
    let claim = &sts["volumeClaimTemplates"][0];
    assert_eq!(claim["spec"]["accessModes"], serde_json::json!(["ReadWriteOnce"]), "one state file per pod");
    let pod = &sts["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    hardened(c);
    let port = cfg.metrics.listen.unwrap().port();
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(u64::from(port)));
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"], "/healthz", "{probe}");
    }
    let mounts = c["volumeMounts"].as_array().unwrap();
    let state = mounts.iter().find(|m| m["name"] == claim["metadata"]["name"]).unwrap();
    assert!(cfg.state.path.starts_with(state["mountPath"].as_str().unwrap()), "the state file is on the pod's volume");
    let keys = mounts.iter().find(|m| m["name"] == "keys").unwrap();
    let key_file = cfg.docusign().private_key_file.clone().unwrap();
    assert!(key_file.starts_with(keys["mountPath"].as_str().unwrap()), "the key is a mounted file");
    let secret = pod["volumes"].as_array().unwrap().iter().find(|v| v["secret"].is_object()).unwrap();
    assert_eq!(secret["secret"]["secretName"], "esign-collector-keys");
    assert_eq!(pod["initContainers"][0]["volumeMounts"][1]["name"], "keys", "copied where the collector reads it");

    let docs = manifests("receivers.yaml");
    let kind = |k: &str| docs.iter().find(|d| d["kind"] == k).unwrap_or_else(|| panic!("no {k}"));
    let text = kind("ConfigMap")["data"]["config.toml"].as_str().unwrap();
    let cfg = Config::parse(text, Path::new("receivers.yaml ConfigMap")).unwrap();
    assert!(cfg.receivers.connect.is_some() && cfg.receivers.yousign.is_some());
    assert!(cfg.shard.is_none(), "the receivers take every tenant's messages");
    let deployment = &kind("Deployment")["spec"];
    hardened(&deployment["template"]["spec"]["containers"][0]);
    let paths: Vec<&str> = kind("Ingress")["spec"]["rules"][0]["http"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [cfg.receivers.connect.as_ref().unwrap().path.as_str(), cfg.receivers.yousign.as_ref().unwrap().path.as_str()]
    );
}

#[test]
fn every_config_in_deploy_parses() {
    let mut found = 0;
    let mut dirs = vec![deploy_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&p).unwrap();
                Config::parse(&text, &p).unwrap_or_else(|e| panic!("{e}"));
                found += 1;
            }
        }
    }
    assert!(found >= 1, "no config found in deploy/");
    let systemd = std::fs::read_to_string(deploy_dir().join("systemd/config.toml")).unwrap();
    let cfg = Config::parse(&systemd, Path::new("config.toml")).unwrap();
    assert_eq!(cfg.docusign().private_key_credential.as_deref(), Some("docusign-key"));
    assert!(cfg.state.path.starts_with("/var/lib/esign-collector/"), "StateDirectory=esign-collector");
    for unit in &UNITS[..2] {
        let text = std::fs::read_to_string(deploy_dir().join("systemd").join(unit)).unwrap();
        assert!(text.contains("LoadCredential=docusign-key:"), "{unit} loads the credential the config names");
        assert!(text.contains("StateDirectory=esign-collector\n"), "{unit}");
    }
}

#[test]
fn container_builder_matches_rust_version() {
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string("Cargo.toml").unwrap()).unwrap();
    let version = manifest["workspace"]["package"]["rust-version"].as_str().unwrap();
    // Every workspace member the binary needs is copied into the build stage.
    let members = manifest["workspace"]["members"].as_array().unwrap();
    let containerfile = std::fs::read_to_string(deploy_dir().join("container/Containerfile")).unwrap();
    assert!(
        containerfile.contains(&format!("ARG RUST_VERSION={version}\n")),
        "Containerfile's RUST_VERSION is not {version}"
    );
    assert!(containerfile.contains("cargo build --release --locked"));
    for m in members.iter().filter_map(toml::Value::as_str).filter(|m| *m != ".") {
        assert!(containerfile.contains(&format!("COPY {m} ./{m}\n")), "the Containerfile does not copy {m}");
    }
}
