//! Connectors: one folder per platform. A connector owns its sources (and, later, receivers),
//! its auth wiring, its API quirks and error hints, and its ECS/OCSF mapping; it declares each
//! source's [`Stream`] descriptor. Nothing outside this folder names a stream.
//!
//! The registry below lists the connectors, one line each.

pub mod collector;
pub mod docusign;
pub mod yousign;

use serde::Deserialize;

use crate::stream::Stream;

/// Every connector's streams, one line per connector.
pub static REGISTRY: &[&[&Stream]] = &[docusign::STREAMS, yousign::STREAMS, collector::STREAMS];

/// Why a configuration that enables nothing is refused, naming every source's switch.
pub const NO_SOURCE: &str = "enables no source: set sources.customer_events.enabled, sources.user_data.enabled or \
     sources.envelopes.enabled ([docusign]), or sources.yousign_signature_requests.enabled or \
     sources.yousign_users.enabled or sources.yousign_webhook_subscriptions.enabled ([yousign])";

/// `[sources]`: one table per stream, each table's type owned by its connector.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    /// DocuSign Monitor customer events.
    pub customer_events: docusign::config::CustomerEventsConfig,
    /// DocuSign Admin user records.
    pub user_data: docusign::config::UserDataConfig,
    /// DocuSign eSignature envelope status changes (and their audit events).
    pub envelopes: docusign::envelopes::EnvelopesConfig,
    /// Yousign signature requests (and their signers' audit trails).
    pub yousign_signature_requests: yousign::config::SignatureRequestsConfig,
    /// Yousign users.
    pub yousign_users: yousign::config::UsersConfig,
    /// Yousign webhook subscriptions.
    pub yousign_webhook_subscriptions: yousign::config::WebhookSubscriptionsConfig,
}

impl SourcesConfig {
    /// Whether the source with config key `key` is enabled (an unknown key is not).
    pub fn enabled(&self, key: &str) -> bool {
        docusign::config::enabled(self, key).or_else(|| yousign::config::enabled(self, key)).unwrap_or(false)
    }
}

/// Every stream of every connector.
pub fn streams() -> impl Iterator<Item = &'static Stream> {
    REGISTRY.iter().flat_map(|s| s.iter().copied())
}

/// The stream whose key (config/state name) or `get-events --kind` value is `name`.
pub fn stream(name: &str) -> Option<&'static Stream> {
    streams().find(|s| s.key == name || s.cli_name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_and_log_types_are_unique() {
        let all: Vec<&Stream> = streams().collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.key, b.key);
                assert_ne!(a.cli_name(), b.cli_name());
            }
        }
        assert!(all.iter().all(|s| stream(s.key) == Some(*s) && stream(&s.cli_name()) == Some(*s)));
    }
}
