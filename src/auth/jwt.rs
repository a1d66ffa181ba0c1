//! The JWT-grant assertion: RS256, iss = integration key, sub = user, aud = auth host.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::signature::{SignatureEncoding, Signer};
use secrecy::SecretString;
use serde::Serialize;
use zeroize::Zeroizing;

use super::{AuthError, PrivateKey};

/// Seconds `iat` is set in the past, to tolerate a fast local clock.
pub(crate) const CLOCK_SKEW: i64 = 60;
/// Lifetime of an assertion; DocuSign's SDKs use one hour.
pub(crate) const LIFETIME: i64 = 3600;

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    scope: String,
}

/// Who asks for a token, and for what.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Integration key.
    pub integration_key: String,
    /// Impersonated user GUID.
    pub user_id: String,
    /// The auth host, bare (e.g. `account-d.docusign.com`).
    pub audience: String,
    /// Scopes requested.
    pub scopes: Vec<String>,
}

/// Signs an assertion at time `now` (Unix seconds).
///
/// # Errors
/// `AuthError::Key` when signing fails.
pub(crate) fn assertion(key: &PrivateKey, g: &Grant, now: i64) -> Result<SecretString, AuthError> {
    let iat = now - CLOCK_SKEW;
    let claims = Claims {
        iss: &g.integration_key,
        sub: &g.user_id,
        aud: &g.audience,
        iat,
        nbf: iat,
        exp: iat + LIFETIME,
        scope: g.scopes.join(" "),
    };
    // Signed here rather than with jsonwebtoken's `EncodingKey`, which keeps an un-zeroized
    // copy of the key for its lifetime; the JWS compact form is three base64url parts.
    let payload =
        serde_json::to_vec(&claims).map_err(|e| AuthError::Key(format!("cannot encode the JWT claims: {e}")))?;
    let mut jwt = Zeroizing::new(String::with_capacity(512));
    jwt.push_str(&URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#));
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let signature = key
        .signing()
        .try_sign(jwt.as_bytes())
        .map_err(|e| AuthError::Key(format!("cannot sign the JWT assertion: {e}")))?;
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
    Ok(SecretString::from(jwt.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
    use secrecy::ExposeSecret;

    #[test]
    fn claims_verify_with_public_key() {
        let rsa = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let key = PrivateKey::from_rsa(&rsa).unwrap();
        let g = Grant {
            integration_key: "ik".into(),
            user_id: "u".into(),
            audience: "account-d.docusign.com".into(),
            scopes: vec!["signature".into(), "impersonation".into()],
        };
        let now = chrono::Utc::now().timestamp();
        let jwt = assertion(&key, &g, now).unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["account-d.docusign.com"]);
        v.set_issuer(&["ik"]);
        let dk = DecodingKey::from_rsa_pem(key.public_pem().as_bytes()).unwrap();
        let data = decode::<serde_json::Value>(jwt.expose_secret(), &dk, &v).unwrap();
        assert_eq!(data.claims["sub"], "u");
        assert_eq!(data.claims["scope"], "signature impersonation");
        assert_eq!(data.claims["iat"], now - CLOCK_SKEW);
        assert_eq!(data.claims["exp"].as_i64().unwrap() - data.claims["iat"].as_i64().unwrap(), 3600);
    }
}
