//! `get-events`: fetch and print, for debugging. Starts from `--since`, else (with
//! `--from-checkpoint`) where the next fetch would, else from the source's fresh start;
//! never deduplicates against, nor moves, any checkpoint.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::watch;

use crate::cli::{GetEventsArgs, Output};
use crate::config::{Config, ConfigError, Tenant};
use crate::context::Context;
use crate::core::collector::{Collector, Commit, Options};
use crate::core::fanout::Fanout;
use crate::core::source::Stream;
use crate::error::Error;
use crate::sinks::{Batch, Line, Sink, SinkError};
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
    // Only the tenants of the stream's platform can serve it.
    let tenants: Vec<Tenant> = tenants.into_iter().filter(|t| t.vendor.name() == args.kind.vendor).collect();
    let names: Vec<String> = tenants.iter().map(|t| t.name.clone()).collect();
    if names.is_empty() {
        return Err(ConfigError::Argument {
            arg: "--type".into(),
            message: format!(
                "{} is a {} stream, and no {} tenant is configured (or selected)",
                args.kind.key, args.kind.vendor, args.kind.vendor
            ),
        }
        .into());
    }
    let [tenant]: [Tenant; 1] = tenants.try_into().map_err(|_| ConfigError::Argument {
        arg: "--tenant".into(),
        message: format!("is required with several tenants: one of {}", names.join(", ")),
    })?;
    let kind = args.kind;
    if !cfg.source_enabled(kind.key) {
        return Err(ConfigError::Invalid {
            key: format!("sources.{}.enabled", kind.key),
            message: "is false: enable the source (and grant the consent it needs) before reading it".into(),
        }
        .into());
    }
    // No lock: reading a checkpoint never conflicts with a running fetch.
    let store = Arc::new(Mutex::new(Store::open(&cfg.state.path)?));
    let ctx = Context::build(tenant, Some(store.clone())).await?;
    let Some(source) = ctx.sources().into_iter().find(|s| s.kind() == kind) else {
        return Err(Error::Internal("enabled source not built".into()));
    };
    let kept = Keep::default();
    let lines = kept.0.clone();
    let sinks = Fanout::new(vec![Box::new(kept)]);
    let (_tx, never) = watch::channel(false);
    let mut collector = Collector {
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

/// Renders the columns an operator scans first (the stream's `columns`; `a/b` shows two
/// fields joined by `/`).
fn table(kind: &Stream, lines: &[Line]) -> String {
    let headers: &[&str] = kind.columns;
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(&l.json).unwrap_or(Value::Null);
            headers.iter().map(|h| h.split('/').map(|k| cell(&v, k)).collect::<Vec<_>>().join("/")).collect()
        })
        .collect();
    let mut out = super::columns::render(headers, &rows);
    let noun = if rows.len() == 1 { "record" } else { "records" };
    writeln!(out, "({} {noun})", rows.len()).unwrap_or_default();
    out
}
