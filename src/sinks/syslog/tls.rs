//! TLS client settings for `transport = "tls"` (RFC 5425): trust anchors from `ca_file` or
//! the built-in Mozilla roots, an optional client certificate for mutual TLS, and the name
//! the receiver's certificate must carry. Read once, when the sink is built.

use std::sync::Arc;

use rustls::client::Resumption;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::config::SyslogSinkConfig;
use crate::http::tls::{self, ClientIdentity};
use crate::values::ConfigError;

/// What a TLS connection needs.
#[derive(Clone)]
pub(super) struct TlsSettings {
    /// The rustls client.
    pub(super) connector: TlsConnector,
    /// The name checked against the receiver's certificate.
    pub(super) server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

fn invalid(name: &str, key: &str, message: String) -> ConfigError {
    ConfigError::Invalid { key: format!("sinks.{name}.{key}"), message }
}

/// Builds the TLS client from the config's files (read by `crate::http::tls`, as every
/// client's are).
///
/// # Errors
/// `ConfigError::Invalid` naming the key whose file is unreadable or unusable.
pub(super) fn settings(name: &str, cfg: &SyslogSinkConfig) -> Result<TlsSettings, ConfigError> {
    let table = format!("sinks.{name}");
    let mut roots = RootCertStore::empty();
    match &cfg.ca_file {
        // The receiver's own CA replaces the public roots: syslog receivers are private.
        Some(path) => {
            for cert in tls::ca_certificates(&format!("{table}.ca_file"), path)? {
                roots.add(cert).map_err(|e| invalid(name, "ca_file", format!("{}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(name, "transport", format!("TLS is unavailable: {e}")))?
        .with_root_certificates(roots);
    let mut config = match tls::client_cert(&table, cfg.cert_file.as_deref(), cfg.key_file.as_deref())? {
        Some((cert, key)) => {
            let (chain, private) = ClientIdentity::read(&table, cert, key)?.parts();
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| invalid(name, "key_file", format!("does not match cert_file: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    // Every page opens fresh connections; resuming a session saves little and rsyslog's ossl
    // driver refuses resumption under x509 client auth ("session id context uninitialized",
    // a fatal alert on every connection after the first).
    config.resumption = Resumption::disabled();
    let host = cfg.server_name.clone().unwrap_or_else(|| cfg.address.host.clone());
    let key = if cfg.server_name.is_some() { "server_name" } else { "address" };
    let server_name = ServerName::try_from(host.clone())
        .map_err(|e| invalid(name, key, format!("{host:?} is not a DNS name or IP address for TLS: {e}")))?;
    Ok(TlsSettings { connector: TlsConnector::from(Arc::new(config)), server_name })
}
