//! Building a reqwest client, the same way for every HTTP client the collector has (the
//! DocuSign client, each http sink): timeouts, redirects, the proxy and its exceptions, and
//! trust roots and a client certificate read by `tls.rs`.

use std::path::Path;
use std::time::Duration;

use reqwest::Client;
use tracing::warn;

use super::tls::{self, ClientIdentity};
use crate::values::{ConfigError, HttpUrl};

/// What one client is built from, gathered by its owner from wherever its config keeps the
/// keys. Errors name `<table>.proxy`, `<table>.ca_file`, `<table>.cert_file`, `<table>.key_file`.
#[derive(Debug, Clone, Copy)]
pub struct ClientSettings<'a> {
    /// The config table holding the keys, e.g. `docusign` or `sinks.http[0]`.
    pub table: &'a str,
    /// The whole request, from connecting to the end of the reply.
    pub timeout: Duration,
    /// The TCP (and proxy) connection alone.
    pub connect_timeout: Duration,
    /// Follow redirects (reqwest's default of up to 10). A sink must not: reqwest turns a
    /// POST into a GET on 301/302, and a 2xx from that GET would confirm a page nobody got.
    pub follow_redirects: bool,
    /// A proxy for every request. Without it reqwest reads `HTTPS_PROXY`, `HTTP_PROXY`,
    /// `ALL_PROXY` and `NO_PROXY` (and their lower-case forms) itself.
    pub proxy: Option<&'a HttpUrl>,
    /// Hosts that bypass `proxy` (as in `NO_PROXY`); only with `proxy`.
    pub no_proxy: &'a [String],
    /// Extra CA certificates (PEM bundle) to trust.
    pub ca_file: Option<&'a Path>,
    /// With `ca_file`: trust only its certificates, not the built-in roots.
    pub ca_file_only: bool,
    /// A client certificate and its key, for mutual TLS.
    pub client_cert: Option<(&'a Path, &'a Path)>,
    /// Accept any server certificate (warned about at every build).
    pub insecure_skip_verify: bool,
}

#[cfg(test)]
impl ClientSettings<'static> {
    /// Settings for unit tests against a loopback host: no proxy, no TLS choices, redirects
    /// followed, a 5 s connect timeout.
    pub(crate) fn plain(table: &'static str, timeout: Duration) -> Self {
        Self {
            table,
            timeout,
            connect_timeout: Duration::from_secs(5),
            follow_redirects: true,
            proxy: None,
            no_proxy: &[],
            ca_file: None,
            ca_file_only: false,
            client_cert: None,
            insecure_skip_verify: false,
        }
    }
}

/// Builds the client. `.no_proxy()` is never called, so the proxy variables apply when no
/// `proxy` is set.
///
/// # Errors
/// `ConfigError::Invalid` naming the key whose proxy URL or file is unusable.
pub fn build_client(s: &ClientSettings<'_>) -> Result<Client, ConfigError> {
    build(s, true)
}

/// The same client as [`build_client`], but one that never follows a redirect (its caller
/// reads a 3xx itself), and without repeating the build's warnings.
///
/// # Errors
/// As [`build_client`].
pub fn build_client_without_redirects(s: &ClientSettings<'_>) -> Result<Client, ConfigError> {
    build(&ClientSettings { follow_redirects: false, ..*s }, false)
}

fn build(s: &ClientSettings<'_>, warn_once: bool) -> Result<Client, ConfigError> {
    let key = |k: &str| format!("{}.{k}", s.table);
    let mut b = Client::builder()
        .timeout(s.timeout)
        .connect_timeout(s.connect_timeout)
        .user_agent(concat!("esign-collector/", env!("CARGO_PKG_VERSION")));
    if !s.follow_redirects {
        b = b.redirect(reqwest::redirect::Policy::none());
    }
    if let Some(p) = s.proxy {
        // reqwest's message can quote the URL, and the URL can hold credentials: say only
        // what kind of problem it is.
        let mut proxy = reqwest::Proxy::all(p.0.as_str())
            .map_err(|_| ConfigError::invalid(key("proxy"), "is not a usable proxy URL (http://host:port)"))?;
        if !s.no_proxy.is_empty() {
            proxy = proxy.no_proxy(reqwest::NoProxy::from_string(&s.no_proxy.join(",")));
        }
        b = b.proxy(proxy);
    }
    if let Some(ca) = s.ca_file {
        for der in tls::ca_certificates(&key("ca_file"), ca)? {
            let cert = reqwest::Certificate::from_der(&der)
                .map_err(|e| ConfigError::invalid(key("ca_file"), format!("{}: {e}", ca.display())))?;
            b = b.add_root_certificate(cert);
        }
        if s.ca_file_only {
            b = b.tls_built_in_root_certs(false);
        }
    }
    if let Some((cert, private)) = s.client_cert {
        let id = ClientIdentity::read(s.table, cert, private)?.reqwest().map_err(|e| {
            ConfigError::invalid(
                key("cert_file"),
                format!("{} with {} is not a usable certificate and key: {e}", cert.display(), private.display()),
            )
        })?;
        b = b.identity(id);
    }
    if s.insecure_skip_verify && warn_once {
        warn!(
            key = %key("insecure_skip_verify"),
            "TLS certificate verification is OFF (insecure_skip_verify = true): anyone on the path can read credentials, tokens and events."
        );
    }
    if s.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| ConfigError::invalid(s.table, format!("cannot build the HTTP client: {e}")))
}
