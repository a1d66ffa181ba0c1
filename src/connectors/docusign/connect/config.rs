//! `[receivers.connect]`: where the DocuSign Connect listener binds, how it verifies a message
//! (HMAC keys, optional Basic auth), its limits and its optional TLS; and reading its secrets
//! when `run` starts (never at parse time, never logged, never in `Debug`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::values::{Bounded, ConfigError, HumanDuration};

/// The table's name in error messages.
const TABLE: &str = "receivers.connect";

/// `[receivers.connect]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectConfig {
    /// The socket address to listen on, e.g. `"0.0.0.0:8443"` (or a loopback address behind
    /// a reverse proxy). One listener serves every tenant: messages are routed by
    /// `data.accountId`.
    pub listen: SocketAddr,
    /// The URL path Connect posts to (the configuration's `urlToPublishTo` ends with it).
    #[serde(default = "default_path")]
    pub path: String,
    /// Environment variables holding the Connect HMAC keys (several during a rotation: a
    /// message passes when any `X-DocuSign-Signature-N` matches any key). Unset or empty
    /// ones are skipped.
    #[serde(default)]
    pub hmac_keys_env: Vec<String>,
    /// Files holding one HMAC key each (the whole file, surrounding whitespace trimmed); each
    /// must not be readable by group or others.
    #[serde(default)]
    pub hmac_keys_file: Vec<PathBuf>,
    /// systemd credentials (`LoadCredential=NAME:PATH`) holding one HMAC key each: the files
    /// `$CREDENTIALS_DIRECTORY/NAME`.
    #[serde(default)]
    pub hmac_keys_credential: Vec<String>,
    /// The user name Connect's Basic authentication sends (the configuration's `userName`);
    /// set with `basic_auth_password_env` to require it as well as the HMAC signature.
    #[serde(default)]
    pub basic_auth_user: Option<String>,
    /// The environment variable holding the Basic authentication password.
    #[serde(default)]
    pub basic_auth_password_env: Option<String>,
    /// Largest body accepted, in bytes (larger: 413). The default, 4 MiB, holds any message
    /// without documents; configurations that include documents need more.
    #[serde(default = "default_max_body")]
    pub max_body: Bounded<1024, 268_435_456>,
    /// Longest a client may take to send the request headers, and then the body (and a TLS
    /// handshake): a stalled or trickling client is cut off after it.
    #[serde(default = "HumanDuration::secs::<30>")]
    pub read_timeout: HumanDuration,
    /// Most messages waiting for the sinks; past it Connect is answered 503 and retries later.
    #[serde(default = "default_inbox_capacity")]
    pub inbox_capacity: Bounded<100, 10_000_000>,
    /// The server certificate chain (PEM), to terminate TLS here for direct exposure. Without
    /// it the listener speaks plain HTTP: put it behind a TLS proxy.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of `tls_cert_file`.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
}

// By hand: names of variables and files only; the keys themselves are never in the config.
impl std::fmt::Debug for ConnectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectConfig")
            .field("listen", &self.listen)
            .field("path", &self.path)
            .field("hmac_keys_env", &self.hmac_keys_env)
            .field("hmac_keys_file", &self.hmac_keys_file)
            .field("hmac_keys_credential", &self.hmac_keys_credential)
            .field("basic_auth_user", &self.basic_auth_user)
            .field("basic_auth_password_env", &self.basic_auth_password_env)
            .field("max_body", &self.max_body)
            .field("tls_cert_file", &self.tls_cert_file)
            .finish_non_exhaustive()
    }
}

fn default_path() -> String {
    "/connect".to_owned()
}

fn default_max_body() -> Bounded<1024, 268_435_456> {
    Bounded::of::<{ 4 * 1024 * 1024 }>()
}

fn default_inbox_capacity() -> Bounded<100, 10_000_000> {
    Bounded::of::<100_000>()
}

