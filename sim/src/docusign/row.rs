//! The tenant facts rows carry, and the shape of one Monitor `StreamingEventRow` as a struct
//! serialized straight into a reply body. Field order and names are the SDK model's
//! (`docusign-monitor` 2.0.0); `data.rs` decides the content. Borrowed strings keep a page of 2000 rows cheap to render: the
//! simulator must outrun the collector it measures.

use serde::Serialize;
use serde_json::{Map, Value};

use super::SimConfig;

/// Tenant facts every row carries.
#[derive(Debug)]
pub(super) struct RowContext<'a> {
    pub(super) seed: u64,
    pub(super) account_id: &'a str,
    pub(super) organization_id: &'a str,
    pub(super) integration_key: &'a str,
    pub(super) actors: &'a [String],
}

impl<'a> RowContext<'a> {
    /// The facts of the tenant `cfg` describes, with `actors` from its directory.
    pub(super) fn of(cfg: &'a SimConfig, actors: &'a [String]) -> Self {
        Self {
            seed: cfg.seed,
            account_id: &cfg.account_id,
            organization_id: &cfg.organization_id,
            integration_key: &cfg.integration_key,
            actors,
        }
    }

    /// The facts of one of the user's accounts: its ids and its own content seed.
    pub(super) fn of_account(cfg: &'a SimConfig, account: &'a super::accounts::Account, actors: &'a [String]) -> Self {
        Self {
            seed: account.seed,
            account_id: &account.account_id,
            organization_id: &account.organization_id,
            integration_key: &cfg.integration_key,
            actors,
        }
    }
}

/// One complete row; every attribute the SDK model declares, in its order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Row<'a> {
    pub(super) timestamp: String,
    pub(super) event_id: String,
    pub(super) site: &'static str,
    pub(super) account_id: &'a str,
    pub(super) organization_id: &'a str,
    pub(super) user_id: &'a str,
    pub(super) integrator_key: &'a str,
    pub(super) user_agent: &'static str,
    pub(super) user_agent_client_info: ClientInfo,
    pub(super) ip_address: &'static str,
    pub(super) ip_address_location: Location,
    pub(super) object: &'static str,
    pub(super) action: &'static str,
    pub(super) property: &'static str,
    pub(super) field: &'static str,
    pub(super) result: &'static str,
    pub(super) source: &'static str,
    pub(super) is_user_member_of_domain: bool,
    pub(super) referenced_user_is_member_of_domain: bool,
    pub(super) referenced_user_id: &'a str,
    pub(super) proxy_status: &'static str,
    pub(super) proxy_type: &'static str,
    pub(super) proxy_level: &'static str,
    pub(super) latitude: f64,
    pub(super) longitude: f64,
    pub(super) city: &'static str,
    pub(super) state: &'static str,
    pub(super) country: &'static str,
    pub(super) device: &'static str,
    pub(super) browser: &'static str,
    pub(super) os: &'static str,
    pub(super) affected_user_id: &'a str,
    pub(super) affected_user_is_member_of_domain: bool,
    pub(super) data: &'a Map<String, Value>,
}

/// `userAgentClientInfo`.
#[derive(Debug, Serialize)]
pub(super) struct ClientInfo {
    pub(super) browser: Browser,
    pub(super) device: Device,
    pub(super) os: Os,
}

/// `userAgentClientInfo.browser`.
#[derive(Debug, Serialize)]
pub(super) struct Browser {
    pub(super) family: &'static str,
    pub(super) version: Version,
}

/// A `{major, minor, patch}` version.
#[derive(Debug, Serialize)]
pub(super) struct Version {
    pub(super) major: &'static str,
    pub(super) minor: &'static str,
    pub(super) patch: &'static str,
}

/// `userAgentClientInfo.device`.
#[derive(Debug, Serialize)]
pub(super) struct Device {
    pub(super) family: &'static str,
    pub(super) brand: &'static str,
    pub(super) model: &'static str,
}

/// `userAgentClientInfo.os`.
#[derive(Debug, Serialize)]
pub(super) struct Os {
    pub(super) family: &'static str,
    pub(super) version: Version,
}

/// `ipAddressLocation`.
#[derive(Debug, Serialize)]
pub(super) struct Location {
    pub(super) latitude: f64,
    pub(super) longitude: f64,
    pub(super) country: &'static str,
    pub(super) state: &'static str,
    pub(super) city: &'static str,
}
