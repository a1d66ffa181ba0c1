//! Relative paths in a configuration file are relative to the file's folder, not to the
//! working directory: `--config /etc/esign-collector/config.toml` then means the same from any
//! folder (a shell, a timer, a container), and a config travels with the key, state and
//! output files it names. The default state path (`state/esign-collector.db`) follows the same
//! rule. Paths given on the command line (`--config`, `--trace-http`, `simulate --key-out`)
//! stay relative to the working directory, as a shell user expects.

use std::path::{Path, PathBuf};

use super::{Config, SinkConfig};

/// Every configuration key that holds a path, as `table.key` (sinks and tenants by their
/// array name). [`Config::resolve_paths`] resolves each; a unit test fails when a `PathBuf`
/// field appears in a config struct without being listed here.
pub const PATH_KEYS: &[&str] = &[
    "docusign.private_key_file",
    "docusign.private_key_files",
    "docusign.client_secret_file",
    "docusign.ca_file",
    "yousign.api_key_file",
    "yousign.ca_file",
    "state.path",
    "tenants.private_key_file",
    "tenants.private_key_files",
    "tenants.client_secret_file",
    "sinks.file.path",
    "sinks.syslog.ca_file",
    "sinks.syslog.cert_file",
    "sinks.syslog.key_file",
    "sinks.http.ca_file",
    "sinks.http.cert_file",
    "sinks.http.key_file",
    "sinks.http.auth.token_file",
    "sinks.http.auth.password_file",
    "receivers.connect.hmac_keys_file",
    "receivers.connect.tls_cert_file",
    "receivers.connect.tls_key_file",
    "receivers.yousign.secret_file",
    "receivers.yousign.tls_cert_file",
    "receivers.yousign.tls_key_file",
];

fn resolve(folder: &Path, p: &mut PathBuf) {
    if p.is_relative() {
        *p = folder.join(&*p);
    }
}

fn resolve_opt(folder: &Path, p: Option<&mut PathBuf>) {
    if let Some(p) = p {
        resolve(folder, p);
    }
}

