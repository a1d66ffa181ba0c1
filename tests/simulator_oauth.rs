//! The simulator's Authorization Code Grant over real HTTP, redirects never followed: the code
//! flow in every login mode for confidential and public (PKCE) clients, the refusals (PKCE
//! mismatch, reused code, unregistered redirect URI), refresh-token rotation under both
//! policies, aging and revocation, Monitor refusing code-grant tokens, and several JWT keys.

#![allow(clippy::unwrap_used, reason = "tests may unwrap: a panic is a failed test")]

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use esign_sim::docusign::{DEFAULT_CLIENT_SECRET, LoginMode, RefreshRotation};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};

#[path = "support/sim_http.rs"]
#[allow(dead_code, reason = "this binary uses its own non-redirecting client and assertions")]
mod sim_http;

use sim_http::{Served, keys, start};

/// Every test finishes well within this, or fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);
const REDIRECT: &str = "http://127.0.0.1:8765/callback";
const SCOPES: &str = "signature extended impersonation";
/// RFC 7636 Appendix B's verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const DAY: i64 = 86_400;

async fn timed<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_TIMEOUT, f).await.expect("test timed out");
}

/// A second key pair (private PKCS#8 PEM, public SPKI PEM).
fn other_keys() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public = key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        (private, public)
    })
}

/// The served simulator and a client that never follows redirects.
struct Flow {
    h: Served,
    client: reqwest::Client,
}

/// What a token request answered.
struct Reply {
    status: u16,
    cache_control: Option<String>,
    body: Value,
}

impl Reply {
    fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{}", self.body);
        &self.body
    }

    fn error(&self) -> (u16, &str, Option<&str>) {
        (self.status, self.body["error"].as_str().unwrap(), self.body["error_description"].as_str())
    }
}

impl Flow {
    async fn start(tune: impl FnOnce(&mut esign_sim::docusign::SimConfig)) -> Self {
        let h = start(tune).await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { h, client }
    }

    /// `GET /oauth/auth` with the default parameters, `changes` replacing or adding some (an
    /// empty value drops the parameter).
    async fn authorize(&self, changes: &[(&str, &str)]) -> reqwest::Response {
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("scope", SCOPES),
            ("client_id", &self.h.cfg.integration_key),
            ("redirect_uri", REDIRECT),
            ("state", "st-1"),
        ];
        for (k, v) in changes {
            params.retain(|(p, _)| p != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        self.client.get(format!("{}/oauth/auth", self.h.base)).query(&params).send().await.unwrap()
    }

    /// The code from a 302 to [`REDIRECT`], after checking the `state` came back.
    async fn code(&self, changes: &[(&str, &str)]) -> String {
        let params = redirected(&self.authorize(changes).await, REDIRECT);
        assert_eq!(params.get("state").map(String::as_str), Some("st-1"));
        params["code"].clone()
    }

    async fn token(&self, form: &[(&str, &str)], basic: Option<&str>) -> Reply {
        let mut req = self.client.post(format!("{}/oauth/token", self.h.base)).form(form);
        if let Some(secret) = basic {
            req = req.basic_auth(&self.h.cfg.integration_key, Some(secret));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let cache_control = resp.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
        Reply { status, cache_control, body: resp.json().await.unwrap() }
    }

    /// A token request without client authentication (a public client).
    async fn public(&self, form: Vec<(&str, String)>) -> Reply {
        let borrowed: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.token(&borrowed, None).await
    }

    /// Redeems `code` as a confidential client.
    async fn redeem(&self, code: &str) -> Reply {
        let form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)];
        self.token(&form, Some(DEFAULT_CLIENT_SECRET)).await
    }

    async fn refresh(&self, refresh_token: &str) -> Reply {
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
        self.token(&form, Some(DEFAULT_CLIENT_SECRET)).await
    }

