//! `[receivers]`: the push endpoints `run` hosts (one table per receiver). Each receiver's
//! table is its connector's type; this module only gathers them.

use serde::Deserialize;

use super::ConfigError;
pub use crate::connectors::docusign::connect::ConnectConfig;
pub use crate::connectors::yousign::webhook::YousignReceiverConfig;

/// `[receivers]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiversConfig {
    /// `[receivers.connect]`: DocuSign Connect (JSON SIM) webhook messages, HMAC-signed.
    #[serde(default)]
    pub connect: Option<ConnectConfig>,
    /// `[receivers.yousign]`: Yousign webhook events, signed (v3) or Basic-authenticated (v2).
    #[serde(default)]
    pub yousign: Option<YousignReceiverConfig>,
}

impl ReceiversConfig {
    /// Whether any receiver is configured (then `run` hosts a listener).
    pub fn any(&self) -> bool {
        self.connect.is_some() || self.yousign.is_some()
    }

    /// Each receiver's own checks.
    ///
    /// # Errors
    /// `ConfigError::Invalid` naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.connect.as_ref().map_or(Ok(()), ConnectConfig::validate)?;
        self.yousign.as_ref().map_or(Ok(()), YousignReceiverConfig::validate)
    }
}
