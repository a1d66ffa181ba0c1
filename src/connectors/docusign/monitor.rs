//! Monitor customer events. Both generations behind one source:
//! - `v2`: `GET {lens}/api/v2.0/datasets/monitor/stream` answers `{endCursor, data[]}`;
//! - `org-stream`: `GET {api}/v1/organizations/{org}/stream` answers `{endCursor, resultData[]}`.
//!
//! The checkpoint is always the server's `endCursor`, never a timestamp we derive: the
//! org-stream pages by ingestion time, up to ~5 minutes after the event, so event timestamps
//! are not ordered and a timestamp restart would skip late arrivals.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tracing::warn;

use super::config::{CustomerEventsConfig, MonitorApi};
use super::{MONITOR_EVENTS, Session};
use crate::core::normalize::{Fast, parse_time};
use crate::core::source::{Page, Paging, Record, SinceStart, Source, Stream, iso, unreadable_cursor};
use crate::error::Error;
use crate::http::ApiError;

/// The stored cursor: DocuSign's opaque `endCursor`, or an ISO time to start from, and `at`:
/// the newest event timestamp read so far. Every event not yet read was ingested after the
/// last one read, whose ingestion is at or after that timestamp, so `at` is a safe (early)
/// restart point if DocuSign ever rejects the cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    cursor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<DateTime<Utc>>,
}

/// The newest event timestamp a stored customer-events checkpoint records (its `at`), for
/// the "event lag" of `status` and the metrics. `None` for cursors without one.
pub(crate) fn newest_event(stored: &str) -> Option<DateTime<Utc>> {
    serde_json::from_str::<Cursor>(stored).ok()?.at
}

/// How far before the last page a rejected cursor is replaced by an ISO time: the stream can
/// be up to ~5 minutes late, so this re-reads a margin the ledger deduplicates.
const RECOVERY_MARGIN_MINUTES: i64 = 15;

/// How far back the Monitor stream keeps events.
pub(crate) const STREAM_KEEPS: chrono::Duration = chrono::Duration::days(7);

fn is_iso(c: &str) -> bool {
    DateTime::parse_from_rfc3339(c).is_ok()
}

/// Monitor customer events.
#[derive(Debug)]
pub struct MonitorEvents {
    session: std::sync::Arc<Session>,
    url: String,
    api: MonitorApi,
    first_fetch: std::time::Duration,
    paging: Paging,
}

impl MonitorEvents {
    /// Builds the source for `base` (the Monitor host for the configured generation).
    pub fn new(
        session: std::sync::Arc<Session>,
        cfg: &CustomerEventsConfig,
        base: &str,
        organization_id: Option<&str>,
    ) -> Self {
        let base = base.trim_end_matches('/');
        let url = match cfg.api {
            MonitorApi::V2 => format!("{base}/api/v2.0/datasets/monitor/stream"),
            MonitorApi::OrgStream => format!(
                "{base}/v1/organizations/{}/stream",
                url::form_urlencoded::byte_serialize(organization_id.unwrap_or_default().as_bytes())
                    .collect::<String>()
            ),
        };
        Self {
            session,
            url,
            api: cfg.api,
            first_fetch: cfg.first_fetch.get(),
            paging: Paging {
                page_size: cfg.page_size.get(),
                max_per_run: cfg.max_events_per_fetch.map(crate::values::Bounded::get),
                prefetch: true,
            },
        }
    }
}

fn malformed(message: impl Into<String>) -> Error {
    ApiError::Malformed { what: "Monitor stream".into(), message: message.into() }.into()
}

/// A stream reply of either generation, its rows kept as the bytes sent.
#[derive(Debug, Deserialize)]
pub(super) struct Reply {
    #[serde(rename = "endCursor", default)]
    end_cursor: Option<Value>,
    #[serde(rename = "resultData", default)]
    result_data: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    data: Option<Vec<Box<RawValue>>>,
}

/// Reads a reply body without building a tree of its rows. An error here is a failed try
/// (retried like a truncated body).
///
/// # Errors
/// What is wrong with the body.
pub(super) fn read(body: &[u8]) -> Result<Reply, String> {
    // A derived struct would also accept its fields as an array.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err("not a Monitor stream reply: not a JSON object".into());
    }
    serde_json::from_slice(body).map_err(|e| format!("not a Monitor stream reply: {e}"))
}

