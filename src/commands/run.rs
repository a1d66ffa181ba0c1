//! `run`: the fetch cycle every `state.interval` until SIGTERM/SIGINT. A cycle that stopped at
//! the per-run maximum is followed at once by the next, so a backlog drains. Transient
//! failures (DocuSign unavailable, a sink down) are logged and retried next interval;
//! consent, credential, configuration and state failures stop the daemon with their exit code.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tracing::{error, info};

use crate::collector::{Commit, Options};
use crate::config::Config;
use crate::context::Context;
use crate::error::{Error, Exit};
use crate::sinks;
use crate::state::{StateLock, Store};

/// Runs until `shutdown` turns true.
///
/// # Errors
/// A failure that retrying cannot fix.
pub(crate) async fn run(cfg: Config, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    let _lock = StateLock::acquire(&cfg.state.path)?;
    let store = Arc::new(Mutex::new(Store::open(&cfg.state.path)?));
    let ctx = Context::build(cfg, Some(store.clone())).await?;
    let mut sinks = crate::metrics::instrument(sinks::build(&ctx.cfg.sinks)?);
    let _metrics = crate::metrics::start(&ctx.cfg, &store).await?;
    let opts = Options { since: None, from_checkpoint: true, max: None, commit: Commit::Yes };
    let interval = ctx.cfg.state.interval.get();
    info!(interval_s = interval.as_secs(), "Collecting until SIGTERM or SIGINT.");
    loop {
        let backlog = match super::cycle(&ctx, &store, &mut sinks, &opts, &shutdown).await {
            Ok(reports) => reports.iter().any(|r| !r.at_end),
            Err(e) if super::fetch::stopped_on_request(&e) => break,
            Err(e) if matches!(e.exit_code(), Exit::Unavailable | Exit::Api | Exit::Sink) => {
                error!(error = %e, "Cycle failed; retrying at the next interval.");
                false
            }
            Err(e) => return Err(e),
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
    info!("Stopped cleanly; every delivered page is committed.");
    Ok(())
}
