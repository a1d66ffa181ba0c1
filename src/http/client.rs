//! Building the one reqwest client that every DocuSign call (API and OAuth) goes through:
//! proxy and its exceptions, extra or exclusive trust roots, timeouts.

use reqwest::Client;
use rustls_pki_types::pem::PemObject as _;
use tracing::warn;

use crate::config::{Config, ConfigError};

fn invalid(key: &str, message: String) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), message }
}

/// The client for `[docusign]` and `[network]`.
///
/// Without `docusign.proxy`, reqwest reads `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and
/// `NO_PROXY` (and their lower-case forms) itself; `.no_proxy()` is never called.
///
/// # Errors
/// `ConfigError` when the proxy, the CA file or a `[network]` key is unusable.
pub(crate) fn build(cfg: &Config) -> Result<Client, ConfigError> {
    let d = &cfg.docusign;
    let n = &cfg.network;
    n.validate(d)?;
    let mut b = Client::builder()
        .timeout(d.timeout.get())
        .connect_timeout(n.connect_timeout(d.timeout.get()))
        .user_agent(concat!("esign-collector/", env!("CARGO_PKG_VERSION")));
    if let Some(p) = &d.proxy {
        // reqwest's message can quote the URL, and the URL can hold credentials: say only
        // what kind of problem it is.
        let mut proxy = reqwest::Proxy::all(p.0.as_str())
            .map_err(|_| invalid("docusign.proxy", "is not a usable proxy URL (http://host:port)".into()))?;
        if !n.no_proxy.is_empty() {
            proxy = proxy.no_proxy(reqwest::NoProxy::from_string(&n.no_proxy.join(",")));
        }
        b = b.proxy(proxy);
    }
    if let Some(ca) = &d.ca_file {
        let bad = |message: String| invalid("docusign.ca_file", message);
        let pem = std::fs::read(ca).map_err(|e| bad(format!("cannot read {}: {e}", ca.display())))?;
        // Each certificate is checked here, so a bad one is named with its file instead of
        // failing later as an anonymous client-builder error.
        let mut count = 0;
        for der in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            let der = der.map_err(|e| bad(format!("{} is not a PEM certificate bundle: {e}", ca.display())))?;
            rustls::RootCertStore::empty()
                .add(der.clone())
                .map_err(|e| bad(format!("{} holds a certificate that is not a usable CA: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_der(&der).map_err(|e| bad(format!("{}: {e}", ca.display())))?;
            b = b.add_root_certificate(cert);
            count += 1;
        }
        if count == 0 {
            return Err(bad(format!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", ca.display())));
        }
        if n.ca_file_only {
            b = b.tls_built_in_root_certs(false);
        }
    }
    if d.insecure_skip_verify {
        warn!(
            "TLS certificate verification is OFF (docusign.insecure_skip_verify = true): anyone on the path can read tokens and events."
        );
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| invalid("docusign", format!("cannot build the HTTP client: {e}")))
}
