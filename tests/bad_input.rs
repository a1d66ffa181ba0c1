//! Bad input gets a clear error, its own exit code, and loses nothing: one row per kind of
//! bad configuration, key file, state file, command-line argument and API reply (the table
//! in README's reliability section lists the same rows). No input makes the program panic.
#![allow(clippy::unwrap_used)]

mod common;

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