    /// A fresh code redeemed: (access token, refresh token).
    async fn login(&self, scope: &str) -> (String, String) {
        let code = self.code(&[("scope", scope)]).await;
        let reply = self.redeem(&code).await;
        let body = reply.ok();
        (body["access_token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned())
    }

    async fn status(&self, token: &str, path: &str) -> (u16, Value) {
        let resp = self.client.get(format!("{}{path}", self.h.base)).bearer_auth(token).send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }

    async fn userinfo(&self, token: &str) -> u16 {
        self.status(token, "/oauth/userinfo").await.0
    }

    async fn monitor(&self, token: &str) -> (u16, Value) {
        self.status(token, &format!("/v1/organizations/{}/stream?limit=1", self.h.cfg.organization_id)).await
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let resp = self.client.request(method, format!("{}{path}", self.h.base)).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        resp.json().await.unwrap()
    }

    /// A JWT-grant token request signed with `private`.
    async fn jwt(&self, private: &str) -> Reply {
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": self.h.cfg.integration_key, "sub": self.h.cfg.user_id, "aud": self.h.host,
            "iat": now - 30, "exp": now + 3570, "scope": "signature impersonation",
        });
        let key = EncodingKey::from_rsa_pem(private.as_bytes()).unwrap();
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)];
        self.token(&form, None).await
    }
}

/// The query of a 302's `Location`, which must point at `target`.
fn redirected(resp: &reqwest::Response, target: &str) -> HashMap<String, String> {
    assert_eq!(resp.status(), 302);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location[..url::Position::AfterPath], *target);
    location.query_pairs().into_owned().collect()
}

/// The opaque request id in a consent page's form.
async fn consent_request_id(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"<form method="post" action="/oauth/auth/consent">"#), "{html}");
    assert!(html.contains(r#"name="decision" value="accept""#) && html.contains(r#"name="decision" value="deny""#));
    assert!(html.contains("<li>extended</li>") && html.contains("<li>impersonation</li>"), "the scopes are named");
    let start = html.find(r#"name="request" value=""#).unwrap() + r#"name="request" value=""#.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn redirect_mode_confidential_client_gets_tokens_that_monitor_refuses() {
    timed(async {
        let f = Flow::start(|_| {}).await;
        let code = f.code(&[("prompt", "login")]).await;
        let reply = f.redeem(&code).await;
        let body = reply.ok().clone();
        assert_eq!(reply.cache_control.as_deref(), Some("no-store"));
        let names: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(names, ["access_token", "token_type", "refresh_token", "expires_in", "scope"]);
        assert_eq!((body["token_type"].as_str(), body["expires_in"].as_u64()), (Some("Bearer"), Some(28_800)));
        assert_eq!(body["scope"], SCOPES);
        let access = body["access_token"].as_str().unwrap();
        let refresh = body["refresh_token"].as_str().unwrap();
        assert!(f.h.sim.issued_tokens().iter().any(|t| t == access));
        assert_eq!(f.h.sim.issued_refresh_tokens(), [refresh]);

        assert_eq!(f.userinfo(access).await, 200);
        let account = format!("/restapi/v2.1/accounts/{}", f.h.cfg.account_id);
        assert_eq!(f.status(access, &account).await.0, 200, "eSignature takes a code-grant token");
        let (code, err) = f.monitor(access).await;
        assert_eq!((code, err["error"].as_str()), (403, Some("jwt_grant_required")));
        assert!(err["error_description"].as_str().unwrap().contains("JWT Authentication Grant"));
        let legacy = f.status(access, "/api/v2.0/datasets/monitor/stream?limit=1").await.0;
        assert_eq!(legacy, 403, "both Monitor generations refuse it");
        // A token from the refresh grant is no JWT-grant token either.
        let refreshed = f.refresh(refresh).await.ok()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(f.monitor(&refreshed).await.0, 403);
        let jwt = f.jwt(&keys().0).await.ok()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(f.monitor(&jwt).await.0, 200);

        let stats = f.h.sim.stats();
        assert_eq!((stats.authorize_requests, stats.code_grants, stats.refresh_grants), (1, 1, 1));
        assert_eq!(stats.tokens_issued, 3);
    })
    .await;
}

#[tokio::test]
async fn consent_page_accepts_once_and_denies() {
    timed(async {
        let f = Flow::start(|_| {}).await;
        let mode = f.control(reqwest::Method::PUT, "/_sim/oauth/login-mode", json!({ "mode": "consent_page" })).await;
        assert_eq!(mode["mode"], "consent_page");
        let id = consent_request_id(f.authorize(&[]).await).await;
        let consent = format!("{}/oauth/auth/consent", f.h.base);
        let post = |decision: &'static str, id: String| {
            f.client.post(&consent).form(&[("request", id.as_str()), ("decision", decision)]).send()
        };
        let params = redirected(&post("accept", id.clone()).await.unwrap(), REDIRECT);
        assert_eq!(params["state"], "st-1");
        assert!(f.redeem(&params["code"]).await.ok()["refresh_token"].is_string());
        assert_eq!(post("accept", id).await.unwrap().status(), 400, "a consent form answers once");

        let id = consent_request_id(f.authorize(&[]).await).await;
        let params = redirected(&post("deny", id).await.unwrap(), REDIRECT);
        assert_eq!((params["error"].as_str(), params["state"].as_str()), ("access_denied", "st-1"));
        assert!(!params.contains_key("code"));
        assert_eq!(post("accept", "forged".to_owned()).await.unwrap().status(), 400);
    })
    .await;
}

#[tokio::test]
async fn deny_mode_and_bad_requests_redirect_with_errors() {
    timed(async {
        let f = Flow::start(|_| {}).await;
        f.h.sim.set_login_mode(LoginMode::Deny);
        let params = redirected(&f.authorize(&[]).await, REDIRECT);
        assert_eq!((params["error"].as_str(), params["state"].as_str()), ("access_denied", "st-1"));
        f.h.sim.set_login_mode(LoginMode::Redirect);

        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[("response_type", "token")], "unsupported_response_type"),
            (&[("code_challenge", CHALLENGE), ("code_challenge_method", "plain")], "invalid_request"),
            (&[("scope", "")], "invalid_scope"),
            (&[("scope", "signature root")], "invalid_scope"),
        ];
        for (changes, error) in cases {
            let params = redirected(&f.authorize(changes).await, REDIRECT);
            assert_eq!((params["error"].as_str(), params["state"].as_str()), (error, "st-1"), "{changes:?}");
        }
        // Lenient with `*_read` / `*_write` scopes.
        f.code(&[("scope", "signature envelope_read")]).await;
    })
    .await;
}

