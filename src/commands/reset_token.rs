//! `reset-access-token`: forgets the cached access token, so the next call signs a new JWT.

use std::io::Write;

use crate::config::Config;
use crate::error::Error;
use crate::sinks::SinkError;
use crate::state::Store;

/// Forgets the tokens of every tenant, or of `tenant` (already checked to exist).
///
/// # Errors
/// `StoreError` when the state file cannot be opened or written.
pub(crate) fn run(cfg: &Config, tenant: Option<&str>) -> Result<(), Error> {
    let store = Store::open(&cfg.state.path)?;
    let n = store.forget_tokens(tenant)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "Forgot {n} cached access token(s) in {}.", store.path().display())
        .and_then(|()| out.flush())
        .map_err(|source| SinkError::Io { sink: "stdout".into(), source })?;
    Ok(())
}