impl Config {
    /// Joins every relative path of the configuration (the keys of [`PATH_KEYS`], and the
    /// default state path) onto `folder`, the folder of the file it was read from. An empty
    /// `folder` (a file in the working directory) leaves them as they are: the same files.
    pub fn resolve_paths(&mut self, folder: &Path) {
        if folder.as_os_str().is_empty() {
            return;
        }
        if let Some(d) = &mut self.docusign {
            resolve_opt(folder, d.private_key_file.as_mut());
            d.private_key_files.iter_mut().for_each(|p| resolve(folder, p));
            resolve_opt(folder, d.client_secret_file.as_mut());
            resolve_opt(folder, d.ca_file.as_mut());
        }
        if let Some(y) = &mut self.yousign {
            resolve_opt(folder, y.api_key_file.as_mut());
            resolve_opt(folder, y.ca_file.as_mut());
        }
        resolve(folder, &mut self.state.path);
        for t in &mut self.tenants {
            resolve_opt(folder, t.private_key_file.as_mut());
            t.private_key_files.iter_mut().flatten().for_each(|p| resolve(folder, p));
            resolve_opt(folder, t.client_secret_file.as_mut());
        }
        if let Some(y) = &mut self.receivers.yousign {
            y.resolve_paths(folder);
        }
        if let Some(c) = &mut self.receivers.connect {
            c.resolve_paths(folder);
        }
        for sink in &mut self.sinks {
            match sink {
                SinkConfig::Stdout(_) => {}
                SinkConfig::File(f) => resolve(folder, &mut f.path),
                SinkConfig::Syslog(s) => {
                    for p in [&mut s.ca_file, &mut s.cert_file, &mut s.key_file] {
                        resolve_opt(folder, p.as_mut());
                    }
                }
                SinkConfig::Http(h) => {
                    for p in [&mut h.ca_file, &mut h.cert_file, &mut h.key_file] {
                        resolve_opt(folder, p.as_mut());
                    }
                    if let Some(a) = &mut h.auth {
                        resolve_opt(folder, a.token_file.as_mut());
                        resolve_opt(folder, a.password_file.as_mut());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::MINIMAL;

    /// Appended to the minimal configuration (still inside its `[docusign]`): every path key.
    const PATHS: &str = r#"
ca_file = "/abs/ca.pem"

[[tenants]]
name = "acme"
private_key_file = "keys/acme.pem"

[[sinks]]
type = "file"
path = "out/events.jsonl"

[[sinks]]
type = "syslog"
address = "127.0.0.1:6514"
transport = "tls"
ca_file = "tls/ca.pem"
cert_file = "tls/client.pem"
key_file = "tls/client.key"

[[sinks]]
type = "http"
url = "https://siem.example:8088"
preset = "splunk_hec"
ca_file = "tls/siem-ca.pem"
cert_file = "tls/c.pem"
key_file = "tls/c.key"
auth = { strategy = "splunk", token_file = "secrets/hec-token" }

[[sinks]]
type = "stdout"
"#;

    /// The configuration with every path key, as loaded from a file in `folder`.
    fn load(folder: &str) -> Config {
        let mut c = Config::parse(&format!("{MINIMAL}{PATHS}"), Path::new("t.toml")).unwrap();
        c.resolve_paths(Path::new(folder));
        c
    }

    #[test]
    fn relative_paths_join_the_config_folder_and_absolute_ones_stay() {
        let c = load("/etc/ec");
        let p = |path: &str| Some(PathBuf::from(path));
        assert_eq!(c.docusign().private_key_file, p("/etc/ec/key.pem"));
        assert_eq!(c.docusign().ca_file, p("/abs/ca.pem"));
        // The default state path follows the config too.
        assert_eq!(c.state.path, PathBuf::from("/etc/ec/state/esign-collector.db"));
        assert_eq!(c.tenants[0].private_key_file, p("/etc/ec/keys/acme.pem"));
        assert_eq!(c.tenants()[0].cfg.docusign().private_key_file, p("/etc/ec/keys/acme.pem"));
        let [SinkConfig::File(file), SinkConfig::Syslog(s), SinkConfig::Http(h), SinkConfig::Stdout(_)] = &c.sinks[..]
        else {
            panic!("sinks: {:?}", c.sinks)
        };
        assert_eq!(file.path, PathBuf::from("/etc/ec/out/events.jsonl"));
        assert_eq!((s.ca_file.clone(), s.cert_file.clone()), (p("/etc/ec/tls/ca.pem"), p("/etc/ec/tls/client.pem")));
        assert_eq!(s.key_file, p("/etc/ec/tls/client.key"));
        assert_eq!((h.ca_file.clone(), h.key_file.clone()), (p("/etc/ec/tls/siem-ca.pem"), p("/etc/ec/tls/c.key")));
        assert_eq!(h.cert_file, p("/etc/ec/tls/c.pem"));
        assert_eq!(h.auth.as_ref().unwrap().token_file, p("/etc/ec/secrets/hec-token"));
    }

    #[test]
    fn a_config_in_the_working_directory_keeps_its_paths() {
        let c = load("");
        assert_eq!(c.docusign().private_key_file, Some(PathBuf::from("key.pem")));
        assert_eq!(c.state.path, PathBuf::from("state/esign-collector.db"));
    }

    #[test]
    fn a_relative_config_folder_stays_relative() {
        // `--config conf/x.toml`: the paths become conf/…, still relative to the working directory.
        let c = load("conf");
        assert_eq!(c.docusign().private_key_file, Some(PathBuf::from("conf/key.pem")));
    }

    /// Names of the path fields in the `…Config` structs of `dir` (a crude scan, as the
    /// config-example test does it).
    fn path_fields(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                path_fields(&p, out);
                continue;
            }
            if p.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let mut in_struct = false;
            for line in text.lines() {
                let t = line.trim();
                if t.starts_with("pub struct") && t.ends_with('{') {
                    in_struct = t.split_whitespace().nth(2).is_some_and(|n| n.ends_with("Config"));
                } else if t == "}" {
                    in_struct = false;
                } else if in_struct
                    && t.contains("PathBuf")
                    && let Some((name, _)) = t.strip_prefix("pub ").and_then(|r| r.split_once(':'))
                {
                    out.push(name.trim().to_owned());
                }
            }
        }
    }

    #[test]
    fn every_path_key_is_resolved() {
        let mut fields = Vec::new();
        path_fields(Path::new("src/config"), &mut fields);
        path_fields(Path::new("src/sinks"), &mut fields);
        path_fields(Path::new("src/connectors"), &mut fields);
        assert!(fields.len() >= 10, "field scan found too little: {fields:?}");
        for f in fields {
            assert!(
                PATH_KEYS.iter().any(|k| k.rsplit('.').next() == Some(f.as_str())),
                "config field `{f}` holds a path: resolve it in Config::resolve_paths and list it in PATH_KEYS"
            );
        }
    }
}
