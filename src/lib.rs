//! esign-collector: pulls DocuSign Monitor customer events and Admin user data into a SIEM
//! as normalized JSON lines, with checkpoints that move only after delivery.
//!
//! # Architecture (data flow)
//! 1. `main` parses the CLI (`cli`), loads the strict `config`, takes the state lock and
//!    opens the `state` store, and builds the `context`: the `http` client (reqwest + governor)
//!    and `auth`.
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
//! `simulator` is a faithful stand-in for DocuSign (demo environment, tests); `demo` starts it.
//!
//! # Layers
//! Leaves (`exit`, `values`, `shutdown`, `progress`) import nothing of ours; `http` (the one
//! HTTP layer: client building, TLS files, retry policy, pacing, redaction, `--trace-http`)
//! imports only leaves; `state` likewise; `sinks` own their config types and import neither
//! `config` nor `error`. `error` gathers the area errors, and `config` the area config types.

pub mod auth;
pub mod cli;
pub mod collector;
pub mod commands;
pub mod config;
pub mod context;
pub mod demo;
pub mod error;
pub mod exit;
pub mod failpoint;
pub mod format;
pub mod health;
#[doc(hidden)]
pub mod hotpath;
pub mod http;
/// The HTTP layer's former name: code still written against `crate::api` keeps compiling
/// while that name is retired. New code says `http`.
#[doc(hidden)]
pub use self::http as api;
pub mod metrics;
pub mod normalize;
pub mod notify;
pub mod observe;
pub mod progress;
pub mod shutdown;
pub mod simulator;
pub mod sinks;
pub mod sources;
pub mod state;
pub mod values;
