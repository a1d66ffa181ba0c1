//! Authentication: the JWT grant, a token cached for its lifetime (in memory and, sealed, in
//! the state file), one re-authentication on 401, and consent errors that stop the run.
//!
//! # Architecture
//! - `key.rs`: loading and validating the private key.
//! - `jwt.rs`: the signed assertion.
//! - `consent.rs`: the consent URL and OAuth error meanings.
//! - `cache.rs`: sealing tokens for the state file.

mod cache;
mod consent;
mod jwt;
mod key;

use std::sync::{Arc, Mutex, PoisonError};

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::error::{Error, Exit};
use crate::http::{Api, ApiError, Budget};
use crate::state::Store;

pub use consent::consent_url;
pub use jwt::Grant;
pub use key::{MIN_RSA_BITS, PrivateKey};

/// Authentication and consent problems. None of them carries a key or a token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The private key is missing, exposed, encrypted or malformed.
    #[error("{0}")]
    Key(String),
    /// DocuSign wants (renewed) consent.
    #[error(
        "DocuSign answered consent_required: consent for the requested scopes is missing or was revoked. An administrator (or the impersonated user) must grant it by opening:\n  {url}\nthen run `esign-collector auth-test`."
    )]
    Consent {
        /// The consent URL.
        url: String,
    },
    /// DocuSign refused the grant.
    #[error("DocuSign refused the token request: HTTP {status} {error} {description}: {hint}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// OAuth `error`.
        error: String,
        /// OAuth `error_description`.
        description: String,
        /// What to check.
        hint: &'static str,
    },
    /// A fresh token was refused too.
    #[error("DocuSign refused a fresh access token for {what} (HTTP 401): {body}")]
    Unauthorized {
        /// The call.
        what: String,
        /// Body excerpt.
        body: String,
    },
}

impl AuthError {
    /// Consent, credentials and key problems have different exit codes.
    pub fn exit_code(&self) -> Exit {
        match self {
            AuthError::Key(_) => Exit::Config,
            AuthError::Consent { .. } => Exit::Consent,
            AuthError::Rejected { .. } | AuthError::Unauthorized { .. } => Exit::Auth,
        }
    }
}

struct Token {
    secret: SecretString,
    expires_at: i64,
}

