//! The `[network]` table: how the DocuSign client (API and OAuth calls alike) reaches the
//! network, beyond the `[docusign]` keys `proxy`, `ca_file`, `insecure_skip_verify` and
//! `timeout` (the whole-request timeout), which stay where they are.

use std::path::Path;

use serde::Deserialize;

use crate::values::{ConfigError, HttpUrl, HumanDuration};

/// `[network]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Hosts that bypass `docusign.proxy`: names (a leading dot or none matches subdomains
    /// too), IP addresses or CIDR ranges, as in `NO_PROXY`. Only with `docusign.proxy`; a
    /// proxy taken from `HTTPS_PROXY` follows the `NO_PROXY` variable instead.
    pub no_proxy: Vec<String>,
    /// Longest wait for a TCP (and proxy) connection; default the shorter of
    /// `docusign.timeout` and 15 s.
    pub connect_timeout: Option<HumanDuration>,
    /// Trust only the certificates in `docusign.ca_file`, not the built-in public roots
    /// (a private PKI or a TLS-inspecting proxy that must be the only path).
    pub ca_file_only: bool,
}

impl NetworkConfig {
    /// Checks the keys against `[docusign]`'s `proxy` and `ca_file`.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming the key.
    pub fn validate(&self, proxy: Option<&HttpUrl>, ca_file: Option<&Path>) -> Result<(), ConfigError> {
        if !self.no_proxy.is_empty() && proxy.is_none() {
            return Err(ConfigError::invalid(
                "network.no_proxy",
                "applies to docusign.proxy, which is not set (a proxy from HTTPS_PROXY follows NO_PROXY)",
            ));
        }
        if let Some(bad) =
            self.no_proxy.iter().find(|h| h.trim().is_empty() || h.contains([',', ' ', '/']) && !is_cidr(h))
        {
            return Err(ConfigError::invalid(
                "network.no_proxy",
                format!("has an invalid entry {bad:?}: write one host, IP or CIDR per entry"),
            ));
        }
        if let Some(t) = self.connect_timeout {
            t.require_nonzero("network.connect_timeout")?;
        }
        if self.ca_file_only && ca_file.is_none() {
            return Err(ConfigError::invalid(
                "network.ca_file_only",
                "needs docusign.ca_file: without it no certificate would be trusted",
            ));
        }
        Ok(())
    }

    /// The connect timeout to use, given the whole-request timeout.
    pub fn connect_timeout(&self, request_timeout: std::time::Duration) -> std::time::Duration {
        self.connect_timeout.map_or_else(|| request_timeout.min(std::time::Duration::from_secs(15)), HumanDuration::get)
    }
}

fn is_cidr(h: &str) -> bool {
    h.split_once('/').is_some_and(|(ip, bits)| ip.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u8>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a `[network]` table and checks it as `[docusign]` with `proxy` (set or not) would.
    fn parse(text: &str, proxy: bool) -> Result<NetworkConfig, String> {
        let n: NetworkConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let proxy = proxy.then(|| HttpUrl::try_from("http://p.example:3128".to_owned())).transpose()?;
        n.validate(proxy.as_ref(), None).map_err(|e| e.to_string())?;
        Ok(n)
    }

    #[test]
    fn network_keys_parse_and_check() {
        let n = parse("no_proxy = [\".corp\", \"10.0.0.0/8\"]\nconnect_timeout = \"3s\"\n", true).unwrap();
        assert_eq!(n.connect_timeout(std::time::Duration::from_secs(30)).as_secs(), 3);
        assert!(parse("no_proxy = [\"x\"]\n", false).unwrap_err().contains("network.no_proxy"));
        assert!(parse("no_proxy = [\"a b\"]\n", true).unwrap_err().contains("invalid entry"));
        assert!(parse("ca_file_only = true\n", false).unwrap_err().contains("docusign.ca_file"));
        let with_ca: NetworkConfig = toml::from_str("ca_file_only = true\n").unwrap();
        assert!(with_ca.validate(None, Some(Path::new("ca.pem"))).is_ok());
        assert!(parse("connect_timeout = \"0s\"\n", false).is_err());
        assert!(parse("proxy = \"http://x\"\n", false).unwrap_err().contains("unknown field"));
        assert_eq!(parse("", false).unwrap().connect_timeout(std::time::Duration::from_secs(5)).as_secs(), 5);
    }
}
