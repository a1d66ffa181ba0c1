//! The token endpoint's exchange, shared by every flow: a form POST, then either an access
//! token (with, for the code and refresh grants, a refresh token) or an OAuth error reply
//! (RFC 6749 §5.2) for the flow to explain.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tracing::info;

use super::{AuthError, Refusal, Token, now};
use crate::http::{Api, ApiError, Budget};

/// The client authentication of a token request: none (the JWT grant, whose assertion is
/// the proof), the confidential client's `Basic base64(integration key:secret)`, or a public
/// client's `client_id` in the form (PKCE is its proof).
#[derive(Clone, Copy)]
pub(crate) enum ClientAuth<'a> {
    /// No client authentication.
    None,
    /// Confidential client.
    Basic(&'a str, &'a SecretString),
    /// Public client.
    Public(&'a str),
}

/// POSTs `form` to `url`: the 2xx JSON body, or the OAuth refusal the endpoint answered.
///
/// # Errors
/// `AuthError::Http` when the endpoint is unreachable or answered something that is neither a
/// token nor an OAuth error.
pub(crate) async fn post(
    api: &Api,
    url: &str,
    what: &str,
    client: ClientAuth<'_>,
    form: &[(&str, &str)],
) -> Result<Result<Value, Refusal>, AuthError> {
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    if let ClientAuth::Public(id) = client {
        fields.push(("client_id", id));
    }
    let reply = api
        .execute(what, Budget::Free, |c| {
            let req = c.post(url).form(&fields);
            match client {
                ClientAuth::Basic(id, secret) => req.basic_auth(id, Some(secret.expose_secret())),
                ClientAuth::None | ClientAuth::Public(_) => req,
            }
        })
        .await?;
    if let Some(body) = reply.json {
        return Ok(Ok(body));
    }
    let parsed: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    if parsed.get("error").is_some() {
        return Ok(Err(Refusal::from_reply(reply.status.as_u16(), &parsed)));
    }
    Err(ApiError::Status {
        what: what.into(),
        status: reply.status.as_u16(),
        body: reply.excerpt(),
        trace: reply.trace(),
        hint: "",
    }
    .into())
}

/// The access token of a token reply, to be renewed a little before it expires.
///
/// # Errors
/// `AuthError::Http` (malformed reply) when the reply has no `access_token`.
pub(crate) fn access_token(body: &Value, what: &str) -> Result<Token, AuthError> {
    let token = body.get("access_token").and_then(Value::as_str).filter(|s| !s.is_empty());
    let Some(token) = token else {
        return Err(ApiError::Malformed { what: what.into(), message: "no access_token in the reply".into() }.into());
    };
    let lifetime = body.get("expires_in").and_then(Value::as_i64).unwrap_or(3600).max(1);
    // Renew before the server would refuse it: a tenth of the lifetime, at most five minutes.
    let margin = (lifetime / 10).min(300);
    info!(lifetime_s = lifetime, "Obtained an access token.");
    Ok(Token { secret: SecretString::from(token.to_owned()), expires_at: now() + lifetime - margin })
}
