//! `fetch`: one collection cycle over every tenant and enabled source, then exit.

use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use tokio::sync::{Semaphore, watch};
use tracing::{Instrument, debug, error, info, info_span};

use crate::cli::FetchArgs;
use crate::config::{Config, Tenant};
use crate::context::Context;
use crate::core::collector::{Collector, Commit, Options, Report, since_plan};
use crate::core::fanout::Fanout;
use crate::core::source::Source;
use crate::error::{Error, Exit};
use crate::http::{RunScope, scoped};
use crate::progress::Progress;
use crate::sinks;
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
    // `--all` is a backfill: to the end of every stream, whatever the cap or the time budget.
    let deadline = (!args.all).then(|| tokio::time::Instant::now() + cfg.state.max_run_time.get());
    let opts = Options {
        since: args.since,
        from_checkpoint: true,
        max: args.all.then_some(0),
        deadline,
        skip_backlog: args.skip_backlog,
        commit: Commit::Yes,
    };
    // A `--since` that would skip undelivered data is refused before any request is sent.
    if let Some(since) = args.since {
        for ctx in &contexts {
            for source in ctx.sources() {
                since_plan(&store, &ctx.tenant, source.as_ref(), since, args.skip_backlog)?;
            }
        }
    }
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
    let mut shared = crate::context::Shared::default();
    for t in tenants {
        contexts.push(Context::build_among(t, Some(store.clone()), &mut shared).await?);
    }
    debug!(
        tenants = contexts.len(),
        jwt_grants = shared.grants(),
        http_clients = shared.clients(),
        "Tenants of one user and app share one JWT grant; tenants with equal HTTP settings share clients."
    );
    Ok(contexts)
}

/// Whether `e` is only the consequence of a requested stop cutting a wait short.
pub(crate) fn stopped_on_request(e: &Error) -> bool {
    crate::shutdown::requested() && matches!(e.exit_code(), Exit::Unavailable | Exit::Sink)
}

/// Collects every enabled source of one tenant once, the sources at the same time (each with
/// its own page in flight; the tenant's shared pacer still bounds their requests together). A
/// failing source does not stop the others; the first failure is returned after all ran.
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
    let sources = ctx.sources();
    let results =
        join_all(sources.iter().map(|s| collect_one(ctx, s.as_ref(), store, sinks, opts, shutdown, progress))).await;
    // Every source ran; the first failure, in source order, is the cycle's.
    results.into_iter().collect()
}

/// One source's run within a cycle: collected in its own scope (its counters, the run-time
/// deadline), recorded in the state file, a failure logged.
///
/// # Errors
/// The source's failure.
pub(crate) async fn collect_one(
    ctx: &Context,
    source: &dyn Source,
    store: &Arc<Mutex<Store>>,
    sinks: &Fanout,
    opts: &Options,
    shutdown: &watch::Receiver<bool>,
    progress: Option<&Progress>,
) -> Result<Report, Error> {
    let mut collector = Collector {
        store: store.clone(),
        sinks,
        tenant: &ctx.tenant,
        tag: ctx.tag.as_deref(),
        ledger_size: ctx.cfg.state.ledger_size.get(),
        progress,
        enrich: ctx.cfg.enrich_users(),
    };
    let kind = source.kind();
    let scope = RunScope::new(opts.deadline);
    let watch = crate::observe::SourceRun::start(scope.clone(), &ctx.tenant, kind);
    let span = info_span!("tenant", tenant = %ctx.tenant);
    let result = scoped(scope, collector.collect(source, opts, shutdown)).instrument(span).await;
    watch.finish(store, &result);
    if let Err(e) = &result {
        error!(tenant = %ctx.tenant, source = %kind, exit_code = e.exit_code() as u8, error = %e, "Source failed; its checkpoint stays at the last confirmed page.");
    }
    result
}
