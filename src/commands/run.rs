//! `run`: the fetch cycle every `state.interval` until SIGTERM/SIGINT, one loop per tenant
//! (at most `state.tenant_concurrency` cycles at a time). A cycle that stopped at the per-run
//! maximum is followed at once by the next, so a backlog drains. Transient failures
//! (DocuSign unavailable, a sink down) are logged and retried next interval; consent,
//! credential, configuration and state failures stop that tenant's loop with an ERROR (the
//! other tenants go on), and the daemon exits with that code once no tenant is left.
//! Under systemd (`Type=notify`) it reports readiness, status and watchdog pings (`notify`).

use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use tokio::sync::{Semaphore, watch};
use tracing::{error, info};

use crate::collector::{Commit, Options};
use crate::config::{Config, Tenant};
use crate::context::Context;
use crate::error::{Error, Exit};
use crate::notify;
use crate::sinks::{self, Fanout};
use crate::state::{StateLock, Store};

/// Runs until `shutdown` turns true.
///
/// # Errors
/// A failure that retrying cannot fix, once every tenant stopped.
pub(crate) async fn run(cfg: Config, tenants: Vec<Tenant>, shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    let _watchdog = notify::Watchdog::start();
    let _lock = StateLock::acquire(&cfg.state.path)?;
    let store = Arc::new(Mutex::new(Store::open(&cfg.state.path)?));
    let contexts = super::fetch::build_contexts(tenants, &store).await?;
    let sinks = Fanout::configured(crate::metrics::instrument(sinks::build(&cfg.sinks)?), &cfg.sinks);
    let _metrics = crate::metrics::start(&cfg, &store).await?;
    let bound = Semaphore::new(cfg.state.tenant_concurrency.get() as usize);
    let interval = cfg.state.interval.get();
    info!(interval_s = interval.as_secs(), tenants = contexts.len(), "Collecting until SIGTERM or SIGINT.");
    notify::ready(&format!("Collecting every {}; first cycle now.", humantime::format_duration(interval)));
    let several = contexts.len() > 1;
    let results =
        join_all(contexts.iter().map(|ctx| tenant_loop(ctx, several, &store, &sinks, &bound, shutdown.clone()))).await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        let code = e.exit_code();
        notify::stopping(&format!("Stopped: {code:?} (exit {}); see the journal.", code as u8));
        return Err(e);
    }
    notify::stopping("Stopped on request; every delivered page is committed.");
    info!("Stopped cleanly; every delivered page is committed.");
    Ok(())
}

/// One tenant's loop. `several`: whether status lines name the tenant.
async fn tenant_loop(
    ctx: &Context,
    several: bool,
    store: &Arc<Mutex<Store>>,
    sinks: &Fanout,
    bound: &Semaphore,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let opts = Options { since: None, from_checkpoint: true, max: None, commit: Commit::Yes };
    let interval = ctx.cfg.state.interval.get();
    let status = |text: String| {
        if several {
            notify::status(&format!("tenant {}: {text}", ctx.tenant));
        } else {
            notify::status(&text);
        }
    };
    loop {
        let permit = bound.acquire().await.ok();
        let result = super::cycle(ctx, store, sinks, &opts, &shutdown, None).await;
        drop(permit);
        let backlog = match result {
            Ok(reports) => {
                let backlog = reports.iter().any(|r| !r.at_end);
                status(notify::cycle_status(Ok(&reports), (!backlog).then_some(interval)));
                backlog
            }
            Err(e) if super::fetch::stopped_on_request(&e) => break,
            Err(e) if matches!(e.exit_code(), Exit::Unavailable | Exit::Api | Exit::Sink) => {
                error!(tenant = %ctx.tenant, error = %e, "Cycle failed; retrying at the next interval.");
                status(notify::cycle_status(Err(e.exit_code()), Some(interval)));
                false
            }
            Err(e) => {
                error!(tenant = %ctx.tenant, exit_code = e.exit_code() as u8, error = %e, "Tenant stopped: retrying cannot fix this; fix it and restart.");
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
    Ok(())
}
