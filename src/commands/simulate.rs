//! `simulate`: the built-in DocuSign simulator (and the Yousign one beside it) as standalone
//! servers on 127.0.0.1. It writes
//! the private key it trusts and a collector configuration pointing at it, so
//! `esign-collector fetch --config simulator.toml` works against it at once.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use esign_sim::docusign::{EventFeed, QuotaConfig, SimConfig, Simulator};
use rsa::pkcs8::EncodePrivateKey;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::SimulateArgs;
use crate::config::ConfigError;
use crate::error::Error;

/// A path given on the command line could not be written: a usage error (exit 2), not a bug.
fn unwritable(arg: &str, what: &str, path: &Path, e: &std::io::Error) -> Error {
    ConfigError::Argument { arg: arg.to_owned(), message: format!("cannot {what} {}: {e}", path.display()) }.into()
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| unwritable("--key-out", "create", dir, &e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| unwritable("--key-out", "write", path, &e))?;
    f.write_all(bytes).map_err(|e| unwritable("--key-out", "write", path, &e))
}

/// Why the port cannot be had. A busy port usually means a simulator already runs there;
/// since nothing was written yet, its key and configuration are left as they are.
fn bind_error(port: u16, e: &std::io::Error) -> Error {
    let arg = "--port".to_owned();
    match e.kind() {
        std::io::ErrorKind::AddrInUse => ConfigError::Argument {
            arg,
            message: format!(
                "127.0.0.1:{port} is in use: another process listens there (a simulator already running?); \
                 stop it or choose another port (0 picks a free one). No file was written."
            ),
        }
        .into(),
        std::io::ErrorKind::PermissionDenied => ConfigError::Argument {
            arg,
            message: format!("cannot listen on 127.0.0.1:{port}: {e}; choose a port above 1023 (0 picks a free one)"),
        }
        .into(),
        _ => Error::Internal(format!("cannot listen on 127.0.0.1:{port}: {e}")),
    }
}

