//! The one retry policy: what is worth retrying, and how long to wait before the next try.
//! The DocuSign client, the http sink and the syslog sink's reconnects all decide with
//! [`RetryPolicy`]; each keeps its own loop, since what a "try" is differs (a paced request,
//! a batch whose accepted items drop out, a fresh connection).

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::values::ConfigError;

/// Statuses that a later try may cure: request timeout, rate limits, and every server or
/// gateway error (5xx, including proxies' 520–524).
pub fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429) || status.is_server_error()
}

/// DocuSign has been seen answering its account rate limits with a 400 and one of these codes
/// instead of a 429; such a reply is a rate limit, not a bad request.
pub fn is_rate_limit_body(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    [
        "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
        "BURST_APIINVOCATION_LIMIT_EXCEEDED",
        "maximum number of hourly API invocations",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// DocuSign's refusal of a request to a resource polled too often (its per-envelope rule): a
/// retry is another request to the same resource, so it is never retried.
pub fn is_resource_limit_body(body: &[u8]) -> bool {
    // DocuSign's documentation writes the code in both cases.
    String::from_utf8_lossy(body).to_ascii_uppercase().contains("HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED")
}

/// Transport errors a later try may cure.
pub fn is_retryable_error(e: &reqwest::Error) -> bool {
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() || e.is_decode()
}

/// `Retry-After` as seconds or an HTTP date, if present and sane.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(u64::try_from(delta).unwrap_or(0)))
}

/// How often a failed try is repeated and how long to wait in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try.
    pub max_retries: u32,
    /// The first backoff; it doubles per retry, with jitter.
    pub initial_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// The longest wait accepted before a retry (in practice a server's `Retry-After`): a
    /// longer one gives up at once, so a page is left for a later run instead of hanging it.
    pub max_wait: Duration,
}

/// What a failed try leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again after this wait.
    After(Duration),
    /// Every try is spent.
    Exhausted,
    /// The wait is longer than [`RetryPolicy::max_wait`].
    TooLong(Duration),
}

impl RetryPolicy {
    /// A policy whose waits are only its own backoff (no server asks for a pause, as on a
    /// syslog connection), so `max_wait` never cuts one short.
    pub fn backoff_only(max_retries: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        Self { max_retries, initial_backoff, max_backoff, max_wait: Duration::MAX }
    }

    /// The check every retry table (`[rate_limit]`, each http or syslog sink) needs: the first
    /// backoff is not longer than the longest. `table` is the table holding both keys.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming `<table>.initial_backoff`.
    pub fn validate(&self, table: &str) -> Result<(), ConfigError> {
        if self.initial_backoff > self.max_backoff {
            return Err(ConfigError::invalid(
                format!("{table}.initial_backoff"),
                format!("is longer than {table}.max_backoff"),
            ));
        }
        Ok(())
    }

    /// After failed try `attempt` (0-based): retry after the wait the server `asked` for, or
    /// else after the backoff; or stop.
    pub fn after(&self, attempt: u32, asked: Option<Duration>) -> Retry {
        if attempt >= self.max_retries {
            return Retry::Exhausted;
        }
        let wait = asked.unwrap_or_else(|| self.backoff(attempt));
        if wait > self.max_wait { Retry::TooLong(wait) } else { Retry::After(wait) }
    }

    /// Exponential backoff with jitter: try `n` (0-based) waits between half and all of
    /// `initial_backoff × 2ⁿ`, never more than `max_backoff`.
    pub fn backoff(&self, n: u32) -> Duration {
        let full = self.initial_backoff.saturating_mul(2u32.saturating_pow(n.min(20))).min(self.max_backoff);
        let millis = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
        let low = millis / 2;
        Duration::from_millis(rand::thread_rng().gen_range(low..=millis.max(low)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn statuses() {
        assert!(is_retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_retryable_status(StatusCode::BAD_GATEWAY));
        assert!(is_retryable_status(StatusCode::from_u16(522).unwrap()));
        assert!(is_retryable_status(StatusCode::NOT_IMPLEMENTED));
        assert!(!is_retryable_status(StatusCode::BAD_REQUEST));
        assert!(!is_retryable_status(StatusCode::FORBIDDEN));
        assert!(is_rate_limit_body(br#"{"errorCode":"HOURLY_APIINVOCATION_LIMIT_EXCEEDED"}"#));
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("-3"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let (i, m) = (Duration::from_secs(1), Duration::from_secs(10));
        let p = RetryPolicy::backoff_only(5, i, m);
        for n in 0..30 {
            let d = p.backoff(n);
            assert!(d <= m);
            let full = i.saturating_mul(2u32.saturating_pow(n.min(20))).min(m);
            assert!(d >= full / 2, "{n}: {d:?}");
        }
    }

    #[test]
    fn tries_end_and_long_waits_give_up() {
        let s = Duration::from_secs;
        let p = RetryPolicy { max_retries: 2, initial_backoff: s(1), max_backoff: s(4), max_wait: s(10) };
        assert!(matches!(p.after(0, None), Retry::After(d) if d <= s(1)));
        assert_eq!(p.after(1, Some(s(7))), Retry::After(s(7)), "the server's wait replaces the backoff");
        assert_eq!(p.after(1, Some(s(11))), Retry::TooLong(s(11)));
        assert_eq!(p.after(2, Some(s(1))), Retry::Exhausted);
        let own = RetryPolicy::backoff_only(30, s(1), s(4));
        assert!((0..30).all(|n| matches!(own.after(n, None), Retry::After(d) if d <= s(4))));
    }

    #[test]
    fn a_first_backoff_longer_than_the_longest_is_refused() {
        let s = Duration::from_secs;
        assert!(RetryPolicy::backoff_only(1, s(4), s(4)).validate("t").is_ok());
        let e = RetryPolicy::backoff_only(1, s(5), s(4)).validate("t").unwrap_err().to_string();
        assert_eq!(e, "invalid configuration: `t.initial_backoff` is longer than t.max_backoff");
    }
}
