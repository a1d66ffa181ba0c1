//! Signature requests: `GET {base}/signature_requests`, read as reconciliation beside the
//! webhooks (Yousign: "we don't allow polling"), at most once per `interval`.
//!
//! The API has no change date, only day-granular lifecycle filters (`created_at`,
//! `activated_at`, `completed_at`, `declined_at`, `approved_at`, `rejected_at`, each with
//! `[after]=yyyy-mm-dd`). A pass therefore asks each filter for the days since the previous
//! pass began (from the day before, for time-zone doubt), then sweeps the statuses no filter
//! dates (`expired`, `canceled`, `deleted`) over the `first_fetch` horizon, and last lists every
//! `ongoing` request: a signer who signs leaves the request `ongoing` and moves none of its
//! dates, so without that sweep a signer of a request activated before the window would not be
//! seen (nor its audit trail queued) until the request ended, days or weeks later. Every query sends
//! `source[in]` with every source: without it the API returns only the requests created
//! through the API, not those of the web app. A request is identified by its id and status,
//! so the overlap of day windows and sweeps is absorbed by the ledger: one line per status.
//!
//! The cursor holds the pass in progress (its phase and the page cursor `after`), so a crash
//! resumes at the page it was on.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::SignatureRequestsConfig;
use super::{SIGNATURE_REQUESTS, Session};
use crate::core::source::{Page, Paging, Record, SinceStart, Source, Stream, unreadable_cursor};
use crate::error::Error;
use crate::http::ApiError;

/// Every `source` a signature request can have (the 2026 spec's enum; the API refuses a value
/// outside it, such as the 2025 spec's `connector_hubspot_api`): sent as `source[in]` on every query.
pub(super) const ALL_SOURCES: &str =
    "app,public_api,hubspot_integration,connector_salesforce_api,connector_google_api,connector_zapier_api";

/// The query of each phase of a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Requests whose lifecycle date `field` is after the pass's first day.
    Dated(&'static str),
    /// Requests in a status no filter dates, created within the horizon.
    Undated,
    /// Every request still `ongoing` (however old: it ends by its expiration), whose signers
    /// may have signed since it was last listed.
    Open,
}

const PHASES: [Phase; 8] = [
    Phase::Dated("created_at"),
    Phase::Dated("activated_at"),
    Phase::Dated("completed_at"),
    Phase::Dated("declined_at"),
    Phase::Dated("approved_at"),
    Phase::Dated("rejected_at"),
    Phase::Undated,
    // Last, so a pass ends on the signers as they are (and after the phases a stored cursor
    // may already point to).
    Phase::Open,
];

/// The statuses without a lifecycle date filter.
const UNDATED: &str = "expired,canceled,deleted";

/// The stored cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// The first day the dated filters cover.
    from: NaiveDate,
    /// The phase in progress (an index into [`PHASES`]).
    phase: usize,
    /// The page cursor within the phase (`meta.next_cursor` of the previous page).
    after: Option<String>,
    /// When the pass in progress began.
    pass_started: Option<DateTime<Utc>>,
    /// When the last complete pass began.
    last_pass: Option<DateTime<Utc>>,
}

fn cursor_json(c: &Cursor) -> String {
    serde_json::to_string(c).unwrap_or_default()
}

/// Signature requests.
#[derive(Debug)]
pub struct SignatureRequests {
    session: std::sync::Arc<Session>,
    /// Where signed signers are queued for their audit trails, and whose queue.
    queue: Option<(std::sync::Arc<std::sync::Mutex<crate::state::Store>>, String)>,
    /// True while a pass is listing (read by the audit trails source).
    listing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    url: String,
    paging: Paging,
    interval: Duration,
    first_fetch: chrono::Duration,
}

impl SignatureRequests {
    /// The source for the API at `base` (`/v3` included); with `queue`, signed signers are
    /// queued there for their audit trails before a page is returned.
    pub fn new(
        session: std::sync::Arc<Session>,
        cfg: &SignatureRequestsConfig,
        base: &str,
        queue: Option<(std::sync::Arc<std::sync::Mutex<crate::state::Store>>, String)>,
    ) -> Self {
        Self {
            session,
            queue,
            listing: std::sync::Arc::default(),
            url: format!("{}/signature_requests", base.trim_end_matches('/')),
            paging: Paging { page_size: cfg.page_size.get(), max_per_run: None, prefetch: true },
            interval: cfg.interval.get(),
            first_fetch: chrono::Duration::from_std(cfg.first_fetch.get()).unwrap_or(chrono::Duration::days(30)),
        }
    }

    /// Shares `listing`, true while a pass is in progress.
    #[must_use]
    pub fn with_listing(self, listing: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Self {
        Self { listing, ..self }
    }

    fn parse_cursor(stored: &str) -> Result<Cursor, Error> {
        serde_json::from_str(stored).map_err(|e| unreadable_cursor(SIGNATURE_REQUESTS.key, &e))
    }

    /// The URL of one page of `phase`.
    fn url(&self, c: &Cursor, phase: Phase, limit: u32, started: DateTime<Utc>) -> Result<url::Url, Error> {
        let mut url = url::Url::parse(&self.url).map_err(|e| Error::Internal(format!("URL {}: {e}", self.url)))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &limit.clamp(1, 100).to_string()).append_pair("source[in]", ALL_SOURCES);
            let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
            match phase {
                Phase::Dated(field) => {
                    let before = c.from.pred_opt().unwrap_or(c.from);
                    q.append_pair(&format!("{field}[after]"), &day(before));
                }
                Phase::Undated => {
                    let horizon = (started - self.first_fetch).date_naive();
                    q.append_pair("status[in]", UNDATED).append_pair("created_at[after]", &day(horizon));
                }
                Phase::Open => {
                    q.append_pair("status[in]", "ongoing");
                }
            }
            if let Some(after) = &c.after {
                q.append_pair("after", after);
            }
        }
        Ok(url)
    }
}

