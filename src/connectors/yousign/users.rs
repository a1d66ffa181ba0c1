//! Users: `GET {base}/users` (cursor pagination). A user record has no change date, so every
//! pass reads all of them (a full snapshot); the collector's fingerprint check drops those
//! unchanged since the stored record, so a role change, a deactivation or a new administrator
//! is one line. At most one pass per `interval`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::UsersConfig;
use super::signature_requests::parse;
use super::{Session, USERS};
use crate::core::source::{Page, Paging, Record, SinceStart, Source, Stream, unreadable_cursor};
use crate::error::Error;

/// The stored cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// The page cursor of the pass in progress.
    after: Option<String>,
    /// When the pass in progress began.
    pass_started: Option<DateTime<Utc>>,
    /// When the last complete pass began.
    last_pass: Option<DateTime<Utc>>,
}

/// Yousign users.
#[derive(Debug)]
pub struct Users {
    session: std::sync::Arc<Session>,
    url: String,
    paging: Paging,
    interval: Duration,
}

impl Users {
    /// The source for the API at `base` (`/v3` included).
    pub fn new(session: std::sync::Arc<Session>, cfg: &UsersConfig, base: &str) -> Self {
        Self {
            session,
            url: format!("{}/users", base.trim_end_matches('/')),
            paging: Paging { page_size: cfg.page_size.get(), max_per_run: None, prefetch: true },
            interval: cfg.interval.get(),
        }
    }

    fn parse_cursor(stored: &str) -> Result<Cursor, Error> {
        serde_json::from_str(stored).map_err(|e| unreadable_cursor(USERS.key, &e))
    }
}

fn json(c: &Cursor) -> String {
    serde_json::to_string(c).unwrap_or_default()
}

#[async_trait]
impl Source for Users {
    fn kind(&self) -> &'static Stream {
        &USERS
    }

    fn start_cursor(&self, _since: Option<DateTime<Utc>>) -> Result<String, Error> {
        Ok(json(&Cursor::default()))
    }

    fn since_start(&self, stored: Option<&str>, _since: DateTime<Utc>) -> Result<SinceStart, Error> {
        let cursor = stored.map_or_else(|| json(&Cursor::default()), str::to_owned);
        Ok(SinceStart::Ignored { cursor, why: "Yousign users are read as a full snapshot every pass" })
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
        let mut c = Self::parse_cursor(cursor)?;
        let started = *c.pass_started.get_or_insert_with(Utc::now);
        let mut url = url::Url::parse(&self.url).map_err(|e| Error::Internal(format!("URL {}: {e}", self.url)))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &limit.clamp(1, 100).to_string());
            if let Some(after) = &c.after {
                q.append_pair("after", after);
            }
        }
        let reply = self.session.client.get_json(&self.session.api, "Yousign users", url.as_str()).await?;
        let (records, next) = parse(reply, "Yousign users")?;
        let next = next.filter(|_| !records.is_empty());
        let at_end = next.is_none();
        let following = match next {
            Some(after) => Cursor { after: Some(after), ..c },
            None => Cursor { after: None, pass_started: None, last_pass: Some(started) },
        };
        Ok(Page { records: records.into_iter().map(Record::Object).collect(), next: json(&following), at_end })
    }
}
