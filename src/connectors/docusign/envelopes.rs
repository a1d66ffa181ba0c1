//! eSignature envelope status changes (`[sources.envelopes]`): `GET {root}/envelopes` with
//! `from_to_status=changed` over a time window, `include=recipients`, paged by `nextUri` /
//! `start_position`. One line per status change seen: the envelope object as the list returns
//! it, with its *current* status; the dedup key (and `event_id`) is a hash of `envelopeId`,
//! `status` and `statusChangedDateTime`, so the overlap between windows repeats nothing.
//!
//! # Windows
//! A window is `[from, now − 1 min]` (the minute lets DocuSign's index settle); its first
//! `from` is `first_fetch` ago, each next one starts `overlap` before the previous `to_date`.
//! The cursor records the open window and the `start_position` reached, so a run that stops
//! mid-window (a crash, the run-time budget) resumes that window at that position; it moves
//! only after the sinks confirmed a page, as every cursor does.
//!
//! # What the list sees, and what it does not
//! - An envelope appears once per call, with the status it has *now*: two changes inside one
//!   window (sent, then completed) show as one line (completed). Poll windows are 15 minutes
//!   apart at the least (DocuSign's polling rule), so fast lifecycles lose their middle steps;
//!   Connect (push) sees every step.
//! - The list returns the envelopes the *impersonated user* (`docusign.user_id`) can see: the
//!   envelopes they sent, or that are shared with them. DocuSign's SDK users report seeing only
//!   their own envelopes; the API's `user_id` parameter documents that a user with account
//!   access may list another user's envelopes. Impersonate an account administrator. Whether an
//!   administrator's call lists the whole account's envelopes is not documented for REST (the
//!   SOAP call does, for "all users"); it is not verified here. For full coverage, use Connect
//!   with `allUsers = true`.
//! - Paging by position over a live list: an envelope that changes again while a window is
//!   paged leaves its place; the overlap of the next window and Connect cover that edge.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::{debug, info, warn};

use super::ENVELOPES;
use super::base_uri::Esignature;
use super::reconcile::Reconcile;
use crate::core::collector::lock;
use crate::core::source::{Page, Paging, Record, SinceStart, Source, Stream, iso, unreadable_cursor};
use crate::error::Error;
use crate::state::Store;
use crate::values::{Bounded, ConfigError, HumanDuration};

/// DocuSign's polling rule: the account-level list no more often than every 15 minutes.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// How far behind now a window ends, so what DocuSign is still indexing is read next time.
const SETTLE: chrono::Duration = chrono::Duration::minutes(1);

/// The statuses after which an envelope changes no more (its audit trail is complete).
pub(super) const TERMINAL: [&str; 3] = ["completed", "declined", "voided"];

/// `[sources.envelopes]`. A key left out takes its value from [`EnvelopesConfig::default`].
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvelopesConfig {
    /// Collect envelope status changes from the eSignature API (scope `signature`).
    pub enabled: bool,
    /// Also read each envelope's audit events once, when it reaches a terminal status
    /// (completed, declined, voided): stream `envelope_audit`.
    pub audit_events: bool,
    /// Envelopes asked for per request (`count`); DocuSign returns at most 1000.
    pub page_size: Bounded<1, 1000>,
    /// How far back a brand-new checkpoint starts.
    pub first_fetch: HumanDuration,
    /// How far before the previous window's end the next one starts (repeats are deduplicated).
    pub overlap: HumanDuration,
    /// Shortest time between two list windows in `run` (at least 15 minutes: DocuSign's
    /// polling rule). The pages of one window follow each other at once.
    pub interval: HumanDuration,
    /// Envelopes whose audit events one cycle reads at most; the rest wait for the next.
    pub max_audit_per_cycle: Bounded<1, 10_000>,
    /// With `[receivers.connect]`: how long Connect has to deliver a transition before polling
    /// calls it a gap (a window then ends this long before now instead of one minute).
    pub connect_grace: HumanDuration,
}

impl Default for EnvelopesConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            audit_events: false,
            page_size: Bounded::of::<1000>(),
            first_fetch: HumanDuration::secs::<86_400>(),
            overlap: HumanDuration::secs::<300>(),
            interval: HumanDuration::secs::<900>(),
            max_audit_per_cycle: Bounded::of::<100>(),
            connect_grace: HumanDuration::secs::<600>(),
        }
    }
}