#[tokio::test]
async fn a_bad_client_or_redirect_uri_is_a_page_never_a_redirect() {
    timed(async {
        let f = Flow::start(|c| c.redirect_uris = vec![REDIRECT.to_owned()]).await;
        for changes in [
            [("redirect_uri", "http://127.0.0.1:9999/callback")],
            [("redirect_uri", "https://evil.example/callback")],
            [("redirect_uri", "")],
            [("client_id", "00000000-0000-0000-0000-000000000000")],
        ] {
            let resp = f.authorize(&changes).await;
            assert_eq!(resp.status(), 400, "{changes:?}");
            assert!(resp.headers().get("location").is_none());
            assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        }
        // The registered one works; redeeming it for another redirect_uri does not.
        let code = f.code(&[]).await;
        let form =
            [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "http://127.0.0.1:9999/callback")];
        let reply = f.token(&form, Some(DEFAULT_CLIENT_SECRET)).await;
        assert_eq!(reply.error(), (400, "invalid_grant", Some("redirect_uri_mismatch")));
        assert!(f.redeem(&code).await.ok()["access_token"].is_string());

        // With no URI registered, loopback ones on any port are accepted.
        let loopback = Flow::start(|_| {}).await;
        let other = "http://localhost:41234/cb";
        let params = redirected(&loopback.authorize(&[("redirect_uri", other)]).await, other);
        assert!(params.contains_key("code"));
        assert_eq!(loopback.authorize(&[("redirect_uri", "https://evil.example/cb")]).await.status(), 400);
    })
    .await;
}

