//! The Authorization Code Grant (RFC 6749 §4.1) with PKCE (RFC 7636, S256) as a
//! [`TokenSource`]: `auth login` obtains the first refresh token; from then on each access
//! token comes from the refresh grant, and every refresh returns a new refresh token.
//!
//! The refresh token lives only in the state file, sealed under the seal key, and is read
//! from it at every refresh (so a login while `run` is running takes effect at its next
//! refresh). Rotation is ordered for crashes: the new refresh token is committed (one
//! durable transaction) before the access token that came with it is used or cached; a crash
//! before that commit leaves the previous refresh token, which DocuSign does not document as
//! revoked on use. A refresh token DocuSign refuses (`invalid_grant`) is marked refused in
//! the state file (only if it is still the stored one), so `status` and `/healthz` say a login
//! is needed at once, and it is never sent again; the next `auth login` clears the mark.
//! Crash points (`failpoints` builds): `refresh_before_send`, `refresh_after_reply`,
//! `refresh_after_store`.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::oauth::{self, ClientAuth};
use super::{AuthError, Refusal, SealedStore, Token, TokenCache, TokenSource, now};
use crate::http::Api;
use crate::state::{CredentialStatus, StoredRefresh};

/// How long DocuSign keeps a refresh token valid (30 days; not in the reply).
pub const REFRESH_LIFETIME_SECS: i64 = 30 * 86_400;
/// From how long before its expiry a refresh token is reported as expiring (7 days).
pub const REFRESH_WARNING_SECS: i64 = 7 * 86_400;

/// The flow's name in `status`, metrics and the state file.
pub const FLOW: &str = "authorization_code";

/// The integration key and, for a confidential client, its secret.
#[derive(Clone)]
pub struct ClientCredentials {
    /// The integration key (client id).
    pub integration_key: String,
    /// The secret key; `None` for a public client (PKCE only).
    pub secret: Option<SecretString>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("integration_key", &self.integration_key)
            .field("confidential", &self.secret.is_some())
            .finish()
    }
}

impl ClientCredentials {
    fn auth(&self) -> ClientAuth<'_> {
        match &self.secret {
            Some(s) => ClientAuth::Basic(&self.integration_key, s),
            None => ClientAuth::Public(&self.integration_key),
        }
    }
}

/// 32 random bytes, base64url without padding (43 characters): a PKCE verifier or a `state`.
pub fn random_secret() -> SecretString {
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    rand::thread_rng().fill_bytes(raw.as_mut());
    SecretString::from(URL_SAFE_NO_PAD.encode(raw.as_ref()))
}

/// The S256 challenge of a PKCE verifier: base64url(SHA-256(verifier)), unpadded.
pub fn challenge(verifier: &SecretString) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose_secret().as_bytes()))
}

/// The URL the user opens to log in and consent (`{auth_base}/oauth/auth`).
pub fn authorize_url(
    auth_base: &str,
    integration_key: &str,
    redirect_uri: &str,
    scopes: &[String],
    state: &SecretString,
    verifier: &SecretString,
) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("scope", &scopes.join(" "))
        .append_pair("client_id", integration_key)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state.expose_secret())
        .append_pair("code_challenge", &challenge(verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("{}/oauth/auth?{query}", auth_base.trim_end_matches('/'))
}

/// What a code exchange or a refresh returned.
#[derive(Debug)]
pub struct Granted {
    /// The access token.
    pub access: Token,
    /// The new refresh token.
    pub refresh: SecretString,
    /// The scopes granted (the reply's `scope`, else those asked for).
    pub scopes: String,
}

/// Reads a code or refresh reply.
fn granted(body: &Value, what: &str, asked: &str) -> Result<(Token, Option<SecretString>, String), AuthError> {
    let access = oauth::access_token(body, what)?;
    let refresh = body
        .get("refresh_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| SecretString::from(s.to_owned()));
    let scopes = body.get("scope").and_then(Value::as_str).filter(|s| !s.trim().is_empty()).unwrap_or(asked);
    Ok((access, refresh, scopes.to_owned()))
}

/// Tokens from the Authorization Code Grant's refresh tokens.
pub struct AuthCodeGrant {
    client: ClientCredentials,
    token_url: String,
    /// The scopes the enabled sources need: a login that granted fewer is refused.
    needed: Vec<String>,
    cache: TokenCache,
}

impl std::fmt::Debug for AuthCodeGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCodeGrant")
            .field("client", &self.client)
            .field("tenant", &self.cache.tenant())
            .finish_non_exhaustive()
    }
}

