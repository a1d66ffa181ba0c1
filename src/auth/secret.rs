//! A secret that is not a private key (a client secret, a webhook key) from an environment
//! variable, a file or a systemd credential: a file must be a regular, non-empty file that
//! neither group nor others can read; surrounding whitespace is trimmed.

use std::path::Path;

use secrecy::SecretString;

use crate::values::ConfigError;

/// The secret from exactly one of `env` (a variable name), `file` or `credential` (a systemd
/// credential name), blaming the config key `key` (`key` + `_env`, `_file`, `_credential`).
///
/// # Errors
/// `ConfigError::Invalid` when the variable is unset or empty, the file or credential cannot
/// be read, is readable by others or is empty, or none of the three is set.
pub fn read_secret(
    key: &str,
    env: Option<&str>,
    file: Option<&Path>,
    credential: Option<&str>,
) -> Result<SecretString, ConfigError> {
    if let Some(var) = env {
        let v = std::env::var(var).unwrap_or_default();
        if v.trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}_env"),
                format!("names {var}, which is not set (or empty)"),
            ));
        }
        return Ok(SecretString::from(v.trim().to_owned()));
    }
    if let Some(path) = file {
        return secret_file(&format!("{key}_file"), path);
    }
    let Some(name) = credential else {
        return Err(ConfigError::invalid(format!("{key}_env"), "no secret source is set"));
    };
    let k = format!("{key}_credential");
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()).ok_or_else(|| {
        ConfigError::invalid(
            &k,
            format!(
                "CREDENTIALS_DIRECTORY is not set: the service was not started by systemd with credentials; add LoadCredential={name}:/etc/esign-collector/{name} to the unit"
            ),
        )
    })?;
    secret_file(&k, &Path::new(&dir).join(name))
}

/// One secret from a file: present, a regular file, not readable by group or others, not empty.
///
/// # Errors
/// `ConfigError::Invalid` naming `key` and the file.
pub fn secret_file(key: &str, path: &Path) -> Result<SecretString, ConfigError> {
    let shown = path.display();
    let meta =
        std::fs::metadata(path).map_err(|e| ConfigError::invalid(key, format!("{shown}: cannot read it: {e}")))?;
    if !meta.is_file() {
        return Err(ConfigError::invalid(key, format!("{shown} is not a regular file")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ConfigError::invalid(
                key,
                format!("{shown} is accessible by group or others (mode {mode:03o}); run `chmod 600 {shown}`"),
            ));
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::invalid(key, format!("{shown}: cannot read it as text: {e}")))?;
    let k = text.trim();
    if k.is_empty() {
        return Err(ConfigError::invalid(key, format!("{shown} is empty")));
    }
    Ok(SecretString::from(k.to_owned()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn files_must_be_private_and_variables_set() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, path) = crate::testkit::scratch("secret");
        std::fs::write(&path, " s3cret \n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_secret("docusign.client_secret", None, Some(&path), None).unwrap_err().to_string();
        assert!(e.contains("docusign.client_secret_file") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = read_secret("docusign.client_secret", None, Some(&path), None).unwrap();
        assert_eq!(s.expose_secret(), "s3cret");
        let e = read_secret("docusign.client_secret", Some("ESIGN_TEST_UNSET_VARIABLE_X"), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("docusign.client_secret_env") && e.contains("ESIGN_TEST_UNSET_VARIABLE_X"), "{e}");
    }
}
