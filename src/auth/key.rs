//! The app's RSA private key: read from a file (refused when group/other can read it), a
//! systemd credential (`$CREDENTIALS_DIRECTORY/NAME`, the same checks as a file) or an
//! environment variable, repaired when a secret store flattened its newlines, validated: a
//! key of another algorithm (EC, Ed25519, …) is named as such, and an RSA key under
//! [`MIN_RSA_BITS`] is refused before anything is signed with it.

use std::path::Path;

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::AuthError;

/// A validated private key. Its `Debug` prints nothing of the key, and the key material is
/// zeroized when it is dropped (`rsa`'s keys are `ZeroizeOnDrop`).
pub struct PrivateKey {
    signing: SigningKey<Sha256>,
    public_pem: String,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

fn bad(origin: &str, what: &str) -> AuthError {
    AuthError::Key(format!("{origin}: {what}"))
}

/// The smallest RSA modulus accepted. DocuSign generates 2048-bit keys, and NIST retired
/// 1024-bit RSA for signatures; a smaller key is refused rather than signed and sent.
pub const MIN_RSA_BITS: usize = 2048;

const NEEDS_RSA: &str =
    "DocuSign needs an RSA key (generate an RSA key pair on the app's page in Apps and Keys and save its private key)";

/// What a key file of another kind holds, from its PEM label; `None` for the labels of RSA
/// private keys and of things that are no private key at all.
fn other_kind_by_label(label: &str) -> Option<String> {
    match label {
        "EC PRIVATE KEY" => Some(format!("holds an EC key: {NEEDS_RSA}")),
        "DSA PRIVATE KEY" => Some(format!("holds a DSA key: {NEEDS_RSA}")),
        "OPENSSH PRIVATE KEY" => Some(
            "holds a key in OpenSSH's own format: DocuSign needs an RSA key in PEM (PKCS#1 or PKCS#8); \
             if it is an RSA key, convert a copy with `ssh-keygen -p -m PEM -f COPY`"
                .to_owned(),
        ),
        _ => None,
    }
}

/// What a PKCS#8 `PRIVATE KEY` holds when its algorithm is not RSA; `None` for RSA and for a
/// body that does not parse (the RSA parser then says why).
fn other_kind_in_pkcs8(pem: &str) -> Option<String> {
    let (_, doc) = rsa::pkcs8::SecretDocument::from_pem(pem).ok()?;
    let info = rsa::pkcs8::PrivateKeyInfo::try_from(doc.as_bytes()).ok()?;
    let oid = info.algorithm.oid.to_string();
    let kind = match oid.as_str() {
        "1.2.840.113549.1.1.1" => return None,
        "1.2.840.10045.2.1" => "an EC key",
        "1.3.101.112" => "an Ed25519 key",
        "1.3.101.113" => "an Ed448 key",
        "1.3.101.110" | "1.3.101.111" => "an X25519 or X448 key (for key agreement, not signatures)",
        "1.2.840.10040.4.1" => "a DSA key",
        "1.2.840.113549.1.1.10" => "an RSA key restricted to RSA-PSS (DocuSign signs with RS256)",
        _ => return Some(format!("holds a key of algorithm {oid}, not RSA: {NEEDS_RSA}")),
    };
    Some(format!("holds {kind}: {NEEDS_RSA}"))
}

/// Why bytes read from a key file are not PEM text.
fn not_text(bytes: &[u8]) -> String {
    // A DER key (what `openssl … -outform DER` writes) is an ASN.1 SEQUENCE: byte 0x30.
    if bytes.first() == Some(&0x30) {
        "is not a PEM text file: it holds binary data, probably a DER-encoded key; convert it \
         with `openssl pkey -inform DER -in FILE -out key.pem`"
            .to_owned()
    } else {
        "is not a PEM text file: it holds binary data, not a -----BEGIN … PRIVATE KEY----- block".to_owned()
    }
}

impl PrivateKey {
    /// Reads a PEM key file.
    ///
    /// # Errors
    /// `AuthError::Key` when the file is missing, readable by group or others, encrypted or
    /// not an RSA private key.
    pub fn from_file(path: &Path) -> Result<Self, AuthError> {
        Self::from_path(path, &format!("private key file {}", path.display()))
    }

