//! `fetch`: one collection cycle over every tenant and enabled source, then exit.

use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use tokio::sync::{Semaphore, watch};
use tracing::{Instrument, error, info, info_span};

use crate::cli::FetchArgs;
use crate::collector::{Collector, Commit, Options, Report};
use crate::config::{Config, Tenant};
use crate::context::Context;
use crate::error::{Error, Exit};
use crate::progress::Progress;
use crate::sinks::{self, Fanout};
use crate::sources;
use crate::state::{StateLock, Store};

/// Runs one cycle for every tenant in `tenants`, at most `state.tenant_concurrency` at a time.
///
/// # Errors
/// The first failure (every tenant and source still ran).
pub(crate) async fn run(
    cfg: Config,
    tenants: Vec<Tenant>,
    args: &FetchArgs,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let _lock = StateLock::acquire(&cfg.state.path)?;
    let store = Arc::new(Mutex::new(Store::open(&cfg.state.path)?));
    let contexts = build_contexts(tenants, &store).await?;
    let sinks = Fanout::configured(sinks::build(&cfg.sinks)?, &cfg.sinks);
    let opts = Options { since: args.since, from_checkpoint: true, max: args.all.then_some(0), commit: Commit::Yes };
    let bound = Semaphore::new(cfg.state.tenant_concurrency.get() as usize);
    // A progress line on an interactive backfill, unless events print to the same terminal.
    let stdout_tty = cfg.sinks.iter().any(|s| matches!(s, crate::config::SinkConfig::Stdout(_)))
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut progress = Progress::for_fetch((args.all || args.since.is_some()) && !stdout_tty);
    let results = join_all(contexts.iter().map(|ctx| async {
        // A closed semaphore cannot happen: it lives until every cycle returned.
        let _permit = bound.acquire().await.ok();
        cycle(ctx, &store, &sinks, &opts, &shutdown, Some(&progress)).await
    }))
    .await;
    progress.finish();
    match results.into_iter().find_map(Result::err) {
        Some(e) if stopped_on_request(&e) => {
            info!("Stopped on request; the page in flight was not committed and will be fetched again.");
            Ok(())
        }
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Builds each tenant's context (its client, rate-limit budget and token cache).
///
/// # Errors
/// The first tenant whose settings or key are unusable.
pub(crate) async fn build_contexts(tenants: Vec<Tenant>, store: &Arc<Mutex<Store>>) -> Result<Vec<Context>, Error> {
    let mut contexts = Vec::with_capacity(tenants.len());
    for t in tenants {
        contexts.push(Context::build(t, Some(store.clone())).await?);
    }
    Ok(contexts)
}

/// Whether `e` is only the consequence of a requested stop cutting a wait short.
pub(crate) fn stopped_on_request(e: &Error) -> bool {
    crate::shutdown::requested() && matches!(e.exit_code(), Exit::Unavailable | Exit::Sink)
}

/// Collects every enabled source of one tenant once. A failing source does not stop the
/// others; the first failure is returned after all ran.
///
/// # Errors
/// The first source's failure.
pub async fn cycle(
    ctx: &Context,
    store: &Arc<Mutex<Store>>,
    sinks: &Fanout,
    opts: &Options,
    shutdown: &watch::Receiver<bool>,
    progress: Option<&Progress>,
) -> Result<Vec<Report>, Error> {
    let mut collector = Collector {
        session: &ctx.session,
        store: store.clone(),
        sinks,
        tenant: &ctx.tenant,
        tag: ctx.tag.as_deref(),
        ledger_size: ctx.cfg.state.ledger_size.get(),
        progress,
        enrich: ctx.cfg.enrich_users(),
    };
    let mut reports = Vec::new();
    let mut first_error = None;
    let span = info_span!("tenant", tenant = %ctx.tenant);
    for source in sources::enabled(&ctx.cfg, &ctx.endpoints.monitor, &ctx.endpoints.admin) {
        let watch = crate::observe::SourceRun::start(&ctx.session.api, &ctx.tenant, source.kind());
        let result = collector.collect(source.as_ref(), opts, shutdown).instrument(span.clone()).await;
        watch.finish(&ctx.session.api, store, &result);
        match result {
            Ok(r) => reports.push(r),
            Err(e) => {
                error!(tenant = %ctx.tenant, source = %source.kind(), exit_code = e.exit_code() as u8, error = %e, "Source failed; its checkpoint stays at the last confirmed page.");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(reports),
    }
}
