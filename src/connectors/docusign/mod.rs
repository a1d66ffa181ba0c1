//! DocuSign: Monitor customer events and Admin user records (JWT grant), their API quirks and
//! error hints, and their ECS/OCSF mapping. Everything that names a DocuSign stream is here.
//!
//! # Architecture
//! - this file: the streams' descriptors ([`MONITOR_EVENTS`], [`ADMIN_USERS`]), building the
//!   enabled sources, and entry points for the fuzz targets.
//! - `monitor.rs`: Monitor customer events, both generations.
//! - `admin.rs`: Admin user records, full snapshot then changed-only.
//! - `envelopes.rs`: eSignature envelope status changes (list windows); `audit.rs`: the audit
//!   events of envelopes that reached a terminal status; `base_uri.rs`: the account's
//!   eSignature host.
//! - `mapping/`: ECS and OCSF.
//! - `client.rs`: [`Client`], every authenticated call to DocuSign's APIs.
//! - `consent.rs`: the consent URL and what DocuSign's OAuth refusals mean.
//! - `connect/`: the DocuSign Connect receiver (`[receivers.connect]`), its stream [`CONNECT`].

mod admin;
mod audit;
mod base_uri;
mod client;
pub mod config;
pub mod connect;
mod consent;
pub mod envelopes;
mod go_live;
mod mapping;
mod monitor;
mod reconcile;

use serde_json::{Map, Value, json};

use std::sync::Arc;

use crate::core::source::{Page, Record, Source, Stream};
use crate::error::Error;
use crate::http::Api;
use crate::stream::{Actor, Identity};
use config::{DocusignConfig, SourcesConfig};

/// What DocuSign's sources share to reach its APIs.
#[derive(Debug)]
pub struct Session {
    /// Paced, retrying HTTP client.
    pub api: Api,
    /// Authenticated requests to DocuSign.
    pub client: Client,
}

pub use admin::AdminUsers;
pub use audit::EnvelopeAudit;
pub use base_uri::{Esignature, account_base_uri};
pub use client::{Client, auth_code_grant, jwt_grant};
pub use consent::{consent_url, refusals};
pub use envelopes::Envelopes;
pub use go_live::{GO_LIVE_CALLS, go_live_calls};
pub use monitor::MonitorEvents;

/// The connector's name in the registry.
pub const NAME: &str = "docusign";

/// Monitor customer events (`[sources.customer_events]`).
pub static MONITOR_EVENTS: Stream = Stream {
    key: "customer_events",
    log_type: "customerevent",
    vendor: NAME,
    product: "monitor",
    identity: Identity::Field("eventId"),
    time_field: Some("timestamp"),
    actor: Some(Actor { field: "userId", summary: user_summary }),
    // The result and the IP first tell a failed login from a successful one, and from where.
    columns: &["eventId", "timestamp", "userId", "object/action", "result", "ipAddress", "accountId"],
    render: mapping::event,
    render_text: Some(mapping::event_text),
    newest_event: monitor::newest_event,
};

/// Admin user records (`[sources.user_data]`).
pub static ADMIN_USERS: Stream = Stream {
    key: "user_data",
    log_type: "auditusers",
    vendor: NAME,
    product: "admin",
    identity: Identity::Snapshot("id"),
    time_field: None,
    actor: None,
    columns: &["id", "user_name", "email", "user_status", "membership_status"],
    render: mapping::user,
    render_text: None,
    newest_event: |_| None,
};

/// eSignature envelope status changes (`[sources.envelopes]`): one line per status seen.
pub static ENVELOPES: Stream = Stream {
    key: "envelopes",
    log_type: "envelopes",
    vendor: NAME,
    product: "esignature",
    identity: Identity::Composite(&["envelopeId", "status", "statusChangedDateTime"]),
    time_field: Some("statusChangedDateTime"),
    actor: None,
    columns: &["envelopeId", "status", "statusChangedDateTime", "emailSubject", "sender"],
    render: mapping::envelope,
    render_text: None,
    newest_event: envelopes::newest_event,
};

/// The audit events of envelopes that reached a terminal status (`[sources.envelopes]
/// audit_events = true`).
pub static ENVELOPE_AUDIT: Stream = Stream {
    key: "envelope_audit",
    log_type: "envelope_audit",
    vendor: NAME,
    product: "esignature",
    identity: Identity::Composite(&["envelopeId", "logTime", "Action", "UserId", "Message"]),
    time_field: Some("logTime"),
    actor: None,
    columns: &["envelopeId", "logTime", "Action", "UserName", "ClientIPAddress"],
    render: mapping::envelope_audit,
    render_text: None,
    newest_event: |_| None,
};

/// DocuSign Connect messages pushed to `[receivers.connect]` (`connect/`).
pub static CONNECT: Stream = Stream {
    key: "connect",
    log_type: "connect",
    vendor: NAME,
    product: "esignature",
    // Connect messages have no id: the receiver writes a hash of what identifies the event.
    identity: Identity::Field(crate::core::fields::EVENT_ID),
    time_field: Some("generatedDateTime"),
    actor: None,
    columns: &["event", "generatedDateTime", "retryCount", "uri"],
    render: mapping::connect,
    render_text: None,
    newest_event: |_| None,
};