impl EnvelopesConfig {
    /// The interval is at least DocuSign's 15 minutes.
    ///
    /// # Errors
    /// `ConfigError::Invalid` for `sources.envelopes.interval`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.interval.get() < MIN_POLL_INTERVAL {
            return Err(ConfigError::invalid(
                "sources.envelopes.interval",
                format!(
                    "is {}, under 15m: DocuSign's polling rules allow the account-level envelope list at most once every 15 minutes (and any one envelope at most once every 15 minutes); use Connect for faster delivery",
                    humantime::format_duration(self.interval.get())
                ),
            ));
        }
        self.first_fetch.require_nonzero("sources.envelopes.first_fetch")
    }
}

/// The stored cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// Where the next window starts.
    from: DateTime<Utc>,
    /// The end of the last window read to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    through: Option<DateTime<Utc>>,
    /// The window being read, if one is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<Window>,
}

/// One list window and the position reached in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Window {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    start: u64,
}

fn cursor_json(c: &Cursor) -> String {
    serde_json::to_string(c).unwrap_or_default()
}

/// The end of the last complete window of a stored cursor, for `status` and the metrics.
pub(crate) fn newest_event(stored: &str) -> Option<DateTime<Utc>> {
    serde_json::from_str::<Cursor>(stored).ok()?.through
}

/// A list reply (`EnvelopesInformation`): DocuSign writes its numbers as strings.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct List {
    #[serde(default)]
    envelopes: Option<Vec<Map<String, Value>>>,
    #[serde(default)]
    next_uri: Option<String>,
    #[serde(default)]
    end_position: Option<Value>,
}

pub(super) fn read(body: &[u8]) -> Result<List, String> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err("not an envelope list: not a JSON object".into());
    }
    serde_json::from_slice(body).map_err(|e| format!("not an envelope list: {e}"))
}

impl List {
    /// The envelopes of the page (none when the reply has no `envelopes`).
    pub(super) fn envelopes_or_empty(&self) -> Vec<Map<String, Value>> {
        self.envelopes.clone().unwrap_or_default()
    }
}

/// A number DocuSign may write as a string.
fn number(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The `start_position` of the page after one that started at `start` and held `n`
/// envelopes; `None` when the window is read to its end.
pub(super) fn next_start(list: &List, start: u64, n: usize) -> Option<u64> {
    let next = list.next_uri.as_deref().map(str::trim).filter(|u| !u.is_empty() && *u != "null")?;
    if n == 0 {
        // A `nextUri` after an empty page would page forever.
        return None;
    }
    let from_uri = url::Url::parse("http://x/")
        .ok()
        .and_then(|b| b.join(next).ok())
        .and_then(|u| u.query_pairs().find(|(k, _)| k == "start_position").and_then(|(_, v)| v.parse::<u64>().ok()));
    let from_end = list.end_position.as_ref().and_then(number).map(|e| e + 1);
    let after = start + n as u64;
    // Never backwards or in place: a wrong position must not loop over the same page.
    Some(from_uri.or(from_end).filter(|&p| p > start).unwrap_or(after))
}

/// One envelope of the list → its output record, or `None` to skip it. Every polled
/// transition passes here, so a filter (such as "Connect already delivered it") belongs here.
pub(super) fn transition(envelope: Map<String, Value>) -> Option<Map<String, Value>> {
    let has = |k: &str| envelope.get(k).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    (has("envelopeId") && has("status")).then_some(envelope)
}

/// The envelopes of `records` that reached a terminal status: `(envelopeId, detail)`.
fn terminal(records: &[Map<String, Value>]) -> Vec<(String, String)> {
    records
        .iter()
        .filter(|r| r.get("status").and_then(Value::as_str).is_some_and(|s| TERMINAL.contains(&s)))
        .filter_map(|r| {
            let id = r.get("envelopeId")?.as_str()?.to_owned();
            let detail =
                serde_json::json!({"status": r.get("status"), "statusChangedDateTime": r.get("statusChangedDateTime")});
            Some((id, detail.to_string()))
        })
        .collect()
}

/// The query of one page of `w`.
fn query(w: &Window, count: u32) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("from_date", &iso(w.from))
        .append_pair("to_date", &iso(w.to))
        .append_pair("from_to_status", "changed")
        .append_pair("include", "recipients")
        .append_pair("count", &count.to_string())
        .append_pair("start_position", &w.start.to_string());
    format!("/envelopes?{}", q.finish())
}

/// Parses `cursor` and opens its window if none is open (`[from, now − 1 min]`, whole
/// seconds); no window when it would be empty (its start is not before now − 1 min).
fn open_window(cursor: &str, now: DateTime<Utc>) -> Result<(Cursor, Option<Window>), Error> {
    let c: Cursor = serde_json::from_str(cursor).map_err(|e| unreadable_cursor(ENVELOPES.key, &e))?;
    if let Some(w) = &c.window {
        return Ok((c.clone(), Some(w.clone())));
    }
    // Whole seconds: the query writes whole seconds, and the next window starts from this.
    let to = DateTime::from_timestamp((now - SETTLE).timestamp(), 0).unwrap_or(now);
    let w = (to > c.from).then_some(Window { from: c.from, to, start: 0 });
    Ok((c, w))
}