fn aad(tenant: &str, client: &str, token_url: &str, r: &StoredRefresh) -> Vec<u8> {
    format!(
        "esign-collector refresh v1|{tenant}|{client}|{token_url}|{}|{}|{}|{}",
        r.logged_in_at, r.issued_at, r.expires_at, r.scopes
    )
    .into_bytes()
}

impl AuthCodeGrant {
    /// Tokens of `tenant` from `token_url`, for sources that need the scopes `needed`; the
    /// refresh token is kept in `sealed`.
    pub fn new(
        client: ClientCredentials,
        token_url: &str,
        needed: Vec<String>,
        tenant: &str,
        sealed: SealedStore,
    ) -> Self {
        let binding = format!("{tenant}|{FLOW}|{}|{token_url}", client.integration_key);
        Self { client, token_url: token_url.to_owned(), needed, cache: TokenCache::new(tenant, binding, Some(sealed)) }
    }

    fn tenant(&self) -> &str {
        self.cache.tenant()
    }

    fn login_required(&self, reason: impl Into<String>) -> AuthError {
        AuthError::LoginRequired { tenant: self.tenant().to_owned(), reason: reason.into() }
    }

    /// Exchanges the code of a login (with its PKCE verifier and the redirect URI it was
    /// sent to) for the first tokens.
    ///
    /// # Errors
    /// `AuthError::Rejected` when the token endpoint refuses the code or the client;
    /// `AuthError::Http` when it cannot be reached.
    pub async fn exchange_code(
        &self,
        api: &Api,
        code: &SecretString,
        verifier: &SecretString,
        redirect_uri: &str,
        asked: &[String],
    ) -> Result<Granted, AuthError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("code_verifier", verifier.expose_secret()),
            ("redirect_uri", redirect_uri),
        ];
        let body = match oauth::post(api, &self.token_url, "code exchange", self.client.auth(), &form).await? {
            Ok(body) => body,
            Err(r) => return Err(explain(&r, "the authorization code")),
        };
        let (access, refresh, scopes) = granted(&body, "code exchange", &asked.join(" "))?;
        let Some(refresh) = refresh else {
            return Err(crate::http::ApiError::Malformed {
                what: "code exchange".into(),
                message: "no refresh_token in the reply (is the `extended` scope allowed for this app?)".into(),
            }
            .into());
        };
        Ok(Granted { access, refresh, scopes })
    }

    /// Keeps a login's tokens: the refresh token durably in the state file first, then the
    /// access token in the cache. `user_name` is shown by `status`.
    ///
    /// # Errors
    /// `AuthError::State` when the state file cannot be written.
    pub fn keep_login(&self, g: Granted, user_name: &str) -> Result<(), AuthError> {
        let at = now();
        self.save_refresh(&g.refresh, at, at, at + REFRESH_LIFETIME_SECS, user_name, &g.scopes)?;
        self.cache.keep(g.access);
        Ok(())
    }

    fn sealed(&self) -> Result<&SealedStore, AuthError> {
        self.cache.sealed().ok_or_else(|| AuthError::State("the authorization code flow needs the state file".into()))
    }

    fn save_refresh(
        &self,
        token: &SecretString,
        logged_in_at: i64,
        issued_at: i64,
        expires_at: i64,
        user_name: &str,
        scopes: &str,
    ) -> Result<(), AuthError> {
        let sealed = self.sealed()?;
        let mut row = StoredRefresh {
            nonce: Vec::new(),
            ciphertext: Vec::new(),
            logged_in_at,
            issued_at,
            expires_at,
            user_name: user_name.to_owned(),
            scopes: scopes.to_owned(),
            refused: None,
        };
        let ad = aad(self.tenant(), &self.client.integration_key, &self.token_url, &row);
        let (nonce, ciphertext) = sealed
            .key()
            .seal(&ad, token.expose_secret())
            .ok_or_else(|| AuthError::State("cannot seal the refresh token".into()))?;
        row.nonce = nonce;
        row.ciphertext = ciphertext;
        let store = sealed.store();
        store.save_refresh(self.tenant(), &row).map_err(|e| AuthError::State(e.to_string()))?;
        let status = CredentialStatus {
            tenant: self.tenant().to_owned(),
            flow: FLOW.into(),
            updated_at: now(),
            ..CredentialStatus::default()
        };
        if let Err(e) = store.save_credential_status(&status) {
            warn!(error = %e, "Cannot record the tenant's credential status.");
        }
        Ok(())
    }

    /// The stored refresh token, opened, with its row.
    fn stored(&self) -> Result<(StoredRefresh, SecretString), AuthError> {
        let sealed = self.sealed()?;
        let row = sealed.store().load_refresh(self.tenant()).map_err(|e| AuthError::State(e.to_string()))?;
        let Some(row) = row else {
            return Err(self.login_required("no login is stored for this tenant"));
        };
        let ad = aad(self.tenant(), &self.client.integration_key, &self.token_url, &row);
        let Some(token) = sealed.key().open(&ad, &row.nonce, &row.ciphertext) else {
            return Err(self.login_required(
                "the stored refresh token does not open: it was sealed for another integration key or host, \
                 or under another seal key (a state file copied without its key file)",
            ));
        };
        Ok((row, token))
    }

    /// Records that DocuSign refused `row`'s token, unless another process has stored another
    /// one since (its rotation or a new login is not clobbered). `status`, `/healthz` and the
    /// login-required gauge then say a login is needed, and no refresh is tried until one.
    fn mark_refused(&self, row: &StoredRefresh, r: &Refusal) {
        let Ok(sealed) = self.sealed() else { return };
        let reason = if r.description.is_empty() { r.error.clone() } else { format!("{}: {}", r.error, r.description) };
        match sealed.store().mark_refresh_refused(self.tenant(), &row.ciphertext, now(), &reason) {
            Ok(true) => {
                warn!(tenant = %self.tenant(), reason = %reason, "DocuSign refused the refresh token; a new login is needed.");
            }
            Ok(false) => {
                info!(tenant = %self.tenant(), "The refused refresh token was replaced meanwhile; not marking it.");
            }
            Err(e) => warn!(error = %e, "Cannot record that the refresh token was refused."),
        }
    }

    /// A new access token from the refresh grant; the rotated refresh token is durable before
    /// it returns.
    async fn refresh(&self, api: &Api) -> Result<Token, AuthError> {
        let mut retried = false;
        loop {
            let (row, token) = self.stored()?;
            if let Some((at, reason)) = &row.refused {
                // DocuSign said no to this very token: asking again cannot help.
                return Err(self.login_required(format!(
                    "DocuSign refused the stored refresh token at {} ({reason}); it is not sent again",
                    super::rfc3339(*at)
                )));
            }
            let have: Vec<&str> = row.scopes.split_whitespace().collect();
            if let Some(missing) = self.needed.iter().find(|s| !have.contains(&s.as_str())) {
                return Err(self.login_required(format!(
                    "the stored login granted `{}`, but the enabled sources need `{missing}` too",
                    row.scopes
                )));
            }
            if row.expires_at <= now() {
                return Err(self.login_required(format!(
                    "the refresh token expired at {} (30 days after it was issued)",
                    super::rfc3339(row.expires_at)
                )));
            }
            crate::failpoint::hit("refresh_before_send");
            let form = [("grant_type", "refresh_token"), ("refresh_token", token.expose_secret())];
            let reply = oauth::post(api, &self.token_url, "token refresh", self.client.auth(), &form).await?;
            let body = match reply {
                Ok(body) => body,
                Err(r) if r.error == "invalid_grant" => {
                    // Another process (a `get-events` beside `run`, a new login) may have
                    // rotated it meanwhile: try the stored one once more before giving up.
                    let rotated = self.stored().is_ok_and(|(now_row, _)| now_row.ciphertext != row.ciphertext);
                    if rotated && !retried {
                        retried = true;
                        continue;
                    }
                    self.mark_refused(&row, &r);
                    return Err(self.login_required(
                        "DocuSign refused the refresh token (invalid_grant): it expired, was revoked, or the user's consent was withdrawn",
                    ));
                }
                Err(r) => return Err(explain(&r, "the refresh token")),
            };
            let (access, new_refresh, scopes) = granted(&body, "token refresh", &row.scopes)?;
            crate::failpoint::hit("refresh_after_reply");
            let issued = now();
            // With `extended`, each new refresh token has a full lifetime; without it, the
            // chain keeps the first one's expiry.
            let expires_at = if scopes.split_whitespace().any(|s| s == "extended") {
                issued + REFRESH_LIFETIME_SECS
            } else {
                row.expires_at
            };
            if let Some(r) = new_refresh {
                self.save_refresh(&r, row.logged_in_at, issued, expires_at, &row.user_name, &scopes)?;
            } else {
                warn!("The refresh reply carried no new refresh token; keeping the current one.");
            }
            crate::failpoint::hit("refresh_after_store");
            info!("Refreshed the access token; the rotated refresh token is stored.");
            return Ok(access);
        }
    }
}