/// The connector's streams, in the order `status` lists them (a cycle starts users first:
/// see [`enabled`]).
pub static STREAMS: &[&Stream] = &[&MONITOR_EVENTS, &ADMIN_USERS, &ENVELOPES, &ENVELOPE_AUDIT, &CONNECT];

/// The Admin record fields a customer event's `_user` carries.
const SUMMARY: [&str; 7] = ["id", "user_name", "first_name", "last_name", "email", "user_status", "membership_status"];

/// A customer event's `_user`: the summary of its user's stored Admin record.
fn user_summary(rec: &Map<String, Value>) -> Map<String, Value> {
    let mut m = Map::new();
    for k in SUMMARY {
        if let Some(v) = rec.get(k).filter(|v| !v.is_null()) {
            m.insert(k.into(), v.clone());
        }
    }
    if let Some(Value::Array(groups)) = rec.get("ds_groups") {
        let g: Vec<Value> =
            groups.iter().map(|g| json!({"id": g.get("ds_group_id"), "name": g.get("group_name")})).collect();
        m.insert("groups".into(), Value::Array(g));
    }
    m
}

/// The enabled sources, in a fixed order: users first, so their request leaves first. A
/// cycle runs them concurrently: an event is joined with the user records stored when its page
/// is prepared, which in a first cycle may not yet hold its user.
pub fn enabled(
    d: &DocusignConfig,
    s: &SourcesConfig,
    session: &Arc<Session>,
    monitor_base: &str,
    admin_base: &str,
) -> Vec<Box<dyn Source>> {
    let mut v: Vec<Box<dyn Source>> = Vec::new();
    if s.user_data.enabled {
        v.push(Box::new(AdminUsers::new(
            session.clone(),
            &s.user_data,
            admin_base,
            d.organization_id.as_deref().unwrap_or_default(),
            d.account_id.as_deref().unwrap_or_default(),
        )));
    }
    if s.customer_events.enabled {
        v.push(Box::new(MonitorEvents::new(
            session.clone(),
            &s.customer_events,
            monitor_base,
            d.organization_id.as_deref(),
        )));
    }
    v
}

/// The enabled eSignature sources (envelope status changes, then their audit events) of one
/// tenant. `auth_base` is where userinfo names the account's host; `store` keeps that host
/// and the audit queue. `connect`: a Connect receiver is configured, so polling reconciles
/// with it (see `reconcile.rs`).
pub fn esignature_sources(
    d: &DocusignConfig,
    s: &SourcesConfig,
    session: &Arc<Session>,
    auth_base: &str,
    tenant: &str,
    store: Option<&Arc<std::sync::Mutex<crate::state::Store>>>,
    connect: bool,
) -> Vec<Box<dyn Source>> {
    let e = &s.envelopes;
    if !e.enabled {
        return Vec::new();
    }
    // The demo simulator listens on a new port each run: its host is never worth keeping.
    let keep_host = if d.environment == config::Environment::Demo { None } else { store.cloned() };
    let esig = Arc::new(Esignature::new(
        session.clone(),
        keep_host,
        tenant,
        auth_base,
        d.account_id.as_deref().unwrap_or_default(),
        d.esignature_base_url.as_ref().map(crate::values::HttpUrl::base),
    ));
    let mut list = Envelopes::new(esig.clone(), store.cloned(), tenant, e);
    if let (true, Some(st)) = (connect, store) {
        let account = d.account_id.as_deref().unwrap_or_default();
        list = list.with_reconcile(reconcile::Reconcile::new(st.clone(), tenant, account), e);
    }
    let mut v: Vec<Box<dyn Source>> = vec![Box::new(list)];
    if e.audit_events {
        v.push(Box::new(EnvelopeAudit::new(esig, store.cloned(), tenant, e.max_audit_per_cycle.get())));
    }
    v
}

/// The eSignature API root of the configured account (`docusign.esignature_base_url`, else
/// the account's `base_uri` from `{auth_base}/oauth/userinfo`), found afresh.
///
/// # Errors
/// `ConfigError` without `docusign.account_id`; the userinfo call's failure.
pub async fn esignature_root(session: &Arc<Session>, d: &DocusignConfig, auth_base: &str) -> Result<String, Error> {
    let Some(account) = d.account_id.as_deref().filter(|a| !a.trim().is_empty()) else {
        return Err(crate::values::ConfigError::invalid(
            "docusign.account_id",
            "is required: the eSignature account whose API is called (`auth-test` lists them)",
        )
        .into());
    };
    let fixed = d.esignature_base_url.as_ref().map(crate::values::HttpUrl::base);
    Esignature::new(session.clone(), None, "", auth_base, account, fixed).root().await
}

