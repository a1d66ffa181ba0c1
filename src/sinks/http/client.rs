//! One request's tries: compress, POST, let the preset judge the reply, back off and retry
//! what a later try may cure. The loop has the shape of `crate::http::Api::execute` and uses
//! the same rules (`crate::http::retry`): 408/429/5xx and transport errors are retried with
//! jittered exponential backoff, a `Retry-After` replaces the backoff, and a `Retry-After`
//! beyond `max_wait` ends the page at once instead of blocking the run.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use flate2::write::GzEncoder;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, LOCATION};
use tracing::warn;

use super::Compression;
use super::error::HttpSinkError;
use super::setup::Credential;
use crate::http::redact::excerpt;
use crate::http::retry::{is_retryable_error, is_retryable_status, retry_after};
use crate::http::{Retry, RetryPolicy};

/// A reply as received.
#[derive(Debug)]
pub(super) struct Reply {
    /// HTTP status.
    pub(super) status: StatusCode,
    /// Headers.
    pub(super) headers: HeaderMap,
    /// The body.
    pub(super) body: Bytes,
}

/// A reply as a test receiver would send it: `status`, no headers, `body`.
#[cfg(test)]
pub(super) fn fake_reply(status: u16, body: &str) -> Reply {
    Reply {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers: HeaderMap::new(),
        body: Bytes::from(body.to_owned()),
    }
}

/// What a reply means for the events of the request.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Every event accepted; HEC may hand out an acknowledgement id to poll.
    Accepted {
        /// HEC `ackId`.
        ack: Option<u64>,
        /// Events the receiver already had (Elasticsearch 409 on create).
        duplicates: usize,
    },
    /// Nothing (known to be) accepted; send the same events again.
    Retry {
        /// Why, for logs and the final error.
        reason: String,
        /// `Retry-After`, if the receiver sent one.
        wait: Option<Duration>,
    },
    /// Some events accepted; send these again (positions in the request).
    RetrySome {
        /// Positions to resend.
        again: Vec<usize>,
        /// Why.
        reason: String,
        /// `Retry-After`, if sent.
        wait: Option<Duration>,
        /// Events the receiver already had.
        duplicates: usize,
    },
    /// HTTP 413: the request must be split.
    TooLarge,
    /// Retrying will not help; the page fails.
    Fail(HttpSinkError),
}

/// What the judge of a reply knows about the request.
#[derive(Debug)]
pub(super) struct Ctx<'a> {
    /// The URL as shown in errors.
    pub(super) url: &'a str,
    /// Event ids of the request, in body order.
    pub(super) ids: &'a [&'a str],
    /// The credential, to cut out of quoted replies.
    pub(super) credential: Option<&'a Credential>,
}

impl Ctx<'_> {
    /// A reply body fit for an error message.
    pub(super) fn quote(&self, body: &[u8]) -> String {
        // Scrub the whole body first: cutting first could leave the start of a credential
        // that straddles the cut, which the scrubber would no longer recognise.
        let text = String::from_utf8_lossy(body);
        let clean = self.credential.map_or_else(|| text.to_string(), |c| c.scrub(&text));
        excerpt(clean.as_bytes())
    }

    /// The event id at `pos`, or a placeholder when the receiver named a position we did not send.
    pub(super) fn id(&self, pos: usize) -> String {
        self.ids.get(pos).map_or_else(|| format!("<position {pos} of {}>", self.ids.len()), |s| (*s).to_owned())
    }
}

/// The rules every preset shares for a non-2xx reply: 413 splits, 401/403 is a credential
/// problem, 408/429/5xx are retried, anything else fails the page. `None` for a 2xx.
pub(super) fn judge_status(r: &Reply, ctx: &Ctx<'_>) -> Option<Verdict> {
    let status = r.status;
    if status.is_success() {
        return None;
    }
    let code = status.as_u16();
    Some(match code {
        413 => Verdict::TooLarge,
        401 | 403 => Verdict::Fail(HttpSinkError::Auth {
            url: ctx.url.to_owned(),
            status: code,
            detail: Some(ctx.quote(&r.body)).filter(|q| !q.is_empty()).map(|q| format!(": {q}")).unwrap_or_default(),
        }),
        _ if is_retryable_status(status) => {
            Verdict::Retry { reason: format!("HTTP {status}: {}", ctx.quote(&r.body)), wait: retry_after(&r.headers) }
        }
        300..=399 => Verdict::Fail(HttpSinkError::Refused {
            url: ctx.url.to_owned(),
            status: code,
            body: format!(
                "redirected to {}; set `url` to the final address",
                r.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("?")
            ),
        }),
        _ => Verdict::Fail(HttpSinkError::Refused { url: ctx.url.to_owned(), status: code, body: ctx.quote(&r.body) }),
    })
}

/// The POSTing half of the sink.
#[derive(Debug)]
pub(super) struct Client {
    /// The sink's name, for logs.
    pub(super) sink: String,
    /// The reqwest client.
    pub(super) http: reqwest::Client,
    /// Where requests go.
    pub(super) url: url::Url,
    /// `url` fit for logs.
    pub(super) shown: String,
    /// The body's media type.
    pub(super) content_type: &'static str,
    /// Body compression.
    pub(super) compression: Compression,
    /// Custom and preset headers.
    pub(super) headers: HeaderMap,
    /// `Authorization`.
    pub(super) credential: Option<Credential>,
    /// Retry settings.
    pub(super) policy: RetryPolicy,
}

