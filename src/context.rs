//! Everything a command needs, built once from the configuration: base URLs, the HTTP
//! client, the authenticator, and (for the demo environment) the in-process simulator.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};

use crate::auth::{ClientCredentials, Grant, JwtGrant, LabelledKey, PrivateKey, SealedStore};
use crate::config::{AuthFlow, Config, DocusignConfig, Environment, Tenant, Vendor};
use crate::connectors::docusign::{self, Session};
use crate::connectors::yousign;
use crate::core::source::Source;
use crate::demo::Demo;
use crate::error::Error;
use crate::http::{Api, ClientSettings, Clients};
use crate::state::Store;

/// Resolved endpoints.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// OAuth base.
    pub auth: String,
    /// Monitor base for the configured generation.
    pub monitor: String,
    /// Admin base including `/management`.
    pub admin: String,
}

/// A command's world.
#[derive(Debug)]
pub struct Context {
    /// The tenant (state namespace, log field).
    pub tenant: String,
    /// `_tenant` written into lines (configurations with `[[tenants]]`).
    pub tag: Option<String>,
    /// The configuration as this tenant sees it.
    pub cfg: Config,
    /// Endpoints.
    pub endpoints: Endpoints,
    /// DocuSign access (DocuSign tenants).
    pub session: Option<Arc<Session>>,
    /// Yousign access and its API base (the Yousign tenant).
    pub yousign: Option<(Arc<yousign::Session>, String)>,
    /// The demo simulator, kept alive for the command's lifetime.
    pub demo: Option<Demo>,
    /// The Yousign demo simulator, likewise.
    pub yousign_demo: Option<crate::demo::YousignDemo>,
    /// The state file, for sources that keep more than a cursor (queues, hosts).
    pub store: Option<Arc<Mutex<Store>>>,
}

/// What the DocuSign tenants built so far share: JWT grants, by everything their tokens depend
/// on, and HTTP clients, by their settings.
///
/// DocuSign's JWT access token is the user's (the assertion's `sub`) for the app (its `iss`),
/// and good on every account the user belongs to (`/oauth/userinfo` lists them). Tenants
/// that name the same integration key, user, OAuth host, scopes, redirect URI and key
/// sources therefore share one grant: one private-key parse, one signed assertion and one
/// token request an hour for all of them, instead of one each.
///
/// Tenants whose `[docusign]` timeout, proxy and trust settings are equal send through one
/// pair of HTTP clients: one TLS configuration built, and connections to DocuSign's hosts
/// reused from tenant to tenant instead of a handshake each. Each tenant keeps its own pacing.
#[derive(Default)]
pub struct Shared {
    grants: HashMap<String, Arc<JwtGrant>>,
    clients: HashMap<String, Clients>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys name proxies, which may carry credentials: counts only.
        f.debug_struct("Shared").field("grants", &self.grants.len()).field("clients", &self.clients.len()).finish()
    }
}

impl Shared {
    /// How many JWT grants serve the tenants built so far.
    pub fn grants(&self) -> usize {
        self.grants.len()
    }

    /// How many HTTP client pairs serve the tenants built so far.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// The clients for `settings`, built the first time they are asked for.
    fn clients_for(&mut self, settings: &ClientSettings<'_>) -> Result<Clients, Error> {
        // ClientSettings' Debug names every field (paths, URLs, durations, flags), quoted.
        Ok(match self.clients.entry(format!("{settings:?}")) {
            Entry::Occupied(e) => e.get().clone(),
            Entry::Vacant(e) => e.insert(Clients::build(settings)?).clone(),
        })
    }
}

/// What a JWT token depends on, as the key of [`Shared`]'s grants: never key material, only
/// where the keys come from.
fn grant_identity(grant: &Grant, auth_base: &str, d: &DocusignConfig) -> String {
    // A tuple's Debug quotes and escapes every string and path: no two identities print alike.
    format!(
        "{:?}",
        (
            &grant.integration_key,
            &grant.user_id,
            &grant.audience,
            &grant.scopes,
            auth_base.trim_end_matches('/'),
            d.redirect_uri.0.as_str(),
            &d.private_key_file,
            &d.private_key_env,
            &d.private_key_credential,
            &d.private_key_files,
            &d.private_key_credentials,
        )
    )
}

