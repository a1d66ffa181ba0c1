//! `go-live-check`: the calls DocuSign's Go-Live review looks at, made on purpose.
//!
//! DocuSign promotes an integration key from the developer environment to production when
//! its **20 most recent API calls completed without error** and none broke the polling rules
//! (the same envelope resource at most once per 15 minutes); token and userinfo calls do not
//! count. This command makes 20 distinct read-only eSignature calls (the account, its
//! settings, groups, permission profiles and brands, five one-user pages of the user list and
//! ten one-day windows of the envelope status list: no envelope resource at all), each sent
//! once and never retried (a retried failure is still a failed call for DocuSign), prints each
//! with its status and `X-DocuSign-TraceToken`, and fails unless all 20 succeeded. It refuses
//! the production environment: the review is of the developer key.

use std::fmt::Write as _;
use std::io::Write;

use chrono::Utc;
use tracing::info;

use crate::config::{Environment, Tenant};
use crate::connectors::docusign::{GO_LIVE_CALLS, go_live_calls};
use crate::context::Context;
use crate::error::Error;
use crate::http::ApiError;
use crate::sinks::SinkError;
use crate::values::ConfigError;

/// Runs the check for every selected tenant in turn.
///
/// # Errors
/// `ConfigError` for the production environment; `ApiError::Status` naming the first failed
/// call when not all 20 succeeded; `AuthError` when no token can be had.
pub(crate) async fn run(tenants: Vec<Tenant>) -> Result<(), Error> {
    // DocuSign's review; a Yousign tenant has none.
    for t in tenants.into_iter().filter(|t| t.vendor == crate::config::Vendor::Docusign) {
        one(t).await?;
    }
    Ok(())
}

async fn one(tenant: Tenant) -> Result<(), Error> {
    if tenant.cfg.docusign().environment == Environment::Production {
        return Err(ConfigError::invalid(
            "docusign.environment",
            "is production: go-live-check makes the calls DocuSign's Go-Live review counts, which is of the developer environment's integration key; run it with environment = \"developer\" before asking for the promotion",
        )
        .into());
    }
    let ctx = Context::build(tenant, None).await?;
    let session = ctx.docusign_session()?;
    let root = crate::connectors::docusign::esignature_root(session, ctx.cfg.docusign(), &ctx.endpoints.auth).await?;
    info!(tenant = %ctx.tenant, root = %root, "Making the 20 go-live calls (token and userinfo calls do not count).");
    let mut out = format!("go-live check, tenant {}: {root}\n", ctx.tenant);
    let mut failed: Vec<(String, ApiError)> = Vec::new();
    for (n, path) in go_live_calls(Utc::now()).into_iter().enumerate() {
        let url = format!("{root}{path}");
        let what = format!("GET {}", if path.is_empty() { "/" } else { &path });
        let line = match session.client.get_once(&session.api, &what, &url).await {
            Ok(reply) => {
                let trace =
                    reply.headers.get("x-docusign-tracetoken").and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
                let status = reply.status.as_u16();
                if !reply.status.is_success() {
                    failed.push((
                        what.clone(),
                        ApiError::Status {
                            what: format!("go-live call {}: {what}", n + 1),
                            status,
                            body: reply.excerpt(),
                            trace: reply.trace(),
                            hint: "",
                        },
                    ));
                }
                format!("{:>2}  {status}  {what}  trace {trace}", n + 1)
            }
            Err(Error::Api(e)) => {
                let l = format!("{:>2}  ---  {what}  {e}", n + 1);
                failed.push((what, e));
                l
            }
            Err(e) => return Err(e),
        };
        // Writing to a String cannot fail.
        writeln!(out, "{line}").unwrap_or_default();
    }
    let ok = GO_LIVE_CALLS - failed.len();
    if failed.is_empty() {
        writeln!(
            out,
            "{ok}/{GO_LIVE_CALLS} calls succeeded: the integration key's most recent calls meet DocuSign's go-live criterion; submit it for review now (nothing else should call DocuSign with this key before the review)."
        )
        .unwrap_or_default();
    } else {
        writeln!(
            out,
            "{ok}/{GO_LIVE_CALLS} calls succeeded: not ready for go-live; fix the failures above and run again."
        )
        .unwrap_or_default();
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|source| SinkError::Io { sink: "stdout".into(), source })?;
    match failed.into_iter().next() {
        None => Ok(()),
        Some((_, e)) => Err(e.into()),
    }
}
