//! The one HTTP layer, shared by the DocuSign client and the sinks. It imports only leaf
//! modules (`exit`, `values`, `shutdown`), never `config` or `error`: whoever owns a client's
//! config keys gathers them into a [`ClientSettings`] and hands them in.
//!
//! [`Api`] is the DocuSign client: every call waits on the pacer, sends, classifies the
//! reply, adapts to `Retry-After` and the rate-limit headers, and retries what a later try
//! may cure.
//!
//! # Architecture
//! - this file: [`Api`], its retry loop, [`ApiError`].
//! - `client.rs`: building a reqwest client (timeouts, redirects, proxy, trust, identity).
//! - `tls.rs`: the one reader of CA bundles and client certificates (reqwest and rustls).
//! - `network.rs`: the `[network]` table.
//! - `ratelimit.rs`: the `[rate_limit]` table, governor quotas and server-requested pauses.
//! - `retry.rs`: [`RetryPolicy`]: what is retryable and the backoff schedule.
//! - `scope.rs`: a source run's counters and deadline.
//! - `trace.rs`, `redact.rs`: `--trace-http`, every request and reply with secrets removed.

mod client;
mod network;
mod ratelimit;
pub mod redact;
pub mod retry;
mod scope;
pub mod tls;
pub mod trace;

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Client, RequestBuilder, StatusCode};
use tracing::{debug, warn};

use crate::exit::Exit;
use crate::values::ConfigError;

pub use client::{ClientSettings, build_client, build_client_without_redirects};
pub use network::NetworkConfig;
pub use ratelimit::{Pacer, RateLimitConfig, ServerBudget};
pub use retry::{Retry, RetryPolicy};
pub use scope::{RunScope, scoped};

/// DocuSign API problems.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Retries exhausted on 429, 5xx, timeouts or connection errors.
    #[error("service unavailable: {what} failed after {attempts} attempts; last: {last}")]
    Unavailable {
        /// The call.
        what: String,
        /// Tries made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// DocuSign asked for a longer wait than `rate_limit.max_wait` allows.
    #[error(
        "the server asked {what} to wait {wait:?}, longer than rate_limit.max_wait ({max:?}); the checkpoint is safe, try later"
    )]
    WaitTooLong {
        /// The call.
        what: String,
        /// The wait asked for.
        wait: Duration,
        /// The configured maximum.
        max: Duration,
    },
    /// A reply that retrying will not change.
    #[error("the server refused {what}: HTTP {status}{trace}: {body}{hint}")]
    Status {
        /// The call.
        what: String,
        /// HTTP status.
        status: u16,
        /// An excerpt of the body.
        body: String,
        /// ` (trace token …)` when DocuSign sent one.
        trace: String,
        /// What the operator can do.
        hint: &'static str,
    },
    /// A stop was requested while waiting to retry; the page in flight was not committed.
    #[error("{what}: stopped on request while waiting to retry")]
    Interrupted {
        /// The call.
        what: String,
    },
    /// The run's time budget (`state.max_run_time`) ends before the wait a retry or the
    /// pacer needs: the page in flight is left for the next run, nothing is committed.
    #[error("{what}: the run-time budget ends before the next try could be made")]
    OutOfTime {
        /// The call.
        what: String,
    },
    /// The reply is not what the API promises.
    #[error("malformed reply to {what}: {message}")]
    Malformed {
        /// The call.
        what: String,
        /// What is wrong.
        message: String,
    },
}

impl ApiError {
    /// Transient unavailability and refusals have different exit codes.
    pub fn exit_code(&self) -> Exit {
        match self {
            ApiError::Unavailable { .. }
            | ApiError::WaitTooLong { .. }
            | ApiError::Interrupted { .. }
            | ApiError::OutOfTime { .. } => Exit::Unavailable,
            ApiError::Status { .. } | ApiError::Malformed { .. } => Exit::Api,
        }
    }
}

/// A reply that is either a success with a parsed JSON body, or a non-retryable failure.
/// Its `Debug` omits the body, which may hold an access token.
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as received.
    pub body: bytes::Bytes,
    /// The parsed body, for 2xx replies.
    pub json: Option<serde_json::Value>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply").field("status", &self.status).field("bytes", &self.body.len()).finish_non_exhaustive()
    }
}