/// The bare host (and port, when not the default) of a base URL: the JWT audience.
fn audience(base: &str) -> String {
    url::Url::parse(base)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            })
        })
        .unwrap_or_else(|| base.to_owned())
}

/// The JWT grant's keys, in the order they are tried.
///
/// # Errors
/// `AuthError::Key` for a key that is missing or unusable.
fn private_keys(d: &DocusignConfig) -> Result<Vec<LabelledKey>, Error> {
    let file = |p: &std::path::Path| -> Result<LabelledKey, Error> {
        Ok(LabelledKey { label: p.display().to_string(), key: PrivateKey::from_file(p)? })
    };
    let credential = |c: &str| -> Result<LabelledKey, Error> {
        Ok(LabelledKey { label: format!("credential {c}"), key: PrivateKey::from_credential(c)? })
    };
    let mut keys = Vec::new();
    if let Some(p) = &d.private_key_file {
        keys.push(file(p)?);
    }
    if let Some(v) = &d.private_key_env {
        keys.push(LabelledKey { label: format!("${v}"), key: PrivateKey::from_env(v)? });
    }
    if let Some(c) = &d.private_key_credential {
        keys.push(credential(c)?);
    }
    for p in &d.private_key_files {
        keys.push(file(p)?);
    }
    for c in &d.private_key_credentials {
        keys.push(credential(c)?);
    }
    if keys.is_empty() {
        return Err(Error::Internal("validated config has no key source".into()));
    }
    Ok(keys)
}

/// The integration key and, when one is configured, its secret.
///
/// # Errors
/// `ConfigError` when the configured secret cannot be read.
pub fn client_credentials(d: &DocusignConfig) -> Result<ClientCredentials, Error> {
    let any = d.client_secret_env.is_some() || d.client_secret_file.is_some() || d.client_secret_credential.is_some();
    let secret = any
        .then(|| {
            crate::auth::read_secret(
                "docusign.client_secret",
                d.client_secret_env.as_deref(),
                d.client_secret_file.as_deref(),
                d.client_secret_credential.as_deref(),
            )
        })
        .transpose()?;
    Ok(ClientCredentials { integration_key: d.integration_key.clone().unwrap_or_default(), secret })
}

impl Context {
    /// The tenant's enabled sources, in the order a cycle collects them.
    pub fn sources(&self) -> Vec<Box<dyn Source>> {
        if let Some((session, base)) = &self.yousign {
            let version = self.cfg.yousign.as_ref().map(|y| y.api_version).unwrap_or_default();
            return yousign::enabled(&self.cfg.sources, session, base, self.store.as_ref(), &self.tenant, version);
        }
        let Some(session) = &self.session else { return Vec::new() };
        let mut v = docusign::enabled(
            self.cfg.docusign(),
            &self.cfg.sources,
            session,
            &self.endpoints.monitor,
            &self.endpoints.admin,
        );
        v.extend(docusign::esignature_sources(
            self.cfg.docusign(),
            &self.cfg.sources,
            session,
            &self.endpoints.auth,
            &self.tenant,
            self.store.as_ref(),
            self.cfg.receivers.connect.is_some(),
        ));
        v
    }

    /// The DocuSign session, for the commands that only DocuSign has.
    ///
    /// # Errors
    /// `ConfigError::Argument` (`--tenant`) for a Yousign tenant.
    pub fn docusign_session(&self) -> Result<&Arc<Session>, Error> {
        self.session.as_ref().ok_or_else(|| {
            crate::config::ConfigError::Argument {
                arg: "--tenant".into(),
                message: format!("tenant {:?} is a Yousign tenant: this command is for DocuSign tenants", self.tenant),
            }
            .into()
        })
    }

