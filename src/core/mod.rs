//! The vendor-neutral pipeline: what every connector's events go through on their way to the
//! sinks. It knows sources and receivers by their [`Stream`](crate::stream::Stream)
//! descriptors only and never names a platform or a stream.
//!
//! # Architecture
//! - `source.rs`: the [`source::Source`] trait a connector implements for each pull stream,
//!   [`source::Page`], [`source::Record`].
//! - `collector/`: THE pull loop (checkpoint → fetch one page → dedup → normalize → every sink
//!   confirms → commit), and the page preparation it calls.
//! - `push`: the push path: receiver → verify → parse → dedup → durable inbox → 2xx →
//!   delivery to every sink → commit.
//! - `dedup`: dedup strategies (the id ledger, a content fingerprint).
//! - `normalize.rs`: a record to a line, the fields we add (`fields.rs`, the one list).
//! - `fanout.rs`: every sink, each page rendered once per format in use.

pub mod collector;
pub mod dedup;
pub mod fanout;
pub mod fields;
pub mod normalize;
pub mod push;
pub mod source;
