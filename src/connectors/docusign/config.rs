//! DocuSign's configuration: the `[docusign]` table (identity, key, environment and endpoint
//! overrides) and the `[sources]` tables of its streams.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ADMIN_USERS, MONITOR_EVENTS};
use crate::values::{Bounded, ConfigError, HttpUrl, HumanDuration};

/// Where DocuSign is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// The built-in simulator, started in-process on a loopback port.
    Demo,
    /// DocuSign's developer sandbox (account-d, lens-d, api-d).
    Developer,
    /// DocuSign production (account, lens, api).
    Production,
}

impl Environment {
    /// DocuSign's published burst limit per 30 s for this environment.
    pub fn default_burst(self) -> u32 {
        match self {
            Environment::Production => 500,
            Environment::Demo | Environment::Developer => 200,
        }
    }

    fn suffix(self) -> &'static str {
        if self == Environment::Production { "" } else { "-d" }
    }

    /// OAuth host (token, consent, userinfo).
    pub fn auth_base(self) -> String {
        format!("https://account{}.docusign.com", self.suffix())
    }

    /// Monitor host for the given generation.
    pub fn monitor_base(self, api: MonitorApi) -> String {
        match api {
            MonitorApi::V2 => format!("https://lens{}.docusign.net", self.suffix()),
            MonitorApi::OrgStream => format!("https://api{}.docusign.com", self.suffix()),
        }
    }

    /// Admin API base, including its `/management` path.
    pub fn admin_base(self) -> String {
        format!("https://api{}.docusign.net/management", self.suffix())
    }
}

/// How a tenant obtains its access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthFlow {
    /// The JWT grant: the app signs an assertion with its private key and impersonates
    /// `user_id` (needs the user's or an administrator's consent to `impersonation`).
    #[default]
    Jwt,
    /// The Authorization Code Grant: a user logs in once (`auth login`); rotating refresh
    /// tokens, sealed in the state file, keep the tenant authenticated.
    AuthorizationCode,
}

impl AuthFlow {
    /// The name written in the configuration, `status` and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFlow::Jwt => "jwt",
            AuthFlow::AuthorizationCode => "authorization_code",
        }
    }
}

/// `[docusign]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocusignConfig {
    /// `demo` (built-in simulator), `developer` or `production`.
    pub environment: Environment,
    /// The app's integration key (client id): the JWT's `iss`.
    #[serde(default)]
    pub integration_key: Option<String>,
    /// `jwt` (default) or `authorization_code`.
    #[serde(default)]
    pub auth: AuthFlow,
    /// GUID of the user the app impersonates: the JWT's `sub`.
    #[serde(default)]
    pub user_id: Option<String>,
    /// RSA private key (PEM, PKCS#1 or PKCS#8). Must not be readable by group or others.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// Name of an environment variable holding the PEM instead of a file.
    #[serde(default)]
    pub private_key_env: Option<String>,
    /// Name of a systemd credential (`LoadCredential=NAME:PATH`) holding the PEM: the file
    /// `$CREDENTIALS_DIRECTORY/NAME`, so the key never needs to be readable by the service user.
    #[serde(default)]
    pub private_key_credential: Option<String>,
    /// Several key files, tried in order (key rotation: the new key first, the old one
    /// after it, until DocuSign accepts the new one).
    #[serde(default)]
    pub private_key_files: Vec<PathBuf>,
    /// Several systemd credentials holding keys, tried in order (key rotation).
    #[serde(default)]
    pub private_key_credentials: Vec<String>,
    /// Authorization Code Grant: the environment variable holding the integration key's
    /// secret key (a confidential client). No secret source: a public client (PKCE only).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Authorization Code Grant: a file holding the secret key (mode 0600).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Authorization Code Grant: a systemd credential holding the secret key.
    #[serde(default)]
    pub client_secret_credential: Option<String>,
    /// The eSignature account whose users are read.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The organization whose Monitor stream and users are read.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// Redirect URI registered on the integration key, used in the consent URL.
    #[serde(default = "default_redirect")]
    pub redirect_uri: HttpUrl,
    /// Scopes to request; default: the minimum the enabled sources need.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// OAuth base URL override (government cloud, proxies, tests).
    #[serde(default)]
    pub auth_base_url: Option<HttpUrl>,
    /// Monitor base URL override.
    #[serde(default)]
    pub monitor_base_url: Option<HttpUrl>,
    /// Admin API base URL override, including `/management`.
    #[serde(default)]
    pub admin_base_url: Option<HttpUrl>,
    /// eSignature base URL override (`{base}/restapi/v2.1/accounts/{accountId}`); absent:
    /// the account's `base_uri` from `/oauth/userinfo`, kept in the state file.
    #[serde(default)]
    pub esignature_base_url: Option<HttpUrl>,
    /// HTTP(S) proxy for every DocuSign call (else `HTTPS_PROXY`/`NO_PROXY` apply).
    #[serde(default)]
    pub proxy: Option<HttpUrl>,
    /// Extra CA certificate (PEM) to trust, e.g. a TLS-inspecting proxy's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any TLS certificate. Dangerous: for lab use only; logged loudly.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Timeout of one HTTP request.
    #[serde(default = "HumanDuration::secs::<30>")]
    pub timeout: HumanDuration,
}