    /// Builds a Yousign tenant's context: the API key, the API base, pacing to Yousign's
    /// per-minute and per-hour limits.
    async fn build_yousign(
        tenant: String,
        tag: Option<String>,
        cfg: Config,
        store: Option<Arc<Mutex<Store>>>,
    ) -> Result<Self, Error> {
        let y = cfg.yousign.clone().ok_or_else(|| Error::Internal("a Yousign tenant without [yousign]".into()))?;
        let (key, base, demo) = if y.environment == yousign::Environment::Demo {
            let demo = crate::demo::YousignDemo::start().await?;
            // The simulator serves v3 under `/v3` and v2 at its root, as Yousign's hosts do.
            let base = match y.api_version {
                yousign::ApiVersion::V3 => demo.base.clone(),
                yousign::ApiVersion::V2 => demo.base.trim_end_matches("/v3").to_owned(),
            };
            (demo.api_key.clone(), base, Some(demo))
        } else {
            let key = crate::auth::read_secret(
                "yousign.api_key",
                y.api_key_env.as_deref(),
                y.api_key_file.as_deref(),
                y.api_key_credential.as_deref(),
            )?;
            (key, y.environment.base(y.api_version).to_owned(), None)
        };
        let base = y.base_url.as_ref().map_or(base, crate::values::HttpUrl::base);
        let (per_minute, per_hour) = y.limits();
        let pacer = crate::http::Pacer::new(per_hour, per_minute, std::time::Duration::from_secs(60));
        let settings = yousign::client_settings(&y, &cfg.network);
        let api = Api::with_pacer(&settings, &cfg.rate_limit, pacer)?;
        let session = Arc::new(yousign::Session { api, client: yousign::Client::new(key) });
        let endpoints = Endpoints { auth: base.clone(), monitor: base.clone(), admin: base.clone() };
        Ok(Self {
            tenant,
            tag,
            cfg,
            endpoints,
            session: None,
            yousign: Some((session, base)),
            demo: None,
            yousign_demo: demo,
            store,
        })
    }

    /// Builds one tenant's context. `store` enables the sealed token cache.
    ///
    /// # Errors
    /// `ConfigError` or `AuthError::Key` for unusable settings or keys, `AuthError::SealKey`
    /// for an unusable token seal key.
    pub async fn build(tenant: Tenant, store: Option<Arc<Mutex<Store>>>) -> Result<Self, Error> {
        Box::pin(Self::build_among(tenant, store, &mut Shared::default())).await
    }

