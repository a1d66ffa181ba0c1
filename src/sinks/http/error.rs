//! Why a page did not reach the receiver. Every variant means the page is not confirmed and
//! the checkpoint stays; the collector exits with the sink-failure code. URLs are shown
//! without query or credentials, and receiver replies are quoted with the credential cut out.

use std::time::Duration;

use super::super::SinkError;

/// An http sink failure. It travels inside [`SinkError::Io`] (as `io::Error::other`), so a
/// caller that needs the detail can `downcast_ref::<HttpSinkError>()` its source.
#[derive(Debug, thiserror::Error)]
pub enum HttpSinkError {
    /// Every try failed on something retryable (429, 5xx, HEC busy, timeouts, connections).
    #[error(
        "gave up on {url} after {attempts} attempts with {pending} events of the request undelivered (first: {first_event}); last: {last}"
    )]
    Exhausted {
        /// Where.
        url: String,
        /// Tries made.
        attempts: u32,
        /// Events of the request still not accepted.
        pending: usize,
        /// The first of them.
        first_event: String,
        /// The last failure.
        last: String,
    },
    /// The receiver asked for a pause beyond `max_wait`.
    #[error("{url} asked to wait {wait:?}, longer than max_wait ({max:?}); the checkpoint is safe, try later")]
    WaitTooLong {
        /// Where.
        url: String,
        /// The wait asked for.
        wait: Duration,
        /// The configured maximum.
        max: Duration,
    },
    /// The receiver refused the credentials.
    #[error(
        "{url} refused the credentials (HTTP {status}{detail}); check the token or password that `auth` names (it is not printed)"
    )]
    Auth {
        /// Where.
        url: String,
        /// HTTP status.
        status: u16,
        /// `: <receiver's words>`, scrubbed of the credential.
        detail: String,
    },
    /// The receiver refused one event for its content; retrying will not change that.
    #[error("{url} rejected event {event_id}: {reason}{}", more_text(*.more))]
    Rejected {
        /// Where.
        url: String,
        /// The first refused event.
        event_id: String,
        /// Status and the receiver's error type/reason.
        reason: String,
        /// How many more events of the request were refused.
        more: usize,
    },
    /// The receiver refused the whole request; retrying will not change that.
    #[error("{url} refused the request: HTTP {status}: {body}")]
    Refused {
        /// Where.
        url: String,
        /// HTTP status.
        status: u16,
        /// What it said, scrubbed of the credential.
        body: String,
    },
    /// One event alone is larger than the receiver accepts.
    #[error("{url} answered 413 to event {event_id} sent alone ({bytes} bytes): raise the receiver's limit")]
    TooLarge {
        /// Where.
        url: String,
        /// The event.
        event_id: String,
        /// Its encoded size.
        bytes: usize,
    },
    /// Splunk accepted the requests but did not confirm indexing them in time.
    #[error(
        "{url}: Splunk did not acknowledge {unacked} of {total} requests within {waited:?}; they may be indexed twice when the page is sent again{last}"
    )]
    AckTimeout {
        /// The ack endpoint.
        url: String,
        /// Requests not acknowledged.
        unacked: usize,
        /// Requests of the page.
        total: usize,
        /// How long we waited.
        waited: Duration,
        /// `; last poll: …` when a poll failed.
        last: String,
    },
    /// The request could not be made at all (not a transient network problem).
    #[error("cannot send to {url}: {message}")]
    Transport {
        /// Where.
        url: String,
        /// reqwest's words.
        message: String,
    },
}

fn more_text(more: usize) -> String {
    if more == 0 { String::new() } else { format!(" (and {more} more events of the request)") }
}

impl HttpSinkError {
    /// Wraps the error for the `Sink` trait.
    pub(super) fn into_sink(self, sink: &str) -> SinkError {
        SinkError::Io { sink: sink.to_owned(), source: std::io::Error::other(self) }
    }
}
