//! OAuth: the JWT grant (`POST /oauth/token`), `GET /oauth/userinfo`, and the bearer-token
//! check every API route performs. The Authorization Code Grant lives beside it:
//! `authcode.rs` (`GET /oauth/auth`, the consent page) and `code_grant.rs` (the code and
//! refresh-token grants at the same token endpoint).
//!
//! Assertion checks run in the order Docusign needs them: the issuer picks the key, the key
//! verifies the signature, then subject, audience, times and consent. The `invalid_grant`
//! descriptions `issuer_not_found`, `user_not_found` and `no_valid_keys_or_signatures` are
//! Docusign's; the others (`invalid_audience`, `assertion_expired`, …) are this simulator's,
//! since Docusign's wording for them is unverified. An integration key may hold several RSA
//! key pairs (for rotation): an assertion any registered key verifies is accepted.
//!
//! Every access token remembers the grant that issued it. The Monitor routes accept only
//! JWT-grant tokens ([`authorize_jwt`]), as Docusign's Monitor documentation demands.

use std::collections::{HashMap, HashSet, VecDeque};

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

mod authcode;
mod code_grant;
mod knobs;
mod pages;

pub use authcode::LoginMode;
pub(super) use authcode::{authorize_get, consent_post};
pub use code_grant::{DEFAULT_CLIENT_SECRET, RefreshRotation};

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
    /// Every token issued, expired and wiped ones too (the latest [`EVER_KEPT`]), so a test
    /// can search for each of them in what a client wrote.
    ever: VecDeque<String>,
}

/// How many issued tokens (access or refresh) are remembered for tests, at most.
const EVER_KEPT: usize = 10_000;

/// Remembers `token` in `ever`, forgetting the oldest beyond [`EVER_KEPT`].
fn remember(ever: &mut VecDeque<String>, token: &str) {
    if ever.len() >= EVER_KEPT {
        ever.pop_front();
    }
    ever.push_back(token.to_owned());
}

/// The grant an access token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GrantKind {
    /// The JWT bearer grant (service integrations).
    Jwt,
    /// An authorization code redeemed.
    AuthorizationCode,
    /// A refresh token redeemed.
    RefreshToken,
}

#[derive(Debug, Clone)]
struct Issued {
    expires_at: DateTime<Utc>,
    scopes: HashSet<String>,
    kind: GrantKind,
    /// The user's consent (one redeemed code) it descends from; `None` for the JWT grant.
    grant: Option<u64>,
}

/// OAuth state beyond access tokens: registered keys, runtime knobs, the code grant's stores.
pub(super) struct AuthState {
    /// Registered JWT public keys; empty when none parsed, so every assertion fails.
    keys: Vec<DecodingKey>,
    login_mode: LoginMode,
    rotation: RefreshRotation,
    /// Authorization requests waiting on the consent page.
    pending: authcode::Pending,
    /// Issued authorization codes.
    codes: authcode::Codes,
    /// Refresh tokens and the grants they belong to.
    refresh: code_grant::RefreshStore,
}

impl AuthState {
    pub(super) fn new(keys: Vec<DecodingKey>, rotation: RefreshRotation) -> Self {
        Self {
            keys,
            login_mode: LoginMode::default(),
            rotation,
            pending: authcode::Pending::default(),
            codes: authcode::Codes::default(),
            refresh: code_grant::RefreshStore::default(),
        }
    }
}

/// Parses PEM public keys; one that does not parse is logged and skipped.
pub(super) fn parse_keys<P: AsRef<str>>(pems: impl IntoIterator<Item = P>) -> Vec<DecodingKey> {
    let mut keys = Vec::new();
    for (index, pem) in pems.into_iter().enumerate() {
        match DecodingKey::from_rsa_pem(pem.as_ref().as_bytes()) {
            Ok(key) => keys.push(key),
            Err(err) => tracing::warn!(index, error = %err, "Simulator public key did not parse; it is skipped."),
        }
    }
    if keys.is_empty() {
        tracing::warn!("Simulator has no usable public key; every JWT will be rejected.");
    }
    keys
}

/// A new random token value with a recognisable prefix.
fn random_token(prefix: &str) -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

/// `secs` as a chrono duration, saturating instead of overflowing.
fn seconds(secs: u64) -> Duration {
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2_000).min(i64::MAX / 2_000))
}

/// `at + by`, saturating at chrono's range instead of panicking.
fn shifted(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    at.checked_add_signed(by).unwrap_or(if by < Duration::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
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

    /// Issues a new access token valid for `lifetime_secs` from `now`.
    fn issue(
        &mut self,
        now: DateTime<Utc>,
        lifetime_secs: u64,
        scopes: HashSet<String>,
        kind: GrantKind,
        grant: Option<u64>,
    ) -> String {
        let token = random_token("sim.");
        remember(&mut self.ever, &token);
        self.tokens.retain(|_, t| t.expires_at > now);
        self.tokens
            .insert(token.clone(), Issued { expires_at: shifted(now, seconds(lifetime_secs)), scopes, kind, grant });
        token
    }

    /// Every access token issued (the latest ten thousand), expired and wiped ones too.
    pub(super) fn ever(&self) -> Vec<String> {
        self.ever.iter().cloned().collect()
    }

    /// Forgets every access token descending from `grant`.
    fn revoke_grant(&mut self, grant: u64) {
        self.tokens.retain(|_, t| t.grant != Some(grant));
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

    fn request(description: &'static str) -> Self {
        Self { error: "invalid_request", description: Some(description) }
    }

    /// Client authentication failed: HTTP 401, no description.
    fn client() -> Self {
        Self { error: "invalid_client", description: None }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = match self.description {
            Some(d) => json!({ "error": self.error, "error_description": d }),
            None => json!({ "error": self.error }),
        };
        if self.error == "invalid_client" {
            // RFC 6749 §5.2: 401 with the authentication scheme the client should use.
            let challenge = HeaderValue::from_static("Basic realm=\"oauth\"");
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)], axum::Json(body))
                .into_response();
        }
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    }
}