#[tokio::test]
async fn public_client_needs_pkce_and_the_right_verifier() {
    timed(async {
        let f = Flow::start(|_| {}).await;
        let ik = f.h.cfg.integration_key.clone();
        let pkce = [("code_challenge", CHALLENGE), ("code_challenge_method", "S256")];
        let code = f.code(&pkce).await;
        let public = |verifier: &'static str, code: &str| {
            vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code.to_owned()),
                ("client_id", ik.clone()),
                ("code_verifier", verifier.to_owned()),
            ]
        };
        let wrong = f.public(public("wrong-verifier-wrong-verifier-wrong-verifier-x", &code)).await;
        assert_eq!(wrong.error(), (400, "invalid_grant", Some("invalid_code_verifier")));
        let missing = f.public(public("", &code)).await;
        assert_eq!(missing.error().1, "invalid_grant");
        let body = f.public(public(VERIFIER, &code)).await.ok().clone();
        let refresh = body["refresh_token"].as_str().unwrap().to_owned();

        // The grant had PKCE, so the public client may refresh it.
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("client_id", ik.as_str())];
        assert!(f.token(&form, None).await.ok()["refresh_token"].is_string());

        // A code without a challenge needs the secret; a wrong secret is invalid_client.
        let plain = f.code(&[]).await;
        assert_eq!(f.public(public(VERIFIER, &plain)).await.error(), (401, "invalid_client", None));
        let form = [("grant_type", "authorization_code"), ("code", plain.as_str())];
        assert_eq!(f.token(&form, Some("not-the-secret")).await.error(), (401, "invalid_client", None));
        assert_eq!(f.token(&form, None).await.error(), (401, "invalid_client", None));
        // A verifier sent for a code without a challenge is ignored.
        let with_verifier =
            [("grant_type", "authorization_code"), ("code", plain.as_str()), ("code_verifier", VERIFIER)];
        assert!(f.token(&with_verifier, Some(DEFAULT_CLIENT_SECRET)).await.ok()["access_token"].is_string());
        // And that grant's refresh tokens need the secret too.
        let (_, confidential_refresh) = f.login(SCOPES).await;
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", confidential_refresh.as_str()),
            ("client_id", ik.as_str()),
        ];
        assert_eq!(f.token(&form, None).await.error(), (401, "invalid_client", None));
    })
    .await;
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_its_tokens() {
    timed(async {
        let f = Flow::start(|_| {}).await;
        let code = f.code(&[]).await;
        let body = f.redeem(&code).await.ok().clone();
        let (access, refresh) = (body["access_token"].as_str().unwrap(), body["refresh_token"].as_str().unwrap());
        assert_eq!(f.userinfo(access).await, 200);
        assert_eq!(f.redeem(&code).await.error(), (400, "invalid_grant", Some("invalid_code")));
        assert_eq!(f.userinfo(access).await, 401, "the access token from the code is revoked");
        assert_eq!(f.refresh(refresh).await.error(), (400, "invalid_grant", None));
        assert!(f.h.sim.issued_refresh_tokens().is_empty());
        assert_eq!(f.redeem("never-issued").await.error(), (400, "invalid_grant", Some("invalid_code")));
        assert_eq!(f.h.sim.stats().refresh_errors, 1);
    })
    .await;
}

