//! esign-collector: pulls security events from e-signature platforms (DocuSign Monitor
//! customer events and Admin user data today) into a SIEM as normalized JSON lines, with
//! checkpoints that move only after delivery.
//!
//! # Architecture (data flow; `docs/architecture.md` has the layers and what each may import)
//! 1. `main` parses the CLI (`cli`), loads the strict `config`, takes the state lock and
//!    opens the `state` store, and builds each tenant's `context`: the `http` client
//!    (reqwest + governor), an `auth` token source, and the connector's sources
//!    (`connectors::<vendor>`), each described by its `stream::Stream`.
//! 2. `core::collector` reads each source's checkpoint and fetches one page at a time
//!    through the paced, retrying client.
//! 3. `core::collector::prepare` deduplicates records (id ledger or snapshot fingerprints) and
//!    `core::normalize` turns them into lines with the fields of `core::fields`.
//! 4. `core::fanout` hands every sink (`sinks`) the page in its format (`format`, rendered by
//!    the stream's connector); a sink's `Ok` *is* the acknowledgement.
//! 5. The cursor and ids are committed in one SQLite transaction; repeat until the end of the
//!    stream, the run-time budget or shutdown. Errors become exit codes (`error`, `exit`).
//!
//! `core::push` is the push path for senders that POST their events (webhooks): verified,
//! stored in a durable inbox before the 2xx, then delivered to the sinks like a page.
//!
//! Every source's run leaves a run record in the state file and metrics (`observe`,
//! `metrics`); `health` judges them for `status`, `/healthz` and `/metrics`.
//!
//! `demo` starts the DocuSign simulator (the `esign-sim` crate) for `environment = "demo"`.

pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod context;
pub mod core;
pub mod demo;
pub mod error;
pub mod exit;
pub mod failpoint;
pub mod format;
pub mod health;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod observe;
pub mod progress;
pub mod shutdown;
pub mod sinks;
pub mod state;
pub mod stream;
#[cfg(test)]
mod testkit;
pub mod values;
