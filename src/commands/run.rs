//! `run`: the fetch cycle every `state.interval` until SIGTERM/SIGINT. A cycle that stopped at
//! the per-run maximum is followed at once by the next, so a backlog drains. Transient
//! failures (DocuSign unavailable, a sink down) are logged and retried next interval;
//! consent, credential, configuration and state failures stop the daemon with their exit code.
//! Under systemd (`Type=notify`) it reports readiness, status and watchdog pings (`notify`).

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tracing::{error, info};

use crate::collector::{Commit, Options};
use crate::config::Config;
use crate::context::Context;
use crate::error::{Error, Exit};
use crate::notify;
use crate::sinks;
use crate::state::{StateLock, Store};

/// Runs until `shutdown` turns true.
///
/// # Errors
/// A failure that retrying cannot fix.
pub(crate) async fn run(cfg: Config, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    let _watchdog = notify::Watchdog::start();
    let _lock = StateLock::acquire(&cfg.state.path)?;
    let store = Arc::new(Mutex::new(Store::open(&cfg.state.path)?));
    let ctx = Context::build(cfg, Some(store.clone())).await?;
    let mut sinks = sinks::build(&ctx.cfg.sinks)?;
    let opts = Options { since: None, from_checkpoint: true, max: None, commit: Commit::Yes };
    let interval = ctx.cfg.state.interval.get();
    info!(interval_s = interval.as_secs(), "Collecting until SIGTERM or SIGINT.");
    notify::ready(&format!("Collecting every {}; first cycle now.", humantime::format_duration(interval)));
    loop {
        let backlog = match super::cycle(&ctx, &store, &mut sinks, &opts, &shutdown).await {
            Ok(reports) => {
                let backlog = reports.iter().any(|r| !r.at_end);
                notify::status(&notify::cycle_status(Ok(&reports), (!backlog).then_some(interval)));
                backlog
            }
            Err(e) if super::fetch::stopped_on_request(&e) => break,
            Err(e) if matches!(e.exit_code(), Exit::Unavailable | Exit::Api | Exit::Sink) => {
                error!(error = %e, "Cycle failed; retrying at the next interval.");
                notify::status(&notify::cycle_status(Err(e.exit_code()), Some(interval)));
                false
            }
            Err(e) => {
                let code = e.exit_code();
                notify::stopping(&format!("Stopped: {code:?} (exit {}); see the journal.", code as u8));
                return Err(e);
            }
        };
        if *shutdown.borrow() {
            break;
        }
        if backlog {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
    }
    notify::stopping("Stopped on request; every delivered page is committed.");
    info!("Stopped cleanly; every delivered page is committed.");
    Ok(())
}
