//! `get-events`: fetch and print, for debugging. Starts from `--since`, else (with
//! `--from-checkpoint`) where the next fetch would, else from the source's fresh start;
//! never deduplicates against, nor moves, any checkpoint.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::watch;

use crate::cli::{EventType, GetEventsArgs, Output};
use crate::collector::{Collector, Commit, Options};
use crate::config::{Config, ConfigError, Tenant};
use crate::context::Context;
use crate::error::Error;
use crate::sinks::{Batch, Fanout, Line, Sink, SinkError};
use crate::sources::{self, SourceKind};
use crate::state::Store;

/// Keeps what it is sent, to print at the end.
#[derive(Debug, Default)]
struct Keep(Arc<Mutex<Vec<Line>>>);

#[async_trait]
impl Sink for Keep {
    fn name(&self) -> &'static str {
        "get-events"
    }
    async fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(batch.lines.iter().cloned());
        Ok(())
    }
}

/// Runs the command.
///
/// # Errors
/// Configuration, API or state failures.
pub(crate) async fn run(cfg: &Config, tenants: Vec<Tenant>, args: &GetEventsArgs) -> Result<(), Error> {
    let names: Vec<String> = tenants.iter().map(|t| t.name.clone()).collect();
    let [tenant]: [Tenant; 1] = tenants.try_into().map_err(|_| ConfigError::Argument {
        arg: "--tenant".into(),
        message: format!("is required with several tenants: one of {}", names.join(", ")),
    })?;
    let kind = match args.kind {
        EventType::CustomerEvents => SourceKind::CustomerEvents,
        EventType::UserData => SourceKind::UserData,
    };
    let enabled = match kind {
        SourceKind::CustomerEvents => cfg.sources.customer_events.enabled,
        SourceKind::UserData => cfg.sources.user_data.enabled,
    };
    if !enabled {
        return Err(ConfigError::Invalid {
            key: format!("sources.{}.enabled", kind.key()),
            message: "is false: enable the source (and grant the consent it needs) before reading it".into(),
        }
        .into());
    }
    // No lock: reading a checkpoint never conflicts with a running fetch.
    let store = Arc::new(Mutex::new(Store::open(&cfg.state.path)?));
    let ctx = Context::build(tenant, Some(store.clone())).await?;
    let all = sources::enabled(&ctx.cfg, &ctx.endpoints.monitor, &ctx.endpoints.admin);
    let Some(source) = all.into_iter().find(|s| s.kind() == kind) else {
        return Err(Error::Internal("enabled source not built".into()));
    };
    let kept = Keep::default();
    let lines = kept.0.clone();
    let sinks = Fanout::new(vec![Box::new(kept)]);
    let (_tx, never) = watch::channel(false);
    let mut collector = Collector {
        session: &ctx.session,
        store,
        sinks: &sinks,
        tenant: &ctx.tenant,
        tag: ctx.tag.as_deref(),
        ledger_size: ctx.cfg.state.ledger_size.get(),
        progress: None,
        enrich: ctx.cfg.enrich_users(),
    };
    let opts = Options {
        since: args.since,
        from_checkpoint: args.from_checkpoint,
        max: Some(args.limit),
        deadline: None,
        skip_backlog: false,
        commit: Commit::Never,
    };
    collector.collect(source.as_ref(), &opts, &never).await?;
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let mut out = std::io::stdout().lock();
    let text = match args.output {
        Output::Json => lines.iter().fold(String::new(), |mut s, l| {
            s.push_str(&l.json);
            s.push('\n');
            s
        }),
        Output::Table => table(kind, &lines),
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| SinkError::Io { sink: "stdout".into(), source })?;
    Ok(())
}

fn cell(v: &Value, key: &str) -> String {
    let s = match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let s = s.replace(['\n', '\r', '\t'], " ");
    if s.chars().count() > 40 { format!("{}…", s.chars().take(39).collect::<String>()) } else { s }
}

/// Renders the columns an operator scans first.
fn table(kind: SourceKind, lines: &[Line]) -> String {
    let headers: Vec<&str> = match kind {
        // The result and the IP first tell a failed login from a successful one, and from where.
        SourceKind::CustomerEvents => {
            vec!["eventId", "timestamp", "userId", "object/action", "result", "ipAddress", "accountId"]
        }
        SourceKind::UserData => vec!["id", "user_name", "email", "user_status", "membership_status"],
    };
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(&l.json).unwrap_or(Value::Null);
            match kind {
                SourceKind::CustomerEvents => vec![
                    cell(&v, "eventId"),
                    cell(&v, "timestamp"),
                    cell(&v, "userId"),
                    format!("{}/{}", cell(&v, "object"), cell(&v, "action")),
                    cell(&v, "result"),
                    cell(&v, "ipAddress"),
                    cell(&v, "accountId"),
                ],
                SourceKind::UserData => headers.iter().map(|h| cell(&v, h)).collect(),
            }
        })
        .collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([headers[i].len()]).max().unwrap_or(0))
        .collect();
    let fmt_row = |cells: &[String]| {
        let mut s = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = fmt_row(&headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    for r in &rows {
        out.push_str(&fmt_row(r));
    }
    let noun = if rows.len() == 1 { "record" } else { "records" };
    writeln!(out, "({} {noun})", rows.len()).unwrap_or_default();
    out
}
