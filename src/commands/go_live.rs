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

use chrono::{Duration, Utc};
use tracing::info;

use crate::config::{Environment, Tenant};
use crate::context::Context;
use crate::core::source::iso;
use crate::error::Error;
use crate::http::ApiError;
use crate::sinks::SinkError;
use crate::values::ConfigError;

/// The calls DocuSign counts.
pub(crate) const CALLS: usize = 20;

/// The 20 read-only calls, as paths below the account's eSignature root
/// (`{base_uri}/restapi/v2.1/accounts/{accountId}`), relative to `now`.
pub(crate) fn calls(now: chrono::DateTime<Utc>) -> Vec<String> {
    let mut v: Vec<String> =
        ["", "/settings", "/groups", "/permission_profiles", "/brands"].iter().map(|p| (*p).to_owned()).collect();
    v.extend((0..5).map(|k| format!("/users?count=1&start_position={k}")));
    let day = now - Duration::minutes(1);
    v.extend((0..10).map(|k| {
        let to = day - Duration::days(k);
        let from = to - Duration::days(1);
        format!("/envelopes?from_date={}&to_date={}&from_to_status=changed&count=1", iso(from), iso(to))
    }));
    v
}

/// Runs the check for every selected tenant in turn.
///
/// # Errors
/// `ConfigError` for the production environment; `ApiError::Status` naming the first failed
/// call when not all 20 succeeded; `AuthError` when no token can be had.
pub(crate) async fn run(tenants: Vec<Tenant>) -> Result<(), Error> {
    for t in tenants {
        one(t).await?;
    }
    Ok(())
}

async fn one(tenant: Tenant) -> Result<(), Error> {
    if tenant.cfg.docusign.environment == Environment::Production {
        return Err(ConfigError::invalid(
            "docusign.environment",
            "is production: go-live-check makes the calls DocuSign's Go-Live review counts, which is of the developer environment's integration key; run it with environment = \"developer\" before asking for the promotion",
        )
        .into());
    }
    let ctx = Context::build(tenant, None).await?;
    let root =
        crate::connectors::docusign::esignature_root(&ctx.session, &ctx.cfg.docusign, &ctx.endpoints.auth).await?;
    info!(tenant = %ctx.tenant, root = %root, "Making the 20 go-live calls (token and userinfo calls do not count).");
    let mut out = format!("go-live check, tenant {}: {root}\n", ctx.tenant);
    let mut failed: Vec<(String, ApiError)> = Vec::new();
    for (n, path) in calls(Utc::now()).into_iter().enumerate() {
        let url = format!("{root}{path}");
        let what = format!("GET {}", if path.is_empty() { "/" } else { &path });
        let line = match ctx.session.client.get_once(&ctx.session.api, &what, &url).await {
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
    let ok = CALLS - failed.len();
    if failed.is_empty() {
        writeln!(
            out,
            "{ok}/{CALLS} calls succeeded: the integration key's most recent calls meet DocuSign's go-live criterion; submit it for review now (nothing else should call DocuSign with this key before the review)."
        )
        .unwrap_or_default();
    } else {
        writeln!(out, "{ok}/{CALLS} calls succeeded: not ready for go-live; fix the failures above and run again.")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_distinct_read_only_calls_without_an_envelope_resource() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z").map(|t| t.with_timezone(&Utc));
        let v = calls(now.unwrap_or_else(|_| Utc::now()));
        assert_eq!(v.len(), CALLS);
        let distinct: std::collections::HashSet<&String> = v.iter().collect();
        assert_eq!(distinct.len(), CALLS, "{v:?}");
        // The envelope list is account-level; `/envelopes/{id}` would be an envelope resource.
        assert!(v.iter().all(|p| !p.starts_with("/envelopes/")));
        assert!(v.iter().filter(|p| p.starts_with("/envelopes?")).count() == 10);
        assert!(v[19].contains("from_date=2026-11-22T09:59:00Z&to_date=2026-11-23T09:59:00Z"), "{}", v[19]);
    }
}
