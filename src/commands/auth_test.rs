//! `auth-test`: checks the configuration and the key, exchanges a fresh JWT for a token,
//! calls `/oauth/userinfo`, prints `ok` and the user's accounts.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::Value;
use tracing::warn;

use crate::config::Tenant;
use crate::context::Context;
use crate::error::Error;
use crate::http::ApiError;
use crate::sinks::SinkError;

/// Runs the command for every tenant in turn (a heading per tenant when there are several).
///
/// # Errors
/// The first tenant's failure: `AuthError` with the precise reason, `ApiError` when DocuSign
/// is unreachable.
pub(crate) async fn run(tenants: Vec<Tenant>) -> Result<(), Error> {
    let several = tenants.len() > 1;
    for t in tenants {
        let heading = several.then(|| format!("tenant {}: ", t.name));
        one(t, heading.as_deref().unwrap_or_default()).await?;
    }
    Ok(())
}

async fn one(tenant: Tenant, heading: &str) -> Result<(), Error> {
    // No store: the test always performs a real token exchange.
    let ctx = Context::build(tenant, None).await?;
    if let Some((y, base)) = &ctx.yousign {
        // Yousign has no identity endpoint: one user read proves the key and its scope.
        let url = format!("{}/users?limit=1", base.trim_end_matches('/'));
        y.client.get_json(&y.api, "Yousign users", &url).await?;
        let out = format!("{heading}ok\nYousign API key accepted by {base} (users readable)\n");
        let mut stdout = std::io::stdout().lock();
        return stdout
            .write_all(out.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|source| SinkError::Io { sink: "stdout".into(), source }.into());
    }
    let session = ctx.docusign_session()?;
    let url = format!("{}/oauth/userinfo", ctx.endpoints.auth);
    let info = session.client.get_json(&session.api, "userinfo", &url).await?;
    let accounts = info
        .get("accounts")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::Malformed { what: "userinfo".into(), message: "no `accounts` array".into() })?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut out =
        format!("{heading}ok\nuser: {} <{}> ({})\naccounts:\n", s(&info, "name"), s(&info, "email"), s(&info, "sub"));
    let d = &ctx.cfg.docusign();
    let (mut account_seen, mut org_seen) = (false, false);
    for a in accounts {
        let org = a.get("organization").map(|o| s(o, "organization_id")).unwrap_or_default();
        let id = s(a, "account_id");
        account_seen |= d.account_id.as_deref() == Some(id.as_str());
        org_seen |= !org.is_empty() && d.organization_id.as_deref() == Some(org.as_str());
        let default = if a.get("is_default").and_then(Value::as_bool).unwrap_or(false) { " (default)" } else { "" };
        // Writing to a String cannot fail.
        writeln!(
            out,
            "  account_id={id} name={:?}{default} base_uri={} organization_id={}",
            s(a, "account_name"),
            s(a, "base_uri"),
            if org.is_empty() { "-" } else { &org }
        )
        .unwrap_or_default();
    }
    if d.account_id.is_some() && !account_seen {
        warn!("docusign.account_id is not among this user's accounts.");
    }
    if d.organization_id.is_some() && !org_seen {
        warn!("docusign.organization_id does not match any of this user's accounts' organizations.");
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|source| SinkError::Io { sink: "stdout".into(), source })?;
    Ok(())
}
