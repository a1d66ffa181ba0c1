//! The JWT bearer grant (RFC 7523) as a [`TokenSource`]: an assertion signed with the app's
//! private key, exchanged at the token endpoint for an access token, which is kept in a
//! [`TokenCache`] for its lifetime. What a refusal means is the vendor's to say
//! ([`ExplainRefusal`]).

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tracing::warn;

use super::jwt::{self, Grant};
use super::oauth::{self, ClientAuth};
use super::{AuthError, PrivateKey, SealedStore, Token, TokenCache, TokenSource, now};
use crate::http::Api;
use crate::state::CredentialStatus;

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

/// A private key and where it came from (a file or credential name, never key material).
#[derive(Debug)]
pub struct LabelledKey {
    /// Where it came from, for logs and `status`.
    pub label: String,
    /// The key.
    pub key: PrivateKey,
}

/// DocuSign's (and RFC 7523's) description of an assertion no registered key verifies.
const NO_VALID_KEY: &str = "no_valid_keys_or_signatures";

/// Tokens from the JWT grant, signed with the first of its keys the vendor accepts: an
/// operator rotating keys lists the new key first and the old one after it, so collection
/// goes on while the new public key is not yet registered.
///
/// One grant may serve several tenants ([`JwtGrant::share_with`]): the token is the user's,
/// for the app, and good on every account the user belongs to. It is cached under the first
/// tenant's name; which key is in use is recorded for each of them.
pub struct JwtGrant {
    keys: Vec<LabelledKey>,
    grant: Grant,
    token_url: String,
    explain: ExplainRefusal,
    cache: TokenCache,
    /// The other tenants this grant's tokens serve.
    sharers: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for JwtGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtGrant")
            .field("grant", &self.grant)
            .field("keys", &self.keys.len())
            .field("tenant", &self.cache.tenant())
            .finish_non_exhaustive()
    }
}

impl JwtGrant {
    /// Tokens for `grant`, asked of `token_url` with an assertion signed by the first of
    /// `keys` that is accepted, cached as `tenant`'s (`sealed` keeps them across runs).
    pub fn new(
        keys: Vec<LabelledKey>,
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
        Self {
            keys,
            grant,
            token_url: token_url.to_owned(),
            explain,
            cache: TokenCache::new(tenant, binding, sealed),
            sharers: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Serves `tenant` too: its status records which key is in use, as the first tenant's does.
    pub fn share_with(&self, tenant: &str) {
        self.sharers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(tenant.to_owned());
    }

    async fn request_token(&self, api: &Api) -> Result<Token, AuthError> {
        let mut refused_first = false;
        for (i, k) in self.keys.iter().enumerate() {
            let assertion = jwt::assertion(&k.key, &self.grant, now())?;
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.expose_secret()),
            ];
            match oauth::post(api, &self.token_url, "token request", ClientAuth::None, &form).await? {
                Ok(body) => {
                    let token = oauth::access_token(&body, "token request")?;
                    self.record_key(i, refused_first);
                    return Ok(token);
                }
                Err(r) if r.description == NO_VALID_KEY && i + 1 < self.keys.len() => {
                    let next = &self.keys[i + 1].label;
                    warn!(
                        refused = %k.label,
                        next = %next,
                        "The token endpoint refused the assertion signed with key {} of {} ({NO_VALID_KEY}); trying the next key. \
                         Register this key's public key on the integration key, or remove it from the list.",
                        i + 1,
                        self.keys.len()
                    );
                    refused_first |= i == 0;
                }
                Err(r) => return Err((self.explain)(&r)),
            }
        }
        Err(AuthError::Key("no private key is configured".into()))
    }