/// Why `deliver` stopped without success.
#[derive(Debug)]
pub(super) enum Stop {
    /// 413: these events (indices into the page) must go in smaller requests.
    TooLarge(Vec<usize>),
    /// The page fails.
    Fail(HttpSinkError),
}

/// What a delivered request reports.
#[derive(Debug, Default)]
pub(super) struct Delivered {
    /// HEC `ackId`.
    pub(super) ack: Option<u64>,
    /// Events the receiver already had.
    pub(super) duplicates: usize,
    /// Tries made.
    pub(super) tries: u32,
}

impl Client {
    /// POSTs `body` once; `Err` is a transport failure and whether a later try may cure it.
    pub(super) async fn post(&self, url: &url::Url, body: Bytes, compressed: bool) -> Result<Reply, (String, bool)> {
        let mut rb = self.http.post(url.clone()).headers(self.headers.clone()).header(CONTENT_TYPE, self.content_type);
        if compressed {
            rb = rb.header(CONTENT_ENCODING, "gzip");
        }
        if let Some((k, v)) = self.credential.as_ref().and_then(Credential::header) {
            rb = rb.header(k, v);
        }
        let sent = async {
            let resp = rb.body(body).send().await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>(Reply { status, headers, body })
        };
        sent.await.map_err(|e| (self.describe(&e), is_retryable_error(&e)))
    }

    /// The request body for `raw`, compressed if configured; `true` when gzipped.
    fn body(&self, raw: Vec<u8>) -> Result<(Bytes, bool), std::io::Error> {
        match self.compression {
            Compression::None => Ok((Bytes::from(raw), false)),
            Compression::Gzip => {
                let mut gz = GzEncoder::new(Vec::with_capacity(raw.len() / 4), flate2::Compression::default());
                gz.write_all(&raw)?;
                Ok((Bytes::from(gz.finish()?), true))
            }
        }
    }

    /// Sends the events `pending` (indices into the page) until the receiver has them all,
    /// retrying per the policy. `encode` builds the uncompressed body of a set of events,
    /// `ids` names an event, `judge` reads a 2xx or non-2xx reply for the preset.
    pub(super) async fn deliver<'l>(
        &self,
        mut pending: Vec<usize>,
        encode: impl Fn(&[usize]) -> Vec<u8>,
        ids: impl Fn(usize) -> &'l str,
        judge: impl Fn(&Reply, &Ctx<'_>) -> Verdict,
    ) -> Result<Delivered, Stop> {
        let mut done = Delivered::default();
        let mut attempt = 0u32;
        let mut body = None;
        loop {
            let (bytes, gz) = match body.take() {
                Some(b) => b,
                None => self.body(encode(&pending)).map_err(|e| {
                    Stop::Fail(HttpSinkError::Transport { url: self.shown.clone(), message: e.to_string() })
                })?,
            };
            body = Some((bytes.clone(), gz));
            done.tries += 1;
            let names: Vec<&str> = pending.iter().map(|&i| ids(i)).collect();
            let ctx = Ctx { url: &self.shown, ids: &names, credential: self.credential.as_ref() };
            let (reason, wait) = match self.post(&self.url, bytes, gz).await {
                Err((message, false)) => {
                    return Err(Stop::Fail(HttpSinkError::Transport { url: self.shown.clone(), message }));
                }
                Err((message, true)) => (message, None),
                Ok(reply) => match judge(&reply, &ctx) {
                    Verdict::Accepted { ack, duplicates } => {
                        done.ack = ack;
                        done.duplicates += duplicates;
                        return Ok(done);
                    }
                    Verdict::TooLarge => return Err(Stop::TooLarge(pending)),
                    Verdict::Fail(e) => return Err(Stop::Fail(e)),
                    Verdict::Retry { reason, wait } => (reason, wait),
                    Verdict::RetrySome { again, reason, wait, duplicates } => {
                        done.duplicates += duplicates;
                        pending = again.iter().filter_map(|&p| pending.get(p).copied()).collect();
                        body = None;
                        if pending.is_empty() {
                            return Ok(done);
                        }
                        (reason, wait)
                    }
                },
            };
            let wait = match self.policy.after(attempt, wait) {
                Retry::After(wait) => wait,
                Retry::Exhausted => {
                    return Err(Stop::Fail(HttpSinkError::Exhausted {
                        url: self.shown.clone(),
                        attempts: attempt + 1,
                        pending: pending.len(),
                        first_event: pending.first().map(|&i| ids(i).to_owned()).unwrap_or_default(),
                        last: reason,
                    }));
                }
                Retry::TooLong(wait) => {
                    let max = self.policy.max_wait;
                    return Err(Stop::Fail(HttpSinkError::WaitTooLong { url: self.shown.clone(), wait, max }));
                }
            };
            warn!(
                sink = %self.sink,
                url = %self.shown,
                attempt = attempt + 1,
                events = pending.len(),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                reason = %reason,
                "Request failed; retrying."
            );
            if !crate::shutdown::sleep(wait).await {
                return Err(Stop::Fail(HttpSinkError::Exhausted {
                    url: self.shown.clone(),
                    attempts: attempt + 1,
                    pending: pending.len(),
                    first_event: pending.first().map(|&i| ids(i).to_owned()).unwrap_or_default(),
                    last: format!("stopped on request while waiting to retry; last: {reason}"),
                }));
            }
            attempt += 1;
        }
    }
}

impl Client {
    /// reqwest's error with its causes, naming the URL as shown (without its query).
    pub(super) fn describe(&self, e: &reqwest::Error) -> String {
        crate::http::describe(e).replace(self.url.as_str(), &self.shown)
    }
}
