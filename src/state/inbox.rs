//! The push path's durable inbox: messages a receiver accepted, kept until every sink
//! confirmed them. A request's messages are stored in one transaction before the receiver
//! answers 2xx; a delivered batch is deleted and its dedup keys written into the ledger in
//! one transaction, so a message is always either waiting here or remembered as delivered.
//!
//! The ledger is the pull path's (`ledger.rs`), used as it is: a receiver's keys live under
//! the tenant [`push_ledger_tenant`] and the message's source identity.

use std::collections::BTreeMap;

use rusqlite::params;

use super::transitions::{self, EnvelopeTransition};
use super::{Store, StoreError};

/// The ledger tenant of a receiver's delivered keys. Tenant names have no `/`, so a receiver's
/// ledger never mixes with a pulled source's.
pub fn push_ledger_tenant(receiver: &str) -> String {
    format!("push/{receiver}")
}

/// One message to store, as the delivery loop will hand it to the sinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    /// The sender's identity (an account, an organisation): scopes the dedup key.
    pub source: String,
    /// The dedup key (the sender's event id or a content fingerprint); the line's `event_id`.
    pub key: String,
    /// The event's time, RFC 3339 UTC.
    pub time: String,
    /// The JSON object to deliver, one line.
    pub line: String,
    /// The envelope status change it reports, if any: recorded with it (only when stored),
    /// never read back with it.
    pub transition: Option<EnvelopeTransition>,
}

/// One stored message, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxRow {
    /// Arrival order; never reused.
    pub seq: i64,
    /// The message.
    pub entry: InboxEntry,
}

/// What [`Store::inbox_put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Every message is stored: `new` now, `queued` were already waiting (a re-send).
    Stored {
        /// Messages stored by this call.
        new: usize,
        /// Messages that were already in the inbox.
        queued: usize,
    },
    /// Storing the new messages would pass the capacity: nothing was stored.
    Full {
        /// Messages waiting.
        len: u64,
    },
}

/// A receiver's waiting messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxHead {
    /// The receiver.
    pub receiver: String,
    /// Its oldest message's `seq`.
    pub oldest: i64,
    /// How many wait.
    pub len: u64,
}

