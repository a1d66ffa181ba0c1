//! Checkpoints: read a source's cursor; commit the cursor, the delivered ids and the latest
//! user records in one transaction. `commit` is called only after every sink confirmed.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, params};

use super::ledger::Mirror;
use super::{Store, StoreError};

/// A stored cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The source's cursor, as JSON text (its meaning belongs to the source).
    pub cursor: String,
    /// When it was committed (RFC 3339).
    pub updated_at: String,
}

/// The latest known record of one Admin user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// The user's id.
    pub user_id: String,
    /// Fingerprint of the record's content.
    pub fingerprint: String,
    /// The record as delivered (JSON).
    pub record: String,
}

impl Store {
    /// The committed cursor of a source, if any.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn checkpoint(&self, tenant: &str, source: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.conn
            .prepare_cached("SELECT cursor, updated_at FROM checkpoints WHERE tenant = ?1 AND source = ?2")
            .and_then(|mut st| {
                st.query_row(params![tenant, source], |r| Ok(Checkpoint { cursor: r.get(0)?, updated_at: r.get(1)? }))
                    .optional()
            })
            .map_err(self.sql())
    }

    /// The in-memory ledger of a source, read from the file the first time.
    pub(super) fn mirror(&mut self, tenant: &str, source: &str) -> Result<&mut Mirror, StoreError> {
        let key = (tenant.to_owned(), source.to_owned());
        if !self.mirrors.contains_key(&key) {
            let m = Mirror::load(&self.conn, tenant, source).map_err(self.sql())?;
            self.mirrors.insert(key.clone(), m);
        }
        self.mirrors
            .get_mut(&key)
            .ok_or_else(|| StoreError::Corrupt { path: self.path.clone(), message: "ledger mirror vanished".into() })
    }

    /// Which of `ids` were already delivered by this source.
    ///
    /// # Errors
    /// `StoreError::Sql` when the ledger cannot be read.
    pub fn seen<'a>(
        &mut self,
        tenant: &str,
        source: &str,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashSet<String>, StoreError> {
        let mut ids = ids.into_iter().peekable();
        if ids.peek().is_none() {
            // Nothing to look up: a timer run with nothing new never reads the ledger.
            return Ok(HashSet::new());
        }
        let m = self.mirror(tenant, source)?;
        Ok(ids.filter(|id| m.contains(id)).map(str::to_owned).collect())
    }

    /// The stored record (line) and fingerprint of each of these users that has one.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn user_records<'a>(
        &self,
        tenant: &str,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, UserRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT fingerprint, record FROM users WHERE tenant = ?1 AND user_id = ?2")
            .map_err(self.sql())?;
        let mut out = HashMap::new();
        for id in ids {
            let row = stmt
                .query_row(params![tenant, id], |r| {
                    Ok(UserRow { user_id: id.to_owned(), fingerprint: r.get(0)?, record: r.get(1)? })
                })
                .optional()
                .map_err(self.sql())?;
            if let Some(row) = row {
                out.insert(id.to_owned(), row);
            }
        }
        Ok(out)
    }

    /// Commits a source's new cursor with the ids it delivered and the user records it saw,
    /// in one transaction, keeping at least `ledger_size` ids per source (whole pages: the
    /// oldest pages beyond that are dropped).
    ///
    /// A commit that delivers nothing (no id, no user record) over an existing checkpoint is
    /// written without an fsync of its own: see [`Store::write_with`].
    ///
    /// # Errors
    /// `StoreError::Sql` (disk full, I/O error): nothing is committed, the old cursor stays.
    pub fn commit(
        &mut self,
        tenant: &str,
        source: &str,
        cursor: &str,
        ids: &[String],
        users: &[UserRow],
        ledger_size: u32,
    ) -> Result<(), StoreError> {
        // A cursor moved over nothing delivered (an empty page, the end of a stream, a cycle
        // with nothing new): if a power cut loses it, that page is read again and is still
        // empty or repeats what the ledger absorbs. No fsync of its own, then: with 1,000
        // tenants that is 1,000 fewer per cycle with nothing new. A source's first checkpoint
        // is the exception: without it a restart starts again `first_fetch` back from its own
        // time, and an outage longer than that would skip what changed meanwhile.
        let fsync = !ids.is_empty() || !users.is_empty() || self.checkpoint(tenant, source)?.is_none();
        self.write_with(fsync, |s| {
            let path = s.path.clone();
            let err = |source| StoreError::Sql { path: path.clone(), source };
            if !ids.is_empty() {
                s.mirror(tenant, source)?;
            }
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let key = (tenant.to_owned(), source.to_owned());
            let tx = s.conn.transaction().map_err(err)?;
            tx.prepare_cached(
                "INSERT INTO checkpoints (tenant, source, cursor, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            )
            .and_then(|mut st| st.execute(params![tenant, source, cursor, now]))
            .map_err(err)?;
            let written = match s.mirrors.get(&key) {
                Some(m) if !ids.is_empty() => Some(m.write(&tx, tenant, source, ids, ledger_size as usize).map_err(err)?),
                _ => None,
            };
            if !users.is_empty() {
                let mut up = tx
                    .prepare_cached(
                        "INSERT INTO users (tenant, user_id, fingerprint, record, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (tenant, user_id) DO UPDATE SET fingerprint = excluded.fingerprint,
                         record = excluded.record, updated_at = excluded.updated_at",
                    )
                    .map_err(err)?;
                for u in users {
                    up.execute(params![tenant, u.user_id, u.fingerprint, u.record, now]).map_err(err)?;
                }
            }
            tx.commit().map_err(err)?;
            if let (Some((seq, cut)), Some(m)) = (written, s.mirrors.get_mut(&key)) {
                m.apply(seq, ids, cut);
            }
            Ok(())
        })
    }

    /// Number of ids in a source's ledger.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn ledger_len(&self, tenant: &str, source: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT coalesce(sum(n), 0) FROM ledger_pages WHERE tenant = ?1 AND source = ?2",
                params![tenant, source],
                |r| r.get(0),
            )
            .map_err(self.sql())?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn commit_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(s.checkpoint("t", "test_events").unwrap(), None);
        s.commit("t", "test_events", "\"c1\"", &ids(&["a", "b"]), &[], 1000).unwrap();
        assert_eq!(s.checkpoint("t", "test_events").unwrap().unwrap().cursor, "\"c1\"");
        let seen = s.seen("t", "test_events", ["a", "x"]).unwrap();
        assert_eq!(seen, HashSet::from(["a".to_owned()]));
        assert!(s.seen("t", "test_users", ["a"]).unwrap().is_empty());
    }

    #[test]
    fn a_commit_over_nothing_delivered_is_kept_and_leaves_the_file_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        let mode = |s: &Store| s.conn.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)).unwrap();
        s.commit("t", "test_events", "\"c1\"", &ids(&["a"]), &[], 1000).unwrap();
        s.commit("t", "test_events", "\"c2\"", &[], &[], 1000).unwrap();
        assert_eq!(mode(&s), 2, "FULL again for the next commit that delivers");
        drop(s);
        let s = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(s.checkpoint("t", "test_events").unwrap().unwrap().cursor, "\"c2\"");
        assert_eq!(s.ledger_len("t", "test_events").unwrap(), 1);
    }

    #[test]
    fn ledger_is_bounded_and_keeps_newest() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        for page in 0..5 {
            let v: Vec<String> = (0..400).map(|i| format!("e{page}-{i}")).collect();
            s.commit("t", "c", "x", &v, &[], 1000).unwrap();
        }
        // At least the bound, in whole pages: the three newest (1200 ids) keep 1000.
        assert_eq!(s.ledger_len("t", "c").unwrap(), 1200);
        assert_eq!(s.seen("t", "c", ["e4-399", "e2-0", "e1-399", "e0-0"]).unwrap().len(), 2);
        // A new process reads the same ledger back from the file.
        drop(s);
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(s.seen("t", "c", ["e4-399", "e2-0", "e1-399", "e0-0"]).unwrap().len(), 2);
        s.commit("t", "c", "x", &ids(&["n1"]), &[], 1000).unwrap();
        assert_eq!(s.ledger_len("t", "c").unwrap(), 1201, "dropping a page would go below the bound");
        let v: Vec<String> = (0..400).map(|i| format!("e5-{i}")).collect();
        s.commit("t", "c", "x", &v, &[], 1000).unwrap();
        assert_eq!(s.ledger_len("t", "c").unwrap(), 1201);
        assert!(s.seen("t", "c", ["e2-0"]).unwrap().is_empty());
        assert_eq!(s.seen("t", "c", ["n1", "e5-0", "e3-0"]).unwrap().len(), 3);
    }

    #[test]
    fn a_version_1_ledger_is_migrated_in_order() {
        let (_dir, path) = crate::testkit::scratch("v1.db");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch(include_str!("schema.sql")).unwrap();
            c.execute_batch("PRAGMA application_id = 1163084593; PRAGMA user_version = 1;").unwrap();
            for id in ["a", "b", "c"] {
                c.execute("INSERT INTO ledger (tenant, source, event_id) VALUES ('default', 'test_events', ?1)", [id])
                    .unwrap();
            }
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.ledger_len("default", "test_events").unwrap(), 3);
        assert_eq!(s.seen("default", "test_events", ["a", "c", "z"]).unwrap().len(), 2);
        let order: String = s.conn.query_row("SELECT ids FROM ledger_pages", [], |r| r.get(0)).unwrap();
        assert_eq!(order, r#"["a","b","c"]"#);
    }

    #[test]
    fn users_upsert() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        let u = |fp: &str| UserRow { user_id: "u1".into(), fingerprint: fp.into(), record: "{}".into() };
        s.commit("t", "test_users", "x", &[], &[u("f1")], 1000).unwrap();
        s.commit("t", "test_users", "y", &[], &[u("f2")], 1000).unwrap();
        let got = s.user_records("t", ["u1", "u2"]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got["u1"].fingerprint, "f2");
    }
}
