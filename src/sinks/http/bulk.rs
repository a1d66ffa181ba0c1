//! The `elasticsearch` preset (Elasticsearch and OpenSearch): `POST …/_bulk` with one
//! `{"create":{"_index":…,"_id":<event id>}}` action per event, so sending a page again is
//! idempotent: an event already indexed answers 409 and counts as delivered.
//!
//! A 200 is not success by itself: with `"errors": true` each item has its own status.
//! 200/201 and 409 are delivered; 408/429/5xx items (rejected execution, unavailable shards)
//! are sent again, alone, after a backoff; any other item error fails the page, naming the
//! event, its status and Elasticsearch's error type and reason. With `"errors": true` no item
//! is resent before every item is known to be delivered or retryable.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::client::{Ctx, Reply, Verdict, judge_status};
use super::error::HttpSinkError;
use crate::http::retry::{is_retryable_status, retry_after};
use crate::sinks::Line;
use crate::stream::Stream;
use crate::values::HttpUrl;

/// The media type.
pub(super) const CONTENT_TYPE: &str = "application/x-ndjson";

/// The index when `index` is not set.
pub(super) const DEFAULT_INDEX: &str = "docusign-{source}";

/// `{url}/_bulk` (unless the URL already ends in `_bulk`), with `?pipeline=` if set.
pub(super) fn endpoint(url: &HttpUrl, pipeline: Option<&str>) -> url::Url {
    let mut u = url.0.clone();
    let path = u.path().trim_end_matches('/').to_owned();
    if !path.ends_with("/_bulk") {
        u.set_path(&format!("{path}/_bulk"));
    }
    if let Some(p) = pipeline {
        u.query_pairs_mut().append_pair("pipeline", p);
    }
    u
}

/// Elasticsearch settings.
#[derive(Debug, Clone)]
pub(super) struct Bulk {
    /// Index or data stream (may hold `{source}`).
    pub(super) index: String,
    /// Whether documents need `@timestamp`.
    pub(super) data_stream: bool,
}

impl Bulk {
    /// The action line's `"_index":"…",` part for a batch.
    pub(super) fn index_part(&self, kind: &Stream) -> String {
        format!("\"_index\":{},", Value::String(self.index.replace("{source}", kind.key)))
    }
}

/// Appends the action line and the document.
pub(super) fn encode(line: &Line, index_part: &str, data_stream: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"create\":{");
    out.extend_from_slice(index_part.as_bytes());
    out.extend_from_slice(b"\"_id\":");
    out.extend_from_slice(Value::String(line.event_id.clone()).to_string().as_bytes());
    out.extend_from_slice(b"}}\n");
    match data_stream.then(|| with_timestamp(line)).flatten() {
        Some(doc) => out.extend_from_slice(doc.as_bytes()),
        None => out.extend_from_slice(line.json.as_bytes()),
    }
    out.push(b'\n');
}

/// The document with `@timestamp` = `_time` added, which a data stream requires; `None` when
/// it has one already or is not a JSON object (Elasticsearch will then name the event).
fn with_timestamp(line: &Line) -> Option<String> {
    let mut doc: serde_json::Map<String, Value> = serde_json::from_str(&line.json).ok()?;
    if doc.contains_key("@timestamp") {
        return None;
    }
    doc.insert("@timestamp".into(), Value::String(line.time.clone()));
    Some(Value::Object(doc).to_string())
}

#[derive(Debug, Deserialize)]
struct BulkReply {
    errors: bool,
    items: Vec<HashMap<String, Item>>,
}

#[derive(Debug, Deserialize)]
struct Item {
    status: u16,
    #[serde(default)]
    error: Option<Value>,
}

/// `type: reason (caused by: …)` from an item's error, which is an object (or a string in
/// old versions).
fn error_text(e: Option<&Value>) -> String {
    let Some(e) = e else { return "no error detail".into() };
    if let Some(s) = e.as_str() {
        return s.to_owned();
    }
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let head = format!("{}: {}", field(e, "type"), field(e, "reason"));
    match e.get("caused_by") {
        Some(c) => format!("{head} (caused by {}: {})", field(c, "type"), field(c, "reason")),
        None => head,
    }
}

