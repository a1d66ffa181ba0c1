//! The token of a flow, kept for its lifetime: in memory, and sealed (ChaCha20-Poly1305 under
//! the [`SealKey`]) in the state file, so a timer run reuses the token of the previous run
//! while the state file alone never yields a usable token. One request for a new token at a
//! time: a tenant's sources run at the same time, and the second to find no token waits for
//! the first's instead of asking for another.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use secrecy::{ExposeSecret, SecretString};
use tracing::{debug, warn};

use super::{AuthError, SealKey, now};
use crate::state::{CachedToken, Store};

/// An access token and when to stop using it.
#[derive(Debug)]
pub struct Token {
    /// The token.
    pub secret: SecretString,
    /// Unix seconds after which it is not sent any more (a margin before the real expiry).
    pub expires_at: i64,
}

/// The state file's token table with the key that seals its tokens.
#[derive(Debug)]
pub struct SealedStore {
    store: Arc<Mutex<Store>>,
    key: SealKey,
}

impl SealedStore {
    /// The token table of `store`, sealed with the seal key of its file
    /// ([`SealKey::for_state`]).
    ///
    /// # Errors
    /// `AuthError::SealKey` when the seal key is exposed, malformed or cannot be made.
    pub fn open(store: Arc<Mutex<Store>>) -> Result<Self, AuthError> {
        let path = store.lock().unwrap_or_else(PoisonError::into_inner).path().to_owned();
        let key = SealKey::for_state(&path)?;
        Ok(Self { store, key })
    }

    /// The token table of `store`, sealed with `key`.
    pub fn with_key(store: Arc<Mutex<Store>>, key: SealKey) -> Self {
        Self { store, key }
    }

    /// The seal key.
    pub(crate) fn key(&self) -> &SealKey {
        &self.key
    }

