//! OAuth: the JWT grant (`POST /oauth/token`), `GET /oauth/userinfo`, and the bearer-token
//! check every API route performs.
//!
//! Assertion checks run in the order Docusign needs them: the issuer picks the key, the key
//! verifies the signature, then subject, audience, times and consent. The `invalid_grant`
//! descriptions `issuer_not_found`, `user_not_found` and `no_valid_keys_or_signatures` are
//! Docusign's; the others (`invalid_audience`, `assertion_expired`, …) are this simulator's,
//! since Docusign's wording for them is unverified.

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngCore as _;
use serde_json::{Map, Value, json};

use super::{ApiError, SimConfig, Simulator, host_of};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Clock skew allowed on `iat`, `nbf` and `exp`.
const SKEW_SECS: i64 = 300;
/// Longest accepted `exp - iat`. Docusign's limit is unconfirmed: one hour plus slack, which
/// admits the official Python example's 4000 s and rejects Sentinel's 7200 s.
const MAX_LIFETIME_SECS: i64 = 3600 + 600;
/// Scope assumed when an assertion carries no `scope` claim.
const DEFAULT_SCOPE: &str = "signature";

/// Issued access tokens. Unknown means never issued, expired, or wiped by `expire_tokens`.
#[derive(Debug, Default)]
pub(super) struct TokenStore {
    tokens: HashMap<String, Issued>,
}

#[derive(Debug, Clone)]
struct Issued {
    expires_at: DateTime<Utc>,
    scopes: HashSet<String>,
}

impl TokenStore {
    /// Forgets every token.
    pub(super) fn clear(&mut self) {
        self.tokens.clear();
    }

    /// The tokens that still authorise requests at `now`.
    pub(super) fn valid(&self, now: DateTime<Utc>) -> Vec<String> {
        self.tokens.iter().filter(|(_, t)| t.expires_at > now).map(|(k, _)| k.clone()).collect()
    }

    fn insert(&mut self, token: String, issued: Issued, now: DateTime<Utc>) {
        self.tokens.retain(|_, t| t.expires_at > now);
        self.tokens.insert(token, issued);
    }
}

/// An OAuth error reply: HTTP 400 with `{"error", "error_description"}` (`consent_required`
/// is sent without a description, as Docusign does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OAuthError {
    pub(super) error: &'static str,
    pub(super) description: Option<&'static str>,
}

impl OAuthError {
    fn grant(description: &'static str) -> Self {
        Self { error: "invalid_grant", description: Some(description) }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = match self.description {
            Some(d) => json!({ "error": self.error, "error_description": d }),
            None => json!({ "error": self.error }),
        };
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    }
}

fn int_claim(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

/// Checks a JWT-grant assertion and returns the granted scopes.
pub(super) fn verify_assertion(
    cfg: &SimConfig,
    key: Option<&DecodingKey>,
    consent_revoked: bool,
    assertion: &str,
    host: &str,
    now: i64,
) -> Result<HashSet<String>, OAuthError> {
    let bad_signature = OAuthError::grant("no_valid_keys_or_signatures");
    let unverified =
        jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(assertion).map_err(|_| bad_signature.clone())?;
    if unverified.claims.get("iss").and_then(Value::as_str) != Some(cfg.integration_key.as_str()) {
        return Err(OAuthError::grant("issuer_not_found"));
    }
    let key = key.ok_or_else(|| bad_signature.clone())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims =
        jsonwebtoken::decode::<Map<String, Value>>(assertion, key, &validation).map_err(|_| bad_signature)?.claims;
    if claims.get("sub").and_then(Value::as_str) != Some(cfg.user_id.as_str()) {
        return Err(OAuthError::grant("user_not_found"));
    }
    // Docusign's `aud` is the bare auth host; here that is the Host the client connected to.
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == host,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(host)),
        _ => false,
    };
    if !aud_ok {
        return Err(OAuthError::grant("invalid_audience"));
    }
    let (Some(iat), Some(exp)) = (int_claim(&claims, "iat"), int_claim(&claims, "exp")) else {
        return Err(OAuthError::grant("invalid_assertion_claims"));
    };
    if exp + SKEW_SECS < now {
        return Err(OAuthError::grant("assertion_expired"));
    }
    let nbf = int_claim(&claims, "nbf").unwrap_or(iat);
    if iat > now + SKEW_SECS || nbf > now + SKEW_SECS {
        return Err(OAuthError::grant("assertion_not_yet_valid"));
    }
    if exp <= iat || exp - iat > MAX_LIFETIME_SECS {
        return Err(OAuthError::grant("assertion_lifetime_too_long"));
    }
    let scope = claims.get("scope").and_then(Value::as_str).unwrap_or(DEFAULT_SCOPE);
    let scopes: HashSet<String> = scope.split_whitespace().map(str::to_owned).collect();
    if consent_revoked || !scopes.iter().all(|s| cfg.consented_scopes.contains(s)) {
        return Err(OAuthError { error: "consent_required", description: None });
    }
    Ok(scopes)
}

