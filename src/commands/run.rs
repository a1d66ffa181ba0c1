//! `run`: the fetch cycle every `state.interval` until SIGTERM/SIGINT, one loop per tenant
//! (at most `state.tenant_concurrency` cycles at a time). A source whose cycle ended with data
//! left (the run-time budget or a cap) is collected again at once, so a backlog drains; a
//! caught-up source waits `state.interval` (at least a minute), or its own minimum when it
//! has one (`Source::min_interval`: a vendor's polling rule), whichever is longer; that minimum
//! is also waited out after a restart, from when the checkpoint says the source caught up. Transient failures
//! (DocuSign unavailable, a sink down) are logged and retried next interval; consent,
//! credential, configuration and state failures stop that tenant's loop with an ERROR (the
//! other tenants go on), and the daemon exits with that code once no tenant is left.
//! Under systemd (`Type=notify`) it reports readiness, status and watchdog pings (`notify`).
//! The push receivers (`[receivers]`) are served beside the tenant loops, on one listener, into
//! the same sinks and state file; SIGTERM stops them gracefully (`receivers.rs`).

use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use tokio::sync::{Semaphore, watch};
use tracing::{error, info};

use tokio::time::Instant;

use super::fetch::collect_one;
use crate::config::{Config, Tenant};
use crate::context::Context;
use crate::core::collector::{Commit, Options};
use crate::core::fanout::Fanout;
use crate::error::{Error, Exit};
use crate::notify;
use crate::sinks;
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
    let sinks = Arc::new(Fanout::configured(crate::metrics::instrument(sinks::build(&cfg.sinks)?), &cfg.sinks));
    let hosted = super::receivers::host(&cfg, &store, &sinks).await?;
    let _metrics = crate::health::start(&cfg, &store).await?;
    let bound = Semaphore::new(cfg.state.tenant_concurrency.get() as usize);
    let interval = cfg.state.interval.get();
    info!(interval_s = interval.as_secs(), tenants = contexts.len(), "Collecting until SIGTERM or SIGINT.");
    notify::ready(&format!("Collecting every {}; first cycle now.", humantime::format_duration(interval)));
    let several = contexts.len() > 1;
    // The receivers stop on SIGTERM, or when every tenant loop has ended (with an error).
    let (ended_tx, mut ended) = watch::channel(false);
    let tenants = async {
        let results =
            join_all(contexts.iter().map(|ctx| tenant_loop(ctx, several, &store, &sinks, &bound, shutdown.clone())))
                .await;
        ended_tx.send_replace(true);
        results
    };
    let mut stop = shutdown.clone();
    let push_stop = async move {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => {}
            _ = ended.wait_for(|s| *s) => {}
        }
    };
    let receivers = async move {
        // Every listener stops on the same signal; the first failure is reported.
        let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let serving = join_all(hosted.into_iter().map(|h| {
            let mut rx = tx.subscribe();
            async move { h.push.serve(h.listener, h.tls, async move { drop(rx.recv().await) }).await }
        }));
        let stopper = async {
            push_stop.await;
            drop(tx.send(()));
        };
        let (results, ()) = tokio::join!(serving, stopper);
        results.into_iter().find(Result::is_err).unwrap_or(Ok(()))
    };
    let (results, pushed) = tokio::join!(tenants, receivers);
    if let Err(e) = pushed {
        error!(error = %e, "Push listener failed.");
    }
    if let Some(e) = results.into_iter().find_map(Result::err) {
        let code = e.exit_code();
        notify::stopping(&format!("Stopped: {code:?} (exit {}); see the journal.", code as u8));
        return Err(e);
    }
    notify::stopping("Stopped on request; every delivered page is committed.");
    info!("Stopped cleanly; every delivered page is committed.");
    Ok(())
}

