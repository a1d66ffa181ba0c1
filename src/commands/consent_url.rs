//! `generate-consent-url`: the URL that grants the app consent for the scopes the enabled
//! sources need. Needs no key and no network.

use std::io::Write;

use crate::config::{Environment, Tenant};
use crate::connectors::docusign::consent_url;
use crate::error::Error;
use crate::sinks::SinkError;
use esign_sim::docusign::SimConfig;

/// Prints the URL of each tenant (prefixed by its name when there are several).
///
/// # Errors
/// Only when stdout cannot be written.
pub(crate) fn run(tenants: &[Tenant]) -> Result<(), Error> {
    let mut text = String::new();
    // Consent is DocuSign's; a Yousign tenant's API key needs none.
    let docusign: Vec<&Tenant> = tenants.iter().filter(|t| t.vendor == crate::config::Vendor::Docusign).collect();
    for t in &docusign {
        if docusign.len() > 1 {
            text.push_str(&t.name);
            text.push('\t');
        }
        text.push_str(&url(t));
        text.push('\n');
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| SinkError::Io { sink: "stdout".into(), source })?;
    Ok(())
}

fn url(t: &Tenant) -> String {
    let cfg = &t.cfg;
    let d = &cfg.docusign();
    let env = d.environment;
    let auth = d.auth_base_url.as_ref().map_or_else(|| env.auth_base(), crate::config::HttpUrl::base);
    let ik = d.integration_key.clone().unwrap_or_else(|| SimConfig::new(String::new()).integration_key);
    if env == Environment::Demo {
        tracing::warn!(
            "Demo environment: the simulator needs no consent; this URL shows the developer-environment form."
        );
    }
    consent_url(&auth, &ik, d.redirect_uri.0.as_str(), &cfg.scopes())
}
