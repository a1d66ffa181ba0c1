//! The vendor-neutral pipeline: what every connector's events go through on their way to the
//! sinks, whoever sent them. A connector supplies the vendor's parts;
//! core knows no vendor.
//!
//! # Architecture
//! - `dedup`: dedup strategies (the id ledger, a content fingerprint).

pub mod dedup;