// Written by hand: the derived Debug would be fine today, but this keeps any future secret
// field out of debug output by construction.
impl std::fmt::Debug for DocusignConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocusignConfig")
            .field("environment", &self.environment)
            .field("integration_key", &self.integration_key)
            .field("auth", &self.auth)
            .field("user_id", &self.user_id)
            .field("private_key_file", &self.private_key_file)
            .field("private_key_env", &self.private_key_env)
            .field("private_key_credential", &self.private_key_credential)
            .field("private_key_files", &self.private_key_files)
            .field("private_key_credentials", &self.private_key_credentials)
            .field("client_secret_env", &self.client_secret_env)
            .field("client_secret_file", &self.client_secret_file)
            .field("client_secret_credential", &self.client_secret_credential)
            .field("account_id", &self.account_id)
            .field("organization_id", &self.organization_id)
            .finish_non_exhaustive()
    }
}

fn default_redirect() -> HttpUrl {
    HttpUrl(url::Url::parse("https://developers.docusign.com/platform/auth/consent").unwrap_or_else(|_| unreachable!()))
}

fn required<'a>(v: Option<&'a String>, key: &str, hint: &str) -> Result<&'a str, ConfigError> {
    match v.map(|s| s.trim()) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ConfigError::invalid(key, format!("is required: {hint}"))),
    }
}

impl DocusignConfig {
    /// Checks the keys that depend on the environment, the flow and the enabled `sources`.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming the key.
    pub fn validate(&self, sources: &SourcesConfig) -> Result<(), ConfigError> {
        self.timeout.require_nonzero("docusign.timeout")?;
        let scopes = self.scopes(sources);
        for needed in sources.required_scopes(self.auth) {
            if !scopes.iter().any(|s| s == needed) {
                return Err(ConfigError::invalid(
                    "docusign.scopes",
                    format!("lacks `{needed}`, which the enabled sources need (omit the key to use the minimum)"),
                ));
            }
        }
        if self.auth == AuthFlow::AuthorizationCode {
            if self.environment == Environment::Demo {
                return Err(ConfigError::invalid(
                    "docusign.auth",
                    "is authorization_code, which the demo environment does not offer (its simulator lives only as long \
                     as one command, so no login could outlast it): run `esign-collector simulate` and point a \
                     developer-environment tenant at it to try the flow",
                ));
            }
            if sources.customer_events.enabled {
                return Err(ConfigError::invalid(
                    "docusign.auth",
                    "is authorization_code, but sources.customer_events is enabled: DocuSign's Monitor API documentation \
                     says \"you must request your token using JWT Authentication Grant\". Use auth = \"jwt\" for this \
                     tenant, or disable sources.customer_events",
                ));
            }
        }
        if self.environment == Environment::Demo {
            return Ok(());
        }
        required(
            self.integration_key.as_ref(),
            "docusign.integration_key",
            "the integration key of your DocuSign app (Apps and Keys page)",
        )?;
        match self.auth {
            AuthFlow::Jwt => {
                required(self.user_id.as_ref(), "docusign.user_id", "the GUID of the user to impersonate")?;
                self.validate_key_source()?;
            }
            AuthFlow::AuthorizationCode => self.validate_client_secret()?,
        }
        if sources.needs_organization() {
            required(
                self.organization_id.as_ref(),
                "docusign.organization_id",
                "the enabled sources read the organization (`auth-test` prints it)",
            )?;
        }
        if sources.needs_account() {
            required(
                self.account_id.as_ref(),
                "docusign.account_id",
                "sources.user_data and sources.envelopes read this account (`auth-test` prints it)",
            )?;
        }
        Ok(())
    }