    /// Reads the systemd credential `name` (`LoadCredential=NAME:PATH` in the unit): the file
    /// `$CREDENTIALS_DIRECTORY/NAME`, with the same checks as [`PrivateKey::from_file`].
    ///
    /// # Errors
    /// `AuthError::Key` when `CREDENTIALS_DIRECTORY` is unset (not started by systemd with a
    /// credential), the credential is missing, or the file is not a usable key.
    pub fn from_credential(name: &str) -> Result<Self, AuthError> {
        Self::from_credential_in(std::env::var_os("CREDENTIALS_DIRECTORY").as_deref().map(Path::new), name)
    }

    fn from_credential_in(dir: Option<&Path>, name: &str) -> Result<Self, AuthError> {
        let origin = format!("systemd credential {name}");
        let hint = format!("add LoadCredential={name}:/etc/esign-collector/private.pem to the unit");
        let dir = dir.filter(|d| !d.as_os_str().is_empty()).ok_or_else(|| {
            bad(
                &origin,
                &format!(
                    "CREDENTIALS_DIRECTORY is not set: the service was not started by systemd with credentials; {hint}"
                ),
            )
        })?;
        let path = dir.join(name);
        if !path.exists() {
            return Err(bad(&origin, &format!("is not in {}: {hint}", dir.display())));
        }
        Self::from_path(&path, &format!("{origin} ({})", path.display()))
    }

    fn from_path(path: &Path, origin: &str) -> Result<Self, AuthError> {
        let origin = origin.to_owned();
        let meta = std::fs::metadata(path).map_err(|e| bad(&origin, &format!("cannot read it: {e}")))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(bad(
                    &origin,
                    &format!("is accessible by group or others (mode {mode:03o}); run `chmod 600 {}`", path.display()),
                ));
            }
        }
        if !meta.is_file() {
            return Err(bad(&origin, "is not a regular file"));
        }
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| bad(&origin, &format!("cannot read it: {e}")))?);
        match std::str::from_utf8(&bytes) {
            Ok(text) if !text.contains('\0') => Self::from_pem(text, &origin),
            _ => Err(bad(&origin, &not_text(&bytes))),
        }
    }

    /// Reads the PEM from an environment variable.
    ///
    /// # Errors
    /// `AuthError::Key` when the variable is unset or not a usable key.
    pub fn from_env(var: &str) -> Result<Self, AuthError> {
        let origin = format!("environment variable {var}");
        let text = Zeroizing::new(std::env::var(var).map_err(|e| match e {
            std::env::VarError::NotPresent => bad(&origin, "is not set"),
            std::env::VarError::NotUnicode(_) => bad(&origin, "is not a PEM text: it is not UTF-8"),
        })?);
        Self::from_pem(&text, &origin)
    }

    /// Parses a PEM (PKCS#1 or PKCS#8), repairing flattened newlines first.
    ///
    /// # Errors
    /// `AuthError::Key` naming `origin`: no PEM, encrypted, another algorithm than RSA
    /// (named), malformed, or an RSA key under [`MIN_RSA_BITS`].
    pub fn from_pem(text: &str, origin: &str) -> Result<Self, AuthError> {
        let pem = repair_pem(text).ok_or_else(|| bad(origin, "holds no PEM block (-----BEGIN … PRIVATE KEY-----)"))?;
        if pem.contains("ENCRYPTED") || pem.contains("Proc-Type:") {
            return Err(bad(
                origin,
                "is encrypted with a passphrase; store it decrypted (`openssl pkey -in enc.pem -out key.pem`) and protect the file instead",
            ));
        }
        let key = if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
            rsa::RsaPrivateKey::from_pkcs1_pem(&pem)
                .map_err(|e| bad(origin, &format!("is not a valid PKCS#1 RSA key: {e}")))?
        } else if pem.starts_with("-----BEGIN PRIVATE KEY-----") {
            if let Some(why) = other_kind_in_pkcs8(&pem) {
                return Err(bad(origin, &why));
            }
            rsa::RsaPrivateKey::from_pkcs8_pem(&pem)
                .map_err(|e| bad(origin, &format!("is not a valid PKCS#8 RSA key: {e}")))?
        } else {
            let label = pem.lines().next().unwrap_or_default().trim_matches('-').trim_start_matches("BEGIN ");
            let why = other_kind_by_label(label).unwrap_or_else(|| format!("holds a {label}, not an RSA private key"));
            return Err(bad(origin, &why));
        };
        let bits = rsa::traits::PublicKeyParts::n(&key).bits();
        if bits < MIN_RSA_BITS {
            return Err(bad(
                origin,
                &format!(
                    "holds a {bits}-bit RSA key: DocuSign needs at least {MIN_RSA_BITS} bits; generate a new RSA \
                     key pair on the app's page in Apps and Keys (and remove this one there)"
                ),
            ));
        }
        Self::from_rsa(&key).map_err(|e| bad(origin, &e))
    }

    /// Wraps an RSA key (used by the demo environment, which generates one).
    ///
    /// # Errors
    /// A message when the key cannot be encoded.
    pub fn from_rsa(key: &rsa::RsaPrivateKey) -> Result<Self, String> {
        use rsa::pkcs8::EncodePublicKey;
        let public_pem =
            key.to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).map_err(|e| e.to_string())?;
        Ok(Self { signing: SigningKey::<Sha256>::new(key.clone()), public_pem })
    }

    /// The RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signing key.
    pub(crate) fn signing(&self) -> &SigningKey<Sha256> {
        &self.signing
    }

    /// The public half, PEM (SPKI).
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }
}