/// Reads a stream reply of either generation.
pub(super) fn parse(reply: Reply, api: MonitorApi, sent: &str, at: Option<DateTime<Utc>>) -> Result<Page, Error> {
    // Accept the other generation's field name too: the SDKs disagree across versions.
    let rows = match api {
        MonitorApi::OrgStream => reply.result_data.or(reply.data),
        MonitorApi::V2 => reply.data.or(reply.result_data),
    }
    .unwrap_or_default();
    let end = match reply.end_cursor {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None if rows.is_empty() => sent.to_owned(),
        _ => return Err(malformed("`endCursor` is missing or not a string")),
    };
    let mut records = Vec::with_capacity(rows.len());
    let mut newest: Option<DateTime<Utc>> = None;
    for (i, row) in rows.into_iter().enumerate() {
        if !row.get().starts_with('{') {
            let text: String = row.get().chars().take(80).collect();
            return Err(malformed(format!("row {i} is not an object: {text}")));
        }
        let time = match Fast::probe(&MONITOR_EVENTS, row) {
            Ok(fast) => {
                let t = fast.time.map(|(t, _)| t);
                records.push(Record::Fast(fast));
                t
            }
            Err(row) => {
                let m: Map<String, Value> =
                    serde_json::from_str(row.get()).map_err(|e| malformed(format!("row {i}: {e}")))?;
                let t = m.get("timestamp").and_then(Value::as_str).and_then(parse_time).map(|(t, _)| t);
                records.push(Record::Object(m));
                t
            }
        };
        newest = newest.max(time);
    }
    let end = if end.is_empty() { sent.to_owned() } else { end };
    // DocuSign's tracking-data guide and samples: the stream ends when endCursor == the cursor
    // sent. An empty page whose endCursor moved is *not* the end (peers that stop there lose
    // what follows): the collector goes on while the cursor changes.
    let at_end = end == sent;
    let at = match (newest, at) {
        (Some(n), Some(a)) => Some(n.max(a)),
        (n, a) => n.or(a),
    };
    Ok(Page { records, next: cursor_json(&end, at), at_end })
}

fn cursor_json(c: &str, at: Option<DateTime<Utc>>) -> String {
    serde_json::to_string(&Cursor { cursor: c.to_owned(), at }).unwrap_or_default()
}

impl MonitorEvents {
    async fn get(&self, cursor: &str, limit: u32) -> Result<Reply, Error> {
        let mut url =
            url::Url::parse(&self.url).map_err(|e| Error::Internal(format!("Monitor URL {}: {e}", self.url)))?;
        url.query_pairs_mut().append_pair("cursor", cursor).append_pair("limit", &limit.to_string());
        self.session.client.get_parsed(&self.session.api, "Monitor stream", url.as_str(), read).await
    }
}