/// How long before a new window ending at `to` the previous one ended, when that is less than
/// `interval` (both end a minute before they were opened).
fn too_soon(c: &Cursor, to: DateTime<Utc>, interval: Duration) -> Option<chrono::Duration> {
    let since = to - c.through?;
    (since < chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX)).then_some(since)
}

/// Envelope status changes.
#[derive(Debug)]
pub struct Envelopes {
    esig: Arc<Esignature>,
    store: Option<Arc<Mutex<Store>>>,
    tenant: String,
    audit: bool,
    page_size: u32,
    first_fetch: chrono::Duration,
    overlap: chrono::Duration,
    interval: Duration,
    /// With Connect: its side of the transitions, and how much longer than the settling
    /// minute a window ends before now.
    reconcile: Option<(Reconcile, chrono::Duration)>,
}

impl Envelopes {
    /// The source for the account behind `esig`; `store` receives the terminal envelopes whose
    /// audit events are to be read (with `audit_events`).
    pub fn new(esig: Arc<Esignature>, store: Option<Arc<Mutex<Store>>>, tenant: &str, cfg: &EnvelopesConfig) -> Self {
        let d = |h: HumanDuration| chrono::Duration::from_std(h.get()).unwrap_or(chrono::Duration::days(1));
        Self {
            esig,
            store,
            tenant: tenant.to_owned(),
            audit: cfg.audit_events,
            page_size: cfg.page_size.get(),
            first_fetch: d(cfg.first_fetch),
            overlap: d(cfg.overlap),
            interval: cfg.interval.get(),
            reconcile: None,
        }
    }

    /// Reconciles with Connect: polled transitions Connect delivered are dropped, the others
    /// emitted as gaps; windows end `connect_grace` before now.
    #[must_use]
    pub fn with_reconcile(mut self, r: Reconcile, cfg: &EnvelopesConfig) -> Self {
        let grace = chrono::Duration::from_std(cfg.connect_grace.get()).unwrap_or(SETTLE);
        self.reconcile = Some((r, (grace - SETTLE).max(chrono::Duration::zero())));
        self
    }

    /// How much longer than the settling minute a window ends before now.
    fn lag(&self) -> chrono::Duration {
        self.reconcile.as_ref().map_or_else(chrono::Duration::zero, |(_, lag)| *lag)
    }

    /// Queues the terminal envelopes of a page for their audit events.
    fn queue_terminal(&self, records: &[Map<String, Value>]) -> Result<(), Error> {
        let (true, Some(store)) = (self.audit, &self.store) else { return Ok(()) };
        let items = terminal(records);
        if !items.is_empty() {
            let added = lock(store).enqueue(&self.tenant, super::ENVELOPE_AUDIT.key, &items)?;
            debug!(tenant = %self.tenant, queued = added, "Terminal envelopes queued for their audit events.");
        }
        Ok(())
    }
}

#[async_trait]
impl Source for Envelopes {
    fn kind(&self) -> &'static Stream {
        &ENVELOPES
    }

    fn start_cursor(&self, since: Option<DateTime<Utc>>) -> Result<String, Error> {
        let from = since.unwrap_or_else(|| Utc::now() - self.first_fetch);
        Ok(cursor_json(&Cursor { from, through: None, window: None }))
    }

    fn since_start(&self, stored: Option<&str>, since: DateTime<Utc>) -> Result<SinceStart, Error> {
        let cursor = self.start_cursor(Some(since))?;
        let Some(stored) = stored else { return Ok(SinceStart::From(cursor)) };
        let c: Cursor = serde_json::from_str(stored).map_err(|e| unreadable_cursor(ENVELOPES.key, &e))?;
        let position = c.window.as_ref().map_or(c.from, |w| w.from);
        Ok(if since <= position {
            SinceStart::From(cursor)
        } else {
            SinceStart::Skips { cursor, from: Some(position) }
        })
    }

    fn paging(&self) -> Paging {
        // No prefetch: list calls fall under DocuSign's polling rule, and a page fetched ahead
        // that a crash or shutdown drops would be listed again by the next run.
        Paging { page_size: self.page_size, max_per_run: None, prefetch: false }
    }

    fn min_interval(&self) -> Option<Duration> {
        Some(self.interval)
    }

    fn caught_up_at(&self, stored: &str) -> Option<DateTime<Utc>> {
        // A window is opened a minute after its end; an open one is still being read.
        let c: Cursor = serde_json::from_str(stored).ok()?;
        c.window.is_none().then_some(c.through? + SETTLE + self.lag())
    }

    async fn fetch_page(&self, cursor: &str, limit: u32) -> Result<Page, Error> {
        // Set before the first await: the audit source, polled after this one in a cycle,
        // then waits for the window's terminal envelopes.
        self.esig.set_listing(true);
        let page = self.page(cursor, limit).await;
        if !matches!(&page, Ok(p) if !p.at_end) {
            self.esig.set_listing(false);
        }
        page
    }
}