/// Gets and caches access tokens; sends authenticated GETs.
pub struct Authenticator {
    key: PrivateKey,
    grant: Grant,
    auth_base: String,
    consent: String,
    tenant: String,
    /// What a cached token was issued for; a token sealed for another app, user, host or
    /// scope set does not open (so changing any of them never reuses an old token).
    binding: String,
    store: Option<Arc<Mutex<Store>>>,
    current: Mutex<Option<Token>>,
    /// Held while a token is requested: a tenant's sources run at the same time, and the
    /// second to find no token waits for the first's instead of asking for another.
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("grant", &self.grant)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Authenticator {
    /// Builds an authenticator. `store` enables the sealed token cache.
    pub fn new(
        key: PrivateKey,
        grant: Grant,
        auth_base: &str,
        redirect_uri: &str,
        tenant: &str,
        store: Option<Arc<Mutex<Store>>>,
    ) -> Self {
        let consent = consent_url(auth_base, &grant.integration_key, redirect_uri, &grant.scopes);
        let binding = format!(
            "{tenant}|{}|{}|{}|{}",
            grant.integration_key,
            grant.user_id,
            grant.audience,
            grant.scopes.join(" ")
        );
        Self {
            key,
            grant,
            auth_base: auth_base.trim_end_matches('/').to_owned(),
            consent,
            tenant: tenant.to_owned(),
            binding,
            store,
            current: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The consent URL for this app and its scopes.
    pub fn consent_url(&self) -> &str {
        &self.consent
    }

    fn cached(&self) -> Option<SecretString> {
        let cur = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        cur.as_ref().filter(|t| t.expires_at > now()).map(|t| t.secret.clone())
    }

    fn stored(&self) -> Option<Token> {
        let store = self.store.as_ref()?.lock().unwrap_or_else(PoisonError::into_inner);
        let sealed = match store.load_token(&self.tenant) {
            Ok(t) => t?,
            Err(e) => {
                warn!(error = %e, "Cannot read the token cache; requesting a new token.");
                return None;
            }
        };
        if sealed.expires_at <= now() {
            return None;
        }
        let secret = cache::open(self.key.cache_key(), &self.binding, &sealed)?;
        Some(Token { secret, expires_at: sealed.expires_at })
    }

    /// A valid access token: the cached one, or a new one from the JWT grant.
    ///
    /// # Errors
    /// `AuthError` for refusals and consent, `ApiError` when the OAuth host is unreachable.
    pub async fn token(&self, api: &Api) -> Result<SecretString, Error> {
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
        let t = self.request_token(api).await?;
        let s = t.secret.clone();
        let sealed = cache::seal(self.key.cache_key(), &self.binding, &t.secret, t.expires_at);
        if let (Some(store), Some(sealed)) = (&self.store, sealed) {
            let store = store.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(e) = store.save_token(&self.tenant, &sealed) {
                warn!(error = %e, "Cannot cache the access token; the next run will request a new one.");
            }
        }
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(t);
        Ok(s)
    }

    async fn request_token(&self, api: &Api) -> Result<Token, Error> {
        let assertion = jwt::assertion(&self.key, &self.grant, now())?;
        let url = format!("{}/oauth/token", self.auth_base);
        let reply = api
            .execute("token request", Budget::Free, |c| {
                c.post(&url).form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", assertion.expose_secret()),
                ])
            })
            .await?;
        let Some(body) = reply.json else {
            let parsed: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
            if parsed.get("error").is_some() {
                return Err(consent::classify(reply.status.as_u16(), &parsed, &self.consent).into());
            }
            return Err(ApiError::Status {
                what: "token request".into(),
                status: reply.status.as_u16(),
                body: reply.excerpt(),
                trace: reply.trace(),
                hint: "",
            }
            .into());
        };
        let malformed = |m: &str| ApiError::Malformed { what: "token request".into(), message: m.into() };
        let token = body.get("access_token").and_then(Value::as_str).filter(|s| !s.is_empty());
        let Some(token) = token else { return Err(malformed("no access_token in the reply").into()) };
        let lifetime = body.get("expires_in").and_then(Value::as_i64).unwrap_or(3600).max(1);
        // Renew before DocuSign would refuse it: a tenth of the lifetime, at most five minutes.
        let margin = (lifetime / 10).min(300);
        info!(lifetime_s = lifetime, "Obtained an access token.");
        Ok(Token { secret: SecretString::from(token.to_owned()), expires_at: now() + lifetime - margin })
    }

    /// Forgets `refused` after a 401, unless another request already replaced it (the sources
    /// of a tenant share the token: the second 401 of one expiry must not drop the new token).
    fn invalidate_refused(&self, refused: &SecretString) {
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

    /// Forgets the token in memory and in the state file (after a 401, or on request).
    pub fn invalidate(&self) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
        if let Some(store) = &self.store {
            let store = store.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(e) = store.forget_tokens(Some(&self.tenant)) {
                warn!(error = %e, "Cannot clear the cached token.");
            }
        }
    }

    /// An authenticated, paced GET returning the JSON body (see [`Authenticator::get_parsed`]).
    ///
    /// # Errors
    /// As [`Authenticator::get_parsed`].
    pub async fn get_json(&self, api: &Api, what: &str, url: &str) -> Result<Value, Error> {
        self.get_parsed(api, what, url, |b| serde_json::from_slice::<Value>(b).map_err(|e| e.to_string())).await
    }

    /// An authenticated, paced GET returning the 2xx body as `parse` reads it
    /// (an unparsable 2xx body is retried like a failed request). A 401 triggers one
    /// re-authentication; other refusals become `ApiError::Status` with a hint.
    ///
    /// # Errors
    /// `AuthError`, `ApiError`.
    pub async fn get_parsed<T>(
        &self,
        api: &Api,
        what: &str,
        url: &str,
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, Error> {
        let mut reauthenticated = false;
        loop {
            let token = self.token(api).await?;
            let (reply, parsed) = api
                .execute_parsed(
                    what,
                    Budget::Paced,
                    |c| c.get(url).bearer_auth(token.expose_secret()).header("Accept", "application/json"),
                    &parse,
                )
                .await?;
            if let Some(v) = parsed {
                return Ok(v);
            }
            let status = reply.status.as_u16();
            if status == 401 && !reauthenticated {
                info!(call = what, "Access token refused (401); authenticating again.");
                self.invalidate_refused(&token);
                reauthenticated = true;
                continue;
            }
            if status == 401 {
                return Err(AuthError::Unauthorized { what: what.into(), body: reply.excerpt() }.into());
            }
            let hint = match status {
                403 => {
                    " (the organization lacks the entitlement, or the impersonated user is not an organization or security-reports administrator, or the organization_id is wrong)"
                }
                404 => " (check the base URL override and the organization/account ids)",
                400 => " (the request was refused as invalid; an expired or unknown cursor shows here)",
                _ => "",
            };
            return Err(ApiError::Status {
                what: what.into(),
                status,
                body: reply.excerpt(),
                trace: reply.trace(),
                hint,
            }
            .into());
        }
    }
}