impl Reply {
    /// A short, printable excerpt of the body for error messages.
    pub fn excerpt(&self) -> String {
        redact::excerpt(&self.body)
    }

    /// ` (trace token X)` when DocuSign sent `X-DocuSign-TraceToken`.
    pub fn trace(&self) -> String {
        self.headers
            .get("x-docusign-tracetoken")
            .and_then(|v| v.to_str().ok())
            .map(|t| format!(" (trace token {t})"))
            .unwrap_or_default()
    }
}

/// What an error may show of a body: an excerpt, except for OAuth calls, whose bodies may
/// hold an access token (even a truncated one).
fn quote(budget: Budget, body: &[u8]) -> String {
    match budget {
        Budget::Paced => redact::excerpt(body),
        Budget::Free => format!("<{} bytes, not shown: an OAuth reply may hold a token>", body.len()),
    }
}

/// How one call departs from the client's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// At most this many retries instead of the policy's (`Some(0)`: one try only, for
    /// resources a server allows to be requested only so often).
    pub max_retries: Option<u32>,
    /// Follow redirects (the client's setting); `false`: a 3xx comes back as the reply, for a
    /// caller that reads it as "this host no longer serves the resource".
    pub follow_redirects: bool,
}

impl Default for Call {
    fn default() -> Self {
        Self { max_retries: None, follow_redirects: true }
    }
}

/// Whether a call spends the account's API budget (OAuth calls do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Paced by the governor quotas.
    Paced,
    /// Not paced, and its bodies never quoted in errors (OAuth token calls).
    Free,
}

/// Counters a run reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Requests sent.
    pub requests: u64,
    /// Retries made.
    pub retries: u64,
    /// 429 replies seen.
    pub throttled: u64,
    /// Replies by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub by_class: [u64; 5],
    /// Requests that got no reply (connection, timeout, body errors).
    pub transport_errors: u64,
    /// Requests with `Budget::Free`: the OAuth token calls.
    pub token_requests: u64,
}

/// The two reqwest clients an [`Api`] sends with, built from one [`ClientSettings`]. Cloning
/// shares them (and their connection pools): tenants whose settings are equal send through
/// one pair, so 1,000 tenants on one host build two clients and reuse their connections.
#[derive(Debug, Clone)]
pub struct Clients {
    client: Client,
    /// The same client, never following a redirect (for [`Call::follow_redirects`] = false).
    no_redirects: Client,
}

impl Clients {
    /// Builds both clients.
    ///
    /// # Errors
    /// `ConfigError` when the proxy or CA file is unusable.
    pub fn build(settings: &ClientSettings<'_>) -> Result<Self, ConfigError> {
        Ok(Self { client: build_client(settings)?, no_redirects: build_client_without_redirects(settings)? })
    }
}

/// The HTTP client with pacing and retries.
#[derive(Debug)]
pub struct Api {
    clients: Clients,
    pacer: Pacer,
    policy: RetryPolicy,
    /// `--trace-http`, when given.
    trace: Option<std::sync::Arc<trace::HttpTrace>>,
}

impl Api {
    /// Builds the client from its settings (`[docusign]` with `[network]`, validated) and
    /// `[rate_limit]`, pacing to `burst` requests per burst window.
    ///
    /// # Errors
    /// `ConfigError` when the proxy or CA file is unusable.
    pub fn new(client: &ClientSettings<'_>, limits: &RateLimitConfig, burst: u32) -> Result<Self, ConfigError> {
        Ok(Self::with_clients(Clients::build(client)?, limits, burst))
    }

    /// [`Api::new`] sending through `clients`, which other `Api`s may share; its pacing (the
    /// account's budget) and retries are its own.
    pub fn with_clients(clients: Clients, limits: &RateLimitConfig, burst: u32) -> Self {
        Self::paced(clients, limits, limits.pacer(burst))
    }

