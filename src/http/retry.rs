//! What is worth retrying, and how long to wait before the next try.

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Statuses that a later try may cure: request timeout, rate limits, and every server or
/// gateway error (5xx, including proxies' 520–524).
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429) || status.is_server_error()
}

/// DocuSign has been seen answering its account rate limits with a 400 and one of these codes
/// instead of a 429; such a reply is a rate limit, not a bad request.
pub(crate) fn is_rate_limit_body(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    [
        "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
        "BURST_APIINVOCATION_LIMIT_EXCEEDED",
        "maximum number of hourly API invocations",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// Transport errors a later try may cure.
pub(crate) fn is_retryable_error(e: &reqwest::Error) -> bool {
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() || e.is_decode()
}

/// `Retry-After` as seconds or an HTTP date, if present and sane.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(u64::try_from(delta).unwrap_or(0)))
}

/// Exponential backoff with jitter: try `n` (0-based) waits between half and all of
/// `initial × 2ⁿ`, never more than `max`.
pub(crate) fn backoff(n: u32, initial: Duration, max: Duration) -> Duration {
    let full = initial.saturating_mul(2u32.saturating_pow(n.min(20))).min(max);
    let millis = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
    let low = millis / 2;
    Duration::from_millis(rand::thread_rng().gen_range(low..=millis.max(low)))
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
        for n in 0..30 {
            let d = backoff(n, i, m);
            assert!(d <= m);
            let full = i.saturating_mul(2u32.saturating_pow(n.min(20))).min(m);
            assert!(d >= full / 2, "{n}: {d:?}");
        }
    }
}