/// Reads a `_bulk` reply item by item.
pub(super) fn judge(r: &Reply, ctx: &Ctx<'_>) -> Verdict {
    if let Some(v) = judge_status(r, ctx) {
        return v;
    }
    let reply = match serde_json::from_slice::<BulkReply>(&r.body) {
        Ok(b) if b.items.len() == ctx.ids.len() => b,
        Ok(b) => {
            let reason = format!("HTTP {} with {} items for {} events", r.status, b.items.len(), ctx.ids.len());
            return Verdict::Retry { reason, wait: None };
        }
        Err(e) => {
            let reason = format!("HTTP {} but not a bulk reply ({e}): {}", r.status, ctx.quote(&r.body));
            return Verdict::Retry { reason, wait: None };
        }
    };
    if !reply.errors {
        return Verdict::Accepted { ack: None, duplicates: 0 };
    }
    let (mut duplicates, mut again, mut failed) = (0, Vec::new(), Vec::new());
    for (pos, item) in reply.items.iter().enumerate() {
        let Some(item) = item.values().next() else {
            failed.push((pos, 0, "an empty item".to_owned()));
            continue;
        };
        match item.status {
            200 | 201 => {}
            409 => duplicates += 1,
            s if reqwest::StatusCode::from_u16(s).is_ok_and(is_retryable_status) => {
                again.push((pos, s, error_text(item.error.as_ref())));
            }
            s => failed.push((pos, s, error_text(item.error.as_ref()))),
        }
    }
    if let Some((pos, status, text)) = failed.first() {
        return Verdict::Fail(HttpSinkError::Rejected {
            url: ctx.url.to_owned(),
            event_id: ctx.id(*pos),
            reason: format!("item status {status}, {}", ctx.quote(text.as_bytes())),
            more: failed.len() - 1,
        });
    }
    let Some((first, status, text)) = again.first() else {
        return Verdict::Accepted { ack: None, duplicates };
    };
    let reason =
        format!("{} of {} bulk items answered {status} (first {}: {text})", again.len(), ctx.ids.len(), ctx.id(*first));
    Verdict::RetrySome { again: again.iter().map(|a| a.0).collect(), reason, wait: retry_after(&r.headers), duplicates }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::client::fake_reply as reply;
    use crate::sinks::testkit::timed;

    const IDS: [&str; 4] = ["e0", "e1", "e2", "e3"];

    fn ctx() -> Ctx<'static> {
        Ctx { url: "http://es:9200/_bulk", ids: &IDS, credential: None }
    }

    fn items(statuses: &[u16]) -> String {
        let items: Vec<Value> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut it = serde_json::json!({ "_index": "x", "_id": format!("e{i}"), "status": s });
                if *s >= 300 {
                    it["error"] = serde_json::json!({ "type": format!("t{s}"), "reason": format!("r{i}") });
                }
                serde_json::json!({ "create": it })
            })
            .collect();
        serde_json::json!({ "took": 3, "errors": statuses.iter().any(|s| *s >= 300), "items": items }).to_string()
    }

    #[test]
    fn endpoints() {
        let e = |s: &str, p| endpoint(&HttpUrl::try_from(s.to_owned()).unwrap(), p).to_string();
        assert_eq!(e("https://es:9200", None), "https://es:9200/_bulk");
        assert_eq!(e("https://gw/es/", Some("geo ip")), "https://gw/es/_bulk?pipeline=geo+ip");
        assert_eq!(e("https://es:9200/_bulk", None), "https://es:9200/_bulk");
    }

    #[test]
    fn body_has_create_with_event_id() {
        let b = Bulk { index: DEFAULT_INDEX.into(), data_stream: false };
        let line = timed("id\"1", "2024-01-01T00:00:00Z", r#"{"a":1}"#);
        let mut out = Vec::new();
        encode(&line, &b.index_part(&crate::stream::TEST), b.data_stream, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"create\":{\"_index\":\"docusign-test_events\",\"_id\":\"id\\\"1\"}}\n{\"a\":1}\n"
        );
        let mut out = Vec::new();
        encode(&line, "", true, &mut out);
        assert!(String::from_utf8(out).unwrap().ends_with("{\"a\":1,\"@timestamp\":\"2024-01-01T00:00:00Z\"}\n"));
        let stamped = Line { json: r#"{"@timestamp":"x"}"#.into(), ..line };
        let mut out = Vec::new();
        encode(&stamped, "", true, &mut out);
        assert!(String::from_utf8(out).unwrap().ends_with("\n{\"@timestamp\":\"x\"}\n"));
    }

    #[test]
    fn all_created() {
        assert!(matches!(
            judge(&reply(200, &items(&[201, 201, 201, 201])), &ctx()),
            Verdict::Accepted { duplicates: 0, .. }
        ));
    }

    #[test]
    fn conflicts_are_duplicates() {
        assert!(matches!(
            judge(&reply(200, &items(&[201, 409, 409, 201])), &ctx()),
            Verdict::Accepted { duplicates: 2, .. }
        ));
    }

    #[test]
    fn throttled_items_are_resent_alone() {
        let Verdict::RetrySome { again, duplicates, reason, .. } =
            judge(&reply(200, &items(&[429, 201, 409, 503])), &ctx())
        else {
            panic!("expected a partial retry")
        };
        assert_eq!((again, duplicates), (vec![0, 3], 1));
        assert!(reason.contains("2 of 4 bulk items answered 429 (first e0: t429: r0)"), "{reason}");
    }

    #[test]
    fn other_item_errors_fail_naming_the_event() {
        let Verdict::Fail(e) = judge(&reply(200, &items(&[201, 429, 400, 404])), &ctx()) else { panic!("must fail") };
        let text = e.to_string();
        assert!(text.contains("rejected event e2: item status 400, t400: r2 (and 1 more events"), "{text}");
    }

    #[test]
    fn a_200_that_is_not_a_bulk_reply_confirms_nothing() {
        assert!(matches!(judge(&reply(200, "<html/>"), &ctx()), Verdict::Retry { .. }));
        assert!(matches!(judge(&reply(200, &items(&[201])), &ctx()), Verdict::Retry { .. }));
        assert!(matches!(judge(&reply(429, "{}"), &ctx()), Verdict::Retry { .. }));
        assert!(matches!(judge(&reply(413, ""), &ctx()), Verdict::TooLarge));
    }

    #[test]
    fn error_text_shapes() {
        let v = serde_json::json!({"type":"mapper_parsing_exception","reason":"failed to parse","caused_by":{"type":"x","reason":"y"}});
        assert_eq!(error_text(Some(&v)), "mapper_parsing_exception: failed to parse (caused by x: y)");
        assert_eq!(error_text(Some(&Value::String("old".into()))), "old");
        assert_eq!(error_text(None), "no error detail");
    }
}