    /// The scopes requested: the configured ones, or the minimum the enabled sources need
    /// with this flow.
    pub fn scopes(&self, sources: &SourcesConfig) -> Vec<String> {
        self.scopes
            .clone()
            .unwrap_or_else(|| sources.required_scopes(self.auth).into_iter().map(str::to_owned).collect())
    }

    /// At most one client secret source (none: a public client).
    fn validate_client_secret(&self) -> Result<(), ConfigError> {
        one_of(&[
            ("docusign.client_secret_env", self.client_secret_env.is_some()),
            ("docusign.client_secret_file", self.client_secret_file.is_some()),
            ("docusign.client_secret_credential", self.client_secret_credential.is_some()),
        ])?;
        if let Some(name) = &self.client_secret_credential
            && !is_credential_name(name)
        {
            return Err(ConfigError::invalid(
                "docusign.client_secret_credential",
                "must be a plain file name: the NAME of LoadCredential=NAME:PATH in the systemd unit, not a path",
            ));
        }
        Ok(())
    }

    /// Exactly one key source, and credential names that are plain file names.
    fn validate_key_source(&self) -> Result<(), ConfigError> {
        let set = one_of(&[
            ("docusign.private_key_file", self.private_key_file.is_some()),
            ("docusign.private_key_env", self.private_key_env.is_some()),
            ("docusign.private_key_credential", self.private_key_credential.is_some()),
            ("docusign.private_key_files", !self.private_key_files.is_empty()),
            ("docusign.private_key_credentials", !self.private_key_credentials.is_empty()),
        ])?;
        if set.is_none() {
            return Err(ConfigError::invalid(
                "docusign.private_key_file",
                "is required (or docusign.private_key_env, or docusign.private_key_credential under systemd, or a list in \
                 docusign.private_key_files or docusign.private_key_credentials): the app's RSA private key",
            ));
        }
        let names = self.private_key_credential.iter().map(|n| ("docusign.private_key_credential", n));
        let listed = self.private_key_credentials.iter().map(|n| ("docusign.private_key_credentials", n));
        if let Some((key, _)) = names.chain(listed).find(|(_, n)| !is_credential_name(n)) {
            return Err(ConfigError::invalid(
                key,
                "must be a plain file name: the NAME of LoadCredential=NAME:PATH in the systemd unit, not a path",
            ));
        }
        Ok(())
    }
}

/// At most one of `keys` is set: the one set, if any.
fn one_of(keys: &[(&'static str, bool)]) -> Result<Option<&'static str>, ConfigError> {
    let set: Vec<&str> = keys.iter().filter_map(|(key, set)| set.then_some(*key)).collect();
    match set.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        [first, second, ..] => {
            Err(ConfigError::invalid(*second, format!("cannot be set together with {first}: choose one")))
        }
    }
}

/// A systemd credential name: a non-empty file name, without `/`, not `.` or `..`.
pub(super) fn is_credential_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0']) && name.len() <= 255
}

pub use crate::connectors::SourcesConfig;

/// Whether the DocuSign source with config key `key` is enabled (`None`: not a DocuSign key).
pub(crate) fn enabled(s: &SourcesConfig, key: &str) -> Option<bool> {
    match key {
        k if k == MONITOR_EVENTS.key => Some(s.customer_events.enabled),
        k if k == ADMIN_USERS.key => Some(s.user_data.enabled),
        k if k == super::ENVELOPES.key => Some(s.envelopes.enabled),
        k if k == super::ENVELOPE_AUDIT.key => Some(s.envelopes.enabled && s.envelopes.audit_events),
        _ => None,
    }
}

impl SourcesConfig {
    /// Whether any DocuSign source is enabled.
    pub fn any_docusign(&self) -> bool {
        self.customer_events.enabled || self.user_data.enabled || self.envelopes.enabled
    }

    /// The DocuSign source tables' own checks.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming the key.
    pub fn validate_docusign(&self) -> Result<(), ConfigError> {
        self.envelopes.validate()
    }

    /// Whether the eSignature envelope list is polled (and so reconciled with Connect).
    pub fn polls_esignature(&self) -> bool {
        self.envelopes.enabled
    }

    /// Whether customer events get `_user` from the stored Admin user records.
    pub fn enrich(&self) -> bool {
        self.customer_events.enrich_users && self.user_data.enabled
    }

    /// The Monitor host of `env` for the configured generation.
    pub fn monitor_base(&self, env: Environment) -> String {
        env.monitor_base(self.customer_events.api)
    }

    /// Whether an enabled source needs the organization id.
    pub fn needs_organization(&self) -> bool {
        self.user_data.enabled || (self.customer_events.enabled && self.customer_events.api == MonitorApi::OrgStream)
    }

    /// Whether an enabled source needs the account id (user data reads one account's members).
    pub fn needs_account(&self) -> bool {
        self.user_data.enabled || self.envelopes.enabled
    }

    /// The minimal scopes the enabled sources need with `flow`: `impersonation` for the JWT
    /// grant, `extended` (refresh tokens with a full lifetime at each rotation) for the code grant.
    pub fn required_scopes(&self, flow: AuthFlow) -> Vec<&'static str> {
        let mut v = vec!["signature", if flow == AuthFlow::Jwt { "impersonation" } else { "extended" }];
        if self.user_data.enabled {
            v.extend(["organization_read", "user_read"]);
        }
        v
    }
}

