//! Yousign: signature requests and users (API v3, or v2's procedures and users), pulled as
//! reconciliation beside the webhooks Yousign pushes (`[receivers.yousign]`), their API quirks
//! and error hints, and their ECS/OCSF mapping. Everything that names a Yousign stream is here.
//!
//! # Architecture
//! - this file: the streams' descriptors, the session, building the enabled sources.
//! - `config.rs`: `[yousign]` and `[sources.yousign_*]`.
//! - `client.rs`: [`Client`], every call with the API key; Yousign's refusals explained.
//! - `signature_requests.rs`: signature requests, by day-granular lifecycle windows.
//! - `users.rs`: the users, a full snapshot per pass (the API has no change date).
//! - `audit_trails.rs`: each signed signer's audit trail, from a durable queue.
//! - `subscriptions.rs`: the webhook subscriptions (their secret removed).
//! - `mapping/`: ECS and OCSF.
//! - `v2/`: the legacy API v2 (`api_version = "v2"`): procedures with their members, users.
//! - `webhook/`: the webhook receiver (`[receivers.yousign]`), its stream [`WEBHOOK`].

mod audit_trails;
mod client;
pub mod config;
mod mapping;
mod signature_requests;
mod subscriptions;
mod users;
pub mod v2;
pub mod webhook;

use std::sync::Arc;

use crate::core::source::{Source, Stream};
use crate::http::Api;
use crate::stream::Identity;

pub use audit_trails::AuditTrails;
pub use client::Client;
pub use config::{ApiVersion, Environment, YousignConfig};
pub use signature_requests::SignatureRequests;
pub use subscriptions::WebhookSubscriptions;
pub use users::Users;
pub use v2::{YOUSIGN_PROCEDURES, YOUSIGN_V2_USERS};

/// The connector's name in the registry (the `vendor` of its lines).
pub const NAME: &str = "yousign";

/// What Yousign's sources share to reach its API.
#[derive(Debug)]
pub struct Session {
    /// Paced (Yousign's per-minute and per-hour limits), retrying HTTP client.
    pub api: Api,
    /// Requests with the API key.
    pub client: Client,
}

/// Signature requests (`[sources.yousign_signature_requests]`): one line per status seen.
pub static SIGNATURE_REQUESTS: Stream = Stream {
    key: "yousign_signature_requests",
    log_type: "yousign_signature_request",
    vendor: NAME,
    product: "esignature",
    identity: Identity::Composite(&["id", "status"]),
    // A request has one date per lifecycle step and none for its current status: `_time` is
    // when the status was seen; the mappings take the step's own date where there is one.
    time_field: None,
    actor: None,
    columns: &["id", "status", "name", "source", "created_at"],
    render: mapping::signature_request,
    render_text: None,
    newest_event: |_| None,
};

/// Users (`[sources.yousign_users]`): the current record of each user; a changed one is an event.
pub static USERS: Stream = Stream {
    key: "yousign_users",
    log_type: "yousign_user",
    vendor: NAME,
    product: "admin",
    identity: Identity::Snapshot("id"),
    time_field: None,
    actor: None,
    columns: &["id", "email", "role", "is_active", "status"],
    render: mapping::user,
    render_text: None,
    newest_event: |_| None,
};

/// Signers' audit trails (`[sources.yousign_signature_requests] audit_trails = true`): the
/// trail JSON as the API sent it, once per signed signer.
pub static AUDIT_TRAILS: Stream = Stream {
    key: "yousign_audit_trails",
    log_type: "yousign_audit_trail",
    vendor: NAME,
    product: "esignature",
    // A trail is immutable once signed: its request and signer objects identify it.
    identity: Identity::Composite(&["signature_request", "signer"]),
    time_field: None,
    actor: None,
    columns: &["signature_request", "signer", "authentication"],
    render: mapping::audit_trail,
    render_text: None,
    newest_event: |_| None,
};

/// Webhook subscriptions (`[sources.yousign_webhook_subscriptions]`): the current record of
/// each; a new or changed one is an event.
pub static WEBHOOK_SUBSCRIPTIONS: Stream = Stream {
    key: "yousign_webhook_subscriptions",
    log_type: "yousign_webhook_subscription",
    vendor: NAME,
    product: "webhooks",
    identity: Identity::Snapshot("id"),
    time_field: None,
    actor: None,
    columns: &["id", "endpoint", "enabled", "subscribed_events", "created_at"],
    render: mapping::subscription,
    render_text: None,
    newest_event: |_| None,
};

/// Webhook events pushed to `[receivers.yousign]` (`webhook/`): the payload as received.
pub static WEBHOOK: Stream = Stream {
    key: "yousign_webhooks",
    log_type: "yousign_webhook",
    vendor: NAME,
    product: "webhooks",
    identity: Identity::Field("event_id"),
    time_field: None,
    actor: None,
    columns: &["event_id", "event_name", "event_time", "subscription_id"],
    render: mapping::webhook,
    render_text: None,
    newest_event: |_| None,
};

/// The connector's streams, in the order `status` lists them.
pub static STREAMS: &[&Stream] = &[
    &SIGNATURE_REQUESTS,
    &AUDIT_TRAILS,
    &USERS,
    &WEBHOOK_SUBSCRIPTIONS,
    &WEBHOOK,
    &YOUSIGN_PROCEDURES,
    &YOUSIGN_V2_USERS,
];

/// The enabled sources of one Yousign tenant reading API `version`. v3: users and
/// subscriptions first, then signature requests, then the audit trails they queue (`store`,
/// the state file, keeps the queue). v2: users, then procedures (`v2/`).
pub fn enabled(
    s: &crate::connectors::SourcesConfig,
    session: &Arc<Session>,
    base: &str,
    store: Option<&Arc<std::sync::Mutex<crate::state::Store>>>,
    tenant: &str,
    version: ApiVersion,
) -> Vec<Box<dyn Source>> {
    if version == ApiVersion::V2 {
        return v2::enabled(s, session, base);
    }
    let mut v: Vec<Box<dyn Source>> = Vec::new();
    if s.yousign_users.enabled {
        v.push(Box::new(Users::new(session.clone(), &s.yousign_users, base)));
    }
    if s.yousign_webhook_subscriptions.enabled {
        v.push(Box::new(WebhookSubscriptions::new(session.clone(), &s.yousign_webhook_subscriptions, base)));
    }
    let r = &s.yousign_signature_requests;
    if r.enabled {
        let queue = store.filter(|_| r.audit_trails).map(|st| (st.clone(), tenant.to_owned()));
        // Set while a pass of the requests lists: the trails source waits for what it queues.
        let listing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        v.push(Box::new(SignatureRequests::new(session.clone(), r, base, queue).with_listing(listing.clone())));
        if let Some(st) = store.filter(|_| r.audit_trails) {
            v.push(Box::new(AuditTrails::new(session.clone(), base, st.clone(), tenant).after(listing)));
        }
    }
    v
}

/// The HTTP client's settings for Yousign: `[yousign]`'s timeout, proxy and trust keys with
/// `[network]`'s.
pub fn client_settings<'a>(y: &'a YousignConfig, n: &'a crate::http::NetworkConfig) -> crate::http::ClientSettings<'a> {
    crate::http::ClientSettings {
        table: "yousign",
        timeout: y.timeout.get(),
        connect_timeout: n.connect_timeout(y.timeout.get()),
        follow_redirects: true,
        proxy: y.proxy.as_ref(),
        no_proxy: &n.no_proxy,
        ca_file: y.ca_file.as_deref(),
        ca_file_only: n.ca_file_only,
        client_cert: None,
        insecure_skip_verify: false,
    }
}
