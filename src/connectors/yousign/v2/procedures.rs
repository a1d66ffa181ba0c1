//! Procedures: `GET {base}/procedures`, the v2 signature requests, read incrementally at most
//! once per `interval` (the table is `[sources.yousign_signature_requests]`).
//!
//! A pass asks for the procedures updated since the previous pass
//! (`updatedAt[strictly_after]`), oldest created first (`order[createdAt]=asc`), by page
//! number (`pagination=true&itemsPerPage=N&page=P`). Sorting on the creation date keeps the
//! pages stable during a pass: a procedure updated meanwhile stays in the filtered set at its
//! place, and a new one is appended after the last page. The cursor holds the pass in progress
//! (its page, its page size, when it began, the newest `updatedAt` seen so far), so a crash
//! resumes at the page it was on. At the end of a pass the next lower bound is the newest
//! `updatedAt` seen: the server's clock decides, not ours (capped at when the pass began, so a
//! long pass skips nothing updated behind it, as long as the clocks agree within the
//! overlap). Each query reaches back one hour
//! more ([`OVERLAP`]) for a procedure updated on a page already read; the ledger absorbs the
//! re-reads (the identity holds `updatedAt`).
//!
//! A listed procedure embeds its `members[]` (the v2.1 Swagger's `ProcedureOutput`, and the
//! simulator, return them): they stay in the line. Only a procedure listed without them costs
//! a `GET /members?procedure=…`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::super::config::SignatureRequestsConfig;
use super::{Session, YOUSIGN_PROCEDURES};
use crate::core::source::{Page, Paging, Record, SinceStart, Source, Stream, unreadable_cursor};
use crate::error::Error;
use crate::http::ApiError;

/// How far before the previous pass's newest `updatedAt` a query reaches.
const OVERLAP: chrono::TimeDelta = chrono::TimeDelta::hours(1);

const WHAT: &str = "Yousign procedures";

/// The stored cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// The lower bound of the pass: the newest `updatedAt` the previous pass saw (the first
    /// pass: `first_fetch` ago, or `--since`).
    since: DateTime<Utc>,
    /// The next page to read (1-based).
    page: u32,
    /// The page size of the pass in progress: page numbers only mean something with the size
    /// they were counted in, so a pass keeps its own whatever the config says meanwhile.
    per_page: Option<u32>,
    /// The newest `updatedAt` this pass has seen so far.
    newest: Option<DateTime<Utc>>,
    /// When the pass in progress began.
    pass_started: Option<DateTime<Utc>>,
    /// When the last complete pass began.
    last_pass: Option<DateTime<Utc>>,
}

impl Cursor {
    fn at(since: DateTime<Utc>) -> Self {
        Self { since, page: 1, per_page: None, newest: None, pass_started: None, last_pass: None }
    }
}

fn cursor_json(c: &Cursor) -> String {
    serde_json::to_string(c).unwrap_or_default()
}

fn parse_cursor(stored: &str) -> Result<Cursor, Error> {
    serde_json::from_str(stored).map_err(|e| unreadable_cursor(YOUSIGN_PROCEDURES.key, &e))
}

/// The stream's `newest_event`: the lower bound the stored cursor's pass reads from.
pub(super) fn newest_event(stored: &str) -> Option<DateTime<Utc>> {
    parse_cursor(stored).ok().map(|c| c.newest.unwrap_or(c.since))
}

fn malformed(message: impl Into<String>) -> Error {
    ApiError::Malformed { what: WHAT.into(), message: message.into() }.into()
}

/// Reads a v2 list reply: a plain JSON array of objects, each with a string `id`.
pub(super) fn parse_list(reply: Value, what: &str) -> Result<Vec<Map<String, Value>>, Error> {
    let bad = |m: String| -> Error { ApiError::Malformed { what: what.into(), message: m }.into() };
    let Value::Array(items) = reply else { return Err(bad("the reply is not a JSON array".into())) };
    items
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Value::Object(m) if m.get("id").is_some_and(Value::is_string) => Ok(m),
            Value::Object(_) => Err(bad(format!("item {i} has no string `id`"))),
            other => Err(bad(format!("item {i} is not an object: {other}"))),
        })
        .collect()
}

/// A record's `updatedAt`.
fn updated_at(m: &Map<String, Value>) -> Option<DateTime<Utc>> {
    let t = m.get("updatedAt").and_then(Value::as_str)?;
    DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&Utc))
}