fn int_claim(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

/// Checks a JWT-grant assertion and returns the granted scopes.
pub(super) fn verify_assertion(
    cfg: &SimConfig,
    keys: &[DecodingKey],
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
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = keys
        .iter()
        .find_map(|key| jsonwebtoken::decode::<Map<String, Value>>(assertion, key, &validation).ok())
        .ok_or(bad_signature)?
        .claims;
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

/// `POST /oauth/token`: the JWT bearer grant (`grant_type=…jwt-bearer&assertion=…`), the
/// authorization-code grant and the refresh-token grant.
pub(super) async fn token(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let now = Utc::now();
    let grant_type = form.get("grant_type").map(String::as_str);
    let result = match grant_type {
        None => Err(OAuthError::request("grant_type is missing")),
        Some(JWT_BEARER) => jwt_grant(&sim, &headers, &form, now),
        Some("authorization_code") => code_grant::redeem_code(&sim, &headers, &form, now),
        Some("refresh_token") => code_grant::redeem_refresh(&sim, &headers, &form, now),
        Some(_) => Err(OAuthError { error: "unsupported_grant_type", description: Some("unsupported_grant_type") }),
    };
    match result {
        Ok(body) => {
            let mut resp = axum::Json(body).into_response();
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(err) => {
            let mut state = sim.state();
            state.stats.token_errors += 1;
            if grant_type == Some("refresh_token") {
                state.stats.refresh_errors += 1;
            }
            drop(state);
            tracing::debug!(error = err.error, description = ?err.description, "Simulator refused a token request.");
            err.into_response()
        }
    }
}

/// The JWT bearer grant: verifies the assertion and issues an access token (no refresh token).
fn jwt_grant(
    sim: &Simulator,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Value, OAuthError> {
    let Some(assertion) = form.get("assertion").filter(|a| !a.is_empty()) else {
        return Err(OAuthError::request("assertion is missing"));
    };
    let host = host_of(headers).unwrap_or_default();
    // Verify outside the lock: the keys are cloned out (a few hundred bytes each).
    let (revoked, keys) = {
        let state = sim.state();
        (state.consent_revoked, state.auth.keys.clone())
    };
    let scopes = verify_assertion(&sim.inner.cfg, &keys, revoked, assertion, host, now.timestamp())?;
    let lifetime = sim.inner.cfg.token_lifetime_secs;
    let token = {
        let mut state = sim.state();
        state.stats.tokens_issued += 1;
        state.tokens.issue(now, lifetime, scopes, GrantKind::Jwt, None)
    };
    tracing::debug!(lifetime, "Simulator issued an access token.");
    Ok(json!({ "access_token": token, "token_type": "Bearer", "expires_in": lifetime }))
}

/// Checks the request's bearer token and, when given, that it carries `scope`.
pub(super) fn authorize(sim: &Simulator, headers: &HeaderMap, scope: Option<&str>) -> Result<(), ApiError> {
    check_token(sim, headers, scope).map(|_| ())
}

/// [`authorize`], and the token must come from the JWT grant: Docusign's Monitor API says
/// "you must request your token using JWT Authentication Grant". Otherwise 403
/// `jwt_grant_required`.
pub(super) fn authorize_jwt(sim: &Simulator, headers: &HeaderMap, scope: Option<&str>) -> Result<(), ApiError> {
    match check_token(sim, headers, scope)? {
        GrantKind::Jwt => Ok(()),
        GrantKind::AuthorizationCode | GrantKind::RefreshToken => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "jwt_grant_required",
            "The Monitor API accepts only tokens from the JWT grant: \"you must request your token using JWT \
             Authentication Grant\".",
        )),
    }
}

/// The bearer-token check; returns the grant the token came from.
fn check_token(sim: &Simulator, headers: &HeaderMap, scope: Option<&str>) -> Result<GrantKind, ApiError> {
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
    Ok(issued.kind)
}

/// `GET /oauth/userinfo`: the impersonated user and their accounts. A secondary account
/// without an organization comes first, so clients must pick by `is_default` (or by id);
/// then every account of [`super::Simulator::accounts`], the default one first.
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
    let secondary = json!({
        "account_id": super::seed::guid(cfg.seed, "secondary-account", &[0]),
        "is_default": false,
        "account_name": "Acme Sandbox (Simulated)",
        "base_uri": base,
    });
    // Every account the user has, each with the organization that owns it.
    let owned = sim.inner.accounts.all().iter().enumerate().map(|(i, a)| {
        let name =
            if i == 0 { "Acme Corporation (Simulated)".to_owned() } else { format!("Acme Client {i} (Simulated)") };
        json!({
            "account_id": a.account_id,
            "is_default": i == 0,
            "account_name": name,
            "base_uri": base,
            "organization": {
                "organization_id": a.organization_id,
                "links": [{
                    "rel": "self",
                    "href": format!("{base}/management/v2/organizations/{}", a.organization_id),
                }],
            },
        })
    });
    let accounts: Vec<serde_json::Value> = std::iter::once(secondary).chain(owned).collect();
    let body = json!({
        "sub": cfg.user_id,
        "name": format!("{given} {family}"),
        "given_name": given,
        "family_name": family,
        "created": "2015-08-13T22:03:03.45",
        "email": email,
        "accounts": accounts,
    });
    axum::Json(body).into_response()
}

#[cfg(test)]
mod tests;
