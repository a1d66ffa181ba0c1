//! Each tenant's credentials as gauges, set from the state file at scrape time: the refresh
//! token's expiry and age (Authorization Code Grant), whether it expires within the warning
//! window or a login is needed, and which JWT key is in use.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// `tenant` and `flow` (`jwt`, `authorization_code`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowLabels {
    tenant: String,
    flow: &'static str,
}

struct CredentialFamilies {
    expiry: Family<FlowLabels, Gauge<f64, AtomicU64>>,
    age: Family<FlowLabels, Gauge<f64, AtomicU64>>,
    expiring: Family<FlowLabels, Gauge>,
    login_required: Family<FlowLabels, Gauge>,
    key_in_use: Family<FlowLabels, Gauge>,
    first_key_refused: Family<FlowLabels, Gauge>,
}

static CREDENTIALS: LazyLock<CredentialFamilies> = LazyLock::new(|| CredentialFamilies {
    expiry: Family::default(),
    age: Family::default(),
    expiring: Family::default(),
    login_required: Family::default(),
    key_in_use: Family::default(),
    first_key_refused: Family::default(),
});

/// Registers the credential families in `r` (once, when the registry is built).
pub(super) fn register(r: &mut Registry) {
    let c = &*CREDENTIALS;
    r.register(
        "esign_auth_refresh_token_expiry_timestamp_seconds",
        "When the stored refresh token lapses (Unix time; authorization code grant)",
        c.expiry.clone(),
    );
    r.register(
        "esign_auth_refresh_token_age_seconds",
        "Time since the stored refresh token was issued (the login or the last rotation)",
        c.age.clone(),
    );
    r.register(
        "esign_auth_refresh_token_expiring",
        "1 when the refresh token lapses within 7 days, else 0",
        c.expiring.clone(),
    );
    r.register(
        "esign_auth_login_required",
        "1 when the tenant cannot authenticate until someone runs `auth login`, else 0",
        c.login_required.clone(),
    );
    r.register(
        "esign_auth_jwt_key_in_use",
        "Which configured private key (1-based) DocuSign last accepted",
        c.key_in_use.clone(),
    );
    r.register(
        "esign_auth_jwt_first_key_refused",
        "1 while DocuSign refuses the first configured private key, else 0",
        c.first_key_refused.clone(),
    );
}

/// What the gauges of one tenant say.
#[derive(Debug, Clone, Copy, Default)]
pub struct CredentialGauges {
    /// Refresh token expiry (Unix seconds).
    pub refresh_expiry: Option<i64>,
    /// Refresh token age (seconds).
    pub refresh_age: Option<i64>,
    /// It lapses within the warning window.
    pub expiring: bool,
    /// A login is needed.
    pub login_required: bool,
    /// The JWT key in use (1-based).
    pub key_in_use: Option<i64>,
    /// The first JWT key is refused.
    pub first_key_refused: bool,
}

/// Sets the gauges of `tenant` (using `flow`).
#[allow(clippy::cast_precision_loss)] // Unix seconds and ages fit an f64 exactly
pub fn credentials(tenant: &str, flow: &'static str, g: &CredentialGauges) {
    let c = &*CREDENTIALS;
    let l = FlowLabels { tenant: tenant.to_owned(), flow };
    if let Some(t) = g.refresh_expiry {
        c.expiry.get_or_create(&l).set(t as f64);
    }
    if let Some(a) = g.refresh_age {
        c.age.get_or_create(&l).set(a as f64);
    }
    if flow == "authorization_code" {
        c.expiring.get_or_create(&l).set(i64::from(g.expiring));
    }
    c.login_required.get_or_create(&l).set(i64::from(g.login_required));
    if let Some(k) = g.key_in_use {
        c.key_in_use.get_or_create(&l).set(k);
        c.first_key_refused.get_or_create(&l).set(i64::from(g.first_key_refused));
    }
}