/// Whether the page just read was the last: past the last page the API answers an empty
/// list, and a short page is the last one. (`X-Yousign-Pagination-Page-Last` says the same
/// when the reply's headers are at hand; the API client returns the body only.)
fn last_page(records: usize, per_page: u32) -> bool {
    records == 0 || records < per_page as usize
}

/// The cursor after a page of `records` read at `c`.
fn following(c: &Cursor, records: &[Map<String, Value>], per_page: u32, started: DateTime<Utc>) -> (Cursor, bool) {
    let newest = records.iter().filter_map(updated_at).chain(c.newest).max();
    if last_page(records.len(), per_page) {
        // Never back: an update seen only through the overlap is older than the bound. Never
        // past the pass's start either: a pass longer than the overlap (paced, or resumed
        // after a crash) would skip a procedure updated on a page it had already read.
        let since = newest.map_or(c.since, |n| n.min(started)).max(c.since);
        let next = Cursor { last_pass: Some(started), ..Cursor::at(since) };
        return (next, true);
    }
    let next =
        Cursor { page: c.page.saturating_add(1), per_page: Some(per_page), newest, pass_started: Some(started), ..*c };
    (next, false)
}

/// Procedures (API v2).
#[derive(Debug)]
pub struct Procedures {
    session: std::sync::Arc<Session>,
    url: String,
    members_url: String,
    paging: Paging,
    interval: Duration,
    first_fetch: chrono::Duration,
}

impl Procedures {
    /// The source for the v2 API at `base` (the API root, no `/v3`).
    pub fn new(session: std::sync::Arc<Session>, cfg: &SignatureRequestsConfig, base: &str) -> Self {
        let base = base.trim_end_matches('/');
        Self {
            session,
            url: format!("{base}/procedures"),
            members_url: format!("{base}/members"),
            paging: Paging { page_size: cfg.page_size.get(), max_per_run: None, prefetch: true },
            interval: cfg.interval.get(),
            first_fetch: chrono::Duration::from_std(cfg.first_fetch.get()).unwrap_or(chrono::Duration::days(30)),
        }
    }

    /// The URL of page `c.page` of `per_page` procedures.
    fn url(&self, c: &Cursor, per_page: u32) -> Result<url::Url, Error> {
        let mut url = url::Url::parse(&self.url).map_err(|e| Error::Internal(format!("URL {}: {e}", self.url)))?;
        // Yousign documents only dates (`YYYY-MM-DD`) for the date filters; a full RFC 3339
        // date-time is sent so a pass does not re-read a whole day (the simulator takes both).
        let after = crate::core::source::iso(c.since - OVERLAP);
        url.query_pairs_mut()
            .append_pair("pagination", "true")
            .append_pair("itemsPerPage", &per_page.to_string())
            .append_pair("page", &c.page.to_string())
            .append_pair("order[createdAt]", "asc")
            .append_pair("updatedAt[strictly_after]", &after);
        Ok(url)
    }

    /// Adds `members` to a procedure listed without them (`GET /members?procedure=<iri>`).
    async fn complete(&self, p: &mut Map<String, Value>) -> Result<(), Error> {
        if p.get("members").is_some_and(Value::is_array) {
            return Ok(());
        }
        let Some(id) = p.get("id").and_then(Value::as_str) else { return Ok(()) };
        let mut url = url::Url::parse(&self.members_url)
            .map_err(|e| Error::Internal(format!("URL {}: {e}", self.members_url)))?;
        url.query_pairs_mut().append_pair("procedure", id);
        let reply = self.session.client.get_json(&self.session.api, "Yousign members", url.as_str()).await?;
        let members = parse_list(reply, "Yousign members")?;
        p.insert("members".into(), Value::Array(members.into_iter().map(Value::Object).collect()));
        Ok(())
    }
}

