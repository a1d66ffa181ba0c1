//! `fetch`: one collection cycle over every enabled source, then exit.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tracing::{error, info};

use crate::cli::FetchArgs;
use crate::collector::{Collector, Commit, Options, Report};
use crate::config::Config;
use crate::context::{Context, TENANT};
use crate::error::{Error, Exit};
use crate::sinks::{self, Sink};
use crate::sources;
use crate::state::{StateLock, Store};

/// Runs one cycle.
///
/// # Errors
/// The first source's failure (the other sources still run).
pub(crate) async fn run(cfg: Config, args: &FetchArgs, shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    let _lock = StateLock::acquire(&cfg.state.path)?;
    let store = Arc::new(Mutex::new(Store::open(&cfg.state.path)?));
    let ctx = Context::build(cfg, Some(store.clone())).await?;
    let mut sinks = sinks::build(&ctx.cfg.sinks)?;
    let opts = Options { since: args.since, from_checkpoint: true, max: args.all.then_some(0), commit: Commit::Yes };
    match cycle(&ctx, &store, &mut sinks, &opts, &shutdown).await {
        Err(e) if stopped_on_request(&e) => {
            info!("Stopped on request; the page in flight was not committed and will be fetched again.");
            Ok(())
        }
        r => r.map(drop),
    }
}

/// Whether `e` is only the consequence of a requested stop cutting a wait short.
pub(crate) fn stopped_on_request(e: &Error) -> bool {
    crate::shutdown::requested() && matches!(e.exit_code(), Exit::Unavailable | Exit::Sink)
}

/// Collects every enabled source once. A failing source does not stop the others; the
/// first failure is returned after all ran.
///
/// # Errors
/// The first source's failure.
pub async fn cycle(
    ctx: &Context,
    store: &Arc<Mutex<Store>>,
    sinks: &mut [Box<dyn Sink>],
    opts: &Options,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<Report>, Error> {
    let mut collector = Collector {
        session: &ctx.session,
        store: store.clone(),
        sinks,
        tenant: TENANT,
        ledger_size: ctx.cfg.state.ledger_size.get(),
    };
    let mut reports = Vec::new();
    let mut first_error = None;
    for source in sources::enabled(&ctx.cfg, &ctx.endpoints.monitor, &ctx.endpoints.admin) {
        let watch = crate::observe::SourceRun::start(&ctx.session.api, TENANT, source.kind());
        let result = collector.collect(source.as_ref(), opts, shutdown).await;
        watch.finish(&ctx.session.api, store, &result);
        match result {
            Ok(r) => reports.push(r),
            Err(e) => {
                error!(source = %source.kind(), exit_code = e.exit_code() as u8, error = %e, "Source failed; its checkpoint stays at the last confirmed page.");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(reports),
    }
}
