//! Counters of the push path: how many requests and messages took each way, for logs,
//! tests and (once wired) metrics.

use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Verified bodies that did not parse (400).
    pub malformed: u64,
    /// Requests refused because the inbox was full or the disk was (503).
    pub unavailable: u64,
    /// Requests whose inbox write failed otherwise (500).
    pub failed: u64,
    /// Delivery attempts a sink refused.
    pub sink_failures: u64,
}

/// The counters behind [`PushCounts`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) accepted: AtomicU64,
    pub(super) stored: AtomicU64,
    pub(super) duplicates: AtomicU64,
    pub(super) delivered: AtomicU64,
    pub(super) not_found: AtomicU64,
    pub(super) method_not_allowed: AtomicU64,
    pub(super) too_large: AtomicU64,
    pub(super) unauthorized: AtomicU64,
    pub(super) malformed: AtomicU64,
    pub(super) unavailable: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) sink_failures: AtomicU64,
}

pub(super) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(super) fn snapshot(&self) -> PushCounts {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PushCounts {
            accepted: g(&self.accepted),
            stored: g(&self.stored),
            duplicates: g(&self.duplicates),
            delivered: g(&self.delivered),
            not_found: g(&self.not_found),
            method_not_allowed: g(&self.method_not_allowed),
            too_large: g(&self.too_large),
            unauthorized: g(&self.unauthorized),
            malformed: g(&self.malformed),
            unavailable: g(&self.unavailable),
            failed: g(&self.failed),
            sink_failures: g(&self.sink_failures),
        }
    }
}
