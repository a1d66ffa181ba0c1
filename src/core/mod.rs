//! The vendor-neutral pipeline: what every connector's events go through on their way to the
//! sinks, whoever sent them. A connector supplies the vendor's parts (a [`push::Receiver`]);
//! core knows no vendor.
//!
//! # Architecture
//! - `push`: the push path: receiver → verify → parse → dedup → durable inbox → 2xx →
//!   delivery to every sink → commit.
//! - `dedup`: dedup strategies (the id ledger, a content fingerprint).

pub mod dedup;
pub mod push;
