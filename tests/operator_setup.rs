//! What a new operator trips over while setting up: a log level that is no level, `simulate`
//! on a busy port, key files that are not what DocuSign needs, a tenant's own key file, an
//! existing output file's mode, and relative paths in a config run from another folder.
//! Each test drives the real binary against the in-process simulator on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::{Harness, Opts, backlog, code, lines, stderr};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

// --- item 5: --log-level -------------------------------------------------------------------

#[test]
fn a_log_level_that_is_no_level_is_refused_naming_the_levels() {
    let h = Harness::start(backlog(5), 0);
    for word in ["warning", "loud", "Warning"] {
        let out = h.cmd(&["--log-level", word, "fetch"]).env_remove("ESIGN_COLLECTOR_LOG").output().unwrap();
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "--log-level {word}: {err}");
        assert!(err.contains("trace, debug, info, warn, error, off"), "{word}: {err}");
        assert!(out.stdout.is_empty(), "{word}: nothing may be collected");
    }
    let out = h.cmd(&["--log-level", "warning", "fetch"]).output().unwrap();
    assert!(stderr(&out).contains("`warn`"), "warning suggests warn: {}", stderr(&out));
    // The environment variable takes the same path, and the message says where the value came from.
    let out = h.cmd(&["fetch"]).env("ESIGN_COLLECTOR_LOG", "loud").output().unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("ESIGN_COLLECTOR_LOG"), "{}", stderr(&out));
    assert_eq!(common::checkpoint(&h.state(), "customer_events"), None);
}

#[test]
fn log_levels_and_filter_directives_keep_working() {
    let h = Harness::start(backlog(5), 0);
    for filter in ["WARN", "esign_collector=debug,info", "info,esign_collector::http=trace"] {
        let out = h.cmd(&["--log-level", filter, "get-events", "--type", "customer-events"]).output().unwrap();
        assert_eq!(code(&out), 0, "--log-level {filter}: {}", stderr(&out));
    }
    let out = h.cmd(&["--log-level", "esign_collector=debug,info", "fetch"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("DEBUG"), "the directive's debug lines show: {}", stderr(&out));
}

// --- item 6: simulate on a busy port -------------------------------------------------------

#[test]
fn simulate_on_a_busy_port_is_exit_2_and_touches_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let key = dir.path().join("simulator-key.pem");
    let cfg = dir.path().join("simulator.toml");
    common::write_private(&key, b"the key the running simulator trusts\n");
    std::fs::write(&cfg, "# the running simulator's config\n").unwrap();
    let out = assert_cmd::Command::cargo_bin("esign-collector")
        .unwrap()
        .args(["simulate", "--port", &port.to_string(), "--key-out"])
        .arg(&key)
        .arg("--write-config")
        .arg(&cfg)
        .current_dir(dir.path())
        .timeout(common::RUN_TIMEOUT)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")) && err.contains("another process"), "{err}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "the key the running simulator trusts\n");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "# the running simulator's config\n");
    drop(busy);
}

