//! The dedup ledger: the ids each source delivered, bounded, stored as one row per committed
//! page (a JSON array of ids) and mirrored in memory once a run first needs it. A page then
//! costs one row write and a few hash lookups, not one indexed SQLite row per event: that was
//! most of the hot path's cost at 2000 events a page.

use std::collections::{HashMap, VecDeque};

use rusqlite::{Connection, Transaction, params};
// Ids come from DocuSign, not from an attacker who could aim collisions at a process-local
// table, so a fast non-keyed hash is safe here.
use rustc_hash::FxHashSet;

/// One source's ledger in memory: its pages, oldest first, and every id for lookups, each held
/// as the first 128 bits of its SHA-256 (16 bytes instead of a ~60-byte string allocation: a
/// full 100k-id ledger takes about 4 MB). Two different ids share a key with a probability
/// near n²/2¹²⁹, about 10⁻²⁸ for 100k ids: far below any hardware error rate. The file keeps
/// the ids themselves.
#[derive(Debug, Default)]
pub(super) struct Mirror {
    pages: VecDeque<(i64, Vec<u128>)>,
    ids: FxHashSet<u128>,
    total: usize,
}

/// An id's key in memory.
fn key(id: &str) -> u128 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(id.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_le_bytes(b)
}

/// A stored page's ids (a JSON array of strings) as their keys.
struct Keys(Vec<u128>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Ids;
        impl<'de> serde::de::Visitor<'de> for Ids {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON array of id strings")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(Key(k)) = seq.next_element()? {
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_seq(Ids)
    }
}

/// One id string as its key, read without allocating unless it holds escapes.
struct Key(u128);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Id;
        impl serde::de::Visitor<'_> for Id {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an id string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(key(v)))
            }
        }
        d.deserialize_str(Id)
    }
}

/// The mirrors of the sources this process touched, by `(tenant, source)`.
pub(super) type Mirrors = HashMap<(String, String), Mirror>;

impl Mirror {
    /// Reads a source's ledger rows.
    pub(super) fn load(conn: &Connection, tenant: &str, source: &str) -> rusqlite::Result<Self> {
        let mut m = Mirror::default();
        let n: i64 = conn
            .prepare_cached("SELECT coalesce(sum(n), 0) FROM ledger_pages WHERE tenant = ?1 AND source = ?2")?
            .query_row(params![tenant, source], |r| r.get(0))?;
        m.ids.reserve(usize::try_from(n).unwrap_or(0));
        let mut stmt =
            conn.prepare_cached("SELECT seq, ids FROM ledger_pages WHERE tenant = ?1 AND source = ?2 ORDER BY seq")?;
        let mut rows = stmt.query(params![tenant, source])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            // Each id hashed straight from the row's text: no `String` per id (a full ledger
            // is 100k of them, read by every run that dedups).
            let keys: Keys = serde_json::from_str(row.get_ref(1)?.as_str()?)
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e)))?;
            m.push_keys(seq, keys.0);
        }
        Ok(m)
    }

    fn push<'a>(&mut self, seq: i64, ids: impl Iterator<Item = &'a str>) {
        self.push_keys(seq, ids.map(key).collect());
    }

    fn push_keys(&mut self, seq: i64, page: Vec<u128>) {
        self.ids.extend(page.iter().copied());
        self.total += page.len();
        self.pages.push_back((seq, page));
    }

    /// Whether `id` was delivered.
    pub(super) fn contains(&self, id: &str) -> bool {
        self.ids.contains(&key(id))
    }

    /// Writes a page of `ids` in `tx` and drops the oldest pages that are not needed to keep
    /// at least `bound` ids. Returns the new page's sequence number and the last sequence
    /// number dropped, for [`Mirror::apply`] once the transaction committed.
    pub(super) fn write(
        &self,
        tx: &Transaction<'_>,
        tenant: &str,
        source: &str,
        ids: &[String],
        bound: usize,
    ) -> rusqlite::Result<(i64, Option<i64>)> {
        let seq = self.pages.back().map_or(1, |(s, _)| s + 1);
        let text = serde_json::to_string(ids).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        tx.prepare_cached("INSERT INTO ledger_pages (tenant, source, seq, n, ids) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![tenant, source, seq, i64::try_from(ids.len()).unwrap_or(i64::MAX), text])?;
        let (mut total, mut cut) = (self.total + ids.len(), None);
        for (s, page) in &self.pages {
            if total - page.len() < bound {
                break;
            }
            total -= page.len();
            cut = Some(*s);
        }
        if let Some(cut) = cut {
            tx.prepare_cached("DELETE FROM ledger_pages WHERE tenant = ?1 AND source = ?2 AND seq <= ?3")?
                .execute(params![tenant, source, cut])?;
        }
        Ok((seq, cut))
    }

    /// Mirrors a committed [`Mirror::write`].
    pub(super) fn apply(&mut self, seq: i64, ids: &[String], cut: Option<i64>) {
        self.push(seq, ids.iter().map(String::as_str));
        while let Some((s, _)) = self.pages.front() {
            if cut.is_none_or(|c| *s > c) {
                break;
            }
            if let Some((_, page)) = self.pages.pop_front() {
                self.total -= page.len();
                for k in page {
                    self.ids.remove(&k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_pages_read_back_as_the_keys_of_their_ids() {
        let ids = ["plain-id", "with \"quotes\" and \\", "é\u{1F600}", ""];
        let text = serde_json::to_string(&ids).unwrap();
        let keys: Keys = serde_json::from_str(&text).unwrap();
        assert_eq!(keys.0, ids.iter().map(|i| key(i)).collect::<Vec<_>>());
        assert!(serde_json::from_str::<Keys>("[1]").is_err());
        assert!(serde_json::from_str::<Keys>("{}").is_err());
    }
}
