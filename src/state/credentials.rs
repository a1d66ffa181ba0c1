//! Storage of the Authorization Code Grant's refresh tokens (sealed by `auth`, as the access
//! tokens) and of each tenant's credential status: the flow it uses and which of its JWT keys
//! DocuSign accepts. A refresh token is replaced in one transaction, so a crash leaves either
//! the old token or the new one, never neither. A token DocuSign refused is marked as such
//! (not deleted), so `status` and `/healthz` can say a login is needed until one happens.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// A sealed refresh token as stored, with the plain facts `status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefresh {
    /// AEAD nonce.
    pub nonce: Vec<u8>,
    /// The sealed token.
    pub ciphertext: Vec<u8>,
    /// Unix seconds of the `auth login` that started this chain of tokens.
    pub logged_in_at: i64,
    /// Unix seconds when this token was issued (the login or the last rotation).
    pub issued_at: i64,
    /// Unix seconds after which DocuSign no longer accepts it.
    pub expires_at: i64,
    /// Who logged in (name and email from `/oauth/userinfo`), for `status`.
    pub user_name: String,
    /// The scopes the login granted, space-separated.
    pub scopes: String,
    /// When DocuSign refused this token (Unix seconds) and why; `None` while it is usable.
    /// Set by [`Store::mark_refresh_refused`], cleared by [`Store::save_refresh`].
    pub refused: Option<(i64, String)>,
}

/// What `status` shows of a tenant's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CredentialStatus {
    /// The tenant.
    pub tenant: String,
    /// `jwt` or `authorization_code`.
    pub flow: String,
    /// Which JWT key (1-based, in configuration order) DocuSign last accepted.
    pub key_in_use: Option<i64>,
    /// How many JWT keys are configured.
    pub key_count: Option<i64>,
    /// The accepted key's origin (file name or credential name; never key material).
    pub key_label: Option<String>,
    /// Unix seconds since which the first key is refused (`None`: it is not).
    pub first_key_refused_at: Option<i64>,
    /// Unix seconds of the last update.
    pub updated_at: i64,
}

/// The columns [`refresh_from`] reads, for a file of schema 9 or later.
const REFRESH_COLUMNS: &str =
    "nonce, ciphertext, logged_in_at, issued_at, expires_at, user_name, scopes, refused_at, refused_reason";
/// The same for a version 8 file opened read-only (before migration 9): never refused.
const REFRESH_COLUMNS_V8: &str = "nonce, ciphertext, logged_in_at, issued_at, expires_at, user_name, scopes, NULL, ''";

