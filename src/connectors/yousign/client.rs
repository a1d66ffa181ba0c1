//! The Yousign API client: the API key as a Bearer token on every request through the paced,
//! retrying HTTP layer, and what Yousign's refusals usually mean.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::auth::AuthError;
use crate::error::Error;
use crate::http::{Api, ApiError, Budget, Call};

/// Sends requests with the API key.
pub struct Client {
    key: SecretString,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client(<api key redacted>)")
    }
}

impl Client {
    /// A client sending `key`.
    pub fn new(key: SecretString) -> Self {
        Self { key }
    }

    /// A paced GET of `url` returning the JSON body (an unparsable 2xx is retried like a
    /// failed request).
    ///
    /// # Errors
    /// `AuthError::Rejected` (exit 3) for a refused key; `ApiError` for other refusals, after
    /// retries, or for a malformed reply.
    pub async fn get_json(&self, api: &Api, what: &str, url: &str) -> Result<Value, Error> {
        let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).map_err(|e| e.to_string());
        let (reply, parsed) = api
            .execute_parsed_with(
                what,
                Budget::Paced,
                Call::default(),
                |c| c.get(url).bearer_auth(self.key.expose_secret()).header("Accept", "application/json"),
                parse,
            )
            .await?;
        if let Some(v) = parsed {
            return Ok(v);
        }
        let status = reply.status.as_u16();
        if status == 401 {
            return Err(AuthError::Rejected {
                vendor: "Yousign",
                status,
                error: "unauthorized".into(),
                description: reply.excerpt(),
                hint: "the API key is wrong or revoked, or belongs to the other environment (sandbox and production keys differ)",
            }
            .into());
        }
        Err(ApiError::Status {
            what: what.into(),
            status,
            body: reply.excerpt(),
            trace: reply.trace(),
            hint: hint(status),
        }
        .into())
    }
}

/// What Yousign's refusal `status` usually means.
fn hint(status: u16) -> &'static str {
    match status {
        403 => " (the API key lacks the permission, or is scoped to another workspace)",
        404 => {
            " (check yousign.base_url: it ends in /v3 for api_version = \"v3\", and is the API root, with no /v3, for \"v2\")"
        }
        400 => " (Yousign refused the query as invalid)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_404_hint_names_both_api_versions() {
        let h = super::hint(404);
        assert!(h.contains("/v3") && h.contains("\"v2\"") && h.contains("no /v3"), "{h}");
    }
}
