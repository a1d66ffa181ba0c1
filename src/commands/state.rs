//! `state export` / `state import`: a tenant's progress out of one state file and into another,
//! to move it between shards without loss (its checkpoints move with it) and with no replay
//! beyond what its ledger absorbs (the ledger moves too). Both take the state lock: refused
//! while `run` or `fetch` uses the file (exit 8). No token or secret is exported.

use std::io::{Read as _, Write as _};

use tracing::{info, warn};

use crate::cli::StateCommand;
use crate::config::Config;
use crate::error::Error;
use crate::sinks::SinkError;
use crate::state::{StateLock, Store};
use crate::values::ConfigError;

/// Runs `state export` (for `tenant`) or `state import`.
///
/// # Errors
/// `ConfigError::Argument` without `--tenant` for an export; `StoreError` when the file is
/// locked, missing or unwritable, or the import is not an export of this schema.
pub(crate) fn run(cfg: &Config, cmd: &StateCommand, tenant: Option<&str>) -> Result<(), Error> {
    let path = &cfg.state.path;
    let _lock = StateLock::acquire(path)?;
    match cmd {
        StateCommand::Export => {
            let tenant = tenant.ok_or_else(|| ConfigError::Argument {
                arg: "--tenant".into(),
                message: "is required: `state export` moves one tenant".into(),
            })?;
            if !path.exists() {
                return Err(ConfigError::Argument {
                    arg: "--config".into(),
                    message: format!("state.path {} does not exist: nothing to export", path.display()),
                }
                .into());
            }
            let store = Store::open(path)?;
            let doc = store.export_tenant(tenant)?;
            if doc["rows"] == 0 {
                warn!(tenant, "The state file holds nothing of this tenant; the export is empty.");
            }
            let mut text = serde_json::to_string_pretty(&doc).map_err(|e| Error::Internal(e.to_string()))?;
            text.push('\n');
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|source| SinkError::Io { sink: "stdout".into(), source })?;
            info!(tenant, rows = %doc["rows"], "Exported the tenant's state (no token or secret).");
        }
        StateCommand::Import { file } => {
            let mut text = String::new();
            let read = if file.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text).map(drop)
            } else {
                std::fs::read_to_string(file).map(|t| text = t)
            };
            read.map_err(|e| ConfigError::Argument {
                arg: "FILE".into(),
                message: format!("{}: {e}", file.display()),
            })?;
            let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| ConfigError::Argument {
                arg: "FILE".into(),
                message: format!("{} is not JSON: {e}", file.display()),
            })?;
            let mut store = Store::open(path)?;
            let (tenant, rows) = store.import_tenant(&doc)?;
            let owned = cfg.owned_tenants().iter().any(|t| t.name == tenant);
            if !owned {
                warn!(tenant = %tenant, "Imported a tenant this configuration (or shard) does not collect; add it, or it stays idle here.");
            }
            info!(tenant = %tenant, rows, "Imported the tenant's state; it continues from its checkpoints.");
        }
    }
    Ok(())
}