#[async_trait]
impl Source for MonitorEvents {
    fn kind(&self) -> &'static Stream {
        &MONITOR_EVENTS
    }

    fn start_cursor(&self, since: Option<DateTime<Utc>>) -> Result<String, Error> {
        let from = since.unwrap_or_else(|| {
            Utc::now() - chrono::Duration::from_std(self.first_fetch).unwrap_or(chrono::Duration::days(7))
        });
        // The stream keeps seven days: an older start is a mistake, not a backfill.
        if let Some(t) = since
            && t < Utc::now() - STREAM_KEEPS - chrono::Duration::minutes(10)
        {
            return Err(crate::values::ConfigError::Argument {
                arg: "--since".into(),
                message: format!(
                    "{} reaches before what DocuSign's Monitor stream keeps (the last 7 days); use 7d or later",
                    iso(t)
                ),
            }
            .into());
        }
        Ok(cursor_json(&iso(from), None))
    }

    fn since_start(&self, stored: Option<&str>, since: DateTime<Utc>) -> Result<SinceStart, Error> {
        let cursor = self.start_cursor(Some(since))?;
        let Some(stored) = stored else { return Ok(SinceStart::From(cursor)) };
        let c: Cursor = serde_json::from_str(stored).map_err(|e| unreadable_cursor("customer_events", &e))?;
        // The position reached: the newest event delivered, or the ISO time not yet read past.
        let position = c.at.or_else(|| DateTime::parse_from_rfc3339(&c.cursor).ok().map(|t| t.with_timezone(&Utc)));
        Ok(match position {
            Some(p) if since <= p => SinceStart::From(cursor),
            from => SinceStart::Skips { cursor, from },
        })
    }

    fn paging(&self) -> Paging {
        self.paging
    }

    async fn fetch_page(&self, cursor: &str, limit: u32) -> Result<Page, Error> {
        let c: Cursor = serde_json::from_str(cursor).map_err(|e| unreadable_cursor("customer_events", &e))?;
        let mut sent = c.cursor.clone();
        let reply = match self.get(&sent, limit).await {
            // DocuSign does not document how long a cursor lives. If it rejects one we issued,
            // resume from an ISO time before the page that produced it: the ledger drops what
            // is read twice, and nothing is skipped.
            Err(Error::Api(ApiError::Status { status: 400, ref body, .. }))
                if body.to_ascii_lowercase().contains("cursor") && !is_iso(&c.cursor) && c.at.is_some() =>
            {
                let at = c.at.unwrap_or_else(Utc::now) - chrono::Duration::minutes(RECOVERY_MARGIN_MINUTES);
                sent = iso(at);
                warn!(
                    resume_from = %sent,
                    "DocuSign rejected the stored Monitor cursor as invalid or expired; resuming from a time before the last page (repeats are deduplicated)."
                );
                self.get(&sent, limit).await?
            }
            other => other?,
        };
        let page = parse(reply, self.api, &sent, c.at)?;
        if page.records.len() > limit as usize {
            warn!(
                asked = limit,
                got = page.records.len(),
                "Monitor sent a larger page than asked; delivering all of it."
            );
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(clippy::needless_pass_by_value)]
    fn r(v: Value) -> Reply {
        read(v.to_string().as_bytes()).unwrap()
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn both_generations_parse() {
        let p = parse(
            r(json!({"endCursor": "c2", "resultData": [{"eventId": "a"}]})),
            MonitorApi::OrgStream,
            "c1",
            Some(t0()),
        )
        .unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.next, r#"{"cursor":"c2","at":"2026-01-01T00:00:00Z"}"#);
        assert!(!p.at_end);
        let p = parse(
            r(json!({"endCursor": "c2", "data": [{"eventId": "a"}, {"eventId": "b"}]})),
            MonitorApi::V2,
            "c1",
            Some(t0()),
        )
        .unwrap();
        assert_eq!(p.records.len(), 2);
    }

    #[test]
    fn position_is_the_newest_timestamp_read() {
        let rows = json!({"endCursor": "c2", "resultData": [
            {"eventId": "a", "timestamp": "2026-02-01T00:00:05Z"},
            {"eventId": "b", "timestamp": "2026-02-01T00:00:09.5Z"},
            {"eventId": "c", "timestamp": "2026-02-01T00:00:07Z"}]});
        let p = parse(r(rows), MonitorApi::OrgStream, "c1", Some(t0())).unwrap();
        assert_eq!(p.next, r#"{"cursor":"c2","at":"2026-02-01T00:00:09.500Z"}"#);
        // An empty page keeps the position it had.
        let p =
            parse(r(json!({"endCursor": "c2", "resultData": []})), MonitorApi::OrgStream, "c2", Some(t0())).unwrap();
        assert_eq!(p.next, r#"{"cursor":"c2","at":"2026-01-01T00:00:00Z"}"#);
    }

    #[test]
    fn end_of_stream() {
        let p = parse(r(json!({"endCursor": "c1", "data": []})), MonitorApi::V2, "c1", Some(t0())).unwrap();
        assert!(p.at_end);
        assert_eq!(p.next, r#"{"cursor":"c1","at":"2026-01-01T00:00:00Z"}"#);
        // Same cursor but rows: still delivered, and the stream ends.
        let p =
            parse(r(json!({"endCursor": "c1", "data": [{"eventId": "x"}]})), MonitorApi::V2, "c1", Some(t0())).unwrap();
        assert!(p.at_end && p.records.len() == 1);
        let p = parse(r(json!({"data": []})), MonitorApi::V2, "c1", Some(t0())).unwrap();
        assert!(p.at_end);
        // An empty page whose cursor moved is not the end: more may follow the new cursor.
        let p = parse(r(json!({"endCursor": "c2", "data": []})), MonitorApi::V2, "c1", Some(t0())).unwrap();
        assert!(!p.at_end && p.records.is_empty());
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert!(read(b"[1]").is_err());
        assert!(read(br#"{"data": "x", "endCursor": "c"}"#).is_err());
        assert!(read(br#"{"data": [{"a": 1}"#).is_err(), "truncated");
        assert!(parse(r(json!({"data": [{"a": 1}]})), MonitorApi::V2, "c", Some(t0())).is_err());
        assert!(parse(r(json!({"data": [1], "endCursor": "d"})), MonitorApi::V2, "c", Some(t0())).is_err());
    }
}
