//! `status`: how every enabled source is doing, from the state file alone. No network and no
//! lock: the file is opened read-only, so this works while `run` holds it. Exit 0 when every
//! enabled source is ok, 10 (`Exit::Unhealthy`) when one is stale, failing or never ran.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::cli::{StatusArgs, StatusFormat};
use crate::config::Config;
use crate::error::Error;
use crate::health::{self, SourceHealth, Verdict};
use crate::sinks::SinkError;
use crate::state::{ReceiverStatus, Store};

/// Version of the JSON document; bumped only when a field changes meaning or disappears.
const JSON_VERSION: u32 = 1;

/// Prints the status and exits non-zero when a source is not ok.
///
/// # Errors
/// `Error::Unhealthy` naming the sources that are not ok (or the missing state file);
/// `StoreError` when the state file cannot be read.
pub(crate) fn run(cfg: &Config, args: &StatusArgs, tenant: Option<&str>) -> Result<(), Error> {
    let stale_after = args.stale_after.unwrap_or_else(|| health::stale_after(cfg));
    let expected = health::expected(cfg, tenant);
    let now = Utc::now();
    let path = &cfg.state.path;
    // A missing file, or one a first run is creating right now, holds no run yet.
    let store = if path.exists() { Store::open_read_only(path)? } else { None };
    let credentials = health::assess_credentials(cfg, tenant, store.as_ref(), now.timestamp())?;
    let (list, missing, receivers, gaps) = if let Some(store) = store {
        let gaps = connect_gaps(cfg, tenant, &store)?;
        (health::assess(&store, &expected, now, stale_after)?, false, store.receivers()?, gaps)
    } else {
        let never = expected.iter().map(|(tenant, source)| SourceHealth {
            tenant: tenant.clone(),
            source: source.clone(),
            verdict: Verdict::NeverRun,
            run: None,
            checkpoint_at: None,
            newest_event_at: None,
        });
        (never.collect(), true, Vec::new(), Vec::new())
    };
    let mut receivers = receivers;
    // A configured receiver that never accepted anything is shown too.
    let configured = [
        cfg.receivers.connect.as_ref().map(|_| crate::connectors::docusign::connect::RECEIVER),
        cfg.receivers.yousign.as_ref().map(|_| crate::connectors::yousign::webhook::RECEIVER),
    ];
    for name in configured.into_iter().flatten() {
        if !receivers.iter().any(|r| r.receiver == name) {
            receivers.push(ReceiverStatus {
                receiver: name.to_owned(),
                last_accepted_at: None,
                accepted: 0,
                waiting: 0,
            });
        }
    }
    let text = match args.output {
        StatusFormat::Table => {
            table(&list, now)
                + &receivers_table(&receivers, now)
                + &gaps_table(&gaps)
                + &credentials_table(&credentials, now)
                + &shard_table(cfg)
        }
        StatusFormat::Json => {
            let mut doc = document(&list, now, stale_after);
            doc["receivers"] = receivers_json(&receivers);
            doc["connect_gaps"] = gaps_json(&gaps);
            doc["credentials"] = health::credentials_json(&credentials, now.timestamp());
            if let Some(s) = shard_json(cfg) {
                doc["shard"] = s;
            }
            let mut s = serde_json::to_string_pretty(&doc).map_err(|e| Error::Internal(e.to_string()))?;
            s.push('\n');
            s
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| SinkError::Io { sink: "stdout".into(), source })?;
    if missing {
        return Err(Error::Unhealthy(format!(
            "no state in {} yet: the collector has never completed a run with this configuration",
            path.display()
        )));
    }
    for c in &credentials {
        for w in &c.warnings {
            tracing::warn!(tenant = %c.tenant, "{w}");
        }
    }
    let logins: Vec<String> =
        credentials.iter().filter_map(|c| c.problem.as_ref().map(|p| format!("{}: {p}", c.tenant))).collect();
    match (health::problems(&list, false), logins.is_empty()) {
        (None, true) => Ok(()),
        (None, false) => Err(Error::Unhealthy(format!("a tenant cannot authenticate: {}", logins.join("; ")))),
        (Some(p), _) => Err(Error::Unhealthy(format!("not every source is ok: {p}"))),
    }
}

/// With `[shard]`: this shard's place and the tenants it owns and skips.
fn shard_json(cfg: &Config) -> Option<Value> {
    let place = cfg.shard.as_ref()?.place().ok()?;
    let (owned, skipped) = cfg.sharded_tenants().ok()?;
    let names = |v: &[crate::config::Tenant]| v.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    Some(json!({"index": place.index, "count": place.count, "owned": names(&owned), "skipped": names(&skipped)}))
}

/// The shard line of the table (empty without `[shard]`).
fn shard_table(cfg: &Config) -> String {
    let Some(s) = shard_json(cfg) else { return String::new() };
    let list = |k: &str| {
        let v: Vec<&str> = s[k].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if v.is_empty() { "-".to_owned() } else { v.join(", ") }
    };
    format!("\nSHARD {} of {}: owns {}; skips {}\n", s["index"], s["count"], list("owned"), list("skipped"))
}

/// Each tenant's flow, key and refresh token, with what needs a look.
fn credentials_table(list: &[health::CredentialHealth], now: DateTime<Utc>) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nCREDENTIALS\n");
    let now = now.timestamp();
    for c in list {
        let detail = match (&c.key, &c.refresh) {
            (Some((i, n, label)), _) => format!("key {i} of {n} in use ({label})"),
            (None, Some((_, issued, expires, user))) => {
                format!("refresh token of {user}: issued {} ago, expires in {}", age(now - issued), age(expires - now))
            }
            (None, None) => "-".to_owned(),
        };
        // Writing to a String cannot fail.
        writeln!(out, "{:<16} {:<19} {detail}", c.tenant, c.flow.as_str()).unwrap_or_default();
        for w in &c.warnings {
            writeln!(out, "  WARNING: {w}").unwrap_or_default();
        }
        if let Some(p) = &c.problem {
            writeln!(out, "  PROBLEM: {p}").unwrap_or_default();
        }
    }
    out
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn age_secs(now: DateTime<Utc>, t: DateTime<Utc>) -> i64 {
    now.signed_duration_since(t).num_seconds().max(0)
}

/// The stable JSON document (see docs/status-and-metrics.md).
fn document(list: &[SourceHealth], now: DateTime<Utc>, stale_after: Duration) -> Value {
    let time = |t: Option<DateTime<Utc>>| t.map(rfc3339);
    let sources: Vec<Value> = list
        .iter()
        .map(|h| {
            let r = h.run.as_ref();
            json!({
                "tenant": h.tenant,
                "source": h.source,
                "verdict": h.verdict,
                "last_success_at": time(r.and_then(|r| r.last_success_at)),
                "last_error": r.and_then(|r| r.last_error.as_ref()).map(|e| json!({
                    "message": e.message,
                    "exit_code": e.exit_code,
                    "at": rfc3339(e.at),
                })),
                "consecutive_failures": r.map_or(0, |r| r.consecutive_failures),
                "events_total": r.map_or(0, |r| r.events_total),
                "last_run": r.map(|r| json!({
                    "started_at": rfc3339(r.started_at),
                    "ended_at": rfc3339(r.ended_at),
                    "duration_ms": r.duration_ms_last,
                    "events": r.events_last,
                    "pages": r.pages_last,
                    "retries": r.retries_last,
                    "throttled": r.throttled_last,
                    "backlog": r.backlog,
                })),
                "checkpoint_updated_at": time(h.checkpoint_at),
                "checkpoint_age_seconds": h.checkpoint_at.map(|t| age_secs(now, t)),
                "newest_event_at": time(h.newest_event_at),
                "event_lag_seconds": h.newest_event_at.map(|t| age_secs(now, t)),
            })
        })
        .collect();
    json!({
        "version": JSON_VERSION,
        "generated_at": rfc3339(now),
        "stale_after_seconds": stale_after.as_secs(),
        "healthy": list.iter().all(|h| h.verdict == Verdict::Ok),
        "sources": sources,
    })
}

use crate::health::age_words as age;

/// One row per source, then the last error of every source that has one.
fn table(list: &[SourceHealth], now: DateTime<Utc>) -> String {
    let headers = [
        "TENANT",
        "SOURCE",
        "VERDICT",
        "LAST SUCCESS",
        "CHECKPOINT AGE",
        "EVENT LAG",
        "EVENTS TOTAL/LAST",
        "PAGES",
        "RETRIES",
        "429S",
        "FAILURES",
    ];
    let ago = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), |t| format!("{} ago", age(age_secs(now, t))));
    let since = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), |t| age(age_secs(now, t)));
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|h| {
            let r = h.run.as_ref();
            let n = |f: fn(&crate::state::RunRecord) -> u64| r.map_or_else(|| "-".to_owned(), |r| f(r).to_string());
            vec![
                h.tenant.clone(),
                h.source.clone(),
                h.verdict.as_str().to_owned(),
                ago(r.and_then(|r| r.last_success_at)),
                since(h.checkpoint_at),
                since(h.newest_event_at),
                r.map_or_else(|| "-".to_owned(), |r| format!("{}/{}", r.events_total, r.events_last)),
                n(|r| r.pages_last),
                n(|r| r.retries_last),
                n(|r| r.throttled_last),
                n(|r| r.consecutive_failures),
            ]
        })
        .collect();
    let mut out = super::columns::render(&headers, &rows);
    for h in list {
        if let Some(e) = h.run.as_ref().and_then(|r| r.last_error.as_ref()) {
            let msg = e.message.replace(['\n', '\r'], " ");
            writeln!(out, "{}/{} last error (exit {}, {}): {msg}", h.tenant, h.source, e.exit_code, ago(Some(e.at)))
                .unwrap_or_default();
        }
    }
    out
}