/// The `[sources.*]` tables that enable every source (the audit trail of envelopes is a key
/// of `[sources.envelopes]`), for a configuration written for the simulator.
pub fn every_source_enabled() -> String {
    format!(
        "[sources.{}]\nenabled = true\n\n[sources.{}]\nenabled = true\n\n[sources.{}]\nenabled = true\naudit_events = true\n\n",
        MONITOR_EVENTS.key,
        ADMIN_USERS.key,
        super::ENVELOPES.key
    )
}

/// Which Monitor generation to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MonitorApi {
    /// Classic `GET {lens}/api/v2.0/datasets/monitor/stream` (answers `data[]`).
    #[serde(rename = "v2")]
    V2,
    /// Current `GET {api}/v1/organizations/{organizationId}/stream` (answers `resultData[]`).
    #[serde(rename = "org-stream")]
    OrgStream,
}

/// `[sources.customer_events]`. A key left out takes its value from
/// [`CustomerEventsConfig::default`].
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CustomerEventsConfig {
    /// Collect Monitor customer events.
    pub enabled: bool,
    /// An explicit cap on the events one run reads (1..=2000, as XSOAR's); the rest comes next
    /// run. Absent (the default): a run drains the stream within `state.max_run_time`.
    pub max_events_per_fetch: Option<Bounded<1, 2000>>,
    /// Events asked for per request (`limit`); DocuSign allows up to 2000.
    pub page_size: Bounded<1, 2000>,
    /// How far back a brand-new checkpoint starts (DocuSign keeps 7 days in the stream).
    pub first_fetch: HumanDuration,
    /// Monitor generation.
    pub api: MonitorApi,
    /// With `sources.user_data` enabled: add `_user` (name, email, status, groups of the
    /// event's user, from the last stored Admin record; no extra API call) to each event.
    pub enrich_users: bool,
}

impl Default for CustomerEventsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_events_per_fetch: None,
            page_size: Bounded::of::<2000>(),
            first_fetch: HumanDuration::secs::<{ 7 * 86_400 }>(),
            api: MonitorApi::OrgStream,
            enrich_users: true,
        }
    }
}

/// `[sources.user_data]`. A key left out takes its value from [`UserDataConfig::default`].
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserDataConfig {
    /// Collect Admin user records (needs `organization_read user_read` consent).
    pub enabled: bool,
    /// An explicit cap on the user records one run reads (1..=1250); the rest comes next run.
    /// Absent (the default): a run reads the whole pass within `state.max_run_time`.
    pub max_users_per_fetch: Option<Bounded<1, 1250>>,
    /// Users asked for per request (`take`); 250 is the ceiling known to work.
    pub page_size: Bounded<1, 250>,
    /// How far before the last complete window a changed-users query starts.
    pub modified_overlap: HumanDuration,
    /// How often to re-read every user instead of only the changed ones (catches what the
    /// changed-only filter cannot, such as removed memberships).
    pub full_snapshot_every: HumanDuration,
}

impl Default for UserDataConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_users_per_fetch: None,
            page_size: Bounded::of::<250>(),
            modified_overlap: HumanDuration::secs::<3600>(),
            full_snapshot_every: HumanDuration::secs::<{ 7 * 86_400 }>(),
        }
    }
}
