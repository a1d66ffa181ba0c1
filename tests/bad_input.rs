//! Bad input gets a clear error, its own exit code, and loses nothing: one row per kind of
//! bad configuration, key file, state file, command-line argument and API reply (the table
//! in README's reliability section lists the same rows), for DocuSign and for Yousign. No
//! input makes the program panic.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/yousign.rs"]
mod ys;

use std::os::unix::fs::PermissionsExt;

use common::{Harness, backlog, code, stderr};
use esign_sim::docusign::{Fault, FaultKind, Route};
use rsa::pkcs8::{EncodePublicKey, LineEnding};

struct Row {
    name: &'static str,
    /// Breaks something in the harness; returns the arguments to run.
    setup: fn(&Harness) -> Vec<String>,
    exit: i32,
    says: &'static str,
}

fn edit(h: &Harness, from: &str, to: &str) {
    let text = std::fs::read_to_string(&h.config).unwrap();
    assert!(text.contains(from), "config lacks {from:?}");
    std::fs::write(&h.config, text.replacen(from, to, 1)).unwrap();
}

fn key(h: &Harness) -> std::path::PathBuf {
    h.dir.path().join("key.pem")
}

/// The token seal key file beside the harness's state file.
fn seal_key(h: &Harness) -> std::path::PathBuf {
    let mut name = h.state().into_os_string();
    name.push(".seal-key");
    name.into()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

fn fetch() -> Vec<String> {
    args(&["fetch"])
}

const ROWS: &[Row] = &[
    Row {
        name: "config: unknown key",
        setup: |h| {
            edit(h, "[state]\n", "[state]\nintervall = \"5m\"\n");
            fetch()
        },
        exit: 2,
        says: "unknown field `intervall`",
    },
    Row {
        name: "config: out-of-range limit",
        setup: |h| {
            edit(h, "enabled = true\napi", "enabled = true\nmax_events_per_fetch = 5000\napi");
            fetch()
        },
        exit: 2,
        says: "must be 1..=2000, got 5000",
    },
    Row {
        name: "config: wrong type",
        setup: |h| {
            edit(h, "enabled = true\napi", "enabled = \"yes\"\napi");
            fetch()
        },
        exit: 2,
        says: "invalid type",
    },
    Row {
        name: "config: missing required key",
        setup: |h| {
            edit(h, "user_id = ", "# user_id = ");
            fetch()
        },
        exit: 2,
        says: "`docusign.user_id` is required",
    },
    Row {
        name: "config: bad duration",
        setup: |h| {
            edit(h, "timeout = \"5s\"", "timeout = \"soon\"");
            fetch()
        },
        exit: 2,
        says: "invalid duration",
    },
    Row {
        name: "config: bad URL",
        setup: |h| {
            edit(h, "auth_base_url = \"", "auth_base_url = \"ftp://x\"\n# \"");
            fetch()
        },
        exit: 2,
        says: "must be http:// or https://",
    },
    Row {
        name: "config: TOML syntax",
        setup: |h| {
            edit(h, "[state]", "[state");
            fetch()
        },
        exit: 2,
        says: "TOML parse error",
    },
    Row {
        name: "config: file missing",
        setup: |h| {
            std::fs::remove_file(&h.config).unwrap();
            fetch()
        },
        exit: 2,
        says: "cannot read config file",
    },
    Row {
        name: "config: no source enabled",
        setup: |h| {
            edit(h, "enabled = true\napi", "enabled = false\napi");
            fetch()
        },
        exit: 2,
        says: "enables no source",
    },
    Row {
        name: "config: unknown environment",
        setup: |h| {
            edit(h, "environment = \"developer\"", "environment = \"staging\"");
            fetch()
        },
        exit: 2,
        says: "unknown variant `staging`",
    },
    Row {
        name: "key: file missing",
        setup: |h| {
            std::fs::remove_file(key(h)).unwrap();
            fetch()
        },
        exit: 2,
        says: "cannot read it",
    },
    Row {
        name: "key: readable by others",
        setup: |h| {
            std::fs::set_permissions(key(h), std::fs::Permissions::from_mode(0o644)).unwrap();
            fetch()
        },
        exit: 2,
        says: "chmod 600",
    },
    Row {
        name: "key: encrypted",
        setup: |h| {
            common::write_private(&key(h), b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJBgkqhkiG9w0BBQ0wPDAbBgkqhkiG9w0BBQwwDgQI\n-----END ENCRYPTED PRIVATE KEY-----\n");
            fetch()
        },
        exit: 2,
        says: "encrypted with a passphrase",
    },
    Row {
        name: "key: a public key",
        setup: |h| {
            let k = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
            common::write_private(&key(h), k.to_public_key().to_public_key_pem(LineEnding::LF).unwrap().as_bytes());
            fetch()
        },
        exit: 2,
        says: "holds a PUBLIC KEY",
    },
    Row {
        name: "key: not PEM",
        setup: |h| {
            common::write_private(&key(h), b"ssh-rsa AAAAB3Nza... not a PEM");
            fetch()
        },
        exit: 2,
        says: "no PEM block",
    },
    Row {
        name: "key: corrupt PEM body",
        setup: |h| {
            common::write_private(&key(h), b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
            fetch()
        },
        exit: 2,
        says: "not a valid PKCS#8",
    },
    Row {
        name: "key: environment variable unset",
        setup: |h| {
            edit(h, "private_key_file = ", "private_key_env = \"ESIGN_TEST_UNSET_KEY\"\n# private_key_file = ");
            fetch()
        },
        exit: 2,
        says: "ESIGN_TEST_UNSET_KEY: is not set",
    },
    Row {
        name: "key: another app's key",
        setup: |h| {
            let k = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
            let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&k, LineEnding::LF).unwrap();
            common::write_private(&key(h), pem.as_bytes());
            fetch()
        },
        exit: 3,
        says: "no_valid_keys_or_signatures",
    },
    Row {
        name: "state: not a database",
        setup: |h| {
            std::fs::create_dir_all(h.state().parent().unwrap()).unwrap();
            std::fs::write(h.state(), vec![b'z'; 8192]).unwrap();
            fetch()
        },
        exit: 9,
        says: "file is not a database",
    },
    Row {
        name: "state: another program's database",
        setup: |h| {
            std::fs::create_dir_all(h.state().parent().unwrap()).unwrap();
            rusqlite::Connection::open(h.state()).unwrap().execute_batch("CREATE TABLE t(x);").unwrap();
            fetch()
        },
        exit: 9,
        says: "not an esign-collector state file",
    },
    Row {
        name: "state: written by a newer version",
        setup: |h| {
            let s = esign_collector::state::Store::open(&h.state()).unwrap();
            drop(s);
            rusqlite::Connection::open(h.state()).unwrap().execute_batch("PRAGMA user_version = 42;").unwrap();
            fetch()
        },
        exit: 9,
        says: "schema version 42, newer",
    },
    Row {
        name: "state: path is a folder",
        setup: |h| {
            std::fs::create_dir_all(h.state()).unwrap();
            fetch()
        },
        exit: 9,
        says: "state",
    },
    Row {
        name: "state: token seal key readable by others",
        setup: |h| {
            std::fs::create_dir_all(h.state().parent().unwrap()).unwrap();
            let key = seal_key(h);
            std::fs::write(&key, [7u8; 32]).unwrap();
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            fetch()
        },
        exit: 9,
        says: ".seal-key: is accessible by group or others (mode 644)",
    },
    Row {
        name: "state: token seal key cut short",
        setup: |h| {
            std::fs::create_dir_all(h.state().parent().unwrap()).unwrap();
            common::write_private(&seal_key(h), b"short");
            fetch()
        },
        exit: 9,
        says: "holds 5 bytes, not the 32 random bytes of a seal key",
    },
    Row {
        name: "cli: limit out of range",
        setup: |_| args(&["get-events", "--type", "customer-events", "--limit", "0"]),
        exit: 2,
        says: "0 is not in 1..=10000",
    },
    Row {
        name: "cli: bad --since",
        setup: |_| args(&["fetch", "--since", "last tuesday"]),
        exit: 2,
        says: "neither an RFC 3339 time",
    },
    Row { name: "cli: unknown command", setup: |_| args(&["fetch-events"]), exit: 2, says: "unrecognized subcommand" },
    Row {
        name: "cli: bad --log-level",
        setup: |_| args(&["--log-level", "loud[", "fetch"]),
        exit: 2,
        says: "invalid --log-level",
    },
    Row {
        name: "api: reply is not JSON",
        setup: |h| {
            h.sim.push_fault(Fault { route: Route::Monitor, kind: FaultKind::NotJson, times: 100 });
            fetch()
        },
        exit: 6,
        says: "not JSON",
    },
    Row {
        name: "api: truncated JSON every time",
        setup: |h| {
            h.sim.push_fault(Fault { route: Route::Monitor, kind: FaultKind::Truncated, times: 100 });
            fetch()
        },
        exit: 6,
        says: "malformed reply to Monitor stream",
    },
    Row {
        name: "api: 403 no entitlement",
        setup: |h| {
            h.sim.push_fault(Fault {
                route: Route::Monitor,
                kind: FaultKind::Status { code: 403, retry_after: None },
                times: 1,
            });
            fetch()
        },
        exit: 6,
        says: "entitlement",
    },
    Row {
        name: "api: 404 wrong base URL",
        setup: |h| {
            edit(
                h,
                &format!("monitor_base_url = \"{}\"", h.base),
                &format!("monitor_base_url = \"{}/nothing\"", h.base),
            );
            fetch()
        },
        exit: 6,
        says: "HTTP 404",
    },
    Row {
        name: "api: token endpoint down",
        setup: |h| {
            h.sim.push_fault(Fault {
                route: Route::Token,
                kind: FaultKind::Status { code: 503, retry_after: None },
                times: 100,
            });
            fetch()
        },
        exit: 5,
        says: "token request failed after",
    },
    Row {
        name: "api: organization id wrong",
        setup: |h| {
            edit(h, "organization_id = \"", "organization_id = \"00000000-0000-0000-0000-00000000000");
            fetch()
        },
        exit: 6,
        says: "HTTP 403",
    },
];

#[test]
fn every_bad_input_has_its_error_and_code() {
    let mut failures = Vec::new();
    for row in ROWS {
        let h = Harness::start(backlog(20), 3);
        let a = (row.setup)(&h);
        let out = h.cmd(&a.iter().map(String::as_str).collect::<Vec<_>>()).output().unwrap();
        let err = stderr(&out);
        if code(&out) != row.exit || !err.contains(row.says) || err.contains("panicked") {
            failures.push(format!("{}: exit {} (want {}), stderr: {}", row.name, code(&out), row.exit, err.trim()));
        }
        // Nothing was delivered, so nothing may be committed.
        if out.stdout.is_empty() {
            assert_eq!(common::checkpoint(&h.state(), "customer_events"), None, "{}: a checkpoint moved", row.name);
        }
    }
    assert!(failures.is_empty(), "{} of {} rows wrong:\n{}", failures.len(), ROWS.len(), failures.join("\n"));
    println!("{} bad inputs tried, each with its exit code and message", ROWS.len());
}

/// A bad input of a Yousign tenant.
struct YousignRow {
    name: &'static str,
    /// Breaks the configuration text (or the simulator, or the key file).
    setup: fn(&ys::Served, &mut String),
    exit: i32,
    says: &'static str,
}

/// Where a Yousign row's API key file is.
fn yousign_key_file(s: &ys::Served) -> std::path::PathBuf {
    s.dir.path().join("yousign.key")
}

fn replace(text: &mut String, from: &str, to: &str) {
    assert!(text.contains(from), "config lacks {from:?}");
    *text = text.replacen(from, to, 1);
}

const YOUSIGN_ROWS: &[YousignRow] = &[
    YousignRow {
        name: "yousign: unknown key",
        setup: |_, t| replace(t, "api_key_env = ", "api_keyenv = "),
        exit: 2,
        says: "unknown field `api_keyenv`",
    },
    YousignRow {
        name: "yousign: unknown environment",
        setup: |_, t| replace(t, "environment = \"sandbox\"", "environment = \"staging\""),
        exit: 2,
        says: "unknown variant `staging`",
    },
    YousignRow {
        name: "yousign: two key sources",
        setup: |s, t| {
            common::write_private(&yousign_key_file(s), esign_sim::yousign::DEFAULT_API_KEY.as_bytes());
            replace(
                t,
                "api_key_env = ",
                &format!("api_key_file = \"{}\"\napi_key_env = ", yousign_key_file(s).display()),
            );
        },
        exit: 2,
        says: "`yousign.api_key_file` cannot be set together with yousign.api_key_env: choose one",
    },
    YousignRow {
        name: "yousign: key file missing",
        setup: |s, t| {
            replace(
                t,
                "api_key_env = \"YOUSIGN_API_KEY\"",
                &format!("api_key_file = \"{}\"", yousign_key_file(s).display()),
            );
        },
        exit: 2,
        says: "yousign.key: cannot read it",
    },
    YousignRow {
        name: "yousign: key file readable by others",
        setup: |s, t| {
            let f = yousign_key_file(s);
            std::fs::write(&f, esign_sim::yousign::DEFAULT_API_KEY).unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
            replace(t, "api_key_env = \"YOUSIGN_API_KEY\"", &format!("api_key_file = \"{}\"", f.display()));
        },
        exit: 2,
        says: "is accessible by group or others (mode 644)",
    },
    YousignRow {
        name: "yousign: reply is not JSON, every time",
        setup: |s, _| {
            s.sim.push_fault(esign_sim::yousign::Fault {
                route: esign_sim::yousign::Route::Any,
                kind: esign_sim::yousign::FaultKind::MalformedJson,
                times: 100,
            });
        },
        exit: 6,
        says: "malformed reply to",
    },
];

#[test]
fn every_bad_yousign_input_has_its_error_and_code() {
    let mut failures = Vec::new();
    for row in YOUSIGN_ROWS {
        let s = ys::serve(|c| c.signature_requests = 4);
        let state = s.dir.path().join("state/collector.db");
        let mut text = format!(
            "[yousign]\nenvironment = \"sandbox\"\napi_key_env = \"YOUSIGN_API_KEY\"\nbase_url = \"{}/v3\"\n\
             timeout = \"5s\"\n\n[sources.yousign_signature_requests]\nenabled = true\n\n\
             [state]\npath = \"{}\"\n\n[rate_limit]\ninitial_backoff = \"50ms\"\nmax_backoff = \"100ms\"\nmax_retries = 1\n",
            s.root,
            state.display()
        );
        (row.setup)(&s, &mut text);
        let config = s.dir.path().join("collector.toml");
        std::fs::write(&config, text).unwrap();
        let out = assert_cmd::Command::cargo_bin("esign-collector")
            .unwrap()
            .arg("--config")
            .arg(&config)
            .arg("fetch")
            .env_remove("ESIGN_COLLECTOR_CONFIG")
            .env("YOUSIGN_API_KEY", esign_sim::yousign::DEFAULT_API_KEY)
            .timeout(common::RUN_TIMEOUT)
            .output()
            .unwrap();
        let err = stderr(&out);
        if code(&out) != row.exit || !err.contains(row.says) || err.contains("panicked") {
            failures.push(format!("{}: exit {} (want {}), stderr: {}", row.name, code(&out), row.exit, err.trim()));
        }
        assert!(out.stdout.is_empty(), "{}: nothing may be delivered", row.name);
        assert_eq!(common::checkpoint(&state, "yousign_signature_requests"), None, "{}: a checkpoint moved", row.name);
    }
    assert!(failures.is_empty(), "{} of {} rows wrong:\n{}", failures.len(), YOUSIGN_ROWS.len(), failures.join("\n"));
}
