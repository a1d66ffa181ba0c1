//! What pull sources keep besides their cursors (schema 6): an account's API host, work
//! queues between sources (an item found by one, fetched once by another), and when each
//! resource was last requested (per-resource rate rules that must hold across restarts).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// One queued item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedItem {
    /// Position in the queue (never reused): a reader's cursor.
    pub seq: i64,
    /// The item's id.
    pub item: String,
    /// What the writer noted with it (free text or JSON).
    pub detail: String,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Store {
    /// The stored API host of `account` for `tenant`, and when it was found.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn base_uri(&self, tenant: &str, account: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT base_uri FROM base_uris WHERE tenant = ?1 AND account_id = ?2",
                params![tenant, account],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())
    }

    /// Stores the API host of `account` for `tenant`, replacing the one stored.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be written.
    pub fn set_base_uri(&self, tenant: &str, account: &str, base_uri: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO base_uris (tenant, account_id, base_uri, fetched_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, account_id) DO UPDATE SET base_uri = excluded.base_uri,
                 fetched_at = excluded.fetched_at",
                params![tenant, account, base_uri, ts(Utc::now())],
            )
            .map(drop)
            .map_err(self.sql())
    }

    /// Queues `items` (`(id, detail)`) on `queue`; an item already queued there (even if read
    /// since) is left as it is. Returns how many were new.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be written.
    pub fn enqueue(&mut self, tenant: &str, queue: &str, items: &[(String, String)]) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sql { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        let mut added = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO work_queue (tenant, queue, item, detail, queued_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (tenant, queue, item) DO NOTHING",
                )
                .map_err(err)?;
            let now = ts(Utc::now());
            for (item, detail) in items {
                added += stmt.execute(params![tenant, queue, item, detail, now]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(added)
    }

    /// Up to `limit` items of `queue` after position `after`, oldest first.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn queued_after(
        &self,
        tenant: &str,
        queue: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<QueuedItem>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, item, detail FROM work_queue WHERE tenant = ?1 AND queue = ?2 AND seq > ?3
                 ORDER BY seq LIMIT ?4",
            )
            .map_err(self.sql())?;
        stmt.query_map(params![tenant, queue, after, limit], |r| {
            Ok(QueuedItem { seq: r.get(0)?, item: r.get(1)?, detail: r.get(2)? })
        })
        .and_then(Iterator::collect)
        .map_err(self.sql())
    }

    /// How many items of `queue` wait after position `after`.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn queued_count(&self, tenant: &str, queue: &str, after: i64) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM work_queue WHERE tenant = ?1 AND queue = ?2 AND seq > ?3",
                params![tenant, queue, after],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(self.sql())
    }

    /// When `resource` was last requested for `tenant`.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read; `StoreError::Corrupt` for an unreadable time.
    pub fn last_request(&self, tenant: &str, resource: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<String> = self
            .conn
            .query_row(
                "SELECT at FROM resource_gets WHERE tenant = ?1 AND resource = ?2",
                params![tenant, resource],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())?;
        at.map(|t| {
            DateTime::parse_from_rfc3339(&t).map(|t| t.with_timezone(&Utc)).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                message: format!("resource request time {t:?}: {e}"),
            })
        })
        .transpose()
    }

    /// Records that `resource` is being requested now (durably, before the request is sent).
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be written.
    pub fn record_request(&self, tenant: &str, resource: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO resource_gets (tenant, resource, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, resource) DO UPDATE SET at = excluded.at",
                params![tenant, resource, ts(at)],
            )
            .map(drop)
            .map_err(self.sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let (dir, p) = crate::testkit::scratch("s.db");
        (dir, Store::open(&p).unwrap())
    }

    #[test]
    fn base_uri_is_kept_and_replaced() {
        let (_d, s) = store();
        assert_eq!(s.base_uri("t", "a").unwrap(), None);
        s.set_base_uri("t", "a", "https://na3.example").unwrap();
        s.set_base_uri("t", "a", "https://eu.example").unwrap();
        assert_eq!(s.base_uri("t", "a").unwrap().as_deref(), Some("https://eu.example"));
        assert_eq!(s.base_uri("other", "a").unwrap(), None);
    }

    #[test]
    fn queue_keeps_order_and_queues_an_item_once() {
        let (_d, mut s) = store();
        let items = |v: &[&str]| v.iter().map(|i| ((*i).to_owned(), String::new())).collect::<Vec<_>>();
        assert_eq!(s.enqueue("t", "q", &items(&["a", "b"])).unwrap(), 2);
        assert_eq!(s.enqueue("t", "q", &items(&["b", "c"])).unwrap(), 1);
        let all = s.queued_after("t", "q", 0, 10).unwrap();
        assert_eq!(all.iter().map(|i| i.item.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        let rest = s.queued_after("t", "q", all[0].seq, 1).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].item, "b");
        assert_eq!(s.queued_count("t", "q", all[0].seq).unwrap(), 2);
        assert!(s.queued_after("t", "other", 0, 10).unwrap().is_empty());
    }

    #[test]
    fn a_schema_5_file_migrates_and_keeps_its_data() {
        let (_dir, p) = crate::testkit::scratch("v5.db");
        {
            let c = rusqlite::Connection::open(&p).unwrap();
            c.execute_batch(include_str!("schema.sql")).unwrap();
            for (_, sql) in super::super::MIGRATIONS.iter().filter(|(to, _)| *to <= 5) {
                c.execute_batch(sql).unwrap();
            }
            c.execute_batch(&format!(
                "PRAGMA application_id = {}; PRAGMA user_version = 5;",
                super::super::APPLICATION_ID
            ))
            .unwrap();
            c.execute("INSERT INTO checkpoints VALUES ('default', 'test_events', '\"c5\"', 'x')", []).unwrap();
        }
        let mut s = Store::open(&p).unwrap();
        assert_eq!(s.checkpoint("default", "test_events").unwrap().unwrap().cursor, "\"c5\"");
        assert_eq!(s.enqueue("t", "q", &[("a".into(), String::new())]).unwrap(), 1);
        s.set_base_uri("t", "a", "https://x").unwrap();
    }

    #[test]
    fn request_times_survive_reopening() {
        let (dir, p) = crate::testkit::scratch("r.db");
        let at = Utc::now();
        Store::open(&p).unwrap().record_request("t", "env/1", at).unwrap();
        let s = Store::open(&p).unwrap();
        let got = s.last_request("t", "env/1").unwrap().unwrap();
        assert!((got - at).num_milliseconds().abs() <= 1);
        assert_eq!(s.last_request("t", "env/2").unwrap(), None);
        drop(dir);
    }
}
