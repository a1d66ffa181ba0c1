//! `reset-access-token`: forgets the cached access token, so the next call signs a new JWT.

use std::io::Write;

use crate::config::{Config, Tenant, Vendor};
use crate::error::Error;
use crate::sinks::SinkError;
use crate::state::Store;

/// Forgets the tokens of every tenant, or of `tenant` (already checked to exist) and of the
/// tenants that may share its token.
///
/// # Errors
/// `StoreError` when the state file cannot be opened or written.
pub(crate) fn run(cfg: &Config, tenant: Option<&str>) -> Result<(), Error> {
    let store = Store::open(&cfg.state.path)?;
    let n = match tenant {
        None => store.forget_tokens(None)?,
        Some(t) => sharing(cfg, t).iter().try_fold(0, |n, name| store.forget_tokens(Some(name)).map(|k| n + k))?,
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "Forgot {n} cached access token(s) in {}.", store.path().display())
        .and_then(|()| out.flush())
        .map_err(|source| SinkError::Io { sink: "stdout".into(), source })?;
    Ok(())
}

/// `tenant` and the DocuSign tenants of its integration key and user. JWT tenants of one user
/// and app share one token, cached under whichever of them a run built first (`fetch --all`
/// and `fetch --tenant` may pick different ones), so forgetting one tenant's token must forget
/// theirs. Matching on key and user alone takes in a few more than share (other scopes or
/// hosts); forgetting those costs one token request each, never a stale token.
fn sharing(cfg: &Config, tenant: &str) -> Vec<String> {
    let all = cfg.tenants();
    let grant = |t: &Tenant| {
        t.cfg
            .docusign
            .as_ref()
            .filter(|_| t.vendor == Vendor::Docusign)
            .map(|d| (d.integration_key.clone(), d.user_id.clone()))
    };
    let Some(mine) = all.iter().find(|t| t.name == tenant).and_then(grant) else { return vec![tenant.to_owned()] };
    all.iter().filter(|t| grant(t).as_ref() == Some(&mine)).map(|t| t.name.clone()).collect()
}
