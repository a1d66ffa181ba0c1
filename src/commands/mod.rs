//! One module per command, each with an async `run`; `dispatch` picks one.
//!
//! # Architecture
//! - `fetch.rs`: one cycle (also the cycle `run` repeats).
//! - `run.rs`: the daemon loop with injected shutdown.
//! - `receivers.rs`: the push receivers `run` hosts.
//! - `get_events.rs`: fetch and print, never commit.
//! - `auth_test.rs`, `consent_url.rs`, `reset_token.rs`: setup and support.
//! - `auth_login.rs`: `auth login`, the Authorization Code Grant's browser login.
//! - `go_live.rs` (the command; its 20 calls are the connector's): the 20 calls DocuSign's Go-Live review counts.
//! - `status.rs`: health of every source, from the state file alone.
//! - `state.rs`: `state export` / `state import`, moving a tenant between shards.
//! - `simulate.rs`: the standalone simulator.

mod auth_login;
mod auth_test;
mod columns;
mod consent_url;
mod fetch;
mod get_events;
mod go_live;
mod receivers;
mod reset_token;
mod run;
mod simulate;
mod state;
mod status;

use std::path::Path;

use tokio::sync::watch;
use tracing::info;

use crate::cli::Command;
use crate::config::Config;
use crate::error::Error;

pub use fetch::cycle;

/// Runs `cmd` with the configuration at `config_path`, on every tenant or only on `tenant`.
///
/// # Errors
/// Whatever the command fails with; `main` maps it to an exit code.
pub async fn dispatch(cmd: Command, config_path: &Path, tenant: Option<&str>) -> Result<(), Error> {
    if let Command::Simulate(args) = &cmd {
        return simulate::run(args, shutdown_signal()?).await;
    }
    let cfg = Config::load(config_path)?;
    let tenants = cfg.select_tenants(tenant)?;
    match cmd {
        Command::Fetch(args) => fetch::run(cfg, tenants, &args, shutdown_signal()?).await,
        Command::Run => run::run(cfg, tenants, shutdown_signal()?).await,
        Command::GetEvents(args) => get_events::run(&cfg, tenants, &args).await,
        Command::AuthTest => Box::pin(auth_test::run(tenants)).await,
        Command::Auth(args) => match &args.command {
            crate::cli::AuthCommand::Login(a) => auth_login::run(&cfg, tenants, tenant.is_some(), a).await,
        },
        Command::GoLiveCheck => Box::pin(go_live::run(tenants)).await,
        Command::GenerateConsentUrl => consent_url::run(&tenants),
        Command::ResetAccessToken => reset_token::run(&cfg, tenant),
        Command::Status(args) => status::run(&cfg, &args, tenant),
        Command::State(args) => state::run(&cfg, &args.command, tenant),
        Command::Simulate(_) => Ok(()),
    }
}

/// A flag that turns true on SIGTERM or SIGINT.
///
/// # Errors
/// `Error::Internal` when the signal handlers cannot be installed.
pub fn shutdown_signal() -> Result<watch::Receiver<bool>, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate()).map_err(|e| Error::Internal(format!("SIGTERM handler: {e}")))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::Internal(format!("SIGINT handler: {e}")))?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => info!(signal = "SIGTERM", "Shutdown requested; finishing the page in flight."),
            _ = int.recv() => info!(signal = "SIGINT", "Shutdown requested; finishing the page in flight."),
        }
        crate::shutdown::request();
        // No receiver left means nobody needs telling.
        tx.send(true).unwrap_or_default();
        // Keep the sender alive so receivers see `true`, not a closed channel.
        std::future::pending::<()>().await;
    });
    Ok(rx)
}