/// A [`StoredRefresh`] from the row's [`REFRESH_COLUMNS`], starting at column `first`.
fn refresh_from(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<StoredRefresh> {
    let refused_at: Option<i64> = r.get(first + 7)?;
    let reason: String = r.get(first + 8)?;
    Ok(StoredRefresh {
        nonce: r.get(first)?,
        ciphertext: r.get(first + 1)?,
        logged_in_at: r.get(first + 2)?,
        issued_at: r.get(first + 3)?,
        expires_at: r.get(first + 4)?,
        user_name: r.get(first + 5)?,
        scopes: r.get(first + 6)?,
        refused: refused_at.map(|at| (at, reason)),
    })
}

impl Store {
    /// The columns to read refresh tokens with, `None` when the file has no such table (an
    /// older file opened read-only by `status`).
    fn refresh_columns(&self) -> Result<Option<&'static str>, StoreError> {
        let has =
            |sql: &str| self.conn.query_row(sql, [], |_| Ok(())).optional().map(|o| o.is_some()).map_err(self.sql());
        if !has("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refresh_tokens'")? {
            return Ok(None);
        }
        let refusals = has("SELECT 1 FROM pragma_table_info('refresh_tokens') WHERE name = 'refused_at'")?;
        Ok(Some(if refusals { REFRESH_COLUMNS } else { REFRESH_COLUMNS_V8 }))
    }

    /// The tenant's sealed refresh token, if it logged in.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn load_refresh(&self, tenant: &str) -> Result<Option<StoredRefresh>, StoreError> {
        let Some(columns) = self.refresh_columns()? else { return Ok(None) };
        self.conn
            .query_row(&format!("SELECT {columns} FROM refresh_tokens WHERE tenant = ?1"), params![tenant], |r| {
                refresh_from(r, 0)
            })
            .optional()
            .map_err(self.sql())
    }

    /// Every stored refresh token's facts, by tenant (the sealed parts included; `status`
    /// shows only the times).
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn refresh_tokens(&self) -> Result<Vec<(String, StoredRefresh)>, StoreError> {
        let Some(columns) = self.refresh_columns()? else { return Ok(Vec::new()) };
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT tenant, {columns} FROM refresh_tokens ORDER BY tenant"))
            .map_err(self.sql())?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, refresh_from(r, 1)?))).map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Stores the tenant's refresh token, replacing the previous one in one durable
    /// transaction (the file is `synchronous=FULL`: on return it survives a crash). A new
    /// token is not refused: any earlier refusal is cleared.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be written.
    pub fn save_refresh(&self, tenant: &str, t: &StoredRefresh) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO refresh_tokens
                 (tenant, nonce, ciphertext, logged_in_at, issued_at, expires_at, user_name, scopes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (tenant) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext,
                 logged_in_at = excluded.logged_in_at, issued_at = excluded.issued_at,
                 expires_at = excluded.expires_at, user_name = excluded.user_name, scopes = excluded.scopes,
                 refused_at = NULL, refused_reason = ''",
                params![
                    tenant,
                    t.nonce,
                    t.ciphertext,
                    t.logged_in_at,
                    t.issued_at,
                    t.expires_at,
                    t.user_name,
                    t.scopes
                ],
            )
            .map(drop)
            .map_err(self.sql())
    }

    /// Marks the tenant's refresh token refused at `at` for `reason`, but only while the
    /// stored one is still `ciphertext` (the one DocuSign refused): a token another process
    /// stored meanwhile (a rotation, a new login) is left alone. Returns whether it marked.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be written.
    pub fn mark_refresh_refused(
        &self,
        tenant: &str,
        ciphertext: &[u8],
        at: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "UPDATE refresh_tokens SET refused_at = ?3, refused_reason = ?4 WHERE tenant = ?1 AND ciphertext = ?2",
                params![tenant, ciphertext, at, reason],
            )
            .map(|n| n > 0)
            .map_err(self.sql())
    }

    /// Records the tenant's credential status.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be written.
    pub fn save_credential_status(&self, s: &CredentialStatus) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO credential_status (tenant, flow, key_in_use, key_count, key_label, first_key_refused_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (tenant) DO UPDATE SET flow = excluded.flow, key_in_use = excluded.key_in_use,
                 key_count = excluded.key_count, key_label = excluded.key_label,
                 first_key_refused_at = excluded.first_key_refused_at, updated_at = excluded.updated_at",
                params![s.tenant, s.flow, s.key_in_use, s.key_count, s.key_label, s.first_key_refused_at, s.updated_at],
            )
            .map(drop)
            .map_err(self.sql())
    }

    /// [`Store::save_credential_status`] for each of `statuses`, in one transaction.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be written.
    pub fn save_credential_statuses(&self, statuses: &[CredentialStatus]) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(self.sql())?;
        for s in statuses {
            self.save_credential_status(s)?;
        }
        tx.commit().map_err(self.sql())
    }

    /// Every tenant's credential status.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn credential_status(&self) -> Result<Vec<CredentialStatus>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT tenant, flow, key_in_use, key_count, key_label, first_key_refused_at, updated_at
                 FROM credential_status ORDER BY tenant",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(CredentialStatus {
                    tenant: r.get(0)?,
                    flow: r.get(1)?,
                    key_in_use: r.get(2)?,
                    key_count: r.get(3)?,
                    key_label: r.get(4)?,
                    first_key_refused_at: r.get(5)?,
                    updated_at: r.get(6)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_replaced_and_a_refusal_marks_only_the_refused_one() {
        let (_dir, path) = crate::testkit::scratch("s.db");
        let s = Store::open(&path).unwrap();
        let t = StoredRefresh {
            nonce: vec![1; 12],
            ciphertext: vec![2; 40],
            logged_in_at: 10,
            issued_at: 10,
            expires_at: 99,
            user_name: "Max".into(),
            scopes: "signature extended".into(),
            refused: None,
        };
        s.save_refresh("a", &t).unwrap();
        let next = StoredRefresh { ciphertext: vec![3; 40], issued_at: 20, ..t.clone() };
        s.save_refresh("a", &next).unwrap();
        assert_eq!(s.load_refresh("a").unwrap(), Some(next.clone()));
        assert_eq!(s.refresh_tokens().unwrap().len(), 1);
        // A refusal of the token another process has since replaced changes nothing.
        assert!(!s.mark_refresh_refused("a", &t.ciphertext, 30, "invalid_grant").unwrap());
        assert_eq!(s.load_refresh("a").unwrap().unwrap().refused, None);
        assert!(!s.mark_refresh_refused("b", &next.ciphertext, 30, "invalid_grant").unwrap());
        // A refusal of the stored one marks it, for every reader.
        assert!(s.mark_refresh_refused("a", &next.ciphertext, 30, "invalid_grant").unwrap());
        assert_eq!(s.load_refresh("a").unwrap().unwrap().refused, Some((30, "invalid_grant".into())));
        assert_eq!(s.refresh_tokens().unwrap()[0].1.refused, Some((30, "invalid_grant".into())));
        // A new login clears it.
        s.save_refresh("a", &StoredRefresh { ciphertext: vec![4; 40], ..next }).unwrap();
        assert_eq!(s.load_refresh("a").unwrap().unwrap().refused, None);
    }

    #[test]
    fn a_version_8_file_read_only_shows_its_tokens_as_not_refused() {
        let (_dir, p) = crate::testkit::scratch("v8.db");
        let s = Store::open(&p).unwrap();
        s.conn
            .execute_batch(
                "ALTER TABLE refresh_tokens DROP COLUMN refused_reason; ALTER TABLE refresh_tokens DROP COLUMN refused_at;
                 INSERT INTO refresh_tokens (tenant, nonce, ciphertext, logged_in_at, issued_at, expires_at)
                 VALUES ('a', x'01', x'02', 1, 2, 3); PRAGMA user_version = 8;",
            )
            .unwrap();
        drop(s);
        let ro = Store::open_read_only(&p).unwrap().unwrap();
        let got = ro.load_refresh("a").unwrap().unwrap();
        assert_eq!((got.expires_at, got.refused), (3, None));
        assert_eq!(ro.refresh_tokens().unwrap().len(), 1);
        drop(ro);
        // Opened for writing, it migrates and can record a refusal.
        let s = Store::open(&p).unwrap();
        assert!(s.mark_refresh_refused("a", &[2], 9, "invalid_grant").unwrap());
    }

    #[test]
    fn credential_status_round_trip() {
        let (_dir, path) = crate::testkit::scratch("s.db");
        let s = Store::open(&path).unwrap();
        let st = CredentialStatus {
            tenant: "a".into(),
            flow: "jwt".into(),
            key_in_use: Some(2),
            key_count: Some(2),
            key_label: Some("old.pem".into()),
            first_key_refused_at: Some(5),
            updated_at: 6,
        };
        s.save_credential_status(&st).unwrap();
        s.save_credential_status(&CredentialStatus { key_in_use: Some(1), first_key_refused_at: None, ..st }).unwrap();
        let got = s.credential_status().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].key_in_use, got[0].first_key_refused_at), (Some(1), None));
    }
}
