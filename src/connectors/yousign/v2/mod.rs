//! The legacy Yousign API v2 (`[yousign] api_version = "v2"`): procedures (each with its
//! members) and users, pulled from the API root (no `/v3`). The v2 API has no cursor
//! pagination and no signed webhooks; its ids are IRIs (`/procedures/…`, `/users/…`).
//!
//! # Architecture
//! - this file: the two streams' descriptors and building the enabled v2 sources.
//! - `procedures.rs`: procedures changed since the previous pass (`updatedAt[strictly_after]`),
//!   by page number.
//! - `users.rs`: the users, a full snapshot per pass (a plain array).
//! - `mapping.rs`: ECS and OCSF for both.

mod mapping;
mod procedures;
mod users;

use std::sync::Arc;

use super::Session;
use crate::core::source::{Source, Stream};
use crate::stream::Identity;

pub use procedures::Procedures;
pub use users::Users;

/// Procedures (`[sources.yousign_signature_requests]` under v2): one line per status change.
/// A v2 procedure carries `updatedAt`, so it is part of the identity: a procedure that changed
/// twice with the same status still gives two lines, and a re-read is absorbed by the ledger.
pub static YOUSIGN_PROCEDURES: Stream = Stream {
    key: "yousign_procedures",
    log_type: "yousign_procedure",
    vendor: super::NAME,
    product: "esignature",
    identity: Identity::Composite(&["id", "status", "updatedAt"]),
    time_field: Some("updatedAt"),
    actor: None,
    columns: &["id", "status", "name", "creator", "updatedAt"],
    render: mapping::procedure,
    render_text: None,
    newest_event: procedures::newest_event,
};

/// Users under v2 (`[sources.yousign_users]`): the current record of each user (the IRI
/// `/users/…` is the id); a changed one is an event. Its own log type: `yousign_user` is the
/// v3 record, whose fields differ.
pub static YOUSIGN_V2_USERS: Stream = Stream {
    key: "yousign_v2_users",
    log_type: "yousign_v2_user",
    vendor: super::NAME,
    product: "admin",
    identity: Identity::Snapshot("id"),
    time_field: None,
    actor: None,
    columns: &["id", "email", "permission", "status", "deleted"],
    render: mapping::user,
    render_text: None,
    newest_event: |_| None,
};

/// The enabled v2 sources of one Yousign tenant at the API root `base`: users first (a
/// snapshot), then procedures.
pub(super) fn enabled(
    s: &crate::connectors::SourcesConfig,
    session: &Arc<Session>,
    base: &str,
) -> Vec<Box<dyn Source>> {
    let mut v: Vec<Box<dyn Source>> = Vec::new();
    if s.yousign_users.enabled {
        v.push(Box::new(Users::new(session.clone(), &s.yousign_users, base)));
    }
    if s.yousign_signature_requests.enabled {
        v.push(Box::new(Procedures::new(session.clone(), &s.yousign_signature_requests, base)));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::super::config::{ApiVersion, enabled_for};
    use crate::connectors::SourcesConfig;

    #[test]
    fn each_generation_enables_its_own_streams() {
        let mut s = SourcesConfig::default();
        s.yousign_signature_requests.enabled = true;
        s.yousign_users.enabled = true;
        for (key, v2) in [
            ("yousign_procedures", true),
            ("yousign_v2_users", true),
            ("yousign_signature_requests", false),
            ("yousign_users", false),
        ] {
            assert_eq!(enabled_for(&s, key, ApiVersion::V2), Some(v2), "{key} under v2");
            assert_eq!(enabled_for(&s, key, ApiVersion::V3), Some(!v2), "{key} under v3");
        }
        s.yousign_users.enabled = false;
        assert_eq!(enabled_for(&s, "yousign_v2_users", ApiVersion::V2), Some(false), "the table decides too");
        assert_eq!(enabled_for(&s, "customer_events", ApiVersion::V2), None);
    }
}
