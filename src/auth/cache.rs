//! Seals access tokens for the state file with ChaCha20-Poly1305 under a key derived from the
//! private key: a timer run reuses the token of the previous run, yet the state file alone
//! never yields a usable token.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::state::CachedToken;

fn aad(tenant: &str, expires_at: i64) -> Vec<u8> {
    format!("esign-collector token v1|{tenant}|{expires_at}").into_bytes()
}

/// Seals `token`.
pub(crate) fn seal(key: &[u8; 32], tenant: &str, token: &SecretString, expires_at: i64) -> Option<CachedToken> {
    let cipher = ChaCha20Poly1305::new(&Key::from(*key));
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    let ad = aad(tenant, expires_at);
    let ciphertext =
        cipher.encrypt(&Nonce::from(nonce), Payload { msg: token.expose_secret().as_bytes(), aad: &ad }).ok()?;
    Some(CachedToken { nonce: nonce.to_vec(), ciphertext, expires_at })
}

/// Opens a sealed token; `None` when it was sealed under another key or tampered with.
pub(crate) fn open(key: &[u8; 32], tenant: &str, t: &CachedToken) -> Option<SecretString> {
    let nonce: [u8; 12] = t.nonce.as_slice().try_into().ok()?;
    let cipher = ChaCha20Poly1305::new(&Key::from(*key));
    let ad = aad(tenant, t.expires_at);
    let plain =
        zeroize::Zeroizing::new(cipher.decrypt(&Nonce::from(nonce), Payload { msg: &t.ciphertext, aad: &ad }).ok()?);
    std::str::from_utf8(&plain).ok().map(SecretString::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let k = [7u8; 32];
        let tok = SecretString::from("tok-CANARY");
        let mut s = seal(&k, "default", &tok, 100).unwrap();
        assert!(!s.ciphertext.windows(6).any(|w| w == b"CANARY"));
        assert_eq!(open(&k, "default", &s).unwrap().expose_secret(), "tok-CANARY");
        assert!(open(&[8u8; 32], "default", &s).is_none());
        assert!(open(&k, "other", &s).is_none());
        s.expires_at = 999;
        assert!(open(&k, "default", &s).is_none());
    }
}