/// Parses one Monitor stream reply body (either generation) sent for `cursor`.
///
/// # Errors
/// `ApiError::Malformed` when the body is not a stream reply.
pub fn parse_monitor_reply(body: &[u8], api: config::MonitorApi, cursor: &str) -> Result<Page, Error> {
    let reply = monitor::read(body)
        .map_err(|message| crate::http::ApiError::Malformed { what: "Monitor stream".into(), message })?;
    monitor::parse(reply, api, cursor, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_entry_points_take_replies_and_garbage() {
        for body in [
            include_str!("../../../fuzz/corpus/api_reply/envelopes.json"),
            include_str!("../../../fuzz/corpus/api_reply/audit_events.json"),
            "{\"envelopes\": [{\"envelopeId\": \"e\", \"status\": \"sent\", \"_time\": 1}], \"nextUri\": \"x\"}",
            "{\"auditEvents\": [{\"eventFields\": [{\"name\": \"event_id\", \"value\": [1]}]}]}",
            "[]",
            "{\"envelopes\"",
        ] {
            fuzzing::envelope_reply(body.as_bytes());
            fuzzing::audit_reply(body.as_bytes());
        }
    }

    #[test]
    fn summary_keeps_identity_status_and_groups() {
        let rec = json!({"id": "u", "user_name": "A B", "email": "a@x", "user_status": "active", "created_on": "t",
                         "ds_groups": [{"ds_group_id": "g1", "group_name": "Admins", "user_count": 3}]});
        let Value::Object(rec) = rec else { unreachable!() };
        let s = Value::Object(user_summary(&rec));
        assert_eq!(
            s,
            json!({"id": "u", "user_name": "A B", "email": "a@x", "user_status": "active",
                             "groups": [{"id": "g1", "name": "Admins"}]})
        );
    }
}

/// Entry points for the fuzz targets in `fuzz/`: everything an API reply goes through, from
/// bytes to output lines. Not part of the supported API.
#[doc(hidden)]
pub mod fuzzing {
    use super::config::MonitorApi;
    use super::{ADMIN_USERS, ENVELOPE_AUDIT, ENVELOPES, MONITOR_EVENTS, admin, audit, envelopes, monitor};
    use crate::core::normalize::normalize;
    use crate::core::source::Stream;

    const AT: &str = "2026-01-01T00:00:00.000Z";

    fn lines(kind: &Stream, records: Vec<super::Record>) {
        for r in records {
            let line = match r {
                super::Record::Object(m) => {
                    let n = normalize(kind, m, AT);
                    // Serializing a parsed value cannot fail; the fuzzer looks for panics and hangs.
                    serde_json::to_string(&n.value).unwrap_or_default()
                }
                super::Record::Fast(f) => {
                    let line = f.line(kind, &f.time(AT), AT, None, None);
                    // The fast path must write exactly what the tree path writes.
                    let tree = serde_json::from_str(f.raw.get()).map(|m| normalize(kind, m, AT));
                    let fast = serde_json::from_str::<serde_json::Value>(&line);
                    assert!(
                        matches!((&fast, &tree), (Ok(a), Ok(b)) if *a == serde_json::Value::Object(b.value.clone())),
                        "fast and tree paths disagree: {line}"
                    );
                    line
                }
            };
            assert!(!line.contains('\n'), "an output line contains a raw newline");
        }
    }

    /// A Monitor stream reply (either generation), parsed and normalized.
    pub fn monitor_reply(data: &[u8]) {
        for api in [MonitorApi::V2, MonitorApi::OrgStream] {
            if let Ok(p) = monitor::read(data)
                .map_err(|_| ())
                .and_then(|r| monitor::parse(r, api, "cursor", Some(chrono::Utc::now())).map_err(|_| ()))
            {
                lines(&MONITOR_EVENTS, p.records);
            }
        }
    }

    /// An eSignature envelope list reply, parsed, paged and normalized.
    pub fn envelope_reply(data: &[u8]) {
        let Ok(list) = envelopes::read(data) else { return };
        let envs = list.envelopes_or_empty();
        let n = envs.len();
        // Paging must never go backwards or stay in place on a page with envelopes.
        if let Some(next) = envelopes::next_start(&list, 0, n) {
            assert!(next > 0, "paging stays in place");
        }
        let records = envs.into_iter().filter_map(envelopes::transition).map(super::Record::Object).collect();
        lines(&ENVELOPES, records);
    }

    /// An envelope audit events reply, flattened and normalized.
    pub fn audit_reply(data: &[u8]) {
        if let Ok(events) = audit::flatten(data, "00000000-0000-0000-0000-000000000000") {
            lines(&ENVELOPE_AUDIT, events.into_iter().map(super::Record::Object).collect());
        }
    }

    /// An Admin users reply, parsed and normalized.
    pub fn admin_reply(data: &[u8]) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
        if let Ok((records, _)) = admin::parse(v) {
            lines(&ADMIN_USERS, records.into_iter().map(super::Record::Object).collect());
        }
    }
}