    /// Records, for each tenant served, which key was accepted and since when the first is
    /// refused (one transaction).
    fn record_key(&self, index: usize, refused_first: bool) {
        let Some(store) = self.cache.state() else { return };
        let mut tenants = vec![self.cache.tenant().to_owned()];
        tenants.extend(self.sharers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned());
        let before = if refused_first { store.credential_status().ok().unwrap_or_default() } else { Vec::new() };
        let count = i64::try_from(self.keys.len()).unwrap_or(i64::MAX);
        let statuses: Vec<CredentialStatus> = tenants
            .into_iter()
            .map(|tenant| {
                let since = refused_first.then(|| {
                    before.iter().find(|s| s.tenant == tenant).and_then(|s| s.first_key_refused_at).unwrap_or_else(now)
                });
                CredentialStatus {
                    tenant,
                    flow: "jwt".into(),
                    key_in_use: Some(i64::try_from(index + 1).unwrap_or(i64::MAX)),
                    key_count: Some(count),
                    key_label: self.keys.get(index).map(|k| k.label.clone()),
                    first_key_refused_at: since,
                    updated_at: now(),
                }
            })
            .collect();
        if let Err(e) = store.save_credential_statuses(&statuses) {
            warn!(error = %e, "Cannot record which private key is in use.");
        }
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

#[cfg(test)]
mod tests {
    //! The key order against the simulator's token endpoint on 127.0.0.1 (no other network).

    use super::*;
    use esign_sim::docusign::{SimConfig, Simulator};

    /// A new key pair: the private key, labelled, and the public PEM.
    fn key(label: &str) -> (LabelledKey, String) {
        let rsa = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let key = PrivateKey::from_rsa(&rsa).unwrap();
        let public = key.public_pem().to_owned();
        (LabelledKey { label: label.to_owned(), key }, public)
    }

    /// The simulator serving `sc` on 127.0.0.1, its base URL and the sender that stops it.
    async fn serve(sc: SimConfig) -> (Simulator, String, tokio::sync::oneshot::Sender<()>) {
        let sim = Simulator::new(sc);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = sim.clone();
        tokio::spawn(async move { served.serve(listener, async { drop(stopped.await) }).await });
        (sim, base, stop)
    }

    fn api() -> Api {
        let settings = crate::http::ClientSettings::plain("docusign", std::time::Duration::from_secs(10));
        Api::new(&settings, &crate::http::RateLimitConfig::default(), 200).unwrap()
    }

    /// A grant of `keys` (in this order) against `sim`, refusals explained as the vendor does
    /// for consent (so the test can tell `consent_required` from the rest).
    fn grant(sc: &SimConfig, base: &str, keys: Vec<LabelledKey>) -> JwtGrant {
        let g = Grant {
            integration_key: sc.integration_key.clone(),
            user_id: sc.user_id.clone(),
            audience: base.trim_start_matches("http://").to_owned(),
            scopes: vec!["signature".into(), "impersonation".into()],
        };
        let explain: ExplainRefusal = Box::new(|r: &Refusal| {
            if r.error == "consent_required" {
                AuthError::Consent { vendor: "DocuSign", url: "consent-url".into() }
            } else {
                AuthError::Rejected {
                    vendor: "DocuSign",
                    status: r.status,
                    error: r.error.clone(),
                    description: r.description.clone(),
                    hint: "",
                }
            }
        });
        JwtGrant::new(keys, g, &format!("{base}/oauth/token"), explain, "t", None)
    }

    #[tokio::test]
    async fn a_key_refused_as_unknown_hands_over_to_the_next_and_any_other_refusal_does_not() {
        let (new, _) = key("new.pem");
        let (old, old_public) = key("old.pem");
        let (third, third_public) = key("third.pem");
        let sc = SimConfig::new(old_public.clone());
        let (sim, base, _stop) = serve(sc.clone()).await;
        let api = api();

        // DocuSign knows only the second key: the first is refused as unknown, the second is tried.
        let g = grant(&sc, &base, vec![new, old]);
        assert!(g.request_token(&api).await.is_ok());
        let s = sim.stats();
        assert_eq!((s.token_requests, s.token_errors, s.tokens_issued), (2, 1, 1), "{s:?}");

        // With both keys known, the first one is used and the second never sent.
        sim.set_public_keys(vec![third_public, old_public]);
        let old_again = g.keys.into_iter().nth(1).unwrap();
        let g = grant(&sc, &base, vec![third, old_again]);
        assert!(g.request_token(&api).await.is_ok());
        assert_eq!(sim.stats().token_requests, 3);

        // Any other refusal of the first key ends it there: consent is the user's, not the key's.
        sim.revoke_consent();
        let err = g.request_token(&api).await.unwrap_err();
        assert!(matches!(err, AuthError::Consent { .. }), "{err}");
        let s = sim.stats();
        assert_eq!((s.token_requests, s.token_errors), (4, 2), "only the first key was sent: {s:?}");
        sim.grant_consent();

        // When every key is refused as unknown, the last refusal is the answer.
        sim.set_public_keys(Vec::new());
        let err = g.request_token(&api).await.unwrap_err();
        assert!(err.to_string().contains(NO_VALID_KEY), "{err}");
        assert_eq!(sim.stats().token_requests, 6, "both keys were tried");
    }
}
