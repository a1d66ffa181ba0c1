//! The JWT bearer grant (RFC 7523) as a [`TokenSource`]: an assertion signed with the app's
//! private key, exchanged at the token endpoint for an access token, which is kept in a
//! [`TokenCache`] for its lifetime. What a refusal means is the vendor's to say
//! ([`ExplainRefusal`]).

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tracing::info;

use super::jwt::{self, Grant};
use super::{AuthError, PrivateKey, SealedStore, Token, TokenCache, TokenSource, now};
use crate::http::{Api, ApiError, Budget};

/// An OAuth error reply of the token endpoint (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// `error`, empty when absent.
    pub error: String,
    /// `error_description`, empty when absent.
    pub description: String,
}

impl Refusal {
    /// Reads the fields of an error reply (missing or non-string fields read as empty).
    pub fn from_reply(status: u16, body: &Value) -> Self {
        let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        Self { status, error: field("error"), description: field("error_description") }
    }
}

/// Turns a refusal into the error the operator sees: the vendor knows which of its settings
/// each refusal points at, and where consent is granted.
pub type ExplainRefusal = Box<dyn Fn(&Refusal) -> AuthError + Send + Sync>;

/// Tokens from the JWT grant.
pub struct JwtGrant {
    key: PrivateKey,
    grant: Grant,
    token_url: String,
    explain: ExplainRefusal,
    cache: TokenCache,
}

impl std::fmt::Debug for JwtGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtGrant")
            .field("grant", &self.grant)
            .field("tenant", &self.cache.tenant())
            .finish_non_exhaustive()
    }
}

impl JwtGrant {
    /// Tokens for `grant`, asked of `token_url`, cached as `tenant`'s (`sealed` keeps them
    /// across runs).
    pub fn new(
        key: PrivateKey,
        grant: Grant,
        token_url: &str,
        explain: ExplainRefusal,
        tenant: &str,
        sealed: Option<SealedStore>,
    ) -> Self {
        let binding = format!(
            "{tenant}|{}|{}|{}|{}",
            grant.integration_key,
            grant.user_id,
            grant.audience,
            grant.scopes.join(" ")
        );
        Self { key, grant, token_url: token_url.to_owned(), explain, cache: TokenCache::new(tenant, binding, sealed) }
    }

    async fn request_token(&self, api: &Api) -> Result<Token, AuthError> {
        let assertion = jwt::assertion(&self.key, &self.grant, now())?;
        let reply = api
            .execute("token request", Budget::Free, |c| {
                c.post(&self.token_url).form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", assertion.expose_secret()),
                ])
            })
            .await?;
        let Some(body) = reply.json else {
            let parsed: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
            if parsed.get("error").is_some() {
                return Err((self.explain)(&Refusal::from_reply(reply.status.as_u16(), &parsed)));
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
        // Renew before the server would refuse it: a tenth of the lifetime, at most five minutes.
        let margin = (lifetime / 10).min(300);
        info!(lifetime_s = lifetime, "Obtained an access token.");
        Ok(Token { secret: SecretString::from(token.to_owned()), expires_at: now() + lifetime - margin })
    }
}

#[async_trait]
impl TokenSource for JwtGrant {
    async fn token(&self, http: &Api) -> Result<SecretString, AuthError> {
        self.cache.get_or_obtain(|| self.request_token(http)).await
    }

    fn invalidate(&self, refused: &SecretString) {
        self.cache.invalidate_refused(refused);
    }
}