impl Store {
    /// Stores one request's messages for `receiver` in one transaction: all of them or, on an
    /// error or when more than `capacity` messages would wait, none. A message whose
    /// `(source, key)` is already waiting is absorbed (counted in `queued`). Keys already
    /// delivered are the caller's to filter first (the ledger, [`Store::seen`]) under the same
    /// borrow of the store.
    ///
    /// The receiver's last acceptance and the entries' transitions are recorded in the same
    /// transaction.
    ///
    /// # Errors
    /// `StoreError::Sql` (disk full: [`StoreError::is_disk_full`]); nothing is stored.
    pub fn inbox_put(&mut self, receiver: &str, entries: &[InboxEntry], capacity: u64) -> Result<Put, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sql { path: path.clone(), source };
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let tx = self.conn.transaction().map_err(err)?;
        let len: i64 = tx.query_row("SELECT count(*) FROM inbox", [], |r| r.get(0)).map_err(err)?;
        let mut new = 0;
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO inbox (receiver, source, dedup_key, time, line, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (receiver, source, dedup_key) DO NOTHING",
                )
                .map_err(err)?;
            for e in entries {
                new += ins.execute(params![receiver, e.source, e.key, e.time, e.line, now]).map_err(err)?;
            }
        }
        let len = u64::try_from(len).unwrap_or(0);
        if new > 0 && len + new as u64 > capacity {
            // Dropping `tx` rolls back.
            return Ok(Put::Full { len });
        }
        transitions::record(&tx, receiver, &now, entries.iter().filter_map(|e| e.transition.clone())).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Put::Stored { new, queued: entries.len() - new })
    }

    /// Each receiver with waiting messages, the one whose oldest message is oldest first.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn inbox_heads(&self) -> Result<Vec<InboxHead>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT receiver, min(seq), count(*) FROM inbox GROUP BY receiver ORDER BY 2")
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(InboxHead {
                    receiver: r.get(0)?,
                    oldest: r.get(1)?,
                    len: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Up to `limit` of `receiver`'s oldest waiting messages, in arrival order.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn inbox_take(&self, receiver: &str, limit: usize) -> Result<Vec<InboxRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, source, dedup_key, time, line FROM inbox WHERE receiver = ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![receiver, i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok(InboxRow {
                    seq: r.get(0)?,
                    entry: InboxEntry {
                        source: r.get(1)?,
                        key: r.get(2)?,
                        time: r.get(3)?,
                        line: r.get(4)?,
                        transition: None,
                    },
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Marks `rows` of `receiver` delivered, in one transaction: deletes them and writes their
    /// keys into the ledger (at least `ledger_size` keys kept per source, as the pull path
    /// does). Called only after every sink confirmed them.
    ///
    /// # Errors
    /// `StoreError::Sql`: nothing changes, the rows stay and are delivered again (at least once).
    pub fn inbox_delivered(&mut self, receiver: &str, rows: &[InboxRow], ledger_size: u32) -> Result<(), StoreError> {
        let tenant = push_ledger_tenant(receiver);
        let mut by_source: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for r in rows {
            by_source.entry(&r.entry.source).or_default().push(r.entry.key.clone());
        }
        for source in by_source.keys() {
            self.mirror(&tenant, source)?;
        }
        let path = self.path.clone();
        let err = |source| StoreError::Sql { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut del = tx.prepare_cached("DELETE FROM inbox WHERE seq = ?1").map_err(err)?;
            for r in rows {
                del.execute([r.seq]).map_err(err)?;
            }
        }
        for source in by_source.keys() {
            transitions::trim(&tx, source, ledger_size).map_err(err)?;
        }
        let mut written = Vec::with_capacity(by_source.len());
        for (source, keys) in &by_source {
            let key = (tenant.clone(), (*source).to_owned());
            let Some(m) = self.mirrors.get(&key) else { continue };
            written.push((key, m.write(&tx, &tenant, source, keys, ledger_size as usize).map_err(err)?, keys));
        }
        tx.commit().map_err(err)?;
        for (key, (seq, cut), keys) in written {
            if let Some(m) = self.mirrors.get_mut(&key) {
                m.apply(seq, keys, cut);
            }
        }
        Ok(())
    }

    /// Messages waiting, all receivers.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn inbox_len(&self) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row("SELECT count(*) FROM inbox", [], |r| r.get(0)).map_err(self.sql())?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Caps the file at its current size, so a write that needs a new page fails as on a
    /// full disk (SQLite's own `SQLITE_FULL`).
    #[cfg(test)]
    pub(crate) fn fill_disk_for_test(&self) {
        let _: i64 = self.conn.query_row("PRAGMA max_page_count = 1", [], |r| r.get(0)).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{APPLICATION_ID, MIGRATIONS};

    fn entry(source: &str, key: &str) -> InboxEntry {
        InboxEntry {
            source: source.into(),
            key: key.into(),
            time: "2026-01-01T00:00:00Z".into(),
            line: "{}".into(),
            transition: None,
        }
    }

    fn store(dir: &tempfile::TempDir) -> Store {
        Store::open(&dir.path().join("s.db")).unwrap()
    }

    #[test]
    fn a_resent_message_is_absorbed_and_order_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        assert_eq!(
            s.inbox_put("r", &[entry("a", "k1"), entry("a", "k2")], 10).unwrap(),
            Put::Stored { new: 2, queued: 0 }
        );
        assert_eq!(
            s.inbox_put("r", &[entry("a", "k2"), entry("b", "k2")], 10).unwrap(),
            Put::Stored { new: 1, queued: 1 }
        );
        assert_eq!(s.inbox_put("q", &[entry("a", "k1")], 10).unwrap(), Put::Stored { new: 1, queued: 0 });
        let keys: Vec<_> = s.inbox_take("r", 10).unwrap().into_iter().map(|r| (r.entry.source, r.entry.key)).collect();
        assert_eq!(keys, [("a".into(), "k1".into()), ("a".into(), "k2".into()), ("b".into(), "k2".into())]);
        let heads = s.inbox_heads().unwrap();
        assert_eq!(heads.iter().map(|h| (h.receiver.as_str(), h.len)).collect::<Vec<_>>(), [("r", 3), ("q", 1)]);
        assert_eq!(s.inbox_len().unwrap(), 4);
    }

    #[test]
    fn a_full_inbox_stores_nothing_but_absorbs_resends() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        s.inbox_put("r", &[entry("a", "k1"), entry("a", "k2")], 3).unwrap();
        assert_eq!(s.inbox_put("r", &[entry("a", "k3"), entry("a", "k4")], 3).unwrap(), Put::Full { len: 2 });
        assert_eq!(s.inbox_len().unwrap(), 2, "all or nothing");
        // Already durable: a re-send is answered as stored even when the inbox is full.
        assert_eq!(s.inbox_put("r", &[entry("a", "k1")], 2).unwrap(), Put::Stored { new: 0, queued: 1 });
    }

    #[test]
    fn delivered_rows_leave_the_inbox_and_enter_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        s.inbox_put("r", &[entry("a", "k1"), entry("b", "k2"), entry("a", "k3")], 10).unwrap();
        let rows = s.inbox_take("r", 2).unwrap();
        s.inbox_delivered("r", &rows, 1000).unwrap();
        assert_eq!(s.inbox_take("r", 10).unwrap().iter().map(|r| r.entry.key.as_str()).collect::<Vec<_>>(), ["k3"]);
        let t = push_ledger_tenant("r");
        assert_eq!(s.seen(&t, "a", ["k1", "k3"]).unwrap().len(), 1);
        assert_eq!(s.seen(&t, "b", ["k2"]).unwrap().len(), 1);
        // A new process reads the same ledger from the file.
        drop(s);
        let mut s = store(&dir);
        assert_eq!(s.seen(&t, "a", ["k1"]).unwrap().len(), 1);
        assert_eq!(s.inbox_len().unwrap(), 1);
    }

    #[test]
    fn a_full_disk_is_told_apart_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        s.fill_disk_for_test();
        let big = InboxEntry { line: "x".repeat(64 * 1024), ..entry("a", "k1") };
        let e = s.inbox_put("r", &[big], 10).unwrap_err();
        assert!(e.is_disk_full(), "{e}");
        assert_eq!(s.inbox_len().unwrap(), 0);
    }

    #[test]
    fn a_schema_4_file_migrates_and_keeps_its_data() {
        let (_dir, p) = crate::testkit::scratch("v4.db");
        {
            // A version 4 file as version 4 builds made it.
            let c = rusqlite::Connection::open(&p).unwrap();
            c.execute_batch(include_str!("schema.sql")).unwrap();
            for (_, sql) in MIGRATIONS.iter().filter(|(to, _)| *to <= 4) {
                c.execute_batch(sql).unwrap();
            }
            c.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 4;")).unwrap();
            c.execute("INSERT INTO checkpoints VALUES ('default', 'test_events', '\"c4\"', 'x')", []).unwrap();
        }
        let mut s = Store::open(&p).unwrap();
        let v: i64 = s.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, crate::state::SCHEMA_VERSION);
        assert_eq!(s.checkpoint("default", "test_events").unwrap().unwrap().cursor, "\"c4\"");
        assert_eq!(s.inbox_put("r", &[entry("a", "k1")], 10).unwrap(), Put::Stored { new: 1, queued: 0 });
    }
}