/// The secrets a Connect receiver checks, read when `run` starts.
pub struct Secrets {
    /// Every HMAC key found, in configuration order (variables, files, credentials).
    pub hmac_keys: Vec<SecretString>,
    /// Basic authentication's user and password, when required.
    pub basic_auth: Option<(String, SecretString)>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("hmac_keys", &self.hmac_keys.len())
            .field("basic_auth", &self.basic_auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl ConnectConfig {
    /// The checks of the table alone. Pure: reads no variable or file.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.hmac_keys_env.is_empty() && self.hmac_keys_file.is_empty() && self.hmac_keys_credential.is_empty() {
            return Err(ConfigError::invalid(
                format!("{TABLE}.hmac_keys_env"),
                "is required (or hmac_keys_file, or hmac_keys_credential): Connect messages are accepted only with a valid HMAC signature",
            ));
        }
        if let Some(name) = self.hmac_keys_credential.iter().find(|n| !super::super::config::is_credential_name(n)) {
            return Err(ConfigError::invalid(
                format!("{TABLE}.hmac_keys_credential"),
                format!("{name:?} must be a plain file name: the NAME of LoadCredential=NAME:PATH, not a path"),
            ));
        }
        if self.basic_auth_user.is_some() != self.basic_auth_password_env.is_some() {
            return Err(ConfigError::invalid(
                format!("{TABLE}.basic_auth_user"),
                "and basic_auth_password_env go together: set both to require Basic authentication, or neither",
            ));
        }
        if self.basic_auth_user.as_deref().is_some_and(|u| u.is_empty() || u.contains(':')) {
            return Err(ConfigError::invalid(
                format!("{TABLE}.basic_auth_user"),
                "must be non-empty and without ':' (Basic authentication cannot carry it)",
            ));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(ConfigError::invalid(
                format!("{TABLE}.tls_cert_file"),
                "and tls_key_file go together: set both to terminate TLS here, or neither",
            ));
        }
        if !crate::core::push::literal_path(&self.path) {
            return Err(ConfigError::invalid(
                format!("{TABLE}.path"),
                format!(
                    "{:?} must start with '/' and use only letters, digits, '-', '.', '_' and '~' between single slashes",
                    self.path
                ),
            ));
        }
        self.read_timeout.require_nonzero(format!("{TABLE}.read_timeout"))
    }

    /// Joins relative paths onto `folder` (the config file's).
    pub fn resolve_paths(&mut self, folder: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = folder.join(&*p);
            }
        };
        self.hmac_keys_file.iter_mut().for_each(join);
        self.tls_cert_file.iter_mut().for_each(join);
        self.tls_key_file.iter_mut().for_each(join);
    }

    /// Reads the HMAC keys and the Basic authentication password.
    ///
    /// # Errors
    /// `ConfigError::Invalid` when no key is found (every variable unset, no file or
    /// credential), a key file or credential cannot be read or is readable by others, or the
    /// password variable is unset.
    pub fn secrets(&self) -> Result<Secrets, ConfigError> {
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        self.secrets_from(|name| std::env::var(name).ok(), credentials.as_deref())
    }

    fn secrets_from(
        &self,
        env: impl Fn(&str) -> Option<String>,
        credentials: Option<&Path>,
    ) -> Result<Secrets, ConfigError> {
        let mut hmac_keys = Vec::new();
        for name in &self.hmac_keys_env {
            if let Some(v) = env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
                hmac_keys.push(SecretString::from(v));
            }
        }
        for path in &self.hmac_keys_file {
            hmac_keys.push(read_key(&format!("{TABLE}.hmac_keys_file"), path)?);
        }
        for name in &self.hmac_keys_credential {
            let key = format!("{TABLE}.hmac_keys_credential");
            let dir = credentials.filter(|d| !d.as_os_str().is_empty()).ok_or_else(|| {
                ConfigError::invalid(
                    &key,
                    format!(
                        "CREDENTIALS_DIRECTORY is not set: the service was not started by systemd with credentials; add LoadCredential={name}:/etc/esign-collector/{name} to the unit"
                    ),
                )
            })?;
            hmac_keys.push(read_key(&key, &dir.join(name))?);
        }
        if hmac_keys.is_empty() {
            return Err(ConfigError::invalid(
                format!("{TABLE}.hmac_keys_env"),
                format!(
                    "none of {} is set (or empty), and no hmac_keys_file or hmac_keys_credential is configured: the receiver would accept nothing",
                    self.hmac_keys_env.join(", ")
                ),
            ));
        }
        let basic_auth = match (&self.basic_auth_user, &self.basic_auth_password_env) {
            (Some(user), Some(var)) => {
                let password = env(var).filter(|p| !p.is_empty()).ok_or_else(|| {
                    ConfigError::invalid(
                        format!("{TABLE}.basic_auth_password_env"),
                        format!("names {var}, which is not set (or empty)"),
                    )
                })?;
                Some((user.clone(), SecretString::from(password)))
            }
            _ => None,
        };
        Ok(Secrets { hmac_keys, basic_auth })
    }
}

