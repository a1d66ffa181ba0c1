//! `GET /oauth/auth` (the Authorization Code Grant's user-facing step), the consent page and
//! `POST /oauth/auth/consent`, and the store of issued authorization codes.
//!
//! Parameters are Docusign's: `response_type=code&scope=…&client_id=…&redirect_uri=…&state=…`,
//! optionally `code_challenge=…&code_challenge_method=S256` (PKCE) and `prompt=login` (accepted
//! and ignored: there is no login to force). As RFC 6749 §4.1.2.1 demands, a bad `client_id` or
//! `redirect_uri` gets an HTML error page and never a redirect, so the endpoint cannot serve
//! as an open redirector; every later error is a redirect carrying `error` and `state`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::pages::{consent_page, error_page};
use super::{SimConfig, Simulator, random_token};

/// How long an authorization code can be redeemed.
const CODE_LIFETIME_SECS: i64 = 120;
/// How long a used or expired code is remembered, so a replay is recognised as one.
const CODE_MEMORY_SECS: i64 = 600;
/// How long a request waits on the consent page.
const PENDING_LIFETIME_SECS: i64 = 600;
/// Docusign's named scopes; any other `*_read` / `*_write` is accepted too.
const KNOWN_SCOPES: [&str; 9] = [
    "signature",
    "extended",
    "impersonation",
    "organization_read",
    "user_read",
    "user_write",
    "account_read",
    "group_read",
    "permission_read",
];

/// How `GET /oauth/auth` answers a valid request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMode {
    /// 302 to the redirect URI with `code` and `state` at once: a user who is logged in and
    /// consented before.
    #[default]
    Redirect,
    /// 200 with an HTML consent page whose form posts to `/oauth/auth/consent`.
    ConsentPage,
    /// 302 to the redirect URI with `error=access_denied`: the user declined.
    Deny,
}

/// A validated authorization request.
#[derive(Debug, Clone)]
pub(super) struct AuthRequest {
    redirect_uri: String,
    /// The requested (and so granted) scopes, in request order.
    scopes: Vec<String>,
    /// The PKCE S256 challenge, if the client sent one.
    challenge: Option<String>,
    state: Option<String>,
}

/// Requests shown on the consent page, by their opaque id.
#[derive(Debug, Default)]
pub(super) struct Pending {
    requests: HashMap<String, (AuthRequest, DateTime<Utc>)>,
}

/// One issued authorization code.
#[derive(Debug, Clone)]
pub(super) struct Code {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) scopes: Vec<String>,
    pub(super) challenge: Option<String>,
    pub(super) user_id: String,
    expires_at: DateTime<Utc>,
    /// The grant its redemption created; `Some` once used.
    pub(super) redeemed: Option<u64>,
}

/// Issued authorization codes, used ones kept a while to recognise replays.
#[derive(Debug, Default)]
pub(super) struct Codes {
    codes: HashMap<String, Code>,
}

/// Why a code cannot be redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CodeProblem {
    /// Never issued (or forgotten long ago).
    Unknown,
    /// Past its 120 s.
    Expired,
    /// Redeemed before, creating this grant: its tokens must be revoked.
    Reused(u64),
}

impl Codes {
    fn issue(&mut self, cfg: &SimConfig, req: &AuthRequest, now: DateTime<Utc>) -> String {
        self.codes.retain(|_, c| c.expires_at + Duration::seconds(CODE_MEMORY_SECS) > now);
        let code = random_token("");
        let entry = Code {
            client_id: cfg.integration_key.clone(),
            redirect_uri: req.redirect_uri.clone(),
            scopes: req.scopes.clone(),
            challenge: req.challenge.clone(),
            user_id: cfg.user_id.clone(),
            expires_at: now + Duration::seconds(CODE_LIFETIME_SECS),
            redeemed: None,
        };
        self.codes.insert(code.clone(), entry);
        code
    }