impl Envelopes {
    /// One page of the open window (opening one if none is).
    async fn page(&self, cursor: &str, limit: u32) -> Result<Page, Error> {
        let (c, window) = open_window(cursor, Utc::now() - self.lag())?;
        let Some(w) = window else {
            return Ok(Page { records: Vec::new(), next: cursor.to_owned(), at_end: true });
        };
        if w.start == 0
            && let Some(since) = too_soon(&c, w.to, self.interval)
        {
            warn!(
                tenant = %self.tenant,
                since_s = since.num_seconds(),
                "The envelope list is read again sooner than sources.envelopes.interval: DocuSign's polling rules allow it at most once every 15 minutes. `run` keeps to that by itself; time a `fetch` timer to 15 minutes or more."
            );
        }
        let list = self.esig.get("envelope list", &query(&w, limit.clamp(1, 1000)), None, read).await?;
        let envelopes = list.envelopes_or_empty();
        let n = envelopes.len();
        let records: Vec<Map<String, Value>> = envelopes.into_iter().filter_map(transition).collect();
        if records.len() < n {
            info!(tenant = %self.tenant, skipped = n - records.len(), "Envelopes without envelopeId or status skipped.");
        }
        self.queue_terminal(&records)?;
        let records = match &self.reconcile {
            Some((r, _)) => r.gaps(records)?,
            None => records,
        };
        let (next, at_end) = match next_start(&list, w.start, n) {
            Some(start) => (Cursor { window: Some(Window { start, ..w }), ..c }, false),
            None => (Cursor { from: w.to - self.overlap, through: Some(w.to), window: None }, true),
        };
        Ok(Page { records: records.into_iter().map(Record::Object).collect(), next: cursor_json(&next), at_end })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn list(v: &Value) -> List {
        read(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_new_window_ends_a_minute_ago_in_whole_seconds() {
        let c = cursor_json(&Cursor { from: t("2026-01-15T10:00:00Z"), through: None, window: None });
        let (_, w) = open_window(&c, t("2026-01-15T10:20:30.900Z")).unwrap();
        assert_eq!(w, Some(Window { from: t("2026-01-15T10:00:00Z"), to: t("2026-01-15T10:19:30Z"), start: 0 }));
        // Nothing to read yet: the window would be empty.
        let (_, w) = open_window(&c, t("2026-01-15T10:00:30Z")).unwrap();
        assert_eq!(w, None);
        assert!(open_window("{\"x\": 1}", Utc::now()).is_err(), "an unreadable cursor is refused");
    }

    #[test]
    fn an_open_window_is_resumed_where_it_stopped() {
        let open = Window { from: t("2026-01-15T10:00:00Z"), to: t("2026-01-15T10:14:00Z"), start: 2000 };
        let c = cursor_json(&Cursor { from: open.from, through: None, window: Some(open.clone()) });
        // Hours later (a crash, a restart): the same window, the same position.
        let (_, w) = open_window(&c, t("2026-01-15T13:00:00Z")).unwrap();
        assert_eq!(w, Some(open));
    }

    #[test]
    fn query_names_the_window_and_the_position() {
        let w = Window { from: t("2026-01-15T10:00:00Z"), to: t("2026-01-15T10:14:00Z"), start: 1000 };
        assert_eq!(
            query(&w, 1000),
            "/envelopes?from_date=2026-01-15T10%3A00%3A00Z&to_date=2026-01-15T10%3A14%3A00Z&from_to_status=changed&include=recipients&count=1000&start_position=1000"
        );
    }

    #[test]
    fn paging_follows_next_uri_then_end_position() {
        let l = list(&json!({"envelopes": [{}, {}], "endPosition": "1",
            "nextUri": "/restapi/v2.1/accounts/a/envelopes?start_position=2&count=2&from_date=x"}));
        assert_eq!(next_start(&l, 0, 2), Some(2));
        let l = list(&json!({"envelopes": [{}, {}], "endPosition": "3", "nextUri": "/envelopes?count=2"}));
        assert_eq!(next_start(&l, 2, 2), Some(4), "no position in nextUri: endPosition + 1");
        let l = list(&json!({"envelopes": [{}, {}], "nextUri": "/envelopes?start_position=0"}));
        assert_eq!(next_start(&l, 4, 2), Some(6), "a position that does not move is not followed");
        let l = list(&json!({"envelopes": [{}], "endPosition": "6", "nextUri": null}));
        assert_eq!(next_start(&l, 6, 1), None, "the last page");
        let l = list(&json!({"envelopes": [], "nextUri": "/envelopes?start_position=9"}));
        assert_eq!(next_start(&l, 8, 0), None, "an empty page ends the window");
        let l = list(&json!({"resultSetSize": "0", "totalSetSize": "0"}));
        assert!(l.envelopes.is_none() && next_start(&l, 0, 0).is_none());
        assert!(read(b"[]").is_err());
        assert!(read(br#"{"envelopes": {"a": 1}}"#).is_err());
    }

    #[test]
    fn transitions_need_an_id_and_a_status_and_terminal_ones_are_queued() {
        let recs: Vec<Map<String, Value>> = [
            json!({"envelopeId": "e1", "status": "completed", "statusChangedDateTime": "2026-01-15T10:07:12.1230000Z"}),
            json!({"envelopeId": "e2", "status": "sent"}),
            json!({"envelopeId": "e3", "status": "voided"}),
            json!({"envelopeId": "", "status": "sent"}),
            json!({"status": "declined"}),
        ]
        .into_iter()
        .filter_map(|v| match v {
            Value::Object(m) => transition(m),
            _ => None,
        })
        .collect();
        assert_eq!(recs.len(), 3);
        let q = terminal(&recs);
        assert_eq!(q.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["e1", "e3"]);
        assert!(q[0].1.contains("2026-01-15T10:07:12.1230000Z"));
    }

    #[test]
    fn dedup_key_is_envelope_status_and_time() {
        use crate::core::normalize::normalize;
        let rec = |status: &str, at: &str, subject: &str| match json!({"envelopeId": "e1", "status": status,
            "statusChangedDateTime": at, "emailSubject": subject})
        {
            Value::Object(m) => normalize(&ENVELOPES, m, "2026-01-15T11:00:00.000Z"),
            _ => unreachable!(),
        };
        let a = rec("sent", "2026-01-15T10:00:00.1000000Z", "a");
        assert_eq!(a.event_id, rec("sent", "2026-01-15T10:00:00.1000000Z", "changed subject").event_id);
        assert_ne!(a.event_id, rec("completed", "2026-01-15T10:00:00.1000000Z", "a").event_id);
        assert_ne!(a.event_id, rec("sent", "2026-01-15T10:05:00.1000000Z", "a").event_id);
        assert_eq!(a.value["event_id"], a.event_id.as_str());
        assert_eq!(a.time, "2026-01-15T10:00:00.1000000Z");
        assert_eq!(a.value["source_log_type"], "envelopes");
        assert_eq!(a.value["product"], "esignature");
    }

    #[test]
    fn intervals_under_fifteen_minutes_are_refused_with_the_rule() {
        let mut c = EnvelopesConfig::default();
        assert!(c.validate().is_ok());
        c.interval = HumanDuration(Duration::from_secs(14 * 60));
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("sources.envelopes.interval") && e.contains("15 minutes"), "{e}");
        c.interval = HumanDuration(Duration::from_secs(3600));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn a_window_sooner_than_the_interval_is_noticed() {
        let c = Cursor { from: t("2026-01-15T10:10:00Z"), through: Some(t("2026-01-15T10:15:00Z")), window: None };
        let fifteen = Duration::from_secs(900);
        assert_eq!(too_soon(&c, t("2026-01-15T10:20:00Z"), fifteen), Some(chrono::Duration::minutes(5)));
        assert_eq!(too_soon(&c, t("2026-01-15T10:30:00Z"), fifteen), None);
        let first = Cursor { through: None, ..c };
        assert_eq!(too_soon(&first, t("2026-01-15T10:20:00Z"), fifteen), None);
    }

    #[test]
    fn newest_event_is_the_end_of_the_last_complete_window() {
        let c = Cursor { from: t("2026-01-15T10:10:00Z"), through: Some(t("2026-01-15T10:15:00Z")), window: None };
        assert_eq!(newest_event(&cursor_json(&c)), Some(t("2026-01-15T10:15:00Z")));
        assert_eq!(newest_event("junk"), None);
    }
}
