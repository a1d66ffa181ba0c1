//! Counters of the push path: how many requests and messages took each way, for logs,
//! tests and (once wired) metrics.

use std::sync::{Mutex, PoisonError};

/// How many requests and messages took each way, since the pipeline was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushCounts {
    /// Requests answered 2xx.
    pub accepted: u64,
    /// Messages written into the inbox.
    pub stored: u64,
    /// Messages absorbed as copies (waiting in the inbox or already delivered).
    pub duplicates: u64,
    /// Messages every sink confirmed.
    pub delivered: u64,
    /// Requests for a path no receiver has (404).
    pub not_found: u64,
    /// Requests with another method than POST (405).
    pub method_not_allowed: u64,
    /// Bodies over the limit (413).
    pub too_large: u64,
    /// Requests that failed verification (401).
    pub unauthorized: u64,
    /// Verified bodies that did not parse, or bodies that could not be read (400).
    pub malformed: u64,
    /// Verified requests of a media type the receiver does not take (415).
    pub unsupported_media: u64,
    /// Bodies that did not arrive within the read timeout (408).
    pub timeouts: u64,
    /// Requests refused because the inbox was full or the disk was (503).
    pub unavailable: u64,
    /// Requests whose inbox write failed otherwise (500).
    pub failed: u64,
    /// Delivery attempts a sink refused.
    pub sink_failures: u64,
}

/// The counters behind [`PushCounts`]: one small lock, taken once per request or batch.
#[derive(Debug, Default)]
pub(super) struct Counters(Mutex<PushCounts>);

impl Counters {
    /// Applies `f` to the counts.
    pub(super) fn bump(&self, f: impl FnOnce(&mut PushCounts)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub(super) fn snapshot(&self) -> PushCounts {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