    /// The code if it can be redeemed now (it stays unused until [`Codes::mark_used`]).
    pub(super) fn check(&self, code: &str, now: DateTime<Utc>) -> Result<Code, CodeProblem> {
        let entry = self.codes.get(code).ok_or(CodeProblem::Unknown)?;
        if let Some(grant) = entry.redeemed {
            return Err(CodeProblem::Reused(grant));
        }
        if entry.expires_at <= now {
            return Err(CodeProblem::Expired);
        }
        Ok(entry.clone())
    }

    /// Records that `code` was redeemed and created `grant`.
    pub(super) fn mark_used(&mut self, code: &str, grant: u64) {
        if let Some(entry) = self.codes.get_mut(code) {
            entry.redeemed = Some(grant);
        }
    }
}

/// Why a request is refused: a page (bad client or redirect URI) or a redirect with `error`.
enum Refusal {
    Page(&'static str),
    Redirect { redirect_uri: String, error: &'static str, state: Option<String> },
}

/// `GET /oauth/auth`.
pub(in crate::docusign) async fn authorize_get(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Response {
    sim.state().stats.authorize_requests += 1;
    let cfg = &sim.inner.cfg;
    let req = match validate(cfg, query.as_deref().unwrap_or_default()) {
        Ok(req) => req,
        Err(Refusal::Page(msg)) => return error_page(msg),
        Err(Refusal::Redirect { redirect_uri, error, state }) => {
            return redirect(&redirect_uri, &[("error", error)], state.as_deref());
        }
    };
    let now = Utc::now();
    let mut state = sim.state();
    match state.auth.login_mode {
        LoginMode::Redirect => {
            let code = state.auth.codes.issue(cfg, &req, now);
            drop(state);
            tracing::debug!("Simulator issued an authorization code.");
            redirect(&req.redirect_uri, &[("code", &code)], req.state.as_deref())
        }
        LoginMode::Deny => {
            drop(state);
            redirect(&req.redirect_uri, &[("error", "access_denied")], req.state.as_deref())
        }
        LoginMode::ConsentPage => {
            let id = random_token("");
            let pending = &mut state.auth.pending.requests;
            pending.retain(|_, (_, expires)| *expires > now);
            pending.insert(id.clone(), (req.clone(), now + Duration::seconds(PENDING_LIFETIME_SECS)));
            drop(state);
            consent_page(cfg, &req.scopes, &id)
        }
    }
}

/// `POST /oauth/auth/consent` with the consent form: `request=<id>&decision=accept|deny`.
pub(in crate::docusign) async fn consent_post(State(sim): State<Simulator>, body: Bytes) -> Response {
    sim.state().stats.authorize_requests += 1;
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let decision = form.get("decision").map(String::as_str);
    if !matches!(decision, Some("accept" | "deny")) {
        return error_page("The consent form must carry decision=accept or decision=deny.");
    }
    let now = Utc::now();
    let mut state = sim.state();
    // Single use: the same form cannot be submitted twice.
    let pending = form.get("request").and_then(|id| state.auth.pending.requests.remove(id));
    let Some((req, _)) = pending.filter(|(_, expires)| *expires > now) else {
        return error_page("This consent request is unknown, expired or was already answered.");
    };
    if decision == Some("deny") {
        drop(state);
        return redirect(&req.redirect_uri, &[("error", "access_denied")], req.state.as_deref());
    }
    let code = state.auth.codes.issue(&sim.inner.cfg, &req, now);
    drop(state);
    tracing::debug!("Simulator issued an authorization code after consent.");
    redirect(&req.redirect_uri, &[("code", &code)], req.state.as_deref())
}

/// Checks the request in RFC 6749's order: client and redirect URI first (an error page),
/// then the rest (a redirect with `error`).
fn validate(cfg: &SimConfig, query: &str) -> Result<AuthRequest, Refusal> {
    let mut params: HashMap<String, String> = HashMap::new();
    let mut duplicated = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if params.contains_key(k.as_ref()) {
            duplicated.push(k.into_owned());
        } else {
            params.insert(k.into_owned(), v.into_owned());
        }
    }
    let get = |name: &str| params.get(name).map(String::as_str);
    let once = |name: &str| !duplicated.iter().any(|d| d == name);
    if get("client_id") != Some(cfg.integration_key.as_str()) || !once("client_id") {
        return Err(Refusal::Page("The client_id is not a registered integration key."));
    }
    let Some(redirect_uri) = get("redirect_uri").filter(|u| once("redirect_uri") && redirect_uri_allowed(cfg, u))
    else {
        return Err(Refusal::Page("The redirect_uri is not registered for this integration key."));
    };
    let state = get("state").map(str::to_owned);
    let refuse = |error| Err(Refusal::Redirect { redirect_uri: redirect_uri.to_owned(), error, state: state.clone() });
    if get("response_type") != Some("code") {
        return refuse("unsupported_response_type");
    }
    if !duplicated.is_empty() {
        return refuse("invalid_request");
    }
    let challenge = get("code_challenge").filter(|c| !c.is_empty());
    if let Some(challenge) = challenge {
        // RFC 7636 §4.2: 43 to 128 unreserved characters; an absent method means "plain".
        let well_formed = (43..=128).contains(&challenge.len())
            && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if get("code_challenge_method") != Some("S256") || !well_formed {
            return refuse("invalid_request");
        }
    }
    let scopes: Vec<String> = get("scope").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    if scopes.is_empty() || !scopes.iter().all(|s| scope_known(s)) {
        return refuse("invalid_scope");
    }
    Ok(AuthRequest { redirect_uri: redirect_uri.to_owned(), scopes, challenge: challenge.map(str::to_owned), state })
}

/// A Docusign scope this simulator knows: a named one or any `*_read` / `*_write`.
fn scope_known(scope: &str) -> bool {
    let suffixed = |suffix: &str| {
        scope
            .strip_suffix(suffix)
            .is_some_and(|stem| !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    };
    KNOWN_SCOPES.contains(&scope) || suffixed("_read") || suffixed("_write")
}

/// Exact match against the registered URIs; with none registered, any loopback
/// `http://127.0.0.1:<port>/…` or `http://localhost:<port>/…` without fragment or user info.
fn redirect_uri_allowed(cfg: &SimConfig, uri: &str) -> bool {
    if !cfg.redirect_uris.is_empty() {
        return cfg.redirect_uris.iter().any(|r| r == uri);
    }
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    let authority = uri.strip_prefix("http://").and_then(|rest| rest.split('/').next()).unwrap_or_default();
    url.scheme() == "http"
        && matches!(url.host_str(), Some("127.0.0.1" | "localhost"))
        && authority.rsplit_once(':').is_some_and(|(_, port)| !port.is_empty())
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
}

/// 302 to `redirect_uri` with `pairs` and `state` (when the client sent one) added to its query.
fn redirect(redirect_uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> Response {
    // Only validated URIs get here, so parsing cannot fail; a page is still the safe answer.
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page("The redirect_uri is not a valid URL.");
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return error_page("The redirect_uri is not a valid URL.");
    };
    let mut resp = StatusCode::FOUND.into_response();
    resp.headers_mut().insert(header::LOCATION, location);
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SimConfig {
        SimConfig::new(String::new())
    }

    fn query(cfg: &SimConfig, extra: &str) -> String {
        format!(
            "response_type=code&scope=signature%20extended&client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&state=s1{extra}",
            cfg.integration_key
        )
    }

    fn refusal(r: Result<AuthRequest, Refusal>) -> String {
        match r {
            Ok(_) => "ok".to_owned(),
            Err(Refusal::Page(_)) => "page".to_owned(),
            Err(Refusal::Redirect { error, state, .. }) => format!("{error}/{}", state.unwrap_or_default()),
        }
    }

    #[test]
    fn loopback_redirect_uris_are_accepted_when_none_are_registered() {
        let mut cfg = cfg();
        for ok in ["http://127.0.0.1:8765/callback", "http://localhost:3000/", "http://127.0.0.1:1/a/b?x=1"] {
            assert!(redirect_uri_allowed(&cfg, ok), "{ok}");
        }
        for bad in [
            "https://evil.example/cb",
            "http://127.0.0.1/callback",
            "http://127.0.0.1.evil.example:80/cb",
            "http://user@127.0.0.1:8765/cb",
            "http://127.0.0.1:8765/cb#frag",
            "https://127.0.0.1:8765/cb",
            "not a url",
        ] {
            assert!(!redirect_uri_allowed(&cfg, bad), "{bad}");
        }
        cfg.redirect_uris = vec!["https://app.example/cb".to_owned()];
        assert!(redirect_uri_allowed(&cfg, "https://app.example/cb"));
        assert!(!redirect_uri_allowed(&cfg, "https://app.example/cb/"));
        assert!(!redirect_uri_allowed(&cfg, "http://127.0.0.1:8765/callback"));
    }

    #[test]
    fn requests_are_checked_in_order() {
        let cfg = cfg();
        let good = validate(&cfg, &query(&cfg, "")).ok().unwrap();
        assert_eq!(good.scopes, ["signature", "extended"]);
        assert_eq!(good.state.as_deref(), Some("s1"));
        assert_eq!(refusal(validate(&cfg, &query(&cfg, "").replace("client_id=", "client_id=x"))), "page");
        assert_eq!(refusal(validate(&cfg, &query(&cfg, "").replace("127.0.0.1", "evil.example"))), "page");
        assert_eq!(refusal(validate(&cfg, &query(&cfg, "&client_id=again"))), "page");
        let token_type = query(&cfg, "").replace("response_type=code", "response_type=token");
        assert_eq!(refusal(validate(&cfg, &token_type)), "unsupported_response_type/s1");
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let plain = format!("&code_challenge={challenge}&code_challenge_method=plain");
        assert_eq!(refusal(validate(&cfg, &query(&cfg, &plain))), "invalid_request/s1");
        let missing = format!("&code_challenge={challenge}");
        assert_eq!(refusal(validate(&cfg, &query(&cfg, &missing))), "invalid_request/s1");
        let s256 = format!("&code_challenge={challenge}&code_challenge_method=S256&prompt=login");
        assert_eq!(validate(&cfg, &query(&cfg, &s256)).ok().unwrap().challenge.as_deref(), Some(challenge));
        let no_scope = query(&cfg, "").replace("scope=signature%20extended", "scope=");
        assert_eq!(refusal(validate(&cfg, &no_scope)), "invalid_scope/s1");
        let odd_scope = query(&cfg, "").replace("scope=signature", "scope=signature%20root");
        assert_eq!(refusal(validate(&cfg, &odd_scope)), "invalid_scope/s1");
        let lenient = query(&cfg, "").replace("scope=signature", "scope=signature%20envelope_read%20room_forms_write");
        assert_eq!(refusal(validate(&cfg, &lenient)), "ok");
    }

    #[test]
    fn codes_are_single_use_and_expire() {
        let cfg = cfg();
        let req = validate(&cfg, &query(&cfg, "")).ok().unwrap();
        let now = Utc::now();
        let mut codes = Codes::default();
        let code = codes.issue(&cfg, &req, now);
        assert_eq!(codes.check(&code, now).unwrap().redirect_uri, "http://127.0.0.1:8765/callback");
        assert_eq!(codes.check(&code, now + Duration::seconds(121)).unwrap_err(), CodeProblem::Expired);
        assert_eq!(codes.check("nope", now).unwrap_err(), CodeProblem::Unknown);
        codes.mark_used(&code, 7);
        assert_eq!(codes.check(&code, now).unwrap_err(), CodeProblem::Reused(7));
    }

    #[test]
    fn redirects_keep_the_uri_query_and_escape_values() {
        let resp = redirect("http://127.0.0.1:1/cb?x=1", &[("error", "access_denied")], Some("a b&c"));
        assert_eq!(resp.status(), StatusCode::FOUND);
        let location = resp.headers()[header::LOCATION].to_str().unwrap();
        assert_eq!(location, "http://127.0.0.1:1/cb?x=1&error=access_denied&state=a+b%26c");
    }
}
