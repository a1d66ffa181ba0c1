//! The state file: one SQLite database (WAL, `synchronous=FULL`) holding checkpoints, the
//! dedup ledger, the latest user records and the encrypted token cache. Run records and
//! checkpoint commits that deliver nothing (a cursor moved over an empty page) are written with
//! `synchronous=NORMAL` (durable with the next FULL commit): losing them repeats a read, never
//! skips an event.
//!
//! # Architecture
//! - this file: opening, identifying and migrating the database; errors.
//! - `checkpoint.rs`: read a cursor; commit cursor + ledger + users in one transaction.
//! - `tokens.rs`: the encrypted access-token cache.
//! - `credentials.rs`: sealed refresh tokens and each tenant's credential status (flow, JWT key in use).
//! - `runs.rs`: run records (last success, last error, counts) for `status` and `/healthz`.
//! - `lock.rs`: the advisory lock that keeps two runs apart.
//! - `inbox.rs`: the push path's durable inbox (accepted, not yet delivered messages).
//! - `resources.rs`: API hosts per account, work queues between sources, per-resource request times.
//! - `transfer.rs`: a tenant's rows out of one file and into another (`state export`/`import`).
//! - `transitions.rs`: when each receiver last accepted, and the envelope transitions pushed.
//!
//! # Schema versions
//! `schema.sql` is version 1; each later version is one forward migration in [`MIGRATIONS`],
//! applied in order inside the opening transaction, so an older file upgrades in place.

mod checkpoint;
mod credentials;
mod inbox;
mod ledger;
mod lock;
mod resources;
mod runs;
mod tokens;
mod transfer;
mod transitions;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::exit::Exit;

pub use checkpoint::{Checkpoint, UserRow};
pub use credentials::{CredentialStatus, StoredRefresh};
pub use inbox::{InboxEntry, InboxHead, InboxRow, Put, push_ledger_tenant};
pub use lock::StateLock;
pub use resources::QueuedItem;
pub use runs::{LastError, RunOutcome, RunRecord};
pub use tokens::CachedToken;
pub use transitions::{ConnectGaps, EnvelopeTransition, ReceiverStatus};

/// `PRAGMA application_id` of our files ("ESC1"), so a foreign SQLite file is never touched.
const APPLICATION_ID: i64 = 0x4553_4331;
/// The schema version this build writes.
const SCHEMA_VERSION: i64 = 9;

/// Forward migrations: `(version it brings the file to, SQL)`, after `schema.sql` (version 1).
const MIGRATIONS: &[(i64, &str)] = &[
    (2, include_str!("runs.sql")),
    (3, include_str!("ledger.sql")),
    (4, include_str!("backlog.sql")),
    (5, include_str!("inbox.sql")),
    (6, include_str!("resources.sql")),
    (7, include_str!("push_receivers.sql")),
    (8, include_str!("credentials.sql")),
    (9, include_str!("refusals.sql")),
];

/// State-file problems.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another run holds the lock.
    #[error(
        "state {path} is locked by another esign-collector run; wait for it to finish (one state file belongs to one running instance)"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A file-system problem around the state file.
    #[error("state {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite refused an operation (corrupt file, full disk, permissions).
    #[error("state {path}: {source}")]
    Sql {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file is a database, but not ours: it is left untouched.
    #[error("state {path} is not an esign-collector state file (application_id {found:#x}); refusing to touch it")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// Its application id.
        found: i64,
    },
    /// Written by a newer version.
    #[error(
        "state {path} has schema version {found}, newer than this build's {SCHEMA_VERSION}; upgrade esign-collector"
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: i64,
    },
    /// A stored value cannot be understood.
    #[error("state {path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl StoreError {
    /// Locked runs and unreadable state have different exit codes.
    pub fn exit_code(&self) -> Exit {
        match self {
            StoreError::Locked { .. } => Exit::Locked,
            _ => Exit::State,
        }
    }

    /// Whether SQLite gave up for want of space (`SQLITE_FULL`): a writer may try again later.
    pub fn is_disk_full(&self) -> bool {
        matches!(
            self,
            StoreError::Sql { source: rusqlite::Error::SqliteFailure(e, _), .. }
                if e.code == rusqlite::ErrorCode::DiskFull
        )
    }
}

/// An open state file.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The ledgers read so far, mirrored in memory.
    mirrors: ledger::Mirrors,
}

