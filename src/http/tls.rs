//! The one reader of TLS files: CA bundles to trust and client certificates for mutual TLS,
//! for every client the collector builds (the DocuSign client, the http sink through
//! reqwest, the syslog sink through rustls directly). Each file is checked when read, so a
//! bad one is named with its config key at start instead of failing later as an anonymous
//! handshake or client-builder error.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tracing::warn;
use zeroize::Zeroizing;

use crate::values::ConfigError;

/// The crypto provider of every TLS client (reqwest's rustls uses ring as well).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The CA certificates of the PEM bundle at `path`, each checked as a usable trust anchor.
///
/// # Errors
/// `ConfigError::Invalid` naming `key` (e.g. `docusign.ca_file`) when the file cannot be
/// read, is not PEM, holds a certificate that is no usable CA, or holds no certificate.
pub fn ca_certificates(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bad = |message: String| ConfigError::invalid(key, message);
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    let mut certs = Vec::new();
    for der in CertificateDer::pem_slice_iter(&pem) {
        let der = der.map_err(|e| bad(format!("{} is not a PEM certificate bundle: {e}", path.display())))?;
        RootCertStore::empty()
            .add(der.clone())
            .map_err(|e| bad(format!("{} holds a certificate that is not a usable CA: {e}", path.display())))?;
        certs.push(der);
    }
    if certs.is_empty() {
        return Err(bad(format!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())));
    }
    Ok(certs)
}

/// The client certificate and key files of `table` (`<table>.cert_file`, `<table>.key_file`),
/// which come as a pair: both, for mutual TLS, or neither.
///
/// # Errors
/// `ConfigError::Invalid` naming the one that is missing.
pub fn client_cert<'a>(
    table: &str,
    cert: Option<&'a Path>,
    key: Option<&'a Path>,
) -> Result<Option<(&'a Path, &'a Path)>, ConfigError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::invalid(format!("{table}.key_file"), "is required when cert_file is set")),
        (None, Some(_)) => Err(ConfigError::invalid(format!("{table}.cert_file"), "is required when key_file is set")),
    }
}

/// A client certificate chain and its private key, read and checked to belong together.
/// `Debug` shows neither.
pub struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// Both files as PEM, for reqwest's `Identity::from_pem`; wiped when dropped.
    pem: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity").field("certificates", &self.chain.len()).finish_non_exhaustive()
    }
}

impl ClientIdentity {
    /// Reads the chain from `cert` and the key from `key`; errors name `<table>.cert_file`
    /// or `<table>.key_file`. A key file that group or others can read is warned about.
    ///
    /// # Errors
    /// `ConfigError::Invalid` when a file cannot be read, holds no usable PEM, or the key
    /// does not match the certificate.
    pub fn read(table: &str, cert: &Path, key: &Path) -> Result<Self, ConfigError> {
        let (cert_key, key_key) = (format!("{table}.cert_file"), format!("{table}.key_file"));
        let bad_cert = |message: String| ConfigError::invalid(&cert_key, message);
        let bad_key = |message: String| ConfigError::invalid(&key_key, message);
        let mut pem =
            Zeroizing::new(std::fs::read(cert).map_err(|e| bad_cert(format!("cannot read {}: {e}", cert.display())))?);
        let chain = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad_cert(format!("{} is not a usable certificate: {e}", cert.display())))?;
        if chain.is_empty() {
            return Err(bad_cert(format!(
                "{} is not a usable certificate: it holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                cert.display()
            )));
        }
        let meta = std::fs::metadata(key).map_err(|e| bad_key(format!("cannot read {}: {e}", key.display())))?;
        warn_if_shared(&key_key, key, &meta);
        let key_pem =
            Zeroizing::new(std::fs::read(key).map_err(|e| bad_key(format!("cannot read {}: {e}", key.display())))?);
        let private = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| bad_key(format!("{} holds no usable PEM private key: {e}", key.display())))?;
        CertifiedKey::from_der(chain.clone(), private.clone_key(), &provider())
            .map_err(|e| bad_key(format!("does not match cert_file {}: {e}", cert.display())))?;
        pem.push(b'\n');
        pem.extend_from_slice(&key_pem);
        Ok(Self { chain, key: private, pem })
    }

    /// The chain and key, for a rustls client.
    pub fn parts(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (self.chain.clone(), self.key.clone_key())
    }

    /// The identity as reqwest takes it.
    ///
    /// # Errors
    /// reqwest's error, which [`ClientIdentity::read`] has already ruled out.
    pub fn reqwest(&self) -> reqwest::Result<reqwest::Identity> {
        reqwest::Identity::from_pem(&self.pem)
    }
}

/// A secret file others can read is worth a warning, not a refusal: container secret mounts
/// (Docker 0444, Kubernetes 0644 by default) cannot be chmodded by the service, and these
/// files usually only let the collector write to a SIEM, unlike the DocuSign signing key.
/// `key` is the config key naming the file.
pub fn warn_if_shared(key: &str, path: &Path, meta: &std::fs::Metadata) {
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        warn!(
            key,
            path = %path.display(),
            mode = format!("{mode:03o}"),
            "A credential file is readable by group or others; restrict it with chmod 600 where you can."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_files_are_named_by_key() {
        let (dir, junk) = crate::testkit::scratch_with("junk.pem", "not a pem");
        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let e = |r: Result<Vec<CertificateDer<'static>>, ConfigError>| r.unwrap_err().to_string();
        let missing = e(ca_certificates("t.ca_file", &dir.path().join("none.pem")));
        assert!(missing.contains("`t.ca_file`") && missing.contains("cannot read"), "{missing}");
        assert!(e(ca_certificates("t.ca_file", &junk)).contains("holds no PEM certificate"));
        assert!(e(ca_certificates("t.ca_file", &broken)).contains("not a usable CA"));
        let id = ClientIdentity::read("t", &junk, &junk).unwrap_err().to_string();
        assert!(id.contains("`t.cert_file`") && id.contains("not a usable certificate"), "{id}");
    }
}
