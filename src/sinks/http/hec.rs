//! The `splunk_hec` preset: Splunk HTTP Event Collector `/services/collector/event`.
//!
//! Each line becomes `{"time":<epoch.ms of _time>,"sourcetype":…,"index":…,"event":<line>}`;
//! events are concatenated, as HEC accepts. HEC answers `{"text":…,"code":N}`; the codes
//! (Splunk's "Troubleshoot HTTP Event Collector" table, assumed stable since Splunk 6.x):
//! 0 success (with `ackId` when the token has indexer acknowledgement); 1–4 token disabled,
//! missing, malformed or invalid; 5 no data; 6 invalid data format, 12 event field required,
//! 13 event field blank, 15 bad indexed fields (these four carry `invalid-event-number`, the
//! 0-based position of the offending event); 7 incorrect index; 8 internal error; 9 server
//! busy; 10/11 data channel missing/invalid; 14 ack disabled; 16 query-string auth disabled;
//! 18–20 unhealthy (queues full, ack service down). 8, 9 and 18–20 are retried. HEC indexes
//! the events before an invalid one, so resending such a page duplicates them in Splunk.
//!
//! With indexer acknowledgement, a request is confirmed only when
//! `POST /services/collector/ack` says its `ackId` is indexed.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;
use tracing::debug;

use super::client::{Client, Ctx, Reply, Verdict, judge_status};
use super::error::HttpSinkError;
use crate::http::redact::url_for_logs;
use crate::http::retry::retry_after;
use crate::sinks::Line;
use crate::stream::Stream;
use crate::values::HttpUrl;

/// The media type.
pub(super) const CONTENT_TYPE: &str = "application/json";

/// The event endpoint for `url`: `/services/collector/event` appended to a bare host.
///
/// # Errors
/// A message when the path is neither empty nor a HEC event endpoint.
pub(super) fn endpoint(url: &HttpUrl) -> Result<url::Url, String> {
    let mut u = url.0.clone();
    let path = u.path().trim_end_matches('/').to_owned();
    if path.is_empty() {
        u.set_path("/services/collector/event");
    } else if path.ends_with("/services/collector/event") || path.ends_with("/services/collector") {
        u.set_path(&path);
    } else {
        return Err(format!(
            "{}: the path must be empty or end in /services/collector/event (raw and other endpoints are not supported)",
            url_for_logs(&u)
        ));
    }
    Ok(u)
}

/// The acknowledgement endpoint next to the event endpoint.
pub(super) fn ack_endpoint(event: &url::Url, channel: &str) -> url::Url {
    let mut u = event.clone();
    let path = u.path().trim_end_matches('/').trim_end_matches("/event").to_owned();
    u.set_path(&format!("{path}/ack"));
    u.query_pairs_mut().append_pair("channel", channel);
    u
}

/// HEC settings: envelope metadata and acknowledgement.
#[derive(Debug, Clone)]
pub(super) struct Hec {
    /// `index` (may hold `{source}`).
    pub(super) index: Option<String>,
    /// `sourcetype` (may hold `{source}`).
    pub(super) sourcetype: String,
    /// `source`.
    pub(super) source: Option<String>,
    /// `host`.
    pub(super) host: Option<String>,
    /// Whether to wait for indexer acknowledgement.
    pub(super) acknowledgements: bool,
    /// How long.
    pub(super) ack_timeout: Duration,
    /// Where to poll.
    pub(super) ack_url: url::Url,
}

impl Hec {
    /// The envelope fields shared by a batch's events, each followed by a comma.
    pub(super) fn meta(&self, kind: &Stream) -> String {
        let mut out = String::new();
        let fields = [
            ("host", self.host.as_deref()),
            ("source", self.source.as_deref()),
            ("sourcetype", Some(self.sourcetype.as_str())),
            ("index", self.index.as_deref()),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                let v = v.replace("{source}", kind.key);
                out.push('"');
                out.push_str(k);
                out.push_str("\":");
                out.push_str(&serde_json::Value::String(v).to_string());
                out.push(',');
            }
        }
        out
    }
}

/// `_time` (RFC 3339) as HEC's `time`: epoch seconds with milliseconds, e.g. `1712345678.123`.
pub(super) fn epoch(time: &str) -> Option<String> {
    let ms = chrono::DateTime::parse_from_rfc3339(time).ok()?.timestamp_millis();
    Some(format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000)))
}