    fn paced(clients: Clients, limits: &RateLimitConfig, pacer: Pacer) -> Self {
        Self { clients, pacer, policy: limits.retry_policy(), trace: trace::global() }
    }

    /// [`Api::new`] paced by `pacer` instead of the `[rate_limit]` quotas (a vendor whose
    /// published limits are per minute and per hour), retried as `[rate_limit]` says.
    ///
    /// # Errors
    /// `ConfigError` when the proxy or CA file is unusable.
    pub fn with_pacer(
        client: &ClientSettings<'_>,
        limits: &RateLimitConfig,
        pacer: Pacer,
    ) -> Result<Self, ConfigError> {
        Ok(Self::paced(Clients::build(client)?, limits, pacer))
    }

    /// The underlying client, for building requests.
    pub fn client(&self) -> &Client {
        &self.clients.client
    }

    /// Sends the request `build` makes, retrying what is retryable. A 2xx reply comes back
    /// with its JSON parsed (an unparsable 2xx body counts as a failed try); any other reply
    /// that retrying cannot cure comes back as it is, for the caller to classify.
    ///
    /// # Errors
    /// `ApiError::Unavailable` when retries run out, `ApiError::WaitTooLong` when the server
    /// asks for a wait beyond `max_wait`, `ApiError::Malformed` when every 2xx was unparsable.
    pub async fn execute(
        &self,
        what: &str,
        budget: Budget,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Reply, ApiError> {
        let (mut reply, parsed) = self
            .execute_parsed(what, budget, build, |b| {
                serde_json::from_slice::<serde_json::Value>(b).map_err(|e| e.to_string())
            })
            .await?;
        reply.json = parsed;
        Ok(reply)
    }

    /// [`Api::execute`] with the caller's parser for 2xx bodies instead of a JSON tree (the hot
    /// path parses a 2000-event page straight into borrowed slices): an unparsable 2xx body is
    /// a failed try, as there. The parsed value comes back beside the reply (`None` for non-2xx).
    ///
    /// # Errors
    /// As [`Api::execute`].
    pub async fn execute_parsed<T>(
        &self,
        what: &str,
        budget: Budget,
        build: impl Fn(&Client) -> RequestBuilder,
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<(Reply, Option<T>), ApiError> {
        self.execute_parsed_with(what, budget, Call::default(), build, parse).await
    }

    /// [`Api::execute_parsed`] with the choices of `call` (fewer retries, no redirects).
    ///
    /// # Errors
    /// As [`Api::execute`].
    pub async fn execute_parsed_with<T>(
        &self,
        what: &str,
        budget: Budget,
        call: Call,
        build: impl Fn(&Client) -> RequestBuilder,
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<(Reply, Option<T>), ApiError> {
        let Call { max_retries, follow_redirects } = call;
        let client = if follow_redirects { &self.clients.client } else { &self.clients.no_redirects };
        let mut attempt = 0u32;
        loop {
            if budget == Budget::Paced {
                if let Some(p) = self.pacer.pending_pause() {
                    if p > self.policy.max_wait {
                        return Err(ApiError::WaitTooLong { what: what.into(), wait: p, max: self.policy.max_wait });
                    }
                    if past_deadline(p) {
                        return Err(ApiError::OutOfTime { what: what.into() });
                    }
                }
                let deadline = scope::deadline();
                tokio::select! {
                    () = self.pacer.until_ready() => {}
                    () = crate::shutdown::wait() => return Err(ApiError::Interrupted { what: what.into() }),
                    () = until(deadline) => return Err(ApiError::OutOfTime { what: what.into() }),
                }
            }
            scope::count(|c| {
                c.requests += 1;
                c.token_requests += u64::from(budget == Budget::Free);
            });
            let sent = match build(client).build() {
                Ok(req) => {
                    let traced = self.trace.as_deref().map(|t| t.request(what, attempt + 1, &req));
                    (client.execute(req).await, traced)
                }
                Err(e) => (Err(e), None),
            };
            scope::count(|c| match &sent.0 {
                Ok(resp) => c.by_class[usize::from(resp.status().as_u16() / 100).clamp(1, 5) - 1] += 1,
                Err(_) => c.transport_errors += 1,
            });
            let failure = match sent {
                (Ok(resp), traced) => match self.classify(what, budget, resp, traced.as_ref(), &parse).await {
                    Ok(reply) => return Ok(reply),
                    Err(f) => f,
                },
                (Err(e), traced) => {
                    if let Some(t) = &traced {
                        t.failed(&describe(&e));
                    }
                    if !retry::is_retryable_error(&e) {
                        return Err(ApiError::Unavailable {
                            what: what.into(),
                            attempts: attempt + 1,
                            last: describe(&e),
                        });
                    }
                    Failure::retry(format!("{what}: {}", describe(&e)))
                }
            };
            let decision = match max_retries {
                Some(max) if attempt >= max => Retry::Exhausted,
                _ => self.policy.after(attempt, failure.wait),
            };
            let wait = match decision {
                Retry::After(wait) => wait,
                Retry::Exhausted => {
                    return Err(match failure.malformed {
                        Some(message) => ApiError::Malformed { what: what.into(), message },
                        None => {
                            ApiError::Unavailable { what: what.into(), attempts: attempt + 1, last: failure.message }
                        }
                    });
                }
                Retry::TooLong(wait) => {
                    return Err(ApiError::WaitTooLong { what: what.into(), wait, max: self.policy.max_wait });
                }
            };
            if past_deadline(wait) {
                return Err(ApiError::OutOfTime { what: what.into() });
            }
            warn!(call = what, attempt = attempt + 1, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), reason = %failure.message, "Request failed; retrying.");
            scope::count(|c| c.retries += 1);
            if !crate::shutdown::sleep(wait).await {
                return Err(ApiError::Interrupted { what: what.into() });
            }
            attempt += 1;
        }
    }

    /// Sends the request `build` makes exactly once (paced, never retried) and returns the
    /// reply whatever its status: for checks that must report each call as it went
    /// (`go-live-check`, where DocuSign counts a retried failure as a failed call).
    ///
    /// # Errors
    /// `ApiError::Unavailable` when no reply came (connection, timeout, body), `Interrupted`
    /// on shutdown, `WaitTooLong` when the pacer asks for a pause beyond `max_wait`.
    pub async fn execute_once(&self, what: &str, build: impl Fn(&Client) -> RequestBuilder) -> Result<Reply, ApiError> {
        if let Some(p) = self.pacer.pending_pause()
            && p > self.policy.max_wait
        {
            return Err(ApiError::WaitTooLong { what: what.into(), wait: p, max: self.policy.max_wait });
        }
        tokio::select! {
            () = self.pacer.until_ready() => {}
            () = crate::shutdown::wait() => return Err(ApiError::Interrupted { what: what.into() }),
        }
        scope::count(|c| c.requests += 1);
        let unavailable = |last: String| ApiError::Unavailable { what: what.into(), attempts: 1, last };
        let req = build(&self.clients.client).build().map_err(|e| unavailable(describe(&e)))?;
        let traced = self.trace.as_deref().map(|t| t.request(what, 1, &req));
        let resp = match self.clients.client.execute(req).await {
            Ok(r) => r,
            Err(e) => {
                scope::count(|c| c.transport_errors += 1);
                if let Some(t) = &traced {
                    t.failed(&describe(&e));
                }
                return Err(unavailable(describe(&e)));
            }
        };
        let status = resp.status();
        scope::count(|c| c.by_class[usize::from(status.as_u16() / 100).clamp(1, 5) - 1] += 1);
        let headers = resp.headers().clone();
        let retry_after = (!status.is_success()).then(|| retry::retry_after(&headers)).flatten();
        self.pacer.observe(ServerBudget::from_headers(&headers), retry_after);
        let body = read_body(resp)
            .await
            .map_err(|e| unavailable(format!("HTTP {status}, reading the body: {}", describe(&e))))?;
        if let Some(t) = &traced {
            t.reply(status, &headers, &body);
        }
        let json = status.is_success().then(|| serde_json::from_slice(&body).ok()).flatten();
        Ok(Reply { status, headers, body, json })
    }

    async fn classify<T>(
        &self,
        what: &str,
        budget: Budget,
        resp: reqwest::Response,
        traced: Option<&trace::Traced<'_>>,
        parse: &impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<(Reply, Option<T>), Failure> {
        let status = resp.status();
        let headers = resp.headers().clone();
        let rate_limited_status = status == StatusCode::TOO_MANY_REQUESTS;
        // Retry-After is read on every reply a retry may follow; on a success it means nothing.
        let retry_after = (!status.is_success()).then(|| retry::retry_after(&headers)).flatten();
        if budget == Budget::Paced
            && let Some(p) = self.pacer.observe(ServerBudget::from_headers(&headers), retry_after)
        {
            debug!(
                call = what,
                pause_ms = u64::try_from(p.as_millis()).unwrap_or(u64::MAX),
                retry_after = retry_after.is_some(),
                "Server asked for a pause; pausing."
            );
        }
        let body = match read_body(resp).await {
            Ok(b) => b,
            Err(e) => {
                if let Some(t) = traced {
                    t.failed(&format!("HTTP {status}, reading the body: {}", describe(&e)));
                }
                return Err(Failure::retry(format!("{what}: reading body: {}", describe(&e))));
            }
        };
        if let Some(t) = traced {
            t.reply(status, &headers, &body);
        }
        let rate_limited =
            rate_limited_status || (status == StatusCode::BAD_REQUEST && retry::is_rate_limit_body(&body));
        // A limit on one resource, not the account: retrying would only break it again.
        let final_refusal = rate_limited && retry::is_resource_limit_body(&body);
        if final_refusal {
            scope::count(|c| c.throttled += 1);
        }
        if !final_refusal && (rate_limited || retry::is_retryable_status(status)) {
            if rate_limited {
                scope::count(|c| c.throttled += 1);
            }
            // The pacer already holds the pause Retry-After asked for (free calls are not paced:
            // their retry sleeps it instead).
            let wait = retry_after;
            return Err(Failure {
                message: format!("{what}: HTTP {status}: {}", quote(budget, &body)),
                wait,
                malformed: None,
            });
        }
        if status.is_success() {
            return match parse(&body) {
                Ok(v) => Ok((Reply { status, headers, body, json: None }, Some(v))),
                Err(e) => {
                    let message = format!("HTTP {status} with a body that is not JSON ({e}): {}", quote(budget, &body));
                    Err(Failure { message: format!("{what}: {message}"), wait: None, malformed: Some(message) })
                }
            };
        }
        Ok((Reply { status, headers, body, json: None }, None))
    }
}

/// The most a body's announced length reserves before its bytes arrive (a larger body grows
/// past it as it comes): a wrong `Content-Length` must not make the collector allocate it.
const BODY_PREALLOC_MAX: u64 = 64 << 20;

/// A reply's body in one buffer the size of its `Content-Length`: each chunk is copied in as
/// it arrives and then dropped, so the client's read buffer is reused and a page of 2,000
/// events is held once, not once in chunks and once more joined (`Response::bytes`), the
/// fresh pages of a page-sized copy costing more than the copy itself.
async fn read_body(mut resp: reqwest::Response) -> reqwest::Result<bytes::Bytes> {
    let announced = resp.content_length().unwrap_or(0).min(BODY_PREALLOC_MAX);
    let mut buf = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    while let Some(chunk) = resp.chunk().await? {
        buf.extend_from_slice(&chunk);
    }
    Ok(bytes::Bytes::from(buf))
}

/// Whether waiting `d` from now would end past the current run's deadline.
fn past_deadline(d: Duration) -> bool {
    scope::deadline().is_some_and(|end| tokio::time::Instant::now() + d > end)
}

/// Resolves at `deadline`; never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A failed try that may be retried.
struct Failure {
    message: String,
    wait: Option<Duration>,
    malformed: Option<String>,
}

impl Failure {
    fn retry(message: String) -> Self {
        Self { message, wait: None, malformed: None }
    }
}

/// reqwest's error with its causes (the URL it names carries no secret).
pub fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
