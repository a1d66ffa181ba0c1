//! Moving a tenant between state files (`state export` / `state import`): every row of the
//! tenant in the tables that hold its progress (checkpoints, the id ledger, the stored user
//! records, run records, API hosts, work queues and per-resource request times, its credential
//! status), as JSON. Never a token, a refresh token or a secret: those tables are not read,
//! and the tenant logs in (or gets its token) again on its new shard.
//!
//! Import replaces the tenant's rows in one transaction. A work queue's positions are the
//! file's own (one sequence for every tenant), so imported entries get new positions, and a
//! checkpoint that points into that queue (`{"after": N}`) is moved to the same entry's new
//! position: nothing is read twice or skipped.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rusqlite::types::{Value as Sql, ValueRef};
use serde_json::{Map, Value, json};

use super::{Store, StoreError};

/// The document's `format`.
pub(super) const FORMAT: &str = "esign-collector tenant state";

/// The tables moved, each with a `tenant` column. Tokens, refresh tokens and the push inbox
/// (a receiver's, not a tenant's) are not among them.
const TABLES: [&str; 8] =
    ["checkpoints", "ledger_pages", "users", "runs", "base_uris", "work_queue", "resource_gets", "credential_status"];

fn to_json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => json!({"b64": B64.encode(b)}),
    }
}

fn to_sql(v: &Value) -> Result<Sql, String> {
    Ok(match v {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Sql::Integer(i),
            None => Sql::Real(n.as_f64().ok_or("a number out of range")?),
        },
        Value::String(s) => Sql::Text(s.clone()),
        Value::Object(o) => match o.get("b64").and_then(Value::as_str) {
            Some(b) => Sql::Blob(B64.decode(b).map_err(|e| format!("a blob is not base64: {e}"))?),
            None => return Err("an object value that is not a {\"b64\": …} blob".into()),
        },
        Value::Array(_) => return Err("an array value".into()),
    })
}