#[tokio::test]
async fn refresh_rotation_keeps_or_revokes_the_used_token() {
    timed(async {
        let f = Flow::start(|_| {}).await;
        let (_, first) = f.login(SCOPES).await;
        // KeepOld (the default): the used token keeps working.
        let second = f.refresh(&first).await.ok()["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(first, second);
        let reply = f.refresh(&first).await;
        assert_eq!(reply.cache_control.as_deref(), Some("no-store"));
        let third = reply.ok()["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(f.h.sim.issued_refresh_tokens().len(), 3);

        let set =
            f.control(reqwest::Method::PUT, "/_sim/oauth/refresh-rotation", json!({ "rotation": "revoke_old" })).await;
        assert_eq!(set["rotation"], "revoke_old");
        let body = f.refresh(&third).await.ok().clone();
        assert_eq!((body["expires_in"].as_u64(), body["scope"].as_str()), (Some(28_800), Some(SCOPES)));
        let fourth = body["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(f.refresh(&third).await.error(), (400, "invalid_grant", None), "used once, gone");
        assert_eq!(f.userinfo(body["access_token"].as_str().unwrap()).await, 200);
        assert!(f.refresh(&fourth).await.ok()["refresh_token"].is_string());

        f.h.sim.set_refresh_rotation(RefreshRotation::KeepOld);
        assert!(f.refresh(&second).await.ok()["refresh_token"].is_string(), "tokens from before still work");
        let stats = f.h.sim.stats();
        assert_eq!((stats.refresh_grants, stats.refresh_errors), (5, 1));
    })
    .await;
}

#[tokio::test]
async fn refresh_tokens_expire_by_age_and_revocation() {
    timed(async {
        let f = Flow::start(|_| {}).await;
        let age =
            |days: i64| f.control(reqwest::Method::POST, "/_sim/oauth/age-refresh", json!({ "seconds": days * DAY }));
        // Without `extended`, a new refresh token inherits the first one's expiry.
        let (_, short) = f.login("signature impersonation").await;
        // With it, each new refresh token lives 30 days from its issue.
        let (_, long) = f.login(SCOPES).await;
        age(29).await;
        let short2 = f.refresh(&short).await.ok()["refresh_token"].as_str().unwrap().to_owned();
        let long2 = f.refresh(&long).await.ok()["refresh_token"].as_str().unwrap().to_owned();
        age(2).await;
        assert_eq!(f.refresh(&short).await.error(), (400, "invalid_grant", Some("refresh_token_expired")));
        assert_eq!(f.refresh(&short2).await.error(), (400, "invalid_grant", Some("refresh_token_expired")));
        assert_eq!(f.refresh(&long).await.error(), (400, "invalid_grant", Some("refresh_token_expired")));
        let long3 = f.refresh(&long2).await.ok()["refresh_token"].as_str().unwrap().to_owned();
        assert!(f.h.sim.issued_refresh_tokens().contains(&long3));

        let revoked = f.control(reqwest::Method::POST, "/_sim/oauth/revoke-refresh", json!({})).await;
        assert_eq!(revoked["refresh_tokens"], "revoked");
        assert_eq!(f.refresh(&long3).await.error(), (400, "invalid_grant", None));
        assert!(f.h.sim.issued_refresh_tokens().is_empty());
        // The Simulator methods do the same.
        let (access, fresh) = f.login(SCOPES).await;
        f.h.sim.age_refresh_tokens(31 * DAY);
        assert_eq!(f.refresh(&fresh).await.error().2, Some("refresh_token_expired"));
        f.h.sim.age_refresh_tokens(-31 * DAY);
        f.h.sim.revoke_refresh_tokens();
        assert_eq!(f.refresh(&fresh).await.error(), (400, "invalid_grant", None));
        assert_eq!(f.userinfo(&access).await, 200, "access tokens outlive a revocation until they expire");
        // Expiring access tokens leaves refresh tokens alone.
        let (access, fresh) = f.login(SCOPES).await;
        f.h.sim.expire_tokens();
        assert_eq!(f.userinfo(&access).await, 401);
        let renewed = f.refresh(&fresh).await.ok()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(f.userinfo(&renewed).await, 200);
    })
    .await;
}

#[tokio::test]
async fn several_jwt_keys_verify_and_can_be_replaced_at_runtime() {
    timed(async {
        let other = other_keys();
        let f = Flow::start(|c| c.extra_public_keys = vec![other.1.clone()]).await;
        assert_eq!(f.h.sim.public_keys_count(), 2);
        assert!(f.jwt(&keys().0).await.ok()["access_token"].is_string());
        assert!(f.jwt(&other.0).await.ok()["access_token"].is_string());

        f.h.sim.set_public_keys(vec![other.1.clone(), "not a PEM".to_owned()]);
        assert_eq!(f.h.sim.public_keys_count(), 1, "the unparsable PEM is skipped");
        assert_eq!(f.jwt(&keys().0).await.error(), (400, "invalid_grant", Some("no_valid_keys_or_signatures")));
        assert!(f.jwt(&other.0).await.ok()["access_token"].is_string());

        let set = f.control(reqwest::Method::PUT, "/_sim/oauth/keys", json!({ "public_keys": [keys().1] })).await;
        assert_eq!(set["public_keys"], 1);
        assert!(f.jwt(&keys().0).await.ok()["access_token"].is_string());
        assert_eq!(f.jwt(&other.0).await.error().2, Some("no_valid_keys_or_signatures"));
        let bad = f.client.put(format!("{}/_sim/oauth/keys", f.h.base)).json(&json!({ "keys": [] })).send().await;
        assert_eq!(bad.unwrap().status(), 400);
    })
    .await;
}

#[test]
fn the_rfc_7636_pair_is_consistent() {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(VERIFIER.as_bytes());
    assert_eq!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest), CHALLENGE);
}
