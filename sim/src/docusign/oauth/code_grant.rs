//! The authorization-code and refresh-token grants at `POST /oauth/token`, client
//! authentication, and the refresh-token store with its rotation policy.
//!
//! Clients authenticate with `Authorization: Basic base64(integration_key:secret)`
//! (confidential), or send only `client_id=` in the form (public), which is accepted only for a
//! code that carried a PKCE challenge (and later for that grant's refresh tokens). Anything
//! else is 401 `invalid_client`.
//!
//! Every refresh returns a new refresh token, as Docusign documents. A refresh token lives
//! [`SimConfig::refresh_token_lifetime_secs`] from its issue when the grant holds the
//! `extended` scope; otherwise it inherits the expiry of the grant's first refresh token, so
//! without `extended` the user must log in again after 30 days however often the app refreshes.
//!
//! What happens to the refresh token just used is **undocumented** by Docusign: its docs say to
//! store the new one, never that the old one stops working. [`RefreshRotation::KeepOld`] (the
//! default) keeps it valid until its own expiry, which invents no revocation Docusign does not
//! document and matches what a client that lost the new token (a crash before saving it) would
//! meet at best. [`RefreshRotation::RevokeOld`] is strict rotation (RFC 9700 §4.14.2): tests use
//! it to prove a client saves the new token before it uses the access token. A client correct
//! under both policies is correct on Docusign.

use std::collections::{HashMap, HashSet, VecDeque};

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::authcode::CodeProblem;
use super::{GrantKind, OAuthError, SimConfig, Simulator, random_token, remember, seconds, shifted};

/// The client secret [`SimConfig::new`] registers.
pub const DEFAULT_CLIENT_SECRET: &str = "sim-secret-3f9c2a71-5d4e-4b8a-9c1f-7e6d5b4a3c2d";
/// How long an expired or revoked refresh token is remembered (so expiry can be reported as such).
const REFRESH_MEMORY_DAYS: i64 = 7;

/// What happens to a refresh token once it was redeemed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshRotation {
    /// It stays valid until its own expiry (Docusign documents no revocation).
    #[default]
    KeepOld,
    /// It stops working at once: strict rotation.
    RevokeOld,
}

/// How the client authenticated at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// Basic authentication with the integration key's secret.
    Confidential,
    /// Only `client_id`: acceptable with PKCE.
    Public,
}

/// One user consent: a redeemed code and every token descending from it.
#[derive(Debug, Clone)]
struct Grant {
    scopes: Vec<String>,
    /// The code carried a PKCE challenge, so a public client may refresh.
    pkce: bool,
    /// Expiry of the grant's first refresh token, inherited without `extended`.
    first_expiry: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Refresh {
    grant: u64,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked: bool,
}

/// Refresh tokens and their grants.
#[derive(Debug, Default)]
pub(super) struct RefreshStore {
    grants: HashMap<u64, Grant>,
    tokens: HashMap<String, Refresh>,
    next_grant: u64,
    /// Every refresh token issued, used, revoked and forgotten ones too (bounded), for tests.
    ever: VecDeque<String>,
}

impl RefreshStore {
    /// Records a new grant and issues its first refresh token.
    fn open_grant(&mut self, scopes: Vec<String>, pkce: bool, now: DateTime<Utc>, lifetime: Duration) -> (u64, String) {
        self.forget_old(now);
        self.next_grant += 1;
        let id = self.next_grant;
        let expires_at = shifted(now, lifetime);
        self.grants.insert(id, Grant { scopes, pkce, first_expiry: expires_at });
        let token = self.issue(id, now, expires_at);
        (id, token)
    }