impl Store {
    /// Every row of `tenant` in the moved tables, as a JSON document.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn export_tenant(&self, tenant: &str) -> Result<Value, StoreError> {
        let mut tables = Map::new();
        let mut rows_total = 0usize;
        for table in TABLES {
            let mut stmt =
                self.conn.prepare(&format!("SELECT * FROM {table} WHERE tenant = ?1")).map_err(self.sql())?;
            let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
            let mut rows = stmt.query([tenant]).map_err(self.sql())?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(self.sql())? {
                let mut m = Map::new();
                for (i, n) in names.iter().enumerate() {
                    m.insert(n.clone(), to_json(r.get_ref(i).map_err(self.sql())?));
                }
                out.push(Value::Object(m));
            }
            rows_total += out.len();
            tables.insert(table.to_owned(), Value::Array(out));
        }
        Ok(json!({
            "format": FORMAT,
            "version": 1,
            "schema": super::SCHEMA_VERSION,
            "tenant": tenant,
            "exported_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "rows": rows_total,
            "tables": tables,
        }))
    }

    /// Replaces `doc`'s tenant's rows with `doc`'s, in one transaction; returns the tenant and
    /// how many rows were written.
    ///
    /// # Errors
    /// `StoreError::Corrupt` when `doc` is not an export of this schema; `StoreError::Sql`
    /// when the file cannot be written.
    pub fn import_tenant(&mut self, doc: &Value) -> Result<(String, usize), StoreError> {
        let bad =
            |m: String| StoreError::Corrupt { path: self.path.clone(), message: format!("the import is refused: {m}") };
        if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(bad(format!("not a {FORMAT:?} document")));
        }
        if doc.get("schema").and_then(Value::as_i64) != Some(super::SCHEMA_VERSION) {
            return Err(bad(format!(
                "it was exported from state schema {}, this build writes {}: export and import with the same version",
                doc.get("schema").map_or_else(|| "?".to_owned(), ToString::to_string),
                super::SCHEMA_VERSION
            )));
        }
        let tenant = doc
            .get("tenant")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("no tenant".into()))?;
        let tables = doc.get("tables").and_then(Value::as_object).ok_or_else(|| bad("no tables".into()))?;
        let path = self.path.clone();
        let err = |source| StoreError::Sql { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        let mut written = 0usize;
        // Old work-queue position → new, per queue, for the checkpoints that point into it.
        let mut moved: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
        for table in TABLES {
            tx.execute(&format!("DELETE FROM {table} WHERE tenant = ?1"), [tenant]).map_err(err)?;
            let rows = tables.get(table).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for row in rows {
                let Value::Object(m) = row else { return Err(bad(format!("a {table} row is not an object"))) };
                if m.get("tenant").and_then(Value::as_str) != Some(tenant) {
                    return Err(bad(format!("a {table} row belongs to another tenant")));
                }
                let mut cols: Vec<&String> = m.keys().collect();
                if table == "work_queue" {
                    cols.retain(|c| c.as_str() != "seq");
                }
                let values: Vec<Sql> = cols
                    .iter()
                    .map(|c| to_sql(&m[*c]))
                    .collect::<Result<_, _>>()
                    .map_err(|e| bad(format!("{table}: {e}")))?;
                let names: Vec<&str> = cols.iter().map(|c| c.as_str()).collect();
                if names.iter().any(|n| !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
                    return Err(bad(format!("{table}: a column name is not plain")));
                }
                let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
                let sql = format!("INSERT INTO {table} ({}) VALUES ({})", names.join(", "), marks.join(", "));
                tx.execute(&sql, rusqlite::params_from_iter(values)).map_err(err)?;
                if table == "work_queue"
                    && let (Some(old), Some(queue)) =
                        (m.get("seq").and_then(Value::as_i64), m.get("queue").and_then(Value::as_str))
                {
                    moved.entry(queue.to_owned()).or_default().push((old, tx.last_insert_rowid()));
                }
                written += 1;
            }
        }
        // A queue's consumer checkpoint `{"after": old}` points at the same entry's new place.
        for (queue, pairs) in &moved {
            let cursor: Option<String> = tx
                .query_row(
                    "SELECT cursor FROM checkpoints WHERE tenant = ?1 AND source = ?2",
                    [tenant, queue.as_str()],
                    |r| r.get(0),
                )
                .ok();
            let Some(cursor) = cursor else { continue };
            let Ok(Value::Object(mut c)) = serde_json::from_str::<Value>(&cursor) else { continue };
            let Some(after) = c.get("after").and_then(Value::as_i64) else { continue };
            let new = pairs.iter().filter(|(old, _)| *old <= after).map(|(_, new)| *new).max().unwrap_or(0);
            c.insert("after".into(), json!(new));
            tx.execute(
                "UPDATE checkpoints SET cursor = ?1 WHERE tenant = ?2 AND source = ?3",
                rusqlite::params![Value::Object(c).to_string(), tenant, queue],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok((tenant.to_owned(), written))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> (tempfile::TempDir, Store) {
        let (dir, path) = crate::testkit::scratch(name);
        (dir, Store::open(&path).unwrap())
    }

    fn checkpoint(s: &Store, tenant: &str, source: &str, cursor: &str) {
        s.conn
            .execute(
                "INSERT INTO checkpoints (tenant, source, cursor, updated_at) VALUES (?1, ?2, ?3, '2026-01-01T00:00:00Z')",
                rusqlite::params![tenant, source, cursor],
            )
            .unwrap();
    }

    #[test]
    fn a_queue_cursor_follows_its_entries_to_their_new_positions() {
        let (_a_dir, mut a) = store("a.db");
        let items: Vec<(String, String)> =
            ["e1", "e2", "e3"].iter().map(|i| ((*i).to_owned(), String::new())).collect();
        a.enqueue("t", "q", &items).unwrap();
        let seqs: Vec<i64> = a.queued_after("t", "q", 0, 10).unwrap().iter().map(|q| q.seq).collect();
        // Consumed up to e2.
        checkpoint(&a, "t", "q", &json!({"after": seqs[1]}).to_string());
        a.save_token(
            "t",
            &crate::state::CachedToken { nonce: vec![1; 12], ciphertext: b"SEALED".to_vec(), expires_at: 9 },
        )
        .unwrap();
        let doc = a.export_tenant("t").unwrap();
        assert!(!doc.to_string().contains("U0VBTEVE"), "no token row travels");

        // The target file's queue already has other tenants' entries: positions differ.
        let (_b_dir, mut b) = store("b.db");
        let others: Vec<(String, String)> = (0..5).map(|i| (format!("x{i}"), String::new())).collect();
        b.enqueue("other", "q", &others).unwrap();
        let (tenant, rows) = b.import_tenant(&doc).unwrap();
        assert_eq!((tenant.as_str(), rows), ("t", 4));
        let cursor: String = b
            .conn
            .query_row("SELECT cursor FROM checkpoints WHERE tenant = 't' AND source = 'q'", [], |r| r.get(0))
            .unwrap();
        let after = serde_json::from_str::<Value>(&cursor).unwrap()["after"].as_i64().unwrap();
        let rest = b.queued_after("t", "q", after, 10).unwrap();
        assert_eq!(
            rest.iter().map(|q| q.item.as_str()).collect::<Vec<_>>(),
            ["e3"],
            "nothing read twice, nothing skipped"
        );
        // Importing again replaces, never doubles.
        assert_eq!(b.import_tenant(&doc).unwrap().1, 4);
        assert_eq!(b.queued_count("t", "q", 0).unwrap(), 3);
        assert!(b.import_tenant(&json!({"format": "x"})).is_err());
    }
}