/// What a refusal of the token endpoint means for `what` (a code or a refresh token).
fn explain(r: &Refusal, what: &'static str) -> AuthError {
    let hint = match r.error.as_str() {
        "invalid_client" | "unauthorized_client" => {
            "the integration key or its secret was refused: check docusign.integration_key and docusign.client_secret_* \
             (a public client, without a secret, must be allowed on the app's page)"
        }
        "invalid_grant" if what == "the authorization code" => {
            "the code expired, was already used, or the PKCE verifier or redirect URI does not match: run `auth login` again"
        }
        _ => "see DocuSign's error above",
    };
    AuthError::Rejected {
        vendor: "DocuSign",
        status: r.status,
        error: r.error.clone(),
        description: r.description.clone(),
        hint,
    }
}

#[async_trait]
impl TokenSource for AuthCodeGrant {
    async fn token(&self, http: &Api) -> Result<SecretString, AuthError> {
        self.cache.get_or_obtain(|| self.refresh(http)).await
    }

    fn invalidate(&self, refused: &SecretString) {
        self.cache.invalidate_refused(refused);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = SecretString::from("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(challenge(&verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned());
    }

    #[test]
    fn verifiers_are_43_url_safe_characters_and_differ() {
        let (a, b) = (random_secret(), random_secret());
        assert_eq!(a.expose_secret().len(), 43);
        assert!(a.expose_secret().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn the_authorize_url_carries_every_parameter() {
        let (state, verifier) = (SecretString::from("st"), SecretString::from("v"));
        let url = authorize_url(
            "https://account-d.docusign.com/",
            "ik",
            "http://127.0.0.1:8765/callback",
            &["signature".into(), "extended".into()],
            &state,
            &verifier,
        );
        let u = url::Url::parse(&url).unwrap();
        assert_eq!(u.path(), "/oauth/auth");
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "signature extended");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:8765/callback");
        assert_eq!(q["state"], "st");
        assert_eq!(q["code_challenge"], challenge(&verifier));
        assert_eq!(q["code_challenge_method"], "S256");
    }
}