    /// [`Context::build`] for one of several tenants: a JWT tenant whose token another tenant
    /// in `shared` already obtains shares that tenant's grant, and a tenant whose HTTP settings
    /// another's equal shares its clients (see [`Shared`]).
    ///
    /// # Errors
    /// As [`Context::build`].
    pub async fn build_among(
        tenant: Tenant,
        store: Option<Arc<Mutex<Store>>>,
        shared: &mut Shared,
    ) -> Result<Self, Error> {
        let Tenant { name: tenant, cfg, named, vendor, .. } = tenant;
        let tag = named.then(|| tenant.clone());
        if vendor == Vendor::Yousign {
            return Self::build_yousign(tenant, tag, cfg, store).await;
        }
        let d = &cfg.docusign();
        let (demo, demo_keys, mut endpoints) = if d.environment == Environment::Demo {
            let (demo, key) = Demo::start(&cfg).await?;
            let e = Endpoints {
                auth: demo.base.clone(),
                monitor: demo.base.clone(),
                admin: format!("{}/management", demo.base),
            };
            (Some(demo), Some(vec![LabelledKey { label: "demo key".into(), key }]), e)
        } else {
            let env = d.environment;
            let e =
                Endpoints { auth: env.auth_base(), monitor: cfg.sources.monitor_base(env), admin: env.admin_base() };
            (None, None, e)
        };
        if let Some(u) = &d.auth_base_url {
            endpoints.auth = u.base();
        }
        if let Some(u) = &d.monitor_base_url {
            endpoints.monitor = u.base();
        }
        if let Some(u) = &d.admin_base_url {
            endpoints.admin = u.base();
        }
        let mut cfg = cfg;
        if let Some(ids) = demo.as_ref().map(|dm| dm.ids.clone())
            && let Some(dd) = &mut cfg.docusign
        {
            dd.integration_key = Some(ids.integration_key);
            dd.user_id = Some(ids.user_id);
            dd.account_id = Some(ids.account_id);
            dd.organization_id = Some(ids.organization_id);
        }
        let d = &cfg.docusign();
        let grant = Grant {
            integration_key: d.integration_key.clone().unwrap_or_default(),
            user_id: d.user_id.clone().unwrap_or_default(),
            audience: audience(&endpoints.auth),
            scopes: cfg.scopes(),
        };
        let client = match d.auth {
            AuthFlow::Jwt => {
                let identity = grant_identity(&grant, &endpoints.auth, d);
                if let Some(grant) = shared.grants.get(&identity) {
                    grant.share_with(&tenant);
                    docusign::Client::shared(grant.clone())
                } else {
                    // The demo simulator trusts its own key; elsewhere the configured ones.
                    let keys = match demo_keys {
                        Some(k) => k,
                        None => private_keys(d)?,
                    };
                    let sealed = store.clone().map(SealedStore::open).transpose()?;
                    let redirect = d.redirect_uri.0.as_str();
                    let made = Arc::new(docusign::jwt_grant(keys, grant, &endpoints.auth, redirect, &tenant, sealed));
                    shared.grants.insert(identity, made.clone());
                    docusign::Client::shared(made)
                }
            }
            AuthFlow::AuthorizationCode => {
                // The refresh token lives in the state file: a command that opened none opens it.
                let store = match store.clone() {
                    Some(s) => s,
                    None => Arc::new(Mutex::new(Store::open(&cfg.state.path)?)),
                };
                let credentials = client_credentials(d)?;
                let sealed = SealedStore::open(store)?;
                docusign::Client::with_auth_code(credentials, &endpoints.auth, grant.scopes, &tenant, sealed)
            }
        };
        let api = Api::with_clients(shared.clients_for(&cfg.client_settings())?, &cfg.rate_limit, cfg.burst());
        let session = Some(Arc::new(Session { api, client }));
        Ok(Self { tenant, tag, cfg, endpoints, session, yousign: None, demo, yousign_demo: None, store })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docusign(extra: &str) -> DocusignConfig {
        toml::from_str(&format!("environment = \"developer\"\n{extra}")).unwrap()
    }

    fn grant(user: &str) -> Grant {
        Grant {
            integration_key: "ik".into(),
            user_id: user.into(),
            audience: "account-d.docusign.com".into(),
            scopes: vec!["signature".into(), "impersonation".into()],
        }
    }

    #[test]
    fn tenants_share_a_grant_only_when_everything_its_token_depends_on_is_the_same() {
        let auth = "https://account-d.docusign.com";
        let d = docusign("private_key_file = \"/keys/a.pem\"");
        let base = grant_identity(&grant("u1"), auth, &d);
        assert_eq!(base, grant_identity(&grant("u1"), auth, &docusign("private_key_file = \"/keys/a.pem\"")));
        let mut other_scopes = grant("u1");
        other_scopes.scopes.push("organization_read".into());
        for (what, other) in [
            ("another user", grant_identity(&grant("u2"), auth, &d)),
            ("other scopes", grant_identity(&other_scopes, auth, &d)),
            ("another OAuth host", grant_identity(&grant("u1"), "https://account.docusign.com", &d)),
            ("another key file", grant_identity(&grant("u1"), auth, &docusign("private_key_file = \"/keys/b.pem\""))),
            ("a key from the environment", grant_identity(&grant("u1"), auth, &docusign("private_key_env = \"K\""))),
        ] {
            assert_ne!(base, other, "{what} is another grant");
        }
        assert!(!base.contains("BEGIN"), "names key sources, never key material");
    }

    #[test]
    fn tenants_share_http_clients_only_when_their_settings_are_equal() {
        let mut shared = Shared::default();
        let settings = ClientSettings::plain("docusign", std::time::Duration::from_secs(30));
        shared.clients_for(&settings).unwrap();
        shared.clients_for(&ClientSettings::plain("docusign", std::time::Duration::from_secs(30))).unwrap();
        assert_eq!(shared.clients(), 1, "equal settings: one pair of clients");
        shared.clients_for(&ClientSettings::plain("docusign", std::time::Duration::from_secs(5))).unwrap();
        let proxy: crate::values::HttpUrl = serde_json::from_str("\"http://127.0.0.1:3128\"").unwrap();
        shared.clients_for(&ClientSettings { proxy: Some(&proxy), ..settings }).unwrap();
        shared.clients_for(&ClientSettings { insecure_skip_verify: true, ..settings }).unwrap();
        assert_eq!(shared.clients(), 4, "another timeout, proxy or trust setting is another pair");
        assert!(!format!("{shared:?}").contains("3128"), "the debug form names no proxy: {shared:?}");
    }
}
