//! The `ndjson` preset: the lines as they are, one per line, `application/x-ndjson`. A generic
//! receiver (Vector or Fluent Bit `http` source, Logstash `http` input, a cloud collector)
//! reports no per-event result, so any 2xx accepts the whole request.

use super::client::{Ctx, Reply, Verdict, judge_status};
use crate::sinks::Line;

/// The media type.
pub(super) const CONTENT_TYPE: &str = "application/x-ndjson";

/// Appends one line to the body.
pub(super) fn encode(line: &Line, out: &mut Vec<u8>) {
    out.extend_from_slice(line.json.as_bytes());
    out.push(b'\n');
}

/// 2xx accepts everything; the shared rules handle the rest.
pub(super) fn judge(r: &Reply, ctx: &Ctx<'_>) -> Verdict {
    judge_status(r, ctx).unwrap_or(Verdict::Accepted { ack: None, duplicates: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    use super::super::client::fake_reply as reply;
    use crate::sinks::testkit::line;

    fn ctx() -> Ctx<'static> {
        Ctx { url: "http://x/", ids: &["a", "b"], credential: None }
    }

    #[test]
    fn body_is_one_line_per_event() {
        let mut out = Vec::new();
        encode(&line("a", r#"{"a":1}"#), &mut out);
        encode(&line("b", r#"{"b":2}"#), &mut out);
        assert_eq!(out, b"{\"a\":1}\n{\"b\":2}\n");
    }

    #[test]
    fn statuses() {
        assert!(matches!(judge(&reply(204, ""), &ctx()), Verdict::Accepted { ack: None, duplicates: 0 }));
        assert!(matches!(judge(&reply(413, ""), &ctx()), Verdict::TooLarge));
        assert!(matches!(judge(&reply(503, "busy"), &ctx()), Verdict::Retry { wait: None, .. }));
        let mut r = reply(429, "");
        r.headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert!(matches!(judge(&r, &ctx()), Verdict::Retry { wait: Some(w), .. } if w.as_secs() == 3));
        let Verdict::Fail(e) = judge(&reply(401, "no"), &ctx()) else { panic!("401 must fail") };
        assert!(e.to_string().contains("refused the credentials (HTTP 401: no)"), "{e}");
        let Verdict::Fail(e) = judge(&reply(400, "bad json"), &ctx()) else { panic!("400 must fail") };
        assert!(e.to_string().contains("HTTP 400: bad json"), "{e}");
        let mut r = reply(301, "");
        r.headers.insert("location", HeaderValue::from_static("https://x/"));
        let Verdict::Fail(e) = judge(&r, &ctx()) else { panic!("a redirect must fail") };
        assert!(e.to_string().contains("redirected to https://x/"), "{e}");
    }
}
