//! The DocuSign API client: a token from the token source, the request through the paced,
//! retrying HTTP layer, a new token once after a 401, and DocuSign's hints for its refusals.

use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::Value;
use tracing::info;

use super::consent::{self, VENDOR};
use crate::auth::{
    AuthCodeGrant, AuthError, ClientCredentials, Grant, JwtGrant, LabelledKey, SealedStore, TokenSource,
};
use crate::error::Error;
use crate::http::{Api, ApiError, Budget, Call, Reply};

/// Sends authenticated requests to DocuSign.
#[derive(Debug)]
pub struct Client {
    tokens: Arc<dyn TokenSource>,
}

impl Client {
    /// A client whose tokens come from `tokens`.
    pub fn new(tokens: Box<dyn TokenSource>) -> Self {
        Self { tokens: Arc::from(tokens) }
    }

    /// A client whose tokens come from `tokens`, which other tenants' clients share: tenants of
    /// one user and one app hold one grant (the context builds the groups).
    pub fn shared(tokens: Arc<dyn TokenSource>) -> Self {
        Self { tokens }
    }

    /// A client with tokens from the Authorization Code Grant's refresh tokens at
    /// `auth_base`, kept in `sealed` (see [`auth_code_grant`]).
    pub fn with_auth_code(
        client: ClientCredentials,
        auth_base: &str,
        needed: Vec<String>,
        tenant: &str,
        sealed: SealedStore,
    ) -> Self {
        Self::new(Box::new(auth_code_grant(client, auth_base, needed, tenant, sealed)))
    }

    /// An authenticated, paced GET returning the JSON body (see [`Client::get_parsed`]).
    ///
    /// # Errors
    /// As [`Client::get_parsed`].
    pub async fn get_json(&self, api: &Api, what: &str, url: &str) -> Result<Value, Error> {
        self.get_parsed(api, what, url, |b| serde_json::from_slice::<Value>(b).map_err(|e| e.to_string())).await
    }

    /// An authenticated, paced GET sent exactly once (no retry, no re-authentication) whose
    /// reply comes back whatever its status, for checks that report every call.
    ///
    /// # Errors
    /// `AuthError` when no token can be had; `ApiError` when no reply came.
    pub async fn get_once(&self, api: &Api, what: &str, url: &str) -> Result<Reply, Error> {
        let token = self.tokens.token(api).await?;
        let reply = api
            .execute_once(what, |c| c.get(url).bearer_auth(token.expose_secret()).header("Accept", "application/json"))
            .await?;
        Ok(reply)
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
        self.get_parsed_with(api, what, url, Call::default(), parse).await
    }

    /// [`Client::get_parsed`] with the choices of `call` (fewer retries for resources
    /// DocuSign allows to be read only so often; a redirect read as a refusal).
    ///
    /// # Errors
    /// As [`Client::get_parsed`].
    pub async fn get_parsed_with<T>(
        &self,
        api: &Api,
        what: &str,
        url: &str,
        call: Call,
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, Error> {
        let mut reauthenticated = false;
        loop {
            let token = self.tokens.token(api).await?;
            let (reply, parsed) = api
                .execute_parsed_with(
                    what,
                    Budget::Paced,
                    call,
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
                self.tokens.invalidate(&token);
                reauthenticated = true;
                continue;
            }
            if status == 401 {
                return Err(AuthError::Unauthorized { vendor: VENDOR, what: what.into(), body: reply.excerpt() }.into());
            }
            return Err(ApiError::Status {
                what: what.into(),
                status,
                body: reply.excerpt(),
                trace: reply.trace(),
                hint: hint(status),
            }
            .into());
        }
    }
}

/// The JWT grant of `tenant` at `auth_base` (`{auth_base}/oauth/token`); a `consent_required`
/// refusal names the consent URL for `redirect_uri`. `sealed` keeps the token across runs.
pub fn jwt_grant(
    keys: Vec<LabelledKey>,
    grant: Grant,
    auth_base: &str,
    redirect_uri: &str,
    tenant: &str,
    sealed: Option<SealedStore>,
) -> JwtGrant {
    let auth_base = auth_base.trim_end_matches('/');
    let url = consent::consent_url(auth_base, &grant.integration_key, redirect_uri, &grant.scopes);
    let token_url = format!("{auth_base}/oauth/token");
    JwtGrant::new(keys, grant, &token_url, consent::refusals(url), tenant, sealed)
}

/// The Authorization Code Grant of `tenant` at `auth_base` (`{auth_base}/oauth/token`), for
/// sources that need the scopes `needed`.
pub fn auth_code_grant(
    client: ClientCredentials,
    auth_base: &str,
    needed: Vec<String>,
    tenant: &str,
    sealed: SealedStore,
) -> AuthCodeGrant {
    let token_url = format!("{}/oauth/token", auth_base.trim_end_matches('/'));
    AuthCodeGrant::new(client, &token_url, needed, tenant, sealed)
}

/// What DocuSign's refusal `status` of an API call usually means.
fn hint(status: u16) -> &'static str {
    match status {
        403 => {
            " (the organization lacks the entitlement, or the impersonated user is not an organization or security-reports administrator, or the organization_id is wrong)"
        }
        404 => " (check the base URL override and the organization/account ids)",
        429 => {
            " (DocuSign's polling rule: the same envelope may be read at most once every 15 minutes; the collector waits and reads it later, nothing is lost)"
        }
        400 => " (the request was refused as invalid; an expired or unknown cursor shows here)",
        _ => "",
    }
}
