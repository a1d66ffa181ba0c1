//! The key that seals access tokens for the state file. It comes from nothing the state file
//! holds, nor from a flow's own credentials (a flow without a private key has none): it is
//! the systemd credential [`SEAL_KEY_CREDENTIAL`] when the service was given one, else 32
//! random bytes in a file beside the state file (`<state file>.seal-key`, mode 0600), made on
//! first use. A copy of the state file alone therefore yields no usable token.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore as _;
use secrecy::SecretString;
use tracing::debug;
use zeroize::Zeroizing;

use super::AuthError;

/// The systemd credential (`LoadCredential=token-seal-key:PATH`) read instead of the key file.
pub const SEAL_KEY_CREDENTIAL: &str = "token-seal-key";

/// Bytes in a seal key (ChaCha20-Poly1305's key size).
const LEN: usize = 32;

/// A seal key. Its `Debug` prints nothing of it, and it is zeroized when dropped.
pub struct SealKey(Zeroizing<[u8; LEN]>);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

fn bad(origin: &str, what: &str) -> AuthError {
    AuthError::SealKey(format!("{origin}: {what}"))
}

/// The key file kept beside the state file `state`.
pub(crate) fn key_file(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".seal-key");
    PathBuf::from(name)
}

impl SealKey {
    /// The seal key for the state file `state`: `$CREDENTIALS_DIRECTORY/token-seal-key` when
    /// that file exists, else the key file beside `state`, created when missing.
    ///
    /// # Errors
    /// `AuthError::SealKey` when the key is readable by group or others, is not a regular
    /// file, does not hold exactly 32 bytes, or cannot be read or created.
    pub fn for_state(state: &Path) -> Result<Self, AuthError> {
        Self::for_state_in(std::env::var_os("CREDENTIALS_DIRECTORY").as_deref().map(Path::new), state)
    }

    pub(super) fn for_state_in(credentials: Option<&Path>, state: &Path) -> Result<Self, AuthError> {
        if let Some(dir) = credentials.filter(|d| !d.as_os_str().is_empty()) {
            let path = dir.join(SEAL_KEY_CREDENTIAL);
            if path.exists() {
                let origin = format!("systemd credential {SEAL_KEY_CREDENTIAL} ({})", path.display());
                return read(&path, &origin, "write 32 random bytes to it: `head -c 32 /dev/urandom > FILE`");
            }
        }
        let path = key_file(state);
        let origin = format!("seal key file {}", path.display());
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(&path, &origin),
            _ => read(
                &path,
                &origin,
                "delete it, and a new one is made at the next start (the cached access token is then requested again)",
            ),
        }
    }

    /// Seals `secret` (ChaCha20-Poly1305, a random nonce) bound to `aad`: the nonce and the
    /// ciphertext, or `None` when encryption fails.
    pub(crate) fn seal(&self, aad: &[u8], secret: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        let cipher = ChaCha20Poly1305::new(&Key::from(*self.0));
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ciphertext = cipher.encrypt(&Nonce::from(nonce), Payload { msg: secret.as_bytes(), aad }).ok()?;
        Some((nonce.to_vec(), ciphertext))
    }

    /// The key bytes (tests compare keys).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8; LEN] {
        &self.0
    }

    /// Opens what [`SealKey::seal`] sealed with the same `aad`; `None` when it was sealed under
    /// another key or binding, or tampered with.
    pub(crate) fn open(&self, aad: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Option<SecretString> {
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let cipher = ChaCha20Poly1305::new(&Key::from(*self.0));
        let plain = Zeroizing::new(cipher.decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad }).ok()?);
        std::str::from_utf8(&plain).ok().map(SecretString::from)
    }

    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: [u8; LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }
}

/// Reads a key, with the checks of the private key file; `fix` says what to do about a key
/// of the wrong size.
fn read(path: &Path, origin: &str, fix: &str) -> Result<SealKey, AuthError> {
    let meta = std::fs::metadata(path).map_err(|e| bad(origin, &format!("cannot read it: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(bad(
                origin,
                &format!("is accessible by group or others (mode {mode:03o}); run `chmod 600 {}`", path.display()),
            ));
        }
    }
    if !meta.is_file() {
        return Err(bad(origin, "is not a regular file"));
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| bad(origin, &format!("cannot read it: {e}")))?);
    if bytes.len() != LEN {
        return Err(bad(
            origin,
            &format!("holds {} bytes, not the {LEN} random bytes of a seal key; {fix}", bytes.len()),
        ));
    }
    let mut key = Zeroizing::new([0u8; LEN]);
    key.copy_from_slice(&bytes);
    Ok(SealKey(key))
}