/// Rebuilds a PEM whose newlines were lost (spaces instead, or literal `\n`), keeping the
/// first block only. `None` when there is no block.
fn repair_pem(text: &str) -> Option<Zeroizing<String>> {
    let text = Zeroizing::new(text.replace("\\n", "\n").replace('\r', ""));
    let begin = text.find("-----BEGIN ")?;
    let head_end = begin + 11 + text[begin + 11..].find("-----")? + 5;
    let end = head_end + text[head_end..].find("-----END ")?;
    let foot_end = end + 9 + text[end + 9..].find("-----")? + 5;
    let header = &text[begin..head_end];
    let footer = &text[end..foot_end];
    let body = &text[head_end..end];
    let mut out = Zeroizing::new(String::with_capacity(body.len() + 128));
    out.push_str(header);
    out.push('\n');
    // Encrypted PKCS#1 keys carry "Proc-Type:" header lines: keep them visible for the check.
    if body.contains("Proc-Type:") {
        out.push_str("Proc-Type:\n");
    }
    let b64: Zeroizing<String> = Zeroizing::new(body.chars().filter(|c| !c.is_whitespace()).collect());
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).ok()?);
        out.push('\n');
    }
    out.push_str(footer);
    out.push('\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::EncodePrivateKey;

    fn key() -> rsa::RsaPrivateKey {
        rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap()
    }

    #[test]
    fn pkcs1_pkcs8_and_flattened_are_accepted() {
        let k = key();
        let p1 = k.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let p8 = k.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        assert!(PrivateKey::from_pem(&p1, "t").is_ok());
        assert!(PrivateKey::from_pem(&p8, "t").is_ok());
        let flat = p8.replace('\n', " ");
        assert!(PrivateKey::from_pem(&flat, "t").is_ok());
        let escaped = p1.replace('\n', "\\n");
        let a = PrivateKey::from_pem(&escaped, "t").unwrap();
        let b = PrivateKey::from_pem(&p1, "t").unwrap();
        assert_eq!(a.public_pem(), b.public_pem());
    }

    #[test]
    fn wrong_inputs_say_why() {
        let e = PrivateKey::from_pem("hello", "x").unwrap_err().to_string();
        assert!(e.contains("no PEM block"), "{e}");
        let e = PrivateKey::from_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "x",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("encrypted"), "{e}");
        let pubk = key().to_public_key();
        let pem = rsa::pkcs8::EncodePublicKey::to_public_key_pem(&pubk, rsa::pkcs8::LineEnding::LF).unwrap();
        let e = PrivateKey::from_pem(&pem, "x").unwrap_err().to_string();
        assert!(e.contains("PUBLIC KEY"), "{e}");
        let e = PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid PKCS#8"), "{e}");
    }

    /// A PKCS#8 structure with `oid` as its algorithm and junk as the key: enough to be
    /// recognised, no real key material.
    fn pkcs8_of(oid: &str) -> String {
        use rsa::pkcs8::der::Encode;
        let info = rsa::pkcs8::PrivateKeyInfo::new(
            rsa::pkcs8::AlgorithmIdentifierRef { oid: rsa::pkcs8::ObjectIdentifier::new_unwrap(oid), parameters: None },
            &[4, 2, 0, 0],
        );
        let der = info.to_der().unwrap();
        rsa::pkcs8::der::pem::encode_string("PRIVATE KEY", rsa::pkcs8::LineEnding::LF, &der).unwrap()
    }

    #[test]
    fn other_algorithms_are_named() {
        for (oid, says) in [
            ("1.2.840.10045.2.1", "holds an EC key: DocuSign needs an RSA key"),
            ("1.3.101.112", "holds an Ed25519 key: DocuSign needs an RSA key"),
            ("1.2.840.10040.4.1", "holds a DSA key: DocuSign needs an RSA key"),
            ("1.2.3.4", "holds a key of algorithm 1.2.3.4, not RSA"),
        ] {
            let e = PrivateKey::from_pem(&pkcs8_of(oid), "k").unwrap_err().to_string();
            assert!(e.starts_with("k: ") && e.contains(says), "{oid}: {e}");
            assert!(!e.contains("1.2.840.113549.1.1.1"), "{e}");
        }
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n";
        let e = PrivateKey::from_pem(sec1, "k").unwrap_err().to_string();
        assert!(e.contains("holds an EC key: DocuSign needs an RSA key"), "{e}");
        let ssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----\n";
        let e = PrivateKey::from_pem(ssh, "k").unwrap_err().to_string();
        assert!(e.contains("ssh-keygen -p -m PEM"), "{e}");
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_refused() {
        let small = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
        for pem in [
            small.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap(),
            small.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap(),
        ] {
            let e = PrivateKey::from_pem(&pem, "k").unwrap_err();
            assert_eq!(e.exit_code(), crate::exit::Exit::Config);
            let e = e.to_string();
            assert!(e.contains("holds a 1024-bit RSA key: DocuSign needs at least 2048 bits"), "{e}");
        }
    }

    #[test]
    fn binary_files_are_not_pem_text() {
        let (_dir, p) = crate::testkit::scratch("k.der");
        let der = key().to_pkcs8_der().unwrap();
        std::fs::write(&p, der.as_bytes()).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let e = PrivateKey::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("is not a PEM text file") && e.contains("-inform DER"), "{e}");
        std::fs::write(&p, [0xff, 0xfe, 0x41, 0x00]).unwrap();
        let e = PrivateKey::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("is not a PEM text file") && !e.contains("UTF-8"), "{e}");
        // Valid UTF-8 with a NUL is binary too.
        std::fs::write(&p, b"ab\0cd").unwrap();
        let e = PrivateKey::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("is not a PEM text file"), "{e}");
    }

    /// A PEM key file named `name` with `mode`, in a fresh folder.
    fn key_file(name: &str, mode: u32) -> (tempfile::TempDir, std::path::PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let (dir, p) = crate::testkit::scratch(name);
        std::fs::write(&p, key().to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap().as_bytes()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, p)
    }

    #[test]
    fn loose_file_mode_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, p) = key_file("k.pem", 0o644);
        let e = PrivateKey::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(PrivateKey::from_file(&p).is_ok());
        let e = PrivateKey::from_file(&dir.path().join("missing.pem")).unwrap_err().to_string();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn credential_reads_the_named_file_with_the_file_checks() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, p) = key_file("docusign-key", 0o400);
        assert!(PrivateKey::from_credential_in(Some(dir.path()), "docusign-key").is_ok());
        let e = PrivateKey::from_credential_in(None, "docusign-key").unwrap_err().to_string();
        assert!(e.contains("CREDENTIALS_DIRECTORY is not set") && e.contains("LoadCredential=docusign-key:"), "{e}");
        let e = PrivateKey::from_credential_in(Some(dir.path()), "other").unwrap_err().to_string();
        assert!(e.contains("systemd credential other: is not in") && e.contains("LoadCredential=other:"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o440)).unwrap();
        let e = PrivateKey::from_credential_in(Some(dir.path()), "docusign-key").unwrap_err().to_string();
        assert!(e.contains("accessible by group or others"), "{e}");
    }
}