/// Appends one event envelope. An event without a parsable time gets none, and HEC stamps it
/// with the time of receipt.
pub(super) fn encode(line: &Line, meta: &str, out: &mut Vec<u8>) {
    out.push(b'{');
    if let Some(t) = epoch(&line.time) {
        out.extend_from_slice(b"\"time\":");
        out.extend_from_slice(t.as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(meta.as_bytes());
    out.extend_from_slice(b"\"event\":");
    out.extend_from_slice(line.json.as_bytes());
    out.extend_from_slice(b"}\n");
}

/// HEC's reply body.
#[derive(Debug, Deserialize)]
struct HecReply {
    #[serde(default)]
    text: String,
    code: Option<i64>,
    #[serde(rename = "invalid-event-number")]
    invalid_event_number: Option<i64>,
    #[serde(rename = "ackId")]
    ack_id: Option<u64>,
}

/// Reads a HEC reply: its `code` decides; without one, the HTTP status does.
pub(super) fn judge(r: &Reply, ctx: &Ctx<'_>) -> Verdict {
    if r.status.as_u16() == 413 {
        return Verdict::TooLarge;
    }
    let parsed = serde_json::from_slice::<HecReply>(&r.body).ok();
    let Some((h, code)) = parsed.and_then(|h| h.code.map(|c| (h, c))) else {
        return judge_status(r, ctx).unwrap_or_else(|| Verdict::Retry {
            reason: format!("HTTP {} but not a HEC reply: {}", r.status, ctx.quote(&r.body)),
            wait: None,
        });
    };
    let what = format!("HTTP {}, HEC code {code}: {}", r.status.as_u16(), h.text);
    match code {
        0 => Verdict::Accepted { ack: h.ack_id, duplicates: 0 },
        1..=4 => Verdict::Fail(HttpSinkError::Auth {
            url: ctx.url.to_owned(),
            status: r.status.as_u16(),
            detail: format!(", HEC code {code}: {}", ctx.quote(h.text.as_bytes())),
        }),
        6 | 12 | 13 | 15 => {
            let pos = h.invalid_event_number.and_then(|n| usize::try_from(n).ok());
            let event_id = match (pos, ctx.ids) {
                (Some(p), _) => ctx.id(p),
                (None, [only]) => (*only).to_owned(),
                (None, _) => "<unknown: HEC named no event number>".to_owned(),
            };
            Verdict::Fail(HttpSinkError::Rejected { url: ctx.url.to_owned(), event_id, reason: what, more: 0 })
        }
        8 | 9 | 18..=20 => Verdict::Retry { reason: what, wait: retry_after(&r.headers) },
        7 => Verdict::Fail(HttpSinkError::Refused {
            url: ctx.url.to_owned(),
            status: r.status.as_u16(),
            body: format!("{what} (the index does not exist or the token may not write to it)"),
        }),
        _ => judge_status(r, ctx).unwrap_or(Verdict::Retry { reason: what, wait: None }),
    }
}

#[derive(Debug, Deserialize)]
struct AckReply {
    acks: std::collections::HashMap<String, bool>,
}

/// Waits until every `ack` id is confirmed by the ack endpoint, polling with a growing pause.
///
/// # Errors
/// `HttpSinkError::AckTimeout` when `timeout` passes first.
pub(super) async fn wait_for_acks(client: &Client, hec: &Hec, mut acks: Vec<u64>) -> Result<(), HttpSinkError> {
    let total = acks.len();
    let start = Instant::now();
    let mut pause = Duration::from_millis(100);
    let mut last = String::new();
    loop {
        let body = serde_json::json!({ "acks": acks }).to_string();
        match client.post(&hec.ack_url, Bytes::from(body), false).await {
            Ok(r) if r.status.is_success() => match serde_json::from_slice::<AckReply>(&r.body) {
                Ok(a) => acks.retain(|id| !a.acks.get(&id.to_string()).copied().unwrap_or(false)),
                Err(e) => last = format!("HTTP {} with an unreadable ack reply: {e}", r.status),
            },
            Ok(r) => {
                let ids: [&str; 0] = [];
                let ctx = Ctx { url: &client.shown, ids: &ids, credential: client.credential.as_ref() };
                last = format!("HTTP {}: {}", r.status, ctx.quote(&r.body));
            }
            Err((e, _)) => last = e,
        }
        if acks.is_empty() {
            debug!(sink = %client.sink, requests = total, waited_ms = start.elapsed().as_millis(), "Splunk acknowledged every request.");
            return Ok(());
        }
        let Some(left) = hec.ack_timeout.checked_sub(start.elapsed()).filter(|l| !l.is_zero()) else {
            return Err(HttpSinkError::AckTimeout {
                url: url_for_logs(&hec.ack_url),
                unacked: acks.len(),
                total,
                waited: start.elapsed(),
                last: if last.is_empty() { last } else { format!("; last poll: {last}") },
            });
        };
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::client::fake_reply as reply;
    use crate::sinks::testkit::timed;

    const IDS: [&str; 3] = ["e0", "e1", "e2"];

    fn ctx() -> Ctx<'static> {
        Ctx { url: "https://splunk:8088/services/collector/event", ids: &IDS, credential: None }
    }

    fn hec() -> Hec {
        Hec {
            index: Some("sec_{source}".into()),
            sourcetype: "docusign:{source}".into(),
            source: None,
            host: Some("collector-1".into()),
            acknowledgements: true,
            ack_timeout: Duration::from_secs(1),
            ack_url: "http://x/services/collector/ack".parse().unwrap(),
        }
    }

    #[test]
    fn endpoints() {
        let e = |s: &str| endpoint(&HttpUrl::try_from(s.to_owned()).unwrap()).map(|u| u.to_string());
        assert_eq!(e("https://s:8088").unwrap(), "https://s:8088/services/collector/event");
        assert_eq!(e("https://s:8088/").unwrap(), "https://s:8088/services/collector/event");
        assert_eq!(e("https://s/services/collector").unwrap(), "https://s/services/collector");
        assert_eq!(
            e("https://gw/splunk/services/collector/event/").unwrap(),
            "https://gw/splunk/services/collector/event"
        );
        assert!(e("https://s/services/collector/raw").unwrap_err().contains("raw"));
        let ack = |s: &str| ack_endpoint(&s.parse().unwrap(), "c-1").to_string();
        assert_eq!(ack("https://s/services/collector/event"), "https://s/services/collector/ack?channel=c-1");
        assert_eq!(ack("https://s/services/collector"), "https://s/services/collector/ack?channel=c-1");
    }

    #[test]
    fn envelope_carries_epoch_time_and_metadata() {
        let line = timed("e0", "2024-04-05T19:21:18.123Z", r#"{"_time":"2024-04-05T19:21:18.123Z","a":"x\"y"}"#);
        let mut out = Vec::new();
        encode(&line, &hec().meta(&crate::stream::TEST), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(text.starts_with(r#"{"time":1712344878.123,"#), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["host"], "collector-1");
        assert_eq!(v["sourcetype"], "docusign:test_events");
        assert_eq!(v["index"], "sec_test_events");
        assert!(v.get("source").is_none());
        assert_eq!(v["event"]["a"], "x\"y");
        // No usable time: HEC stamps it on receipt.
        let mut out = Vec::new();
        encode(&Line { time: "yesterday".into(), ..line }, "", &mut out);
        assert!(out.starts_with(br#"{"event":{"#));
    }

    #[test]
    fn epoch_keeps_milliseconds() {
        assert_eq!(epoch("1970-01-01T00:00:01Z").as_deref(), Some("1.000"));
        assert_eq!(epoch("2024-04-05T21:21:18.9876+02:00").as_deref(), Some("1712344878.987"));
        assert_eq!(epoch("1969-12-31T23:59:59.500Z").as_deref(), Some("-1.500"));
        assert_eq!(epoch(""), None);
    }

    #[test]
    fn codes() {
        let j = |s, b: &str| judge(&reply(s, b), &ctx());
        assert!(matches!(j(200, r#"{"text":"Success","code":0}"#), Verdict::Accepted { ack: None, .. }));
        assert!(matches!(j(200, r#"{"text":"Success","code":0,"ackId":7}"#), Verdict::Accepted { ack: Some(7), .. }));
        assert!(matches!(j(503, r#"{"text":"Server is busy","code":9}"#), Verdict::Retry { .. }));
        assert!(matches!(j(503, r#"{"text":"HEC is unhealthy, queues are full","code":18}"#), Verdict::Retry { .. }));
        assert!(matches!(j(502, "<html>bad gateway</html>"), Verdict::Retry { .. }));
        assert!(matches!(j(413, ""), Verdict::TooLarge));
        // A 200 that is not HEC's (a wrong URL answered by some web page) confirms nothing.
        assert!(matches!(j(200, "<html>ok</html>"), Verdict::Retry { .. }));
        let Verdict::Fail(e) = j(400, r#"{"text":"Invalid data format","code":6,"invalid-event-number":2}"#) else {
            panic!("code 6 must fail")
        };
        assert!(matches!(&e, HttpSinkError::Rejected { event_id, .. } if event_id == "e2"), "{e}");
        assert!(e.to_string().contains("HEC code 6: Invalid data format"), "{e}");
        let Verdict::Fail(e) = j(400, r#"{"text":"Event field is required","code":12,"invalid-event-number":9}"#)
        else {
            panic!("code 12 must fail")
        };
        assert!(e.to_string().contains("<position 9 of 3>"), "{e}");
        let Verdict::Fail(e) = j(403, r#"{"text":"Invalid token","code":4}"#) else { panic!("code 4 must fail") };
        assert!(matches!(e, HttpSinkError::Auth { status: 403, .. }));
        let Verdict::Fail(e) = j(400, r#"{"text":"Incorrect index","code":7}"#) else { panic!("code 7 must fail") };
        assert!(e.to_string().contains("may not write to it"), "{e}");
        assert!(matches!(j(400, r#"{"text":"Data channel is missing","code":10}"#), Verdict::Fail(_)));
    }
}