// --- item 7: key files that mislead --------------------------------------------------------

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn key_files_that_are_not_what_docusign_needs_say_so() {
    let h = Harness::start(backlog(5), 0);
    let tmp = tempfile::tempdir().unwrap();
    let ec_pkcs8 = openssl(tmp.path(), &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let ec_sec1 = openssl(tmp.path(), &["ecparam", "-genkey", "-name", "prime256v1", "-noout"]);
    let ed25519 = openssl(tmp.path(), &["genpkey", "-algorithm", "ed25519"]);
    let small = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
    let small_pem = small.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes().to_vec();
    std::fs::write(tmp.path().join("rsa.pem"), &small_pem).unwrap();
    let der = openssl(tmp.path(), &["pkey", "-in", "rsa.pem", "-outform", "DER"]);
    let rows: [(&str, &[u8], &str); 6] = [
        ("EC key, PKCS#8", &ec_pkcs8, "an EC key: DocuSign needs an RSA key"),
        ("EC key, SEC1", &ec_sec1, "an EC key: DocuSign needs an RSA key"),
        ("Ed25519 key", &ed25519, "an Ed25519 key: DocuSign needs an RSA key"),
        ("1024-bit RSA key", &small_pem, "1024-bit RSA key"),
        ("DER file", &der, "not a PEM text file"),
        ("binary file", &[0xff, 0xfe, 0x00, 0x9c, 0x80, 0x10, 0x42], "not a PEM text file"),
    ];
    let key = h.dir.path().join("key.pem");
    let mut wrong = Vec::new();
    for (name, bytes, says) in rows {
        common::write_private(&key, bytes);
        let out = h.run(&["auth-test"]);
        let err = stderr(&out);
        if code(&out) != 2 || !err.contains(says) || err.contains("OID 1.2.840.113549.1.1.1") {
            wrong.push(format!("{name}: exit {} (want 2, {says:?}): {}", code(&out), err.trim()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(h.sim.stats().token_requests, 0, "no unusable key may be signed and sent");
}

// --- item 8: a tenant's key file replaces [docusign]'s credential --------------------------

#[test]
fn a_tenants_key_file_replaces_the_docusign_credential() {
    let h = Harness::start(backlog(5), 0);
    let key = h.dir.path().join("key.pem");
    let text = std::fs::read_to_string(&h.config).unwrap();
    let line = format!("private_key_file = \"{}\"\n", key.display());
    assert!(text.contains(&line));
    let text = text.replacen(&line, "private_key_credential = \"docusign-key\"\n", 1)
        + &format!("\n[[tenants]]\nname = \"acme\"\nprivate_key_file = \"{}\"\n", key.display());
    std::fs::write(&h.config, text).unwrap();
    let out = h.cmd(&["auth-test"]).env_remove("CREDENTIALS_DIRECTORY").output().unwrap();
    assert_eq!(code(&out), 0, "the tenant signs with its own file: {}", stderr(&out));
}

// --- item 11: files and paths --------------------------------------------------------------

#[test]
fn an_existing_output_file_gets_the_configured_mode() {
    let h = Harness::start(backlog(5), 0);
    let out_file = h.dir.path().join("out/events.jsonl");
    std::fs::create_dir_all(out_file.parent().unwrap()).unwrap();
    std::fs::write(&out_file, "").unwrap();
    std::fs::set_permissions(&out_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    h.write_config(&Opts {
        extra: format!("[[sinks]]\ntype = \"file\"\npath = \"{}\"\nmode = 0o600\n", out_file.display()),
        ..Opts::default()
    });
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap().lines().count(), 5);
    assert_eq!(mode(&out_file), 0o600, "the configured mode applies to a file that already existed");
}

/// A config in its own folder whose key, state and file sink are given relative to it.
fn relative_config(h: &Harness, folder: &Path, state: Option<&str>) -> std::path::PathBuf {
    std::fs::create_dir_all(folder.join("keys")).unwrap();
    common::write_private(&folder.join("keys/app.pem"), &std::fs::read(h.dir.path().join("key.pem")).unwrap());
    let state = state.map(|s| format!("[state]\npath = \"{s}\"\n")).unwrap_or_default();
    let text = format!(
        "[docusign]\nenvironment = \"developer\"\nintegration_key = \"{ik}\"\nuser_id = \"{user}\"\n\
         account_id = \"{acc}\"\norganization_id = \"{org}\"\nprivate_key_file = \"keys/app.pem\"\n\
         auth_base_url = \"{base}\"\nmonitor_base_url = \"{base}\"\nadmin_base_url = \"{base}/management\"\n\n\
         {state}\n[[sinks]]\ntype = \"file\"\npath = \"out/events.jsonl\"\n",
        ik = h.sc.integration_key,
        user = h.sc.user_id,
        acc = h.sc.account_id,
        org = h.sc.organization_id,
        base = h.base,
    );
    let cfg = folder.join("collector.toml");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn run_in(cwd: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("esign-collector")
        .unwrap()
        .args(args)
        .current_dir(cwd)
        .env_remove("ESIGN_COLLECTOR_CONFIG")
        .env_remove("ESIGN_COLLECTOR_LOG")
        .timeout(common::RUN_TIMEOUT)
        .output()
        .unwrap()
}

#[test]
fn relative_paths_in_the_config_resolve_against_its_folder() {
    let h = Harness::start(backlog(5), 0);
    let etc = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let cfg = relative_config(&h, etc.path(), Some("state/collector.db"));
    // A path on the command line stays relative to the working directory.
    let out = run_in(elsewhere.path(), &["--trace-http", "trace.jsonl", "--config", cfg.to_str().unwrap(), "fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(lines(&out).is_empty(), "the file sink took the events");
    assert_eq!(std::fs::read_to_string(etc.path().join("out/events.jsonl")).unwrap().lines().count(), 5);
    assert!(etc.path().join("state/collector.db").is_file(), "the state lands beside the config");
    assert!(elsewhere.path().join("trace.jsonl").is_file(), "--trace-http stays relative to the working directory");
    assert!(!elsewhere.path().join("state").exists() && !elsewhere.path().join("out").exists());
    // Without state.path, the default state file lands beside the config too.
    let etc2 = tempfile::tempdir().unwrap();
    let cfg = relative_config(&h, etc2.path(), None);
    let out = run_in(elsewhere.path(), &["--config", cfg.to_str().unwrap(), "fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(etc2.path().join("state/esign-collector.db").is_file(), "the default state path follows the config");
    assert!(!elsewhere.path().join("state").exists());
}