/// Makes a new key file at `path`. It is written under a temporary name (created exclusively,
/// mode 0600) and linked into place only when complete, never over an existing file: two
/// processes starting at once agree on one key, and none reads a half-written one.
fn create(path: &Path, origin: &str) -> Result<SealKey, AuthError> {
    let cannot = |e: &dyn std::fmt::Display| bad(origin, &format!("cannot create it: {e}"));
    let mut key = Zeroizing::new([0u8; LEN]);
    rand::rngs::OsRng.try_fill_bytes(key.as_mut()).map_err(|e| cannot(&e))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".seal-key-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| cannot(&e))?;
    tmp.write_all(key.as_ref()).and_then(|()| tmp.as_file().sync_all()).map_err(|e| cannot(&e))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {
            debug!(path = %path.display(), "Created the token seal key.");
            Ok(SealKey(key))
        }
        // Another process made it first: its key is the one.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            read(path, origin, "delete it, and a new one is made at the next start")
        }
        Err(e) => Err(cannot(&e.error)),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn key_file_is_created_0600_and_reused() {
        let (dir, state) = crate::testkit::scratch("s.db");
        let a = SealKey::for_state_in(None, &state).unwrap();
        let file = dir.path().join("s.db.seal-key");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), a.bytes());
        let b = SealKey::for_state_in(None, &state).unwrap();
        assert_eq!(a.bytes(), b.bytes(), "the next open reuses the key");
        assert_ne!(a.bytes(), &[0u8; LEN]);
        // Nothing else is left beside the state file.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["s.db.seal-key"]);
        // Another state file gets another key.
        let other = SealKey::for_state_in(None, &dir.path().join("t.db")).unwrap();
        assert_ne!(a.bytes(), other.bytes());
    }

    #[test]
    fn loose_mode_is_refused() {
        let (_dir, state) = crate::testkit::scratch("s.db");
        drop(SealKey::for_state_in(None, &state).unwrap());
        let file = key_file(&state);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = SealKey::for_state_in(None, &state).unwrap_err();
        assert_eq!(e.exit_code(), crate::exit::Exit::State);
        let e = e.to_string();
        assert!(e.starts_with(&format!("seal key file {}: ", file.display())), "{e}");
        assert!(e.contains("accessible by group or others (mode 644)") && e.contains("chmod 600"), "{e}");
    }

    #[test]
    fn short_or_corrupt_file_is_an_error() {
        let (_dir, state) = crate::testkit::scratch("s.db");
        let file = key_file(&state);
        for bytes in [&b""[..], &[1u8; 16], &[1u8; 33]] {
            std::fs::write(&file, bytes).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
            let e = SealKey::for_state_in(None, &state).unwrap_err().to_string();
            assert!(e.contains(&format!("holds {} bytes, not the 32 random bytes", bytes.len())), "{e}");
            assert!(e.contains("delete it"), "{e}");
            assert_eq!(std::fs::read(&file).unwrap(), bytes, "a bad key file is left as it is");
        }
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir(&file).unwrap();
        let e = SealKey::for_state_in(None, &state).unwrap_err().to_string();
        assert!(e.contains("is not a regular file") || e.contains("accessible"), "{e}");
    }

    #[test]
    fn credential_is_preferred_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let creds = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.db");
        let cred = creds.path().join(SEAL_KEY_CREDENTIAL);
        std::fs::write(&cred, [9u8; LEN]).unwrap();
        std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o400)).unwrap();
        let k = SealKey::for_state_in(Some(creds.path()), &state).unwrap();
        assert_eq!(k.bytes(), &[9u8; LEN]);
        assert!(!key_file(&state).exists(), "no key file is made when the credential is there");
        std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&cred, b"short").unwrap();
        let e = SealKey::for_state_in(Some(creds.path()), &state).unwrap_err().to_string();
        assert!(e.starts_with("systemd credential token-seal-key ("), "{e}");
        assert!(e.contains("holds 5 bytes") && e.contains("head -c 32 /dev/urandom"), "{e}");
        std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o440)).unwrap();
        let e = SealKey::for_state_in(Some(creds.path()), &state).unwrap_err().to_string();
        assert!(e.contains("accessible by group or others"), "{e}");
        // A credentials directory without the seal key falls back to the key file.
        let empty = tempfile::tempdir().unwrap();
        drop(SealKey::for_state_in(Some(empty.path()), &state).unwrap());
        assert!(key_file(&state).exists());
    }
}