fn malformed(message: impl Into<String>) -> Error {
    ApiError::Malformed { what: "Yousign signature requests".into(), message: message.into() }.into()
}

/// One page of a list: its records and the next page's cursor.
pub(super) type Listed = (Vec<Map<String, Value>>, Option<String>);

/// Reads `{meta: {next_cursor}, data: [...]}`: the records (each with a string `id` and
/// `status`) and the next page's cursor.
pub(super) fn parse(reply: Value, what: &str) -> Result<Listed, Error> {
    let bad = |m: String| -> Error { ApiError::Malformed { what: what.into(), message: m }.into() };
    let Value::Object(mut body) = reply else { return Err(bad("the reply is not a JSON object".into())) };
    let data = match body.remove("data") {
        Some(Value::Array(d)) => d,
        Some(_) => return Err(bad("`data` is not an array".into())),
        None => return Err(bad("the reply has no `data`".into())),
    };
    let mut records = Vec::with_capacity(data.len());
    for (i, r) in data.into_iter().enumerate() {
        match r {
            Value::Object(m) if m.get("id").is_some_and(Value::is_string) => records.push(m),
            Value::Object(_) => return Err(bad(format!("item {i} has no string `id`"))),
            other => return Err(bad(format!("item {i} is not an object: {other}"))),
        }
    }
    let next = body
        .get("meta")
        .and_then(|m| m.get("next_cursor"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok((records, next))
}

#[async_trait]
impl Source for SignatureRequests {
    fn kind(&self) -> &'static Stream {
        &SIGNATURE_REQUESTS
    }

    fn start_cursor(&self, since: Option<DateTime<Utc>>) -> Result<String, Error> {
        let from = since.unwrap_or_else(|| Utc::now() - self.first_fetch).date_naive();
        Ok(cursor_json(&Cursor { from, phase: 0, after: None, pass_started: None, last_pass: None }))
    }

    fn since_start(&self, stored: Option<&str>, since: DateTime<Utc>) -> Result<SinceStart, Error> {
        let cursor = self.start_cursor(Some(since))?;
        let Some(stored) = stored else { return Ok(SinceStart::From(cursor)) };
        let c = Self::parse_cursor(stored)?;
        let position = c.from.and_time(chrono::NaiveTime::MIN).and_utc();
        Ok(if since.date_naive() <= c.from {
            SinceStart::From(cursor)
        } else {
            SinceStart::Skips { cursor, from: Some(position) }
        })
    }

    fn paging(&self) -> Paging {
        self.paging
    }

    fn min_interval(&self) -> Option<Duration> {
        Some(self.interval)
    }

    fn caught_up_at(&self, stored: &str) -> Option<DateTime<Utc>> {
        let c = Self::parse_cursor(stored).ok()?;
        if c.pass_started.is_some() { None } else { c.last_pass }
    }

    async fn fetch_page(&self, cursor: &str, limit: u32) -> Result<Page, Error> {
        use std::sync::atomic::Ordering;
        // Before the first await: the audit trails source, polled after this one in a cycle,
        // then waits for the pass's signed signers.
        self.listing.store(true, Ordering::SeqCst);
        let page = self.page(cursor, limit).await;
        if !matches!(&page, Ok(p) if !p.at_end) {
            self.listing.store(false, Ordering::SeqCst);
        }
        page
    }
}

impl SignatureRequests {
    async fn page(&self, cursor: &str, limit: u32) -> Result<Page, Error> {
        let mut c = Self::parse_cursor(cursor)?;
        let started = *c.pass_started.get_or_insert_with(Utc::now);
        let phase = *PHASES.get(c.phase).ok_or_else(|| malformed(format!("cursor phase {} is unknown", c.phase)))?;
        let url = self.url(&c, phase, limit, started)?;
        let reply = self.session.client.get_json(&self.session.api, "Yousign signature requests", url.as_str()).await?;
        let (records, next) = parse(reply, "Yousign signature requests")?;
        if let Some((store, tenant)) = &self.queue {
            super::audit_trails::queue_signed(store, tenant, &records)?;
        }
        // An empty page ends the phase whatever its cursor says (no loop on a server bug).
        let next = next.filter(|_| !records.is_empty());
        let at_end = next.is_none() && c.phase + 1 == PHASES.len();
        let following = match next {
            Some(after) => Cursor { after: Some(after), ..c },
            None if !at_end => Cursor { phase: c.phase + 1, after: None, ..c },
            None => Cursor {
                from: started.date_naive(),
                phase: 0,
                after: None,
                pass_started: None,
                last_pass: Some(started),
            },
        };
        Ok(Page { records: records.into_iter().map(Record::Object).collect(), next: cursor_json(&following), at_end })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pages_and_their_cursor() {
        let (r, next) =
            parse(json!({"meta": {"next_cursor": "abc"}, "data": [{"id": "a", "status": "done"}]}), "x").unwrap();
        assert_eq!((r.len(), next.as_deref()), (1, Some("abc")));
        let (_, next) = parse(json!({"meta": {"next_cursor": null}, "data": []}), "x").unwrap();
        assert_eq!(next, None);
        assert!(parse(json!({"meta": {}, "data": [{"name": "no id"}]}), "x").is_err());
        assert!(parse(json!({"meta": {}}), "x").is_err());
        assert!(parse(json!([]), "x").is_err());
    }
}
