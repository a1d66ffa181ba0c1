//! The OCSF 1.4.0 mapping: Monitor events (`event.rs`: one class per family, see `vocab`) and
//! Admin user records (`user.rs`). This file holds what both build: the class header, the
//! metadata and the `user` object.

mod event;
mod user;

pub(crate) use event::{ALWAYS_MAPPED, INTERNAL_KEY, event};
pub(crate) use user::{user_change, user_state};

use serde_json::{Map, Value};

use super::classes::OcsfClass;
use super::{LineView, UserKeys, UserRecord, identity, s, text};
use crate::core::fields;
use crate::format::OCSF_VERSION;

/// The class, activity, severity, time and metadata every OCSF event starts with.
pub(super) fn header(
    class: OcsfClass,
    activity_id: u8,
    activity_name: &str,
    (severity_id, severity): (u8, &str),
    line: &LineView<'_>,
    metadata: Map<String, Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("class_uid".into(), class.uid.into());
    out.insert("class_name".into(), s(class.name));
    out.insert("category_uid".into(), class.category_uid.into());
    out.insert("category_name".into(), s(class.category_name));
    out.insert("activity_id".into(), activity_id.into());
    out.insert("activity_name".into(), s(activity_name));
    out.insert("type_uid".into(), (u64::from(class.uid) * 100 + u64::from(activity_id)).into());
    let caption = class.activity_caption(activity_id);
    out.insert("type_name".into(), Value::String(format!("{}: {caption}", class.name)));
    out.insert("severity_id".into(), severity_id.into());
    out.insert("severity".into(), s(severity));
    out.insert("time".into(), line.time_ms().into());
    out.insert("metadata".into(), Value::Object(metadata));
    out
}

/// `metadata`: product, version, `uid`, and when the collector logged the line.
pub(super) fn metadata(line: &LineView<'_>, product: &str, uid: &str) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("name".into(), s(product));
    p.insert("vendor_name".into(), s("DocuSign"));
    let mut m = Map::new();
    m.insert("product".into(), Value::Object(p));
    m.insert("version".into(), s(OCSF_VERSION));
    m.insert("uid".into(), s(uid));
    if let Some(t) = line.collected_at.and_then(super::millis) {
        m.insert("logged_time".into(), t.into());
    }
    if let Some(n) = text(line.raw, fields::LOG_TYPE) {
        m.insert("log_name".into(), s(n));
    }
    m
}

/// OCSF `group` objects (uid, name) from `(id, name, is_admin)` triples; nameless ones left out.
pub(super) fn group_objects<'a>(groups: impl Iterator<Item = (Option<&'a str>, Option<&'a str>, bool)>) -> Vec<Value> {
    groups
        .filter(|(id, name, _)| id.is_some() || name.is_some())
        .map(|(id, name, _)| {
            let mut g = Map::new();
            g.extend(id.map(|v| ("uid".to_owned(), s(v))));
            g.extend(name.map(|v| ("name".to_owned(), s(v))));
            Value::Object(g)
        })
        .collect()
}

/// OCSF names of the user identity fields.
pub(super) const KEYS: UserKeys = UserKeys { id: "uid", email: "email_addr" };

/// An OCSF `user` from an Admin record: uid, name (the login email), email, full name, groups.
pub(super) fn user_object(u: UserRecord<'_>, m: &mut Map<String, Value>) {
    identity(u, &KEYS, m);
    let groups = group_objects(u.groups());
    if !groups.is_empty() {
        m.insert("groups".into(), Value::Array(groups));
    }
}

/// `{"uid": uid}`.
pub(super) fn uid_object(uid: &str) -> Value {
    super::keyed("uid", uid)
}
