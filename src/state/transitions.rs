//! What the push path keeps beside the inbox: when each receiver last accepted a request (for
//! `status`), and the envelope transitions DocuSign Connect delivered (for reconciliation with
//! polling: a transition polling finds that is not here is one Connect never delivered).
//! Both are written in the transaction that stores the request's messages in the inbox.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Store, StoreError};

/// One envelope status change a pushed message reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeTransition {
    /// The account (`data.accountId`).
    pub account_id: String,
    /// The envelope (`data.envelopeId`).
    pub envelope_id: String,
    /// Its status after the change (`envelopeSummary.status`).
    pub status: String,
    /// When it changed, as DocuSign wrote it (`envelopeSummary.statusChangedDateTime`).
    pub status_changed: String,
}

/// A receiver as the state file knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverStatus {
    /// The receiver's name.
    pub receiver: String,
    /// When it last stored a request's messages (RFC 3339 UTC), if ever.
    pub last_accepted_at: Option<String>,
    /// Requests it stored since the state file was created.
    pub accepted: u64,
    /// Its messages waiting in the inbox.
    pub waiting: u64,
}

/// Records, inside the inbox write's transaction, that `receiver` accepted a request at `now`
/// and the transitions its messages carried (a transition already recorded is kept once).
pub(super) fn record(
    tx: &Transaction<'_>,
    receiver: &str,
    now: &str,
    transitions: impl Iterator<Item = EnvelopeTransition>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO push_receivers (receiver, last_accepted_at, accepted) VALUES (?1, ?2, 1)
         ON CONFLICT (receiver) DO UPDATE SET last_accepted_at = ?2, accepted = accepted + 1",
    )?
    .execute(params![receiver, now])?;
    let mut ins = tx.prepare_cached(
        "INSERT INTO connect_transitions (account_id, envelope_id, status, status_changed)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    )?;
    for t in transitions {
        ins.execute(params![t.account_id, t.envelope_id, t.status, instant(&t.status_changed)])?;
    }
    Ok(())
}

/// A status-change time as it is stored and compared: the instant in RFC 3339 UTC with
/// nanoseconds, so Connect's and the list's spellings of one instant (`…00.0000000Z`,
/// `…00Z`, an offset) match. A text that is not a time is kept as it is.
fn instant(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t.trim()).map_or_else(
        |_| t.to_owned(),
        |d| d.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
    )
}

/// Connect gaps kept per account (the newest), as the ledger keeps ids.
const GAPS_KEPT: u32 = 100_000;

/// The Connect gaps polling found for one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectGaps {
    /// Transitions polling found that Connect never delivered (each counted once).
    pub total: u64,
    /// When the last one was found (RFC 3339 UTC).
    pub last_found_at: Option<String>,
}

/// Keeps the newest `keep` transitions of `account_id` (as the ledger keeps `ledger_size` ids).
pub(super) fn trim(tx: &Transaction<'_>, account_id: &str, keep: u32) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "DELETE FROM connect_transitions WHERE account_id = ?1 AND seq <= (
             SELECT seq FROM connect_transitions WHERE account_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![account_id, keep])?;
    Ok(())
}

impl Store {
    /// Whether Connect delivered the transition of `envelope_id` (of `account_id`) to `status`
    /// at `status_changed` (the same instant, however it is spelled).
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn connect_delivered(
        &self,
        account_id: &str,
        envelope_id: &str,
        status: &str,
        status_changed: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT 1 FROM connect_transitions
                 WHERE account_id = ?1 AND envelope_id = ?2 AND status = ?3 AND status_changed = ?4",
                params![account_id, envelope_id, status, instant(status_changed)],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())?;
        Ok(found.is_some())
    }

    /// Records, in one transaction, the transitions of `account_id` polling found which
    /// Connect never delivered (`(envelope_id, status, status_changed)` each); says for each
    /// whether it is new (a window read again after a crash finds the same gaps, counted once).
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be written.
    pub fn record_connect_gaps(
        &mut self,
        account_id: &str,
        gaps: &[(&str, &str, &str)],
        now: &str,
    ) -> Result<Vec<bool>, StoreError> {
        if gaps.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.path.clone();
        let err = |source| StoreError::Sql { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        let mut new = Vec::with_capacity(gaps.len());
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO connect_gaps (account_id, envelope_id, status, status_changed, found_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                )
                .map_err(err)?;
            for (envelope_id, status, changed) in gaps {
                let n = ins.execute(params![account_id, envelope_id, status, instant(changed), now]).map_err(err)?;
                new.push(n > 0);
            }
        }
        tx.prepare_cached(
            "DELETE FROM connect_gaps WHERE account_id = ?1 AND seq <= (
                 SELECT seq FROM connect_gaps WHERE account_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
        )
        .and_then(|mut st| st.execute(params![account_id, GAPS_KEPT]))
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(new)
    }

    /// The Connect gaps polling found for `account_id`.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn connect_gaps(&self, account_id: &str) -> Result<ConnectGaps, StoreError> {
        // A file of an older schema (opened read-only by `status`, not migrated) has none.
        let has: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'connect_gaps'", [], |r| r.get(0))
            .map_err(self.sql())?;
        if has == 0 {
            return Ok(ConnectGaps::default());
        }
        self.conn
            .query_row(
                "SELECT count(*), max(found_at) FROM connect_gaps WHERE account_id = ?1",
                params![account_id],
                |r| {
                    Ok(ConnectGaps { total: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0), last_found_at: r.get(1)? })
                },
            )
            .map_err(self.sql())
    }

    /// Every receiver that accepted something or has messages waiting, by name.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn receivers(&self) -> Result<Vec<ReceiverStatus>, StoreError> {
        // A file of an older schema (opened read-only by `status`, not migrated) has none.
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name IN ('push_receivers', 'inbox')", [], |r| r.get(0))
            .map_err(self.sql())?;
        if tables < 2 {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, max(last), max(accepted), max(waiting) FROM (
                     SELECT receiver AS name, last_accepted_at AS last, accepted, 0 AS waiting FROM push_receivers
                     UNION ALL
                     SELECT receiver, NULL, 0, count(*) FROM inbox GROUP BY receiver)
                 GROUP BY name ORDER BY name",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ReceiverStatus {
                    receiver: r.get(0)?,
                    last_accepted_at: r.get(1)?,
                    accepted: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    waiting: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }
}