/// `path` as a TOML string, quoted and escaped.
fn toml_path(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// A `[rate_limit]` section matching an enforced quota, its hour and burst window shrunk by
/// the time scale; empty when the quota is only counted.
fn pacing(q: &QuotaConfig) -> String {
    if !q.enforce {
        return String::new();
    }
    let scale = u64::from(q.time_scale.max(1));
    format!(
        "\n# The simulator enforces {} requests per hour and {} per {} s, its clock {scale}× real time.\n\
[rate_limit]\nrequests_per_hour = {}\nburst = {}\nburst_window = \"{}ms\"\n",
        q.per_hour,
        q.burst,
        q.burst_window_secs,
        (q.per_hour * scale).min(1_000_000),
        q.burst.clamp(1, 100_000),
        (q.burst_window_secs * 1000 / scale).max(1),
    )
}

/// One `[[tenants]]` entry per account when the simulator has several (empty for one: then
/// `[docusign]` alone is the tenant, as always).
fn tenants(user_id: &str, accounts: &[(String, String)]) -> String {
    if accounts.len() < 2 {
        return String::new();
    }
    let mut out = String::from("\n# One tenant per simulated account, each with its own quota.\n");
    let entries = accounts.iter().enumerate().map(|(i, (acc, org))| {
        format!(
            "[[tenants]]\nname = \"account-{i}\"\nuser_id = \"{user_id}\"\naccount_id = \"{acc}\"\norganization_id = \"{org}\"\n"
        )
    });
    out.extend(entries);
    out
}

/// Serves until `shutdown` turns true.
///
/// # Errors
/// `ConfigError::Argument` (exit 2) when the port is busy or the files cannot be written.
pub(crate) async fn run(args: &SimulateArgs, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    // Bind before writing anything: on a busy port another simulator may be serving, and
    // overwriting the key it trusts would break every collector pointed at it.
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await.map_err(|e| bind_error(args.port, &e))?;
    let addr = listener.local_addr().map_err(|e| Error::Internal(e.to_string()))?;
    let ys_port = args.yousign_port.unwrap_or(if args.port == 0 { 0 } else { args.port.saturating_add(1) });
    let ys_listener = TcpListener::bind(("127.0.0.1", ys_port)).await.map_err(|e| bind_error(ys_port, &e))?;
    let ys_addr = ys_listener.local_addr().map_err(|e| Error::Internal(e.to_string()))?;
    let (rsa, key) = crate::demo::generate_key()?;
    let pem = rsa
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| Error::Internal(format!("cannot encode the key: {e}")))?;
    write_private(&args.key_out, pem.as_bytes())?;
    // `--key-out` is relative to the working directory, but a relative path in a config file
    // is relative to that file's folder: write the key's absolute path.
    let key_path =
        std::path::absolute(&args.key_out).map_err(|e| unwritable("--key-out", "resolve", &args.key_out, &e))?;
    let mut sc = SimConfig::new(key.public_pem().to_owned());
    sc.accounts = usize::try_from(args.accounts).unwrap_or(1);
    sc.feed = EventFeed::Backlog { count: args.backlog, span: std::time::Duration::from_secs(7 * 86_400) };
    sc.quota = QuotaConfig {
        per_hour: args.quota_per_hour,
        burst: args.quota_burst,
        enforce: args.quota,
        time_scale: args.time_scale,
        ..QuotaConfig::default()
    };
    let base = format!("http://{addr}");
    let sim = Simulator::new(sc.clone());
    let accounts = sim.accounts();
    // Production's limits (60 a minute, 1,200 an hour), enforced as Yousign does.
    let ys_cfg = esign_sim::yousign::YousignConfig::for_environment(esign_sim::yousign::Environment::Production);
    let ys_key = args.key_out.with_file_name("simulator-yousign-key");
    write_private(&ys_key, ys_cfg.api_key.as_bytes())?;
    let ys_key = std::path::absolute(&ys_key).map_err(|e| unwritable("--key-out", "resolve", &ys_key, &e))?;
    let yousign = format!(
        "[yousign]\nenvironment = \"production\"\napi_key_file = {}\nbase_url = \"http://{ys_addr}/v3\"\n\n{}",
        toml_path(&ys_key),
        crate::connectors::yousign::config::every_source_enabled()
    );
    let config = format!(
        "# Written by `esign-collector simulate`: a collector configuration for the simulator at {base}.\n\
[docusign]\nenvironment = \"developer\"\nintegration_key = \"{ik}\"\nuser_id = \"{user}\"\naccount_id = \"{acc}\"\n\
organization_id = \"{org}\"\nprivate_key_file = {key}\nauth_base_url = \"{base}\"\nmonitor_base_url = \"{base}\"\n\
admin_base_url = \"{base}/management\"\n\n{sources}{yousign}\
[state]\npath = \"state/simulator.db\"\ninterval = \"60s\"\n{pacing}{tenants}",
        pacing = pacing(&sc.quota),
        tenants = tenants(&sc.user_id, &accounts),
        yousign = yousign,
        sources = crate::connectors::docusign::config::every_source_enabled(),
        ik = sc.integration_key,
        user = sc.user_id,
        acc = sc.account_id,
        org = sc.organization_id,
        key = toml_path(&key_path),
    );
    std::fs::write(&args.write_config, config)
        .map_err(|e| unwritable("--write-config", "write", &args.write_config, &e))?;
    for (i, (acc, org)) in accounts.iter().enumerate().take(20) {
        tracing::info!(index = i, account_id = %acc, organization_id = %org, "Simulated account.");
    }
    if accounts.len() > 1 {
        tracing::info!(
            accounts = accounts.len(),
            list = %format!("{base}/_sim/accounts"),
            "The simulated user has several accounts, each with its own quota; all are listed there and in the configuration."
        );
    }
    let ticker = sim.clone();
    let period = args.event_period;
    tokio::spawn(async move {
        let mut t = tokio::time::interval(period);
        t.tick().await;
        loop {
            t.tick().await;
            ticker.append_events(1);
        }
    });
    tracing::info!(
        url = %base,
        config = %args.write_config.display(),
        "Simulator listening; run `esign-collector fetch --config {}` against it. Ctrl-C stops it.",
        args.write_config.display()
    );
    let ys = esign_sim::yousign::YousignSim::new(ys_cfg);
    let ys_ticker = ys.clone();
    tokio::spawn(async move {
        let mut t = tokio::time::interval(period);
        t.tick().await;
        loop {
            t.tick().await;
            ys_ticker.advance(1);
        }
    });
    tracing::info!(url = %format!("http://{ys_addr}/v3"), "Yousign simulator listening beside it.");
    let mut ys_stop = shutdown.clone();
    let yousign = ys.serve(ys_listener, async move {
        ys_stop.wait_for(|s| *s).await.map(drop).unwrap_or_default();
    });
    let docusign = sim.serve(listener, async move {
        // A closed channel means the process is ending anyway.
        shutdown.wait_for(|s| *s).await.map(drop).unwrap_or_default();
    });
    let (d, y) = tokio::join!(docusign, yousign);
    d.and(y).map_err(|e| Error::Internal(format!("simulator: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;

    #[test]
    fn a_busy_port_is_a_usage_error_naming_it() {
        let e = bind_error(8787, &std::io::Error::from(std::io::ErrorKind::AddrInUse));
        assert_eq!(e.exit_code(), Exit::Config);
        let m = e.to_string();
        assert!(m.contains("127.0.0.1:8787 is in use: another process listens there"), "{m}");
    }

    #[test]
    fn several_accounts_become_tenants() {
        assert_eq!(tenants("u", &[("a".into(), "o".into())]), "", "one account: [docusign] alone");
        let t = tenants("u", &[("a0".into(), "o0".into()), ("a1".into(), "o1".into())]);
        let v: toml::Table = toml::from_str(&t).unwrap();
        let list = v["tenants"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1]["name"].as_str(), Some("account-1"));
        assert_eq!(list[1]["account_id"].as_str(), Some("a1"));
        assert_eq!(list[1]["organization_id"].as_str(), Some("o1"));
    }

    #[test]
    fn key_paths_are_written_as_toml_strings() {
        let p = Path::new("/tmp/a \"b\"\\c.pem");
        let v: toml::Table = toml::from_str(&format!("k = {}", toml_path(p))).unwrap();
        assert_eq!(v["k"].as_str(), Some("/tmp/a \"b\"\\c.pem"));
    }
}