impl Store {
    /// Opens (creating if needed) and migrates the state file.
    ///
    /// # Errors
    /// `StoreError` when the file cannot be created, is foreign, newer, or corrupt.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Sql { path: path.to_owned(), source })?;
        let mut store = Store { conn, path: path.to_owned(), mirrors: ledger::Mirrors::new() };
        store.init()?;
        Ok(store)
    }

    /// Opens an existing state file read-only, without the lock and without migrating: for
    /// `status` and other readers that must work while a run holds the file. A file written by
    /// an older version reads as it is (no run records). `None`: the file is still empty (a
    /// first run is creating it at this moment).
    ///
    /// # Errors
    /// `StoreError::Io` (`NotFound`) when the file does not exist; `StoreError` when it is
    /// foreign, newer or unreadable.
    pub fn open_read_only(path: &Path) -> Result<Option<Self>, StoreError> {
        std::fs::metadata(path).map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|source| StoreError::Sql { path: path.to_owned(), source })?;
        let err = |source| StoreError::Sql { path: path.to_owned(), source };
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        let app: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(err)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err)?;
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(err)?;
        if app == 0 && tables == 0 {
            return Ok(None);
        }
        if app != APPLICATION_ID {
            return Err(StoreError::Foreign { path: path.to_owned(), found: app });
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer { path: path.to_owned(), found: version });
        }
        Ok(Some(Store { conn, path: path.to_owned(), mirrors: ledger::Mirrors::new() }))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sql { path: self.path.clone(), source }
    }

    /// Runs `write`; without `fsync`, with `synchronous=NORMAL`: what it commits gets no fsync
    /// of its own and becomes durable with the next FULL commit (the WAL is replayed in order,
    /// so a later commit that survives carries it along). A process crash loses nothing; a power
    /// cut may lose it. Only for writes whose loss repeats work and never skips any: a run
    /// record, a cursor moved over nothing delivered. The file is FULL again afterwards,
    /// whatever `write` returned.
    fn write_with<T>(
        &mut self,
        fsync: bool,
        write: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if fsync {
            return write(self);
        }
        let set = |s: &Self, sql: &str| s.conn.prepare_cached(sql).and_then(|mut st| st.execute([])).map_err(s.sql());
        set(self, "PRAGMA synchronous=NORMAL")?;
        // Back to FULL even when `write` panics: the connection outlives a panicking task (its
        // mutex is used poisoned), and every later commit must have its fsync again.
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(self)));
        let restored = set(self, "PRAGMA synchronous=FULL");
        let written = written.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A write that landed but left the file NORMAL is reported as failed: the caller stops
        // and repeats from what the file holds rather than writing on without fsyncs.
        restored.and(written)
    }

    fn init(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sql { path: path.clone(), source };
        self.conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        // Reading the header first: a file that is not SQLite at all fails here.
        let app: i64 = self.conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(err)?;
        let version: i64 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err)?;
        let tables: i64 = self.conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(err)?;
        if app != APPLICATION_ID && (app != 0 || tables > 0) {
            return Err(StoreError::Foreign { path, found: app });
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer { path, found: version });
        }
        self.conn
            .execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(err)?;
        if version < SCHEMA_VERSION {
            let tx = self.conn.transaction().map_err(err)?;
            if version < 1 {
                tx.execute_batch(include_str!("schema.sql")).map_err(err)?;
            }
            let mut from = version.max(1);
            for (to, sql) in MIGRATIONS.iter().filter(|(to, _)| *to > version) {
                tx.execute_batch(sql).map_err(err)?;
                // A new file is built by the same steps, but nothing was upgraded: say so once.
                if version > 0 {
                    tracing::info!(path = %path.display(), from, to, "State file schema upgraded.");
                }
                from = *to;
            }
            if version == 0 {
                tracing::debug!(path = %path.display(), version = SCHEMA_VERSION, "State file created.");
            }
            tx.execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
            ))
            .map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_without_fsync_leaves_the_file_full_even_when_it_panics_or_fails() {
        let (_dir, p) = crate::testkit::scratch("state.db");
        let mut s = Store::open(&p).unwrap();
        let mode = |s: &Store| s.conn.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)).unwrap();
        let inside = s.write_with(false, |s| Ok(mode(s))).unwrap();
        assert_eq!((inside, mode(&s)), (1, 2), "NORMAL inside, FULL after");
        let failed =
            s.write_with(false, |s| Err::<(), _>(StoreError::Corrupt { path: s.path.clone(), message: "x".into() }));
        assert!(failed.is_err());
        assert_eq!(mode(&s), 2, "FULL after a failed write");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.write_with(false, |_| -> Result<(), StoreError> { panic!("inside a write") })
        }));
        assert!(panicked.is_err());
        assert_eq!(mode(&s), 2, "FULL after a panicking write");
        assert_eq!(s.write_with(true, |s| Ok(mode(s))).unwrap(), 2, "FULL when the write asks for its fsync");
    }

    #[test]
    fn creates_and_reopens() {
        let (_dir, p) = crate::testkit::scratch("sub/state.db");
        drop(Store::open(&p).unwrap());
        let s = Store::open(&p).unwrap();
        let mode: String = s.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn foreign_database_is_refused_and_untouched() {
        let (_dir, p) = crate::testkit::scratch("other.db");
        Connection::open(&p).unwrap().execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);").unwrap();
        let before = std::fs::read(&p).unwrap();
        assert!(matches!(Store::open(&p), Err(StoreError::Foreign { .. })));
        assert_eq!(before, std::fs::read(&p).unwrap());
    }

    #[test]
    fn garbage_file_is_refused() {
        let (_dir, p) = crate::testkit::scratch("garbage.db");
        std::fs::write(&p, vec![b'x'; 4096]).unwrap();
        let e = Store::open(&p).unwrap_err();
        assert_eq!(e.exit_code(), Exit::State);
        assert_eq!(std::fs::read(&p).unwrap(), vec![b'x'; 4096]);
    }

    #[test]
    fn version_1_file_upgrades_in_place() {
        let (_dir, p) = crate::testkit::scratch("v1.db");
        // A version 1 file exactly as version 1 builds made it: schema.sql, ids, one checkpoint.
        let v1 = Connection::open(&p).unwrap();
        v1.execute_batch(include_str!("schema.sql")).unwrap();
        v1.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;")).unwrap();
        v1.execute(
            "INSERT INTO checkpoints VALUES ('default', 'test_events', '{\"cursor\":\"c1\"}', '2026-11-01T00:00:00.000Z')",
            [],
        )
        .unwrap();
        drop(v1);
        // Readers see it as it is and change nothing.
        let ro = Store::open_read_only(&p).unwrap().unwrap();
        assert!(ro.run_records().unwrap().is_empty());
        assert_eq!(ro.checkpoints().unwrap().len(), 1);
        drop(ro);
        let mut s = Store::open(&p).unwrap();
        let v: i64 = s.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        assert_eq!(s.checkpoint("default", "test_events").unwrap().unwrap().cursor, "{\"cursor\":\"c1\"}");
        let o = one_good_run();
        s.record_run("default", "test_events", &o).unwrap();
        drop(s);
        let again = Store::open(&p).unwrap();
        assert_eq!(again.run_records().unwrap().len(), 1);
    }

    fn one_good_run() -> RunOutcome {
        let now = chrono::Utc::now();
        RunOutcome {
            started_at: now,
            ended_at: now,
            events: 1,
            pages: 1,
            retries: 0,
            throttled: 0,
            error: None,
            backlog: false,
        }
    }

    #[test]
    fn read_only_open_refuses_missing_and_writes_nothing() {
        let (_dir, p) = crate::testkit::scratch("none.db");
        assert!(matches!(Store::open_read_only(&p), Err(StoreError::Io { .. })));
        assert!(!p.exists());
        // A file a first run has only just created reads as empty, not as foreign.
        std::fs::write(&p, b"").unwrap();
        assert!(Store::open_read_only(&p).unwrap().is_none());
        drop(Store::open(&p).unwrap());
        let mut ro = Store::open_read_only(&p).unwrap().unwrap();
        let o = one_good_run();
        assert!(ro.record_run("t", "s", &o).is_err());
    }

    #[test]
    fn newer_schema_is_refused() {
        let (_dir, p) = crate::testkit::scratch("new.db");
        drop(Store::open(&p).unwrap());
        Connection::open(&p).unwrap().execute_batch("PRAGMA user_version = 99;").unwrap();
        assert!(matches!(Store::open(&p), Err(StoreError::Newer { found: 99, .. })));
    }
}
