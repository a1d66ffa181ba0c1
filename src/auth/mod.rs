//! Authentication: where the access token of a request comes from. A [`TokenSource`] hands out
//! a token (the current one while it lasts, else a fresh one) and forgets a token the API
//! refused; the vendor's client sends the requests and says what a refusal means.
//!
//! # Architecture
//! - this file: the [`TokenSource`] trait every flow implements, and [`AuthError`].
//! - `cache.rs`: [`TokenCache`], the current token in memory and sealed in the state file,
//!   with one request for a new token at a time.
//! - `seal.rs`: [`SealKey`], the key tokens are sealed with: a systemd credential or a random
//!   key file beside the state file, never anything inside it.
//! - `jwt_grant.rs`: [`JwtGrant`], the JWT bearer grant (RFC 7523) as a token source, with
//!   several keys for rotation.
//! - `jwt.rs`: the signed assertion.
//! - `auth_code.rs`: [`AuthCodeGrant`], the Authorization Code Grant with PKCE: the code
//!   exchange of `auth login`, then rotating refresh tokens sealed in the state file.
//! - `oauth.rs`: the token endpoint's form POST and reply, shared by the flows.
//! - `secret.rs`: a secret (the client secret) from an environment variable, a file or a systemd credential.
//! - `key.rs`: loading and validating the private key.

mod auth_code;
mod cache;
mod jwt;
mod jwt_grant;
mod key;
mod oauth;
mod seal;
mod secret;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::exit::Exit;
use crate::http::{Api, ApiError};

pub use auth_code::{
    AuthCodeGrant, ClientCredentials, FLOW as AUTH_CODE_FLOW, Granted, REFRESH_LIFETIME_SECS, REFRESH_WARNING_SECS,
    authorize_url, challenge, random_secret,
};
pub use cache::{SealedStore, Token, TokenCache};
pub use jwt::Grant;
pub use jwt_grant::{ExplainRefusal, JwtGrant, LabelledKey, Refusal};
pub use key::{MIN_RSA_BITS, PrivateKey};
pub use seal::{SEAL_KEY_CREDENTIAL, SealKey};
pub use secret::{read_secret, secret_file};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Unix seconds as RFC 3339 (UTC), for messages.
pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map_or_else(|| unix.to_string(), |t| t.to_rfc3339())
}

/// Authentication and consent problems. None of them carries a key or a token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The private key is missing, exposed, encrypted or malformed.
    #[error("{0}")]
    Key(String),
    /// The key that seals cached tokens is exposed, unreadable or malformed.
    #[error("{0}")]
    SealKey(String),
    /// The vendor wants (renewed) consent.
    #[error(
        "{vendor} answered consent_required: consent for the requested scopes is missing or was revoked. An administrator (or the impersonated user) must grant it by opening:\n  {url}\nthen run `esign-collector auth-test`."
    )]
    Consent {
        /// Who asks for it.
        vendor: &'static str,
        /// The consent URL.
        url: String,
    },
    /// The vendor refused the grant.
    #[error("{vendor} refused the token request: HTTP {status} {error} {description}: {hint}")]
    Rejected {
        /// Who refused.
        vendor: &'static str,
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
    #[error("{vendor} refused a fresh access token for {what} (HTTP 401): {body}")]
    Unauthorized {
        /// Who refused.
        vendor: &'static str,
        /// The call.
        what: String,
        /// Body excerpt.
        body: String,
    },
    /// The Authorization Code Grant has no usable refresh token: only a new login helps.
    #[error("tenant {tenant:?} must log in again: {reason}. Run `esign-collector auth login --tenant {tenant}`.")]
    LoginRequired {
        /// The tenant.
        tenant: String,
        /// Why.
        reason: String,
    },
    /// `auth login` did not complete (denied, timed out, a mismatched redirect).
    #[error("{0}")]
    Login(String),
    /// A token could not be kept in (or read from) the state file.
    #[error("state file: {0}")]
    State(String),
    /// The token request failed over HTTP (unreachable, throttled, malformed reply).
    #[error(transparent)]
    Http(#[from] ApiError),
}

impl AuthError {
    /// Consent, credentials and key problems have different exit codes; an HTTP failure keeps
    /// the HTTP layer's.
    pub fn exit_code(&self) -> Exit {
        match self {
            AuthError::Key(_) => Exit::Config,
            AuthError::SealKey(_) | AuthError::State(_) => Exit::State,
            AuthError::Consent { .. } | AuthError::LoginRequired { .. } => Exit::Consent,
            AuthError::Rejected { .. } | AuthError::Unauthorized { .. } | AuthError::Login(_) => Exit::Auth,
            AuthError::Http(e) => e.exit_code(),
        }
    }
}

/// Where the access token of a request comes from: one implementation per flow (the JWT
/// grant, the Authorization Code Grant). Shared by the sources of a tenant, which run at the same time.
#[async_trait]
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// A token to send: the current one while it lasts, else a new one. While one is being
    /// obtained, other callers wait for it instead of asking for another.
    ///
    /// # Errors
    /// `AuthError` for refusals and consent; `AuthError::Http` when the token endpoint is
    /// unreachable or its reply unusable.
    async fn token(&self, http: &Api) -> Result<SecretString, AuthError>;

    /// Forgets `refused` after the API answered 401 to it, unless it is no longer the current
    /// token (the sources of a tenant share it: the second 401 of one expiry must not drop the
    /// token the first one obtained).
    fn invalidate(&self, refused: &SecretString);
}
