//! Users under v2: `GET {base}/users`, a plain JSON array of every user (no pagination). Each
//! pass reads all of them (a full snapshot); the collector's fingerprint check drops those
//! unchanged since the stored record, so a permission change, a deletion or a new
//! administrator is one line. At most one pass per `interval`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::config::UsersConfig;
use super::procedures::parse_list;
use super::{Session, YOUSIGN_V2_USERS};
use crate::core::source::{Page, Paging, Record, SinceStart, Source, Stream, unreadable_cursor};
use crate::error::Error;

const WHAT: &str = "Yousign users (v2)";

/// The stored cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// When the last complete pass began.
    last_pass: Option<DateTime<Utc>>,
}

fn json(c: &Cursor) -> String {
    serde_json::to_string(c).unwrap_or_default()
}

/// Yousign users (API v2).
#[derive(Debug)]
pub struct Users {
    session: std::sync::Arc<Session>,
    url: String,
    paging: Paging,
    interval: Duration,
}

impl Users {
    /// The source for the v2 API at `base` (the API root, no `/v3`).
    pub fn new(session: std::sync::Arc<Session>, cfg: &UsersConfig, base: &str) -> Self {
        Self {
            session,
            url: format!("{}/users", base.trim_end_matches('/')),
            paging: Paging { page_size: cfg.page_size.get(), max_per_run: None, prefetch: true },
            interval: cfg.interval.get(),
        }
    }

    fn parse_cursor(stored: &str) -> Result<Cursor, Error> {
        serde_json::from_str(stored).map_err(|e| unreadable_cursor(YOUSIGN_V2_USERS.key, &e))
    }
}

#[async_trait]
impl Source for Users {
    fn kind(&self) -> &'static Stream {
        &YOUSIGN_V2_USERS
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
        Self::parse_cursor(stored).ok()?.last_pass
    }

    async fn fetch_page(&self, cursor: &str, _limit: u32) -> Result<Page, Error> {
        // Read only to refuse a damaged state file; the snapshot always starts over.
        Self::parse_cursor(cursor)?;
        let started = Utc::now();
        // The whole list in one reply: `limit` (and `page_size`) cannot split it.
        let reply = self.session.client.get_json(&self.session.api, WHAT, &self.url).await?;
        let records = parse_list(reply, WHAT)?;
        let next = json(&Cursor { last_pass: Some(started) });
        Ok(Page { records: records.into_iter().map(Record::Object).collect(), next, at_end: true })
    }
}
