//! Storage of the access-token cache. The blobs are sealed by `auth` with a key kept outside
//! the state file (a systemd credential or a key file beside it), so the state file never
//! holds a usable token.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// A sealed token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    /// AEAD nonce.
    pub nonce: Vec<u8>,
    /// Sealed token.
    pub ciphertext: Vec<u8>,
    /// Unix seconds after which the token must not be used.
    pub expires_at: i64,
}

impl Store {
    /// The sealed token of a tenant, if one is cached.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be read.
    pub fn load_token(&self, tenant: &str) -> Result<Option<CachedToken>, StoreError> {
        self.conn
            .query_row("SELECT nonce, ciphertext, expires_at FROM tokens WHERE tenant = ?1", params![tenant], |r| {
                Ok(CachedToken { nonce: r.get(0)?, ciphertext: r.get(1)?, expires_at: r.get(2)? })
            })
            .optional()
            .map_err(self.sql())
    }

    /// Stores a sealed token, replacing any other for the tenant.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be written.
    pub fn save_token(&self, tenant: &str, t: &CachedToken) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO tokens (tenant, nonce, ciphertext, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant) DO UPDATE SET nonce = excluded.nonce,
                 ciphertext = excluded.ciphertext, expires_at = excluded.expires_at",
                params![tenant, t.nonce, t.ciphertext, t.expires_at],
            )
            .map(drop)
            .map_err(self.sql())
    }

    /// Forgets cached tokens (all tenants when `tenant` is `None`); returns how many.
    ///
    /// # Errors
    /// `StoreError::Sql` when the file cannot be written.
    pub fn forget_tokens(&self, tenant: Option<&str>) -> Result<usize, StoreError> {
        match tenant {
            Some(t) => self.conn.execute("DELETE FROM tokens WHERE tenant = ?1", params![t]),
            None => self.conn.execute("DELETE FROM tokens", []),
        }
        .map_err(self.sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_forget() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.db")).unwrap();
        let t = CachedToken { nonce: vec![1; 12], ciphertext: vec![2; 40], expires_at: 99 };
        s.save_token("default", &t).unwrap();
        assert_eq!(s.load_token("default").unwrap(), Some(t));
        assert_eq!(s.forget_tokens(None).unwrap(), 1);
        assert_eq!(s.load_token("default").unwrap(), None);
    }
}