/// One key from a file (see [`crate::auth::secret_file`]).
fn read_key(key: &str, path: &Path) -> Result<SecretString, ConfigError> {
    crate::auth::secret_file(key, path)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn parse(extra: &str) -> Result<ConnectConfig, String> {
        toml::from_str(&format!("listen = \"127.0.0.1:0\"\n{extra}")).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_checks() {
        let c = parse("hmac_keys_env = [\"A\"]").unwrap();
        assert_eq!(c.path, "/connect");
        assert_eq!(c.max_body.get(), 4 * 1024 * 1024);
        c.validate().unwrap();
        let none = parse("").unwrap().validate().unwrap_err().to_string();
        assert!(none.contains("hmac_keys_env") && none.contains("required"), "{none}");
        let half = parse("hmac_keys_env = [\"A\"]\nbasic_auth_user = \"ds\"").unwrap().validate().unwrap_err();
        assert!(half.to_string().contains("basic_auth_password_env"), "{half}");
        let tls = parse("hmac_keys_env = [\"A\"]\ntls_cert_file = \"c.pem\"").unwrap().validate().unwrap_err();
        assert!(tls.to_string().contains("tls_key_file"), "{tls}");
        let path = parse("hmac_keys_env = [\"A\"]\npath = \"connect\"").unwrap().validate().unwrap_err();
        assert!(path.to_string().contains("receivers.connect.path"), "{path}");
        let cred = parse("hmac_keys_credential = [\"../k\"]").unwrap().validate().unwrap_err();
        assert!(cred.to_string().contains("plain file name"), "{cred}");
        assert!(parse("hmac_keys_env = [\"A\"]\nhmac_key = \"x\"").unwrap_err().contains("unknown field"));
    }

    #[test]
    fn unset_variables_are_skipped_and_none_set_is_an_error_that_names_them() {
        let c = parse("hmac_keys_env = [\"K1\", \"K2\", \"K3\"]").unwrap();
        let env = |n: &str| match n {
            "K2" => Some("second-key\n".to_owned()),
            "K3" => Some("third".to_owned()),
            _ => None,
        };
        let s = c.secrets_from(env, None).unwrap();
        let keys: Vec<&str> = s.hmac_keys.iter().map(ExposeSecret::expose_secret).collect();
        assert_eq!(keys, ["second-key", "third"]);
        let e = c.secrets_from(|_| None, None).unwrap_err().to_string();
        assert!(e.contains("none of K1, K2, K3 is set"), "{e}");
        assert!(!format!("{s:?}").contains("second-key"), "Debug hides the keys");
    }

    #[test]
    fn key_files_must_be_private_and_credentials_need_systemd() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k");
        std::fs::write(&f, "file-key\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut c = parse("hmac_keys_file = [\"k\"]\nhmac_keys_credential = [\"cred\"]").unwrap();
        c.resolve_paths(dir.path());
        let e = c.secrets_from(|_| None, None).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = c.secrets_from(|_| None, None).unwrap_err().to_string();
        assert!(e.contains("CREDENTIALS_DIRECTORY"), "{e}");
        std::fs::write(dir.path().join("cred"), "cred-key").unwrap();
        std::fs::set_permissions(dir.path().join("cred"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = c.secrets_from(|_| None, Some(dir.path())).unwrap();
        let keys: Vec<&str> = s.hmac_keys.iter().map(ExposeSecret::expose_secret).collect();
        assert_eq!(keys, ["file-key", "cred-key"]);
    }

    #[test]
    fn basic_auth_needs_its_password_variable() {
        let c = parse("hmac_keys_env = [\"K\"]\nbasic_auth_user = \"ds\"\nbasic_auth_password_env = \"PW\"").unwrap();
        let e = c.secrets_from(|n| (n == "K").then(|| "k".to_owned()), None).unwrap_err().to_string();
        assert!(e.contains("PW") && e.contains("not set"), "{e}");
        let s = c.secrets_from(|_| Some("v".to_owned()), None).unwrap();
        assert_eq!(s.basic_auth.as_ref().map(|(u, p)| (u.as_str(), p.expose_secret())), Some(("ds", "v")));
    }
}
