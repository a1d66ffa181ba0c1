//! Admin user records: `GET {admin}/v2/organizations/{org}/users?account_id=&start=&take=`.
//!
//! The user record carries no modification time, so the checkpoint is a *window*: the first
//! pass reads every user (a full snapshot); later passes ask only for users modified since
//! the start of the last complete pass (`last_modified_since`, day-granular, minus an
//! overlap). A pass cut short by the per-run maximum resumes at its offset next run. Users
//! seen again unchanged are dropped by the collector's fingerprint check, which absorbs the
//! overlap. A full snapshot is repeated every `full_snapshot_every`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::UserDataConfig;
use super::{ADMIN_USERS, Session};
use crate::core::source::{Page, Paging, SinceStart, Source, Stream};
use crate::error::Error;
use crate::http::ApiError;

/// The stored cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// Users modified since this time are asked for; `None` means a full snapshot.
    since: Option<DateTime<Utc>>,
    /// When the pass in progress started (set by its first page).
    pass_started: Option<DateTime<Utc>>,
    /// Offset of the next page within the pass in progress.
    offset: u32,
    /// When the last full snapshot started.
    last_full: Option<DateTime<Utc>>,
}

impl Cursor {
    /// Whether the next pass must read every user: none yet, or the last full one is `every` old.
    fn full_due(&self, every: chrono::Duration, now: DateTime<Utc>) -> bool {
        self.since.is_none() || self.last_full.is_none_or(|t| now - t >= every)
    }
}

/// Admin user records.
#[derive(Debug)]
pub struct AdminUsers {
    session: std::sync::Arc<Session>,
    url: String,
    account_id: String,
    paging: Paging,
    overlap: chrono::Duration,
    full_every: chrono::Duration,
}

impl AdminUsers {
    /// Builds the source for `base` (the Admin API base, `/management` included).
    pub fn new(
        session: std::sync::Arc<Session>,
        cfg: &UserDataConfig,
        base: &str,
        organization_id: &str,
        account_id: &str,
    ) -> Self {
        let org: String = url::form_urlencoded::byte_serialize(organization_id.as_bytes()).collect();
        Self {
            session,
            url: format!("{}/v2/organizations/{org}/users", base.trim_end_matches('/')),
            account_id: account_id.to_owned(),
            paging: Paging {
                page_size: cfg.page_size.get(),
                max_per_run: cfg.max_users_per_fetch.map(crate::values::Bounded::get),
                prefetch: true,
            },
            overlap: chrono::Duration::from_std(cfg.modified_overlap.get()).unwrap_or(chrono::Duration::hours(1)),
            full_every: chrono::Duration::from_std(cfg.full_snapshot_every.get()).unwrap_or(chrono::Duration::days(7)),
        }
    }

    fn full_due(&self, c: &Cursor, now: DateTime<Utc>) -> bool {
        c.full_due(self.full_every, now)
    }
}

fn malformed(message: impl Into<String>) -> Error {
    ApiError::Malformed { what: "Admin users".into(), message: message.into() }.into()
}

/// Reads `{users: [...], paging: {next, ...}}`: the records, and whether another page follows.
pub(super) fn parse(reply: Value) -> Result<(Vec<Map<String, Value>>, bool), Error> {
    let Value::Object(mut body) = reply else {
        return Err(malformed("the reply is not a JSON object"));
    };
    let users = match body.remove("users") {
        Some(Value::Array(u)) => u,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(malformed("`users` is not an array")),
    };
    let mut records = Vec::with_capacity(users.len());
    for (i, u) in users.into_iter().enumerate() {
        match u {
            Value::Object(m) if m.get("id").is_some_and(Value::is_string) => records.push(m),
            Value::Object(_) => return Err(malformed(format!("user {i} has no string `id`"))),
            other => return Err(malformed(format!("user {i} is not an object: {other}"))),
        }
    }
    let more =
        body.get("paging").and_then(|p| p.get("next")).and_then(Value::as_str).is_some_and(|n| !n.trim().is_empty());
    let more = more && !records.is_empty();
    Ok((records, more))
}