/// `POST /oauth/token` with a form `grant_type=…jwt-bearer&assertion=…`.
pub(super) async fn token(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let host = host_of(&headers).unwrap_or_default().to_owned();
    let now = Utc::now();
    let result = match (form.get("grant_type").map(String::as_str), form.get("assertion")) {
        (None, _) => Err(OAuthError { error: "invalid_request", description: Some("grant_type is missing") }),
        (Some(g), _) if g != JWT_BEARER => {
            Err(OAuthError { error: "unsupported_grant_type", description: Some("unsupported_grant_type") })
        }
        (_, None) => Err(OAuthError { error: "invalid_request", description: Some("assertion is missing") }),
        (_, Some(a)) if a.is_empty() => {
            Err(OAuthError { error: "invalid_request", description: Some("assertion is missing") })
        }
        (_, Some(assertion)) => {
            let revoked = sim.state().consent_revoked;
            let inner = &sim.inner;
            verify_assertion(&inner.cfg, inner.key.as_ref(), revoked, assertion, &host, now.timestamp())
        }
    };
    let lifetime = sim.inner.cfg.token_lifetime_secs;
    let mut state = sim.state();
    match result {
        Ok(scopes) => {
            let mut raw = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut raw);
            let token = format!("sim.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
            let expires_at = now + Duration::seconds(i64::try_from(lifetime).unwrap_or(i64::MAX / 2_000));
            state.tokens.insert(token.clone(), Issued { expires_at, scopes }, now);
            state.stats.tokens_issued += 1;
            drop(state);
            tracing::debug!(lifetime, "Simulator issued an access token.");
            let body = json!({ "access_token": token, "token_type": "Bearer", "expires_in": lifetime });
            let mut resp = axum::Json(body).into_response();
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(err) => {
            state.stats.token_errors += 1;
            drop(state);
            tracing::debug!(error = err.error, description = ?err.description, "Simulator refused a token request.");
            err.into_response()
        }
    }
}

/// Checks the request's bearer token and, when given, that it carries `scope`.
pub(super) fn authorize(sim: &Simulator, headers: &HeaderMap, scope: Option<&str>) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let unauthorized = |d: &str| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", d);
    let Some(token) = token else {
        return Err(unauthorized("The Authorization header is missing or not a Bearer token."));
    };
    let state = sim.state();
    let Some(issued) = state.tokens.tokens.get(token) else {
        return Err(unauthorized("The access token is unknown or was revoked."));
    };
    if issued.expires_at <= Utc::now() {
        return Err(unauthorized("The access token has expired."));
    }
    if let Some(scope) = scope.filter(|s| !issued.scopes.contains(*s)) {
        let msg = format!("The access token lacks the `{scope}` scope.");
        return Err(ApiError::new(StatusCode::FORBIDDEN, "insufficient_scope", &msg));
    }
    Ok(())
}

/// `GET /oauth/userinfo`: the impersonated user and their accounts. A secondary account
/// without an organization comes first, so clients must pick by `is_default`.
pub(super) async fn userinfo(State(sim): State<Simulator>, headers: HeaderMap) -> Response {
    if let Err(err) = authorize(&sim, &headers, None) {
        return err.into_response();
    }
    let cfg = &sim.inner.cfg;
    let base = format!("http://{}", host_of(&headers).unwrap_or("127.0.0.1"));
    let (given, family, email) = {
        let state = sim.state();
        let me = state.directory.users().iter().find(|u| u.id == cfg.user_id);
        me.map_or_else(
            || ("Max".to_owned(), "Example".to_owned(), "max.example@acme-sim.example".to_owned()),
            |u| (u.first_name.clone(), u.last_name.clone(), u.email.clone()),
        )
    };
    let body = json!({
        "sub": cfg.user_id,
        "name": format!("{given} {family}"),
        "given_name": given,
        "family_name": family,
        "created": "2015-08-13T22:03:03.45",
        "email": email,
        "accounts": [
            {
                "account_id": super::seed::guid(cfg.seed, "secondary-account", &[0]),
                "is_default": false,
                "account_name": "Acme Sandbox (Simulated)",
                "base_uri": base,
            },
            {
                "account_id": cfg.account_id,
                "is_default": true,
                "account_name": "Acme Corporation (Simulated)",
                "base_uri": base,
                "organization": {
                    "organization_id": cfg.organization_id,
                    "links": [{
                        "rel": "self",
                        "href": format!("{base}/management/v2/organizations/{}", cfg.organization_id),
                    }],
                },
            },
        ],
    });
    axum::Json(body).into_response()
}

#[cfg(test)]
mod tests;