    pub(crate) fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A flow's current token, in memory and (with a [`SealedStore`]) in the state file.
#[derive(Debug)]
pub struct TokenCache {
    tenant: String,
    /// What a cached token was issued for; a token sealed for another app, user, host or
    /// scope set does not open (so changing any of them never reuses an old token).
    binding: String,
    sealed: Option<SealedStore>,
    current: Mutex<Option<Token>>,
    /// Held while a token is obtained (see the module comment).
    refresh: tokio::sync::Mutex<()>,
}

impl TokenCache {
    /// The cache of `tenant`'s token, issued for `binding` (every setting the token depends
    /// on, joined). `sealed` keeps it across runs.
    pub fn new(tenant: &str, binding: String, sealed: Option<SealedStore>) -> Self {
        Self {
            tenant: tenant.to_owned(),
            binding,
            sealed,
            current: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The tenant whose token this is.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The state file the tokens are sealed into, locked (`None` without one).
    pub(crate) fn state(&self) -> Option<std::sync::MutexGuard<'_, Store>> {
        self.sealed.as_ref().map(SealedStore::store)
    }

    /// The seal key and state file (`None` without one).
    pub(crate) fn sealed(&self) -> Option<&SealedStore> {
        self.sealed.as_ref()
    }

    /// Keeps `t` as the current token, in memory and sealed in the state file (a token
    /// obtained outside [`TokenCache::get_or_obtain`], such as a login's).
    pub fn keep(&self, t: Token) {
        self.save(&t);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(t);
    }

    fn save(&self, t: &Token) {
        if let Some(sealed) = &self.sealed
            && let Some(blob) = seal(&sealed.key, &self.binding, &t.secret, t.expires_at)
            && let Err(e) = sealed.store().save_token(&self.tenant, &blob)
        {
            warn!(error = %e, "Cannot cache the access token; the next run will request a new one.");
        }
    }

    fn cached(&self) -> Option<SecretString> {
        let cur = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        cur.as_ref().filter(|t| t.expires_at > now()).map(|t| t.secret.clone())
    }

    fn stored(&self) -> Option<Token> {
        let sealed = self.sealed.as_ref()?;
        let found = match sealed.store().load_token(&self.tenant) {
            Ok(t) => t?,
            Err(e) => {
                warn!(error = %e, "Cannot read the token cache; requesting a new token.");
                return None;
            }
        };
        if found.expires_at <= now() {
            return None;
        }
        let Some(secret) = open(&sealed.key, &self.binding, &found) else {
            // Sealed under another key (an older version's, or another state folder's) or for
            // other settings: not an error, the token is simply obtained again.
            debug!("The cached access token does not open (another seal key or other settings); requesting a new one.");
            return None;
        };
        Some(Token { secret, expires_at: found.expires_at })
    }

    /// The current token, else the stored one, else the one `obtain` gets (then stored).
    ///
    /// # Errors
    /// What `obtain` returns.
    pub async fn get_or_obtain<F, Fut>(&self, obtain: F) -> Result<SecretString, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token, AuthError>>,
    {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        if let Some(t) = self.stored() {
            debug!("Reusing the cached access token.");
            let s = t.secret.clone();
            *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(t);
            return Ok(s);
        }
        let t = obtain().await?;
        let s = t.secret.clone();
        self.save(&t);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(t);
        Ok(s)
    }

    /// Forgets `refused` unless another caller already replaced it (see
    /// [`super::TokenSource::invalidate`]).
    pub fn invalidate_refused(&self, refused: &SecretString) {
        let same = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_none_or(|t| t.secret.expose_secret() == refused.expose_secret());
        if same {
            self.invalidate();
        }
    }

    /// Forgets the token in memory and in the state file.
    pub fn invalidate(&self) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
        if let Some(sealed) = &self.sealed
            && let Err(e) = sealed.store().forget_tokens(Some(&self.tenant))
        {
            warn!(error = %e, "Cannot clear the cached token.");
        }
    }
}

fn aad(binding: &str, expires_at: i64) -> Vec<u8> {
    format!("esign-collector token v1|{binding}|{expires_at}").into_bytes()
}

/// Seals `token`.
fn seal(key: &SealKey, binding: &str, token: &SecretString, expires_at: i64) -> Option<CachedToken> {
    let (nonce, ciphertext) = key.seal(&aad(binding, expires_at), token.expose_secret())?;
    Some(CachedToken { nonce, ciphertext, expires_at })
}

/// Opens a sealed token; `None` when it was sealed under another key or binding, or tampered with.
fn open(key: &SealKey, binding: &str, t: &CachedToken) -> Option<SecretString> {
    key.open(&aad(binding, t.expires_at), &t.nonce, &t.ciphertext)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A store in a fresh folder (the guard keeps the folder), and a request counter.
    fn fresh_store() -> (tempfile::TempDir, Arc<Mutex<Store>>, Cell<u32>) {
        let (dir, path) = crate::testkit::scratch("s.db");
        (dir, Arc::new(Mutex::new(Store::open(&path).unwrap())), Cell::new(0))
    }

    /// Tenant `t`'s cache with binding `b`, sealed into `store`.
    fn cache_over(store: &Arc<Mutex<Store>>) -> TokenCache {
        TokenCache::new("t", "b".into(), Some(sealed(store)))
    }

    /// The store's token table with its key file (never a credential of the test's environment).
    fn sealed(store: &Arc<Mutex<Store>>) -> SealedStore {
        let path = store.lock().unwrap().path().to_owned();
        SealedStore::with_key(store.clone(), SealKey::for_state_in(None, &path).unwrap())
    }

    fn token(s: &str) -> Token {
        Token { secret: SecretString::from(s.to_owned()), expires_at: now() + 3600 }
    }

    /// Gets a token through `cache`, counting the calls of `obtain` in `calls`.
    async fn get(cache: &TokenCache, calls: &Cell<u32>, fresh: &str) -> String {
        let got = cache
            .get_or_obtain(|| async {
                calls.set(calls.get() + 1);
                Ok(token(fresh))
            })
            .await
            .unwrap();
        got.expose_secret().to_owned()
    }

    #[test]
    fn round_trip_and_tamper() {
        let k = SealKey::from_bytes([7u8; 32]);
        let tok = SecretString::from("tok-CANARY");
        let mut s = seal(&k, "default", &tok, 100).unwrap();
        assert!(!s.ciphertext.windows(6).any(|w| w == b"CANARY"));
        assert_eq!(open(&k, "default", &s).unwrap().expose_secret(), "tok-CANARY");
        assert!(open(&SealKey::from_bytes([8u8; 32]), "default", &s).is_none());
        assert!(open(&k, "other", &s).is_none());
        s.expires_at = 999;
        assert!(open(&k, "default", &s).is_none());
    }

    #[tokio::test]
    async fn the_sealed_token_is_reused_by_the_next_run_and_dropped_after_a_401() {
        let (_dir, store, calls) = fresh_store();
        let first = cache_over(&store);
        assert_eq!(get(&first, &calls, "tok-1").await, "tok-1");
        assert_eq!(get(&first, &calls, "unused").await, "tok-1");
        let next = cache_over(&store);
        assert_eq!(get(&next, &calls, "unused").await, "tok-1", "the next run opens the sealed token");
        assert_eq!(calls.get(), 1);
        // Other settings (binding) do not open it.
        let other = TokenCache::new("t", "c".into(), Some(sealed(&store)));
        assert_eq!(get(&other, &calls, "tok-2").await, "tok-2");
        assert_eq!(calls.get(), 2);
        // A 401 for a token that was already replaced keeps the new one.
        other.invalidate_refused(&SecretString::from("tok-1"));
        assert_eq!(get(&other, &calls, "unused").await, "tok-2");
        other.invalidate_refused(&SecretString::from("tok-2"));
        assert!(store.lock().unwrap().load_token("t").unwrap().is_none(), "forgotten in the state file too");
        assert_eq!(get(&other, &calls, "tok-3").await, "tok-3");
        assert_eq!(calls.get(), 3);
    }

    #[tokio::test]
    async fn a_token_sealed_by_an_older_version_is_obtained_again() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use sha2::{Digest, Sha256};
        let (_dir, store, calls) = fresh_store();
        // Older versions sealed under a key derived from the private key.
        let rsa = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let mut h = Sha256::new();
        h.update(b"esign-collector token cache v1\0");
        h.update(rsa.to_pkcs1_der().unwrap().as_bytes());
        let old_key = SealKey::from_bytes(h.finalize().into());
        let old = seal(&old_key, "b", &SecretString::from("tok-old"), now() + 3000).unwrap();
        store.lock().unwrap().save_token("t", &old).unwrap();

        let cache = cache_over(&store);
        assert_eq!(get(&cache, &calls, "tok-new").await, "tok-new");
        assert_eq!(calls.get(), 1, "obtained once");
        let next = cache_over(&store);
        assert_eq!(get(&next, &calls, "unused").await, "tok-new", "and sealed under the new key");
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test]
    async fn a_copied_state_file_without_its_key_file_yields_no_token() {
        let (dir, store, calls) = fresh_store();
        let cache = cache_over(&store);
        assert_eq!(get(&cache, &calls, "tok-1").await, "tok-1");
        drop(cache);
        drop(store);
        // The state file (its WAL checkpointed on close) taken elsewhere, without the key file.
        let (_elsewhere, copy_path) = crate::testkit::scratch("s.db");
        std::fs::copy(dir.path().join("s.db"), &copy_path).unwrap();
        let copy = Arc::new(Mutex::new(Store::open(&copy_path).unwrap()));
        assert!(copy.lock().unwrap().load_token("t").unwrap().is_some(), "the sealed token was copied");
        let thief = TokenCache::new("t", "b".into(), Some(sealed(&copy)));
        assert_eq!(get(&thief, &calls, "tok-2").await, "tok-2");
        assert_eq!(calls.get(), 2, "the copy yields no token: a new one was needed");
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_request() {
        let calls = Cell::new(0);
        let cache = TokenCache::new("t", "b".into(), None);
        let slow = || async {
            calls.set(calls.get() + 1);
            tokio::task::yield_now().await;
            Ok(token("tok-1"))
        };
        let (a, b) = tokio::join!(cache.get_or_obtain(slow), cache.get_or_obtain(slow));
        assert_eq!(a.unwrap().expose_secret(), "tok-1");
        assert_eq!(b.unwrap().expose_secret(), "tok-1");
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test]
    async fn a_failed_request_is_not_cached() {
        let cache = TokenCache::new("t", "b".into(), None);
        let e = cache.get_or_obtain(|| async { Err(AuthError::Key("no".into())) }).await.unwrap_err();
        assert_eq!(e.to_string(), "no");
        let calls = Cell::new(0);
        assert_eq!(get(&cache, &calls, "tok-1").await, "tok-1");
        assert_eq!(calls.get(), 1);
    }
}