    fn issue(&mut self, grant: u64, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> String {
        let token = random_token("sim-refresh.");
        remember(&mut self.ever, &token);
        self.tokens.insert(token.clone(), Refresh { grant, issued_at: now, expires_at, revoked: false });
        token
    }

    fn forget_old(&mut self, now: DateTime<Utc>) {
        let horizon = now - Duration::days(REFRESH_MEMORY_DAYS);
        self.tokens.retain(|_, t| t.expires_at > horizon);
        let live: HashSet<u64> = self.tokens.values().map(|t| t.grant).collect();
        self.grants.retain(|id, _| live.contains(id));
    }

    /// The grant of a redeemable refresh token.
    fn lookup(&self, token: &str, now: DateTime<Utc>) -> Result<(u64, &Grant), OAuthError> {
        let bare = OAuthError { error: "invalid_grant", description: None };
        let entry = self.tokens.get(token).filter(|t| !t.revoked).ok_or_else(|| bare.clone())?;
        if entry.expires_at <= now {
            return Err(OAuthError::grant("refresh_token_expired"));
        }
        self.grants.get(&entry.grant).map(|g| (entry.grant, g)).ok_or(bare)
    }

    /// Revokes every refresh token of `grant`.
    fn revoke_grant(&mut self, grant: u64) {
        self.tokens.values_mut().filter(|t| t.grant == grant).for_each(|t| t.revoked = true);
    }

    /// Moves every issue and expiry time `by` earlier.
    pub(super) fn age(&mut self, by: Duration) {
        for t in self.tokens.values_mut() {
            t.issued_at = shifted(t.issued_at, -by);
            t.expires_at = shifted(t.expires_at, -by);
        }
        for g in self.grants.values_mut() {
            g.first_expiry = shifted(g.first_expiry, -by);
        }
    }

    pub(super) fn revoke_all(&mut self) {
        self.tokens.values_mut().for_each(|t| t.revoked = true);
    }

    /// Every refresh token issued (the latest ten thousand), whatever became of it.
    pub(super) fn ever(&self) -> Vec<String> {
        self.ever.iter().cloned().collect()
    }

    /// Refresh tokens neither revoked nor expired at `now`.
    pub(super) fn valid(&self, now: DateTime<Utc>) -> Vec<String> {
        self.tokens.iter().filter(|(_, t)| !t.revoked && t.expires_at > now).map(|(k, _)| k.clone()).collect()
    }
}

/// `BASE64URL-NOPAD(SHA256(verifier))`, the PKCE S256 transformation (RFC 7636 §4.2).
pub(super) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Equality without an early exit, for secrets.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Authenticates the client: Basic with the registered secret, or a bare matching `client_id`.
fn authenticate(cfg: &SimConfig, headers: &HeaderMap, form: &HashMap<String, String>) -> Result<Client, OAuthError> {
    let form_id = form.get("client_id");
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return if form_id == Some(&cfg.integration_key) { Ok(Client::Public) } else { Err(OAuthError::client()) };
    };
    let credentials = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| STANDARD.decode(encoded.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let Some((id, secret)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        return Err(OAuthError::client());
    };
    let secret_ok = cfg.client_secret.as_deref().is_some_and(|s| constant_time_eq(s, secret));
    if id != cfg.integration_key || !secret_ok || form_id.is_some_and(|f| f != id) {
        return Err(OAuthError::client());
    }
    Ok(Client::Confidential)
}

/// The success body of both grants.
fn reply(access: &str, refresh: &str, lifetime: u64, scopes: &[String]) -> Value {
    json!({
        "access_token": access,
        "token_type": "Bearer",
        "refresh_token": refresh,
        "expires_in": lifetime,
        "scope": scopes.join(" "),
    })
}

/// `grant_type=authorization_code&code=…[&redirect_uri=…][&code_verifier=…]`.
pub(super) fn redeem_code(
    sim: &Simulator,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Value, OAuthError> {
    let cfg = &sim.inner.cfg;
    let client = authenticate(cfg, headers, form)?;
    let Some(code_value) = form.get("code").filter(|c| !c.is_empty()) else {
        return Err(OAuthError::request("code is missing"));
    };
    let mut state = sim.state();
    let code = match state.auth.codes.check(code_value, now) {
        Ok(code) => code,
        Err(CodeProblem::Unknown) => return Err(OAuthError::grant("invalid_code")),
        Err(CodeProblem::Expired) => return Err(OAuthError::grant("expired_code")),
        Err(CodeProblem::Reused(grant)) => {
            // RFC 6749 §4.1.2: a code used twice revokes what it issued (it may have leaked).
            state.auth.refresh.revoke_grant(grant);
            state.tokens.revoke_grant(grant);
            drop(state);
            tracing::warn!(grant, "Simulator saw an authorization code reused; its tokens are revoked.");
            return Err(OAuthError::grant("invalid_code"));
        }
    };
    if code.client_id != cfg.integration_key || code.user_id != cfg.user_id {
        return Err(OAuthError::grant("invalid_code"));
    }
    if client == Client::Public && code.challenge.is_none() {
        return Err(OAuthError::client());
    }
    if form.get("redirect_uri").is_some_and(|r| *r != code.redirect_uri) {
        return Err(OAuthError::grant("redirect_uri_mismatch"));
    }
    // A verifier sent for a code without a challenge is ignored.
    if let Some(challenge) = &code.challenge {
        let verifier = form.get("code_verifier").map_or("", String::as_str);
        if verifier.is_empty() || !constant_time_eq(&s256(verifier), challenge) {
            return Err(OAuthError::grant("invalid_code_verifier"));
        }
    }
    let refresh_lifetime = seconds(cfg.refresh_token_lifetime_secs);
    let (grant, refresh) =
        state.auth.refresh.open_grant(code.scopes.clone(), code.challenge.is_some(), now, refresh_lifetime);
    state.auth.codes.mark_used(code_value, grant);
    let lifetime = cfg.code_token_lifetime_secs;
    let scopes: HashSet<String> = code.scopes.iter().cloned().collect();
    let access = state.tokens.issue(now, lifetime, scopes, GrantKind::AuthorizationCode, Some(grant));
    state.stats.code_grants += 1;
    state.stats.tokens_issued += 1;
    drop(state);
    tracing::debug!(grant, ?client, "Simulator redeemed an authorization code.");
    Ok(reply(&access, &refresh, lifetime, &code.scopes))
}

/// `grant_type=refresh_token&refresh_token=…`: a new access token and a new refresh token.
pub(super) fn redeem_refresh(
    sim: &Simulator,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Value, OAuthError> {
    let cfg = &sim.inner.cfg;
    let client = authenticate(cfg, headers, form)?;
    let Some(old) = form.get("refresh_token").filter(|t| !t.is_empty()) else {
        return Err(OAuthError::request("refresh_token is missing"));
    };
    let mut state = sim.state();
    let (grant_id, grant) = state.auth.refresh.lookup(old, now)?;
    if client == Client::Public && !grant.pkce {
        return Err(OAuthError::client());
    }
    let scopes = grant.scopes.clone();
    let expires_at = if scopes.iter().any(|s| s == "extended") {
        shifted(now, seconds(cfg.refresh_token_lifetime_secs))
    } else {
        grant.first_expiry
    };
    let rotation = state.auth.rotation;
    let store = &mut state.auth.refresh;
    if rotation == RefreshRotation::RevokeOld
        && let Some(t) = store.tokens.get_mut(old.as_str())
    {
        t.revoked = true;
    }
    store.forget_old(now);
    let refresh = store.issue(grant_id, now, expires_at);
    let lifetime = cfg.code_token_lifetime_secs;
    let set: HashSet<String> = scopes.iter().cloned().collect();
    let access = state.tokens.issue(now, lifetime, set, GrantKind::RefreshToken, Some(grant_id));
    state.stats.refresh_grants += 1;
    state.stats.tokens_issued += 1;
    drop(state);
    tracing::debug!(grant = grant_id, ?rotation, "Simulator redeemed a refresh token.");
    Ok(reply(&access, &refresh, lifetime, &scopes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn clients_authenticate_with_basic_or_a_bare_client_id() {
        let cfg = SimConfig::new(String::new());
        let basic = |user: &str, secret: &str| {
            let mut h = HeaderMap::new();
            let value = format!("Basic {}", STANDARD.encode(format!("{user}:{secret}")));
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            h
        };
        let none = HashMap::new();
        let ik = cfg.integration_key.clone();
        assert_eq!(authenticate(&cfg, &basic(&ik, DEFAULT_CLIENT_SECRET), &none), Ok(Client::Confidential));
        assert_eq!(authenticate(&cfg, &basic(&ik, "wrong"), &none), Err(OAuthError::client()));
        assert_eq!(authenticate(&cfg, &basic("other", DEFAULT_CLIENT_SECRET), &none), Err(OAuthError::client()));
        let public = HashMap::from([("client_id".to_owned(), ik.clone())]);
        assert_eq!(authenticate(&cfg, &HeaderMap::new(), &public), Ok(Client::Public));
        assert_eq!(authenticate(&cfg, &HeaderMap::new(), &none), Err(OAuthError::client()));
        let mut garbage = HeaderMap::new();
        garbage.insert(header::AUTHORIZATION, "Basic %%%".parse().unwrap());
        assert_eq!(authenticate(&cfg, &garbage, &public), Err(OAuthError::client()));
        let mut no_secret = cfg;
        no_secret.client_secret = None;
        assert_eq!(authenticate(&no_secret, &basic(&ik, DEFAULT_CLIENT_SECRET), &none), Err(OAuthError::client()));
    }

    #[test]
    fn refresh_tokens_expire_age_and_revoke() {
        let now = Utc::now();
        let mut store = RefreshStore::default();
        let (grant, token) = store.open_grant(vec!["signature".to_owned()], false, now, Duration::days(30));
        assert_eq!(store.lookup(&token, now).unwrap().0, grant);
        store.age(Duration::days(30));
        assert_eq!(store.lookup(&token, now).unwrap_err(), OAuthError::grant("refresh_token_expired"));
        assert!(store.valid(now).is_empty());
        store.age(Duration::days(-30));
        assert_eq!(store.valid(now), std::slice::from_ref(&token));
        store.revoke_all();
        assert_eq!(store.lookup(&token, now).unwrap_err(), OAuthError { error: "invalid_grant", description: None });
        assert_eq!(store.lookup("unknown", now).unwrap_err().description, None);
    }

    #[test]
    fn every_token_issued_is_remembered_whatever_became_of_it() {
        let now = Utc::now();
        let mut refresh = RefreshStore::default();
        let (grant, first) = refresh.open_grant(vec!["signature".to_owned()], false, now, Duration::days(30));
        let second = refresh.issue(grant, now, now + Duration::days(30));
        refresh.revoke_all();
        refresh.age(Duration::days(400));
        refresh.forget_old(now);
        assert!(refresh.valid(now).is_empty());
        assert_eq!(refresh.ever(), vec![first, second]);

        let mut access = super::super::TokenStore::default();
        let a = access.issue(now, 60, HashSet::new(), GrantKind::AuthorizationCode, Some(grant));
        let b = access.issue(now, 60, HashSet::new(), GrantKind::RefreshToken, Some(grant));
        access.clear();
        assert!(access.valid(now).is_empty());
        assert_eq!(access.ever(), vec![a, b]);
    }
}