#[async_trait]
impl Source for Procedures {
    fn kind(&self) -> &'static Stream {
        &YOUSIGN_PROCEDURES
    }

    fn start_cursor(&self, since: Option<DateTime<Utc>>) -> Result<String, Error> {
        Ok(cursor_json(&Cursor::at(since.unwrap_or_else(|| Utc::now() - self.first_fetch))))
    }

    fn since_start(&self, stored: Option<&str>, since: DateTime<Utc>) -> Result<SinceStart, Error> {
        let cursor = self.start_cursor(Some(since))?;
        let Some(stored) = stored else { return Ok(SinceStart::From(cursor)) };
        let c = parse_cursor(stored)?;
        Ok(if since <= c.since { SinceStart::From(cursor) } else { SinceStart::Skips { cursor, from: Some(c.since) } })
    }

    fn paging(&self) -> Paging {
        self.paging
    }

    fn min_interval(&self) -> Option<Duration> {
        Some(self.interval)
    }

    fn caught_up_at(&self, stored: &str) -> Option<DateTime<Utc>> {
        let c = parse_cursor(stored).ok()?;
        if c.pass_started.is_some() { None } else { c.last_pass }
    }

    async fn fetch_page(&self, cursor: &str, _limit: u32) -> Result<Page, Error> {
        let c = parse_cursor(cursor)?;
        if c.page == 0 {
            return Err(malformed("cursor page 0 (pages start at 1)"));
        }
        let started = c.pass_started.unwrap_or_else(Utc::now);
        // Page numbers count in the pass's own page size, not in the collector's `limit`.
        let per_page = c.per_page.unwrap_or(self.paging.page_size).max(1);
        let url = self.url(&c, per_page)?;
        let reply = self.session.client.get_json(&self.session.api, WHAT, url.as_str()).await?;
        let mut records = parse_list(reply, WHAT)?;
        for p in &mut records {
            self.complete(p).await?;
        }
        let (next, at_end) = following(&c, &records, per_page, started);
        Ok(Page { records: records.into_iter().map(Record::Object).collect(), next: cursor_json(&next), at_end })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rec(id: &str, updated: &str) -> Map<String, Value> {
        json!({"id": id, "status": "active", "updatedAt": updated}).as_object().cloned().unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_list_is_a_plain_array_of_objects_with_ids() {
        assert_eq!(parse_list(json!([{"id": "/procedures/a"}]), "x").unwrap().len(), 1);
        assert!(parse_list(json!({"data": []}), "x").is_err());
        assert!(parse_list(json!([{"name": "no id"}]), "x").is_err());
        assert!(parse_list(json!([1]), "x").is_err());
    }

    #[test]
    fn a_full_page_goes_on_and_the_pass_ends_at_the_newest_update_seen() {
        let since = t("2026-01-01T00:00:00Z");
        let started = t("2026-02-01T00:00:00Z");
        let c = Cursor::at(since);
        let page1 = [rec("a", "2026-01-05T00:00:00+00:00"), rec("b", "2026-01-03T00:00:00+00:00")];
        let (c, end) = following(&c, &page1, 2, started);
        assert!(!end);
        assert_eq!((c.page, c.per_page, c.newest, c.since), (2, Some(2), Some(t("2026-01-05T00:00:00Z")), since));
        assert_eq!(c.pass_started, Some(started), "a crash resumes in the same pass");
        // A page past the last: empty, the pass ends, the next starts at the newest update.
        let (c, end) = following(&c, &[], 2, started);
        assert!(end);
        assert_eq!(c, Cursor { last_pass: Some(started), ..Cursor::at(t("2026-01-05T00:00:00Z")) });
    }

    #[test]
    fn a_short_page_is_the_last_and_an_empty_pass_keeps_its_bound() {
        let since = t("2026-01-01T00:00:00Z");
        let (c, end) = following(&Cursor::at(since), &[rec("a", "2025-12-31T23:30:00+00:00")], 5, since);
        assert!(end);
        assert_eq!(c.since, since, "an older update (from the overlap) never moves the bound back");
        let (c, end) = following(&Cursor::at(since), &[], 5, since);
        assert!(end && c.since == since);
        // An update newer than the pass's start (a long pass): the bound stops at the start.
        let started = t("2026-01-02T00:00:00Z");
        let (c, _) = following(&Cursor::at(since), &[rec("a", "2026-01-03T00:00:00+00:00")], 5, started);
        assert_eq!(c.since, started);
    }

    #[test]
    fn newest_event_reads_the_bound() {
        let c = Cursor { newest: Some(t("2026-01-02T00:00:00Z")), ..Cursor::at(t("2026-01-01T00:00:00Z")) };
        assert_eq!(newest_event(&cursor_json(&c)), Some(t("2026-01-02T00:00:00Z")));
        assert_eq!(newest_event("not json"), None);
    }
}
