//! Unit tests of the JWT-grant checks.

use std::sync::OnceLock;

use jsonwebtoken::{EncodingKey, Header, encode};
use rsa::pkcs1::EncodeRsaPublicKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::json;

use super::*;

struct Keys {
    private: String,
    spki: String,
    pkcs1: String,
    other_private: String,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rand::thread_rng();
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let other = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let public = key.to_public_key();
        Keys {
            private: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            spki: public.to_public_key_pem(LineEnding::LF).unwrap(),
            pkcs1: public.to_pkcs1_pem(LineEnding::LF).unwrap(),
            other_private: other.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        }
    })
}

const HOST: &str = "127.0.0.1:4567";

fn cfg() -> SimConfig {
    SimConfig::new(keys().spki.clone())
}

fn claims(cfg: &SimConfig, now: i64) -> Value {
    json!({
        "iss": cfg.integration_key, "sub": cfg.user_id, "aud": HOST,
        "iat": now, "exp": now + 3600, "scope": "signature impersonation",
    })
}

fn sign(claims: &Value, private: &str) -> String {
    let key = EncodingKey::from_rsa_pem(private.as_bytes()).unwrap();
    encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

fn check(cfg: &SimConfig, claims: &Value, revoked: bool) -> Result<HashSet<String>, OAuthError> {
    let key = DecodingKey::from_rsa_pem(cfg.public_key_pem.as_bytes()).unwrap();
    let now = Utc::now().timestamp();
    verify_assertion(cfg, std::slice::from_ref(&key), revoked, &sign(claims, &keys().private), HOST, now)
}

fn description(result: Result<HashSet<String>, OAuthError>) -> String {
    let err = result.unwrap_err();
    format!("{}/{}", err.error, err.description.unwrap_or("-"))
}

#[test]
fn good_assertion_is_accepted_with_both_public_key_formats() {
    let now = Utc::now().timestamp();
    let mut cfg = cfg();
    let scopes = check(&cfg, &claims(&cfg, now), false).unwrap();
    assert!(scopes.contains("impersonation") && scopes.contains("signature"));
    cfg.public_key_pem.clone_from(&keys().pkcs1);
    assert!(check(&cfg, &claims(&cfg, now), false).is_ok());
    // `aud` may also be an array, and `iat` slightly in the future is within the skew.
    let mut c = claims(&cfg, now);
    c["aud"] = json!(["other", HOST]);
    c["iat"] = json!(now + 60);
    assert!(check(&cfg, &c, false).is_ok());
}

#[test]
fn wrong_claims_get_the_right_description() {
    let cfg = cfg();
    let now = Utc::now().timestamp();
    let cases: [(&str, Value, &str); 9] = [
        ("iss", json!("someone-else"), "invalid_grant/issuer_not_found"),
        ("sub", json!("00000000-0000-0000-0000-000000000000"), "invalid_grant/user_not_found"),
        ("aud", json!("account-d.docusign.com"), "invalid_grant/invalid_audience"),
        ("exp", json!(now - 3600), "invalid_grant/assertion_expired"),
        ("iat", json!(now + 3600), "invalid_grant/assertion_not_yet_valid"),
        ("exp", json!(now + 7200), "invalid_grant/assertion_lifetime_too_long"),
        ("iat", Value::Null, "invalid_grant/invalid_assertion_claims"),
        ("scope", json!("signature impersonation extended"), "consent_required/-"),
        ("scope", json!("signature user_write"), "consent_required/-"),
    ];
    for (claim, value, expected) in cases {
        let mut c = claims(&cfg, now);
        if value.is_null() {
            c.as_object_mut().unwrap().remove(claim);
        } else {
            c[claim] = value;
        }
        assert_eq!(description(check(&cfg, &c, false)), expected, "{claim}");
    }
}

#[test]
fn bad_signatures_and_garbage_are_rejected() {
    let cfg = cfg();
    let now = Utc::now().timestamp();
    let key = DecodingKey::from_rsa_pem(cfg.public_key_pem.as_bytes()).unwrap();
    let forged = sign(&claims(&cfg, now), &keys().other_private);
    for assertion in [forged.as_str(), "not-a-jwt", "a.b.c"] {
        let err = verify_assertion(&cfg, std::slice::from_ref(&key), false, assertion, HOST, now).unwrap_err();
        assert_eq!(err, OAuthError::grant("no_valid_keys_or_signatures"), "{assertion}");
    }
    // An HS256 token "signed" with the public key (algorithm confusion) must fail too.
    let hs = encode(
        &Header::new(Algorithm::HS256),
        &claims(&cfg, now),
        &EncodingKey::from_secret(cfg.public_key_pem.as_bytes()),
    )
    .unwrap();
    assert!(verify_assertion(&cfg, std::slice::from_ref(&key), false, &hs, HOST, now).is_err());
    // No usable key configured: nothing verifies.
    let good = sign(&claims(&cfg, now), &keys().private);
    assert_eq!(
        verify_assertion(&cfg, &[], false, &good, HOST, now).unwrap_err(),
        OAuthError::grant("no_valid_keys_or_signatures")
    );
}

#[test]
fn revoked_consent_is_consent_required() {
    let cfg = cfg();
    let c = claims(&cfg, Utc::now().timestamp());
    assert_eq!(description(check(&cfg, &c, true)), "consent_required/-");
    assert!(check(&cfg, &c, false).is_ok());
}

#[test]
fn any_registered_key_verifies() {
    let cfg = cfg();
    let now = Utc::now().timestamp();
    let other_public = rsa::RsaPrivateKey::from_pkcs8_pem(&keys().other_private)
        .unwrap()
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let both = parse_keys(&[other_public.clone(), "not a key".to_owned(), keys().spki.clone()]);
    assert_eq!(both.len(), 2, "the unparsable PEM is skipped");
    let signed_by_first = sign(&claims(&cfg, now), &keys().private);
    let signed_by_other = sign(&claims(&cfg, now), &keys().other_private);
    assert!(verify_assertion(&cfg, &both, false, &signed_by_first, HOST, now).is_ok());
    assert!(verify_assertion(&cfg, &both, false, &signed_by_other, HOST, now).is_ok());
    let only_other = parse_keys(&[other_public]);
    assert_eq!(
        verify_assertion(&cfg, &only_other, false, &signed_by_first, HOST, now).unwrap_err(),
        OAuthError::grant("no_valid_keys_or_signatures")
    );
}
