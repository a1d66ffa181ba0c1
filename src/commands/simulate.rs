//! `simulate`: the built-in DocuSign simulator as a standalone server on 127.0.0.1. It writes
//! the private key it trusts and a collector configuration pointing at it, so
//! `esign-collector fetch --config simulator.toml` works against it at once.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rsa::pkcs8::EncodePrivateKey;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::SimulateArgs;
use crate::error::Error;
use crate::simulator::{EventFeed, QuotaConfig, SimConfig, Simulator};

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Internal(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::Internal(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(bytes).map_err(|e| Error::Internal(format!("cannot write {}: {e}", path.display())))
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

/// Serves until `shutdown` turns true.
///
/// # Errors
/// `Error::Internal` when the port cannot be bound or the files cannot be written.
pub(crate) async fn run(args: &SimulateArgs, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    let (rsa, key) = crate::demo::generate_key()?;
    let pem = rsa
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| Error::Internal(format!("cannot encode the key: {e}")))?;
    write_private(&args.key_out, pem.as_bytes())?;
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| Error::Internal(format!("cannot listen on 127.0.0.1:{}: {e}", args.port)))?;
    let addr = listener.local_addr().map_err(|e| Error::Internal(e.to_string()))?;
    let mut sc = SimConfig::new(key.public_pem().to_owned());
    sc.feed = EventFeed::Backlog { count: args.backlog, span: std::time::Duration::from_secs(7 * 86_400) };
    sc.quota = QuotaConfig {
        per_hour: args.quota_per_hour,
        burst: args.quota_burst,
        enforce: args.quota,
        time_scale: args.time_scale,
        ..QuotaConfig::default()
    };
    let base = format!("http://{addr}");
    let config = format!(
        "# Written by `esign-collector simulate`: a collector configuration for the simulator at {base}.\n\
[docusign]\nenvironment = \"developer\"\nintegration_key = \"{ik}\"\nuser_id = \"{user}\"\naccount_id = \"{acc}\"\n\
organization_id = \"{org}\"\nprivate_key_file = \"{key}\"\nauth_base_url = \"{base}\"\nmonitor_base_url = \"{base}\"\n\
admin_base_url = \"{base}/management\"\n\n[sources.customer_events]\nenabled = true\n\n[sources.user_data]\nenabled = true\n\n\
[state]\npath = \"state/simulator.db\"\ninterval = \"60s\"\n{pacing}",
        pacing = pacing(&sc.quota),
        ik = sc.integration_key,
        user = sc.user_id,
        acc = sc.account_id,
        org = sc.organization_id,
        key = args.key_out.display(),
    );
    std::fs::write(&args.write_config, config)
        .map_err(|e| Error::Internal(format!("cannot write {}: {e}", args.write_config.display())))?;
    let sim = Simulator::new(sc);
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
    sim.serve(listener, async move {
        // A closed channel means the process is ending anyway.
        shutdown.wait_for(|s| *s).await.map(drop).unwrap_or_default();
    })
    .await
    .map_err(|e| Error::Internal(format!("simulator: {e}")))
}