#[async_trait]
impl Source for AdminUsers {
    fn kind(&self) -> &'static Stream {
        &ADMIN_USERS
    }

    fn start_cursor(&self, since: Option<DateTime<Utc>>) -> Result<String, Error> {
        // With --since the pass is a changed-only pass from that time; without, a full snapshot.
        let c = Cursor { since, last_full: since.map(|_| Utc::now()), ..Cursor::default() };
        serde_json::to_string(&c).map_err(|e| Error::Internal(e.to_string()))
    }

    fn since_start(&self, stored: Option<&str>, since: DateTime<Utc>) -> Result<SinceStart, Error> {
        let Some(stored) = stored else {
            // The first pass is the full snapshot every later change is compared with.
            return Ok(SinceStart::Ignored {
                cursor: self.start_cursor(None)?,
                why: "the first full user snapshot comes first",
            });
        };
        let c: Cursor =
            serde_json::from_str(stored).map_err(|e| crate::core::source::unreadable_cursor(ADMIN_USERS.key, &e))?;
        if self.full_due(&c, Utc::now()) {
            return Ok(SinceStart::Ignored {
                cursor: stored.to_owned(),
                why: "a full user snapshot is due or in progress",
            });
        }
        // A changed-only pass from `since`, keeping when the last full snapshot ran.
        let next = Cursor { since: Some(since), pass_started: None, offset: 0, last_full: c.last_full };
        let cursor = serde_json::to_string(&next).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(match c.since {
            Some(from) if since <= from => SinceStart::From(cursor),
            from => SinceStart::Skips { cursor, from },
        })
    }

    fn paging(&self) -> Paging {
        self.paging
    }

    async fn fetch_page(&self, cursor: &str, limit: u32) -> Result<Page, Error> {
        let mut c: Cursor =
            serde_json::from_str(cursor).map_err(|e| crate::core::source::unreadable_cursor(ADMIN_USERS.key, &e))?;
        let now = Utc::now();
        if c.pass_started.is_none() {
            c.pass_started = Some(now);
            c.offset = 0;
        }
        let full = self.full_due(&c, c.pass_started.unwrap_or(now));
        let mut url =
            url::Url::parse(&self.url).map_err(|e| Error::Internal(format!("Admin URL {}: {e}", self.url)))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("account_id", &self.account_id)
                .append_pair("start", &c.offset.to_string())
                .append_pair("take", &limit.to_string());
            if let (false, Some(since)) = (full, c.since) {
                // DocuSign documents a date; asking for the day before the window absorbs
                // time-zone doubt, and the fingerprint dedup drops the repeats.
                q.append_pair("last_modified_since", &(since - self.overlap).format("%Y-%m-%d").to_string());
            }
        }
        let reply = self.session.client.get_json(&self.session.api, "Admin users", url.as_str()).await?;
        let (records, more) = parse(reply)?;
        let got = u32::try_from(records.len()).unwrap_or(u32::MAX);
        let next = if more {
            Cursor { offset: c.offset.saturating_add(got), ..c }
        } else {
            Cursor {
                since: c.pass_started,
                pass_started: None,
                offset: 0,
                last_full: if full { c.pass_started } else { c.last_full },
            }
        };
        let next = serde_json::to_string(&next).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Page { records: records.into_iter().map(super::Record::Object).collect(), next, at_end: !more })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paging_next_decides_more() {
        let (r, more) = parse(json!({"users": [{"id": "a"}], "paging": {"next": "https://x/users?start=1"}})).unwrap();
        assert_eq!(r.len(), 1);
        assert!(more);
        let (_, more) = parse(json!({"users": [{"id": "a"}], "paging": {"next": null}})).unwrap();
        assert!(!more);
        let (_, more) = parse(json!({"users": [], "paging": {"next": "https://x"}})).unwrap();
        assert!(!more, "an empty page ends the pass even if next is set");
    }

    #[test]
    fn malformed_users() {
        assert!(parse(json!({"users": [{"name": "no id"}]})).is_err());
        assert!(parse(json!({"users": {}})).is_err());
        assert!(parse(json!("x")).is_err());
    }

    #[test]
    fn full_snapshot_schedule() {
        let every = chrono::Duration::from_std(UserDataConfig::default().full_snapshot_every.get()).unwrap();
        let now = Utc::now();
        assert!(Cursor::default().full_due(every, now));
        let recent = Cursor { since: Some(now), last_full: Some(now), ..Cursor::default() };
        assert!(!recent.full_due(every, now));
        let old = Cursor { since: Some(now), last_full: Some(now - chrono::Duration::days(8)), ..Cursor::default() };
        assert!(old.full_due(every, now));
    }
}