/// One tenant's loop. Each cycle collects the tenant's due sources at the same time, each
/// within `state.max_run_time`. A source that ended with data left is due again at once; one
/// that is caught up is due `state.interval` (at least a minute) after its cycle ended, so an
/// up-to-date stream is never polled faster than DocuSign asks. `several`: whether status
/// lines name the tenant.
async fn tenant_loop(
    ctx: &Context,
    several: bool,
    store: &Arc<Mutex<Store>>,
    sinks: &Fanout,
    bound: &Semaphore,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let interval = ctx.cfg.state.interval.get();
    let status = |text: String| {
        if several {
            notify::status(&format!("tenant {}: {text}", ctx.tenant));
        } else {
            notify::status(&text);
        }
    };
    let sources = ctx.sources();
    if sources.is_empty() {
        // Only receivers are configured (`[receivers]` without `[sources]`): nothing to poll.
        shutdown.wait_for(|s| *s).await.map(drop).unwrap_or_default();
        return Ok(());
    }
    let mut due: Vec<Instant> = Vec::with_capacity(sources.len());
    for s in &sources {
        due.push(first_due(ctx, s.as_ref(), store)?);
    }
    loop {
        let next = due.iter().min().copied().unwrap_or_else(Instant::now);
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        let permit = bound.acquire().await.ok();
        let opts = Options {
            since: None,
            from_checkpoint: true,
            max: None,
            deadline: Some(Instant::now() + ctx.cfg.state.max_run_time.get()),
            skip_backlog: false,
            commit: Commit::Yes,
        };
        let now = Instant::now();
        let picked: Vec<usize> = (0..sources.len()).filter(|&i| due[i] <= now).collect();
        let results = join_all(
            picked.iter().map(|&i| collect_one(ctx, sources[i].as_ref(), store, sinks, &opts, &shutdown, None)),
        )
        .await;
        drop(permit);
        let ended = Instant::now();
        let mut reports = Vec::new();
        let mut failed = None;
        for (&i, result) in picked.iter().zip(results) {
            // A source's own minimum applies after a failure too: its reads may have been sent.
            let pause = sources[i].min_interval().map_or(interval, |m| m.max(interval));
            due[i] = match result {
                Ok(r) => {
                    let again = if r.at_end { ended + pause } else { ended };
                    reports.push(r);
                    again
                }
                Err(e) if super::fetch::stopped_on_request(&e) => return Ok(()),
                Err(e) if matches!(e.exit_code(), Exit::Unavailable | Exit::Api | Exit::Sink) => {
                    error!(tenant = %ctx.tenant, source = %sources[i].kind(), error = %e, "Source failed; retrying at the next interval.");
                    failed.get_or_insert(e.exit_code());
                    ended + pause
                }
                Err(e) => {
                    error!(tenant = %ctx.tenant, exit_code = e.exit_code() as u8, error = %e, "Tenant stopped: retrying cannot fix this; fix it and restart.");
                    return Err(e);
                }
            };
        }
        let wait = due.iter().min().map(|d| d.saturating_duration_since(ended));
        let next = wait.filter(|w| !w.is_zero());
        match failed {
            None => status(notify::cycle_status(Ok(&reports), next)),
            Some(code) => status(notify::cycle_status(Err(code), next)),
        }
    }
    Ok(())
}

/// When `source` is first due: now, or for a source with its own minimum interval whose stored
/// cursor says it was read to its end less than that long ago (a restart), when it has passed.
///
/// # Errors
/// `StoreError` when the checkpoint cannot be read.
fn first_due(ctx: &Context, source: &dyn crate::core::source::Source, store: &Mutex<Store>) -> Result<Instant, Error> {
    let now = Instant::now();
    let Some(min) = source.min_interval() else { return Ok(now) };
    let stored =
        store.lock().unwrap_or_else(std::sync::PoisonError::into_inner).checkpoint(&ctx.tenant, source.kind().key)?;
    let Some(at) = stored.and_then(|c| source.caught_up_at(&c.cursor)) else { return Ok(now) };
    let since = (chrono::Utc::now() - at).to_std().unwrap_or_default();
    let wait = min.saturating_sub(since);
    if !wait.is_zero() {
        info!(tenant = %ctx.tenant, source = %source.kind(), wait_s = wait.as_secs(), "Read to its end less than its minimum interval ago; waiting out the rest.");
    }
    Ok(now + wait)
}
