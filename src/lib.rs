//! esign-collector: pulls DocuSign Monitor customer events and Admin user data into a SIEM
//! as normalized JSON lines, with checkpoints that move only after delivery.
//!
//! # Architecture (data flow)
//! 1. `main` parses the CLI (`cli`), loads the strict `config`, takes the state lock and
//!    opens the `state` store, and builds the `context`: the `http` client (reqwest + governor),
//!    an `auth` token source, and the DocuSign client over both (`connectors::docusign`).
//! 2. `collector` takes each enabled source (`sources`), reads its checkpoint, and fetches one
//!    page at a time through the paced, retrying client with a cached or fresh token.
//! 3. Records are deduplicated against the ledger and turned into lines by `normalize`.
//! 4. Every sink (`sinks`) confirms the page; that return *is* the acknowledgement.
//! 5. The cursor and ids are committed in one SQLite transaction; repeat until the end of the
//!    stream, the per-run maximum or shutdown. Errors become exit codes in `error`.
//!
//! Every source's run leaves a run record in the state file and metrics (`observe`);
//! `health` judges them for `status` and `/healthz` (`metrics`).
//!
//! `core::push` is the push path for senders that POST their events (webhooks): verified,
//! stored in a durable inbox before the 2xx, then delivered to the sinks like a page.
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