/// The push receivers: messages waiting in the inbox and the last request accepted.
fn receivers_json(list: &[ReceiverStatus]) -> Value {
    Value::Array(
        list.iter()
            .map(|r| {
                json!({
                    "receiver": r.receiver,
                    "waiting": r.waiting,
                    "last_accepted_at": r.last_accepted_at,
                    "accepted_total": r.accepted,
                })
            })
            .collect(),
    )
}

/// The Connect gaps polling found, per tenant that reconciles (it polls the eSignature list
/// beside a Connect receiver): `(tenant, account, gaps)`.
fn connect_gaps(
    cfg: &Config,
    tenant: Option<&str>,
    store: &Store,
) -> Result<Vec<(String, String, crate::state::ConnectGaps)>, Error> {
    if cfg.receivers.connect.is_none() {
        return Ok(Vec::new());
    }
    let mut v = Vec::new();
    for t in cfg.select_tenants(tenant)? {
        if t.vendor != crate::config::Vendor::Docusign || !t.cfg.sources.polls_esignature() {
            continue;
        }
        let account = t.cfg.docusign().account_id.clone().unwrap_or_default();
        let gaps = store.connect_gaps(&account)?;
        v.push((t.name, account, gaps));
    }
    Ok(v)
}

fn gaps_json(list: &[(String, String, crate::state::ConnectGaps)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(tenant, account, g)| {
                json!({"tenant": tenant, "account_id": account, "total": g.total, "last_found_at": g.last_found_at})
            })
            .collect(),
    )
}

fn gaps_table(list: &[(String, String, crate::state::ConnectGaps)]) -> String {
    let mut out = String::new();
    for (tenant, _, g) in list {
        let found = g.last_found_at.as_deref().map_or_else(String::new, |t| format!(", the last found {t}"));
        writeln!(
            out,
            "tenant {tenant}: {} connect gaps (envelope transitions Connect never delivered, emitted from polling{found})",
            g.total
        )
        .unwrap_or_default();
    }
    out
}

/// One line per push receiver, after the sources' table.
fn receivers_table(list: &[ReceiverStatus], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    for r in list {
        let accepted_ago = r
            .last_accepted_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(|| "never".to_owned(), |t| format!("{} ago", age(age_secs(now, t.with_timezone(&Utc)))));
        writeln!(
            out,
            "receiver {}: {} waiting in the inbox, last accepted {accepted_ago} ({} requests accepted)",
            r.receiver, r.waiting, r.accepted
        )
        .unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(age(0), "0s");
        assert_eq!(age(42), "42s");
        assert_eq!(age(312), "5m 12s");
        assert_eq!(age(3600), "1h");
        assert_eq!(age(3 * 86_400 + 4 * 3600 + 5), "3d 4h");
        assert_eq!(age(-5), "0s");
    }
}
