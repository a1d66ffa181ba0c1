//! Is a request from our Connect configuration? Optional Basic authentication, then the HMAC
//! signatures: DocuSign sends one `X-DocuSign-Signature-N` header per active key, each
//! base64(HMAC-SHA256(key string's bytes, raw body)); any header matching any configured key
//! passes (so keys rotate without a gap). Every comparison is constant-time.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::core::push::Rejection;

/// The prefix of DocuSign's signature headers (`X-DocuSign-Signature-1`, `-2`, …), as the
/// `http` crate spells header names (lowercase).
const SIGNATURE_PREFIX: &str = "x-docusign-signature-";

/// Checks `Authorization: Basic …` against `user` and `password` (see
/// [`crate::core::push::verify_basic`]).
pub(super) fn basic_auth(headers: &HeaderMap, user: &str, password: &SecretString) -> Result<(), Rejection> {
    crate::core::push::verify_basic(headers, user, password)
}

/// Checks the signature headers against every key.
pub(super) fn signatures(headers: &HeaderMap, body: &[u8], keys: &[SecretString]) -> Result<(), Rejection> {
    let mut sigs = Vec::new();
    for (name, value) in headers {
        if name.as_str().starts_with(SIGNATURE_PREFIX) {
            // A signature that is not base64 cannot match; the others still can.
            if let Some(s) = value.to_str().ok().and_then(|v| B64.decode(v.trim()).ok()) {
                sigs.push(s);
            }
        }
    }
    if sigs.is_empty() {
        return Err(Rejection::new("no X-DocuSign-Signature header"));
    }
    let mut matched = subtle::Choice::from(0);
    for key in keys {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes()) else { continue };
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        for s in &sigs {
            matched |= tag[..].ct_eq(&s[..]);
        }
    }
    if bool::from(matched) { Ok(()) } else { Err(Rejection::new("no signature matches a configured key")) }
}

/// base64(HMAC-SHA256(key, body)): what DocuSign puts in a signature header (tests, benches).
pub fn sign(key: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else { return String::new() };
    mac.update(body);
    B64.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn keys(k: &[&str]) -> Vec<SecretString> {
        k.iter().map(|k| SecretString::from((*k).to_owned())).collect()
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn any_signature_matching_any_key_passes() {
        let body = br#"{"event":"envelope-sent"}"#;
        let old = sign("old-key=", body);
        let new = sign("new-key=", body);
        let h = headers(&[("x-docusign-signature-1", old.clone()), ("x-docusign-signature-2", new.clone())]);
        assert!(signatures(&h, body, &keys(&["new-key="])).is_ok());
        assert!(signatures(&h, body, &keys(&["other", "old-key="])).is_ok());
        assert_eq!(
            signatures(&h, body, &keys(&["other"])).unwrap_err().reason(),
            "no signature matches a configured key"
        );
        let one = headers(&[("x-docusign-signature-1", new)]);
        assert!(signatures(&one, b"tampered", &keys(&["new-key="])).is_err(), "the body is covered");
        assert_eq!(
            signatures(&HeaderMap::new(), body, &keys(&["k"])).unwrap_err().reason(),
            "no X-DocuSign-Signature header"
        );
        let junk = headers(&[("x-docusign-signature-1", "%%%".into()), ("x-docusign-signature-2", old)]);
        assert!(signatures(&junk, body, &keys(&["old-key="])).is_ok(), "a bad header does not hide a good one");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_raw_body_base64() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            B64.decode(sign("Jefe", b"what do ya want for nothing?")).unwrap(),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn basic_auth_must_match_user_and_password() {
        let pw = SecretString::from("s3cret".to_owned());
        let auth = |v: &str| headers(&[("authorization", format!("Basic {}", B64.encode(v)))]);
        assert!(basic_auth(&auth("ds:s3cret"), "ds", &pw).is_ok());
        assert!(basic_auth(&auth("ds:wrong"), "ds", &pw).is_err());
        assert!(basic_auth(&auth("other:s3cret"), "ds", &pw).is_err());
        assert!(basic_auth(&auth("ds"), "ds", &pw).is_err());
        assert_eq!(basic_auth(&HeaderMap::new(), "ds", &pw).unwrap_err().reason(), "no Basic authentication");
        let bearer = headers(&[("authorization", "Bearer x".into())]);
        assert!(basic_auth(&bearer, "ds", &pw).is_err());
    }
}
