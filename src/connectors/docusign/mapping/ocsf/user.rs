//! The OCSF 1.4.0 mapping of Admin user records: each record is a User Inventory Info event
//! (activity Collect: we polled the directory); a record that changed since the last snapshot
//! also gives an Account Change event whose `user_result` holds the new values.

use crate::core::fields;
use serde_json::{Map, Value};

use super::{group_objects, header, metadata, user_object};
use crate::connectors::docusign::mapping::classes::{ACCOUNT_CHANGE, USER_INVENTORY};
use crate::connectors::docusign::mapping::{
    LineView, UserRecord, changed_identity, groups_of, is_blank, original, put_obj, s,
};

/// Line fields the header maps, and record fields `user` holds; the rest is `unmapped`.
const MAPPED: &[&str] = &["id", "email", "user_name", fields::CHANGE];
const PRODUCT: &str = "DocuSign Admin";

/// `user` of a record: its fields, and `type` Admin when one of its groups is an admin group.
fn user(u: UserRecord<'_>) -> Map<String, Value> {
    let mut m = Map::new();
    user_object(u, &mut m);
    let (id, name) = if u.groups().any(|(_, _, admin)| admin) { (2, "Admin") } else { (1, "User") };
    m.insert("type_id".into(), id.into());
    m.insert("type".into(), s(name));
    m
}

/// An Admin user record: User Inventory Info.
pub(crate) fn user_state(line: &LineView<'_>, include_original: bool) -> Map<String, Value> {
    let raw = line.raw;
    let meta = metadata(line, PRODUCT, line.event_id);
    let mut out = header(USER_INVENTORY, 2, "Collect", (1, "Informational"), line, meta);
    out.insert("user".into(), Value::Object(user(UserRecord(raw))));
    let mut unmapped = Map::new();
    for (k, v) in raw {
        if !is_blank(v) && !MAPPED.contains(&k.as_str()) && !fields::is_line_field(k) {
            unmapped.insert(k.clone(), v.clone());
        }
    }
    if let Some(c) = line.change() {
        unmapped.insert("change_type".into(), s(if c.updated { "updated" } else { "observed" }));
        if let Some(p) = c.previous_event_id {
            unmapped.insert("previous_event_id".into(), s(p));
        }
    }
    put_obj(&mut out, "unmapped", unmapped);
    if include_original {
        out.insert("raw_data".into(), original(raw));
    }
    out
}

/// Account Change's activity for a diff: closing a user (or its membership) disables it,
/// reopening enables it; anything else is "Other" (named `Update`).
fn activity(fields: Option<&Map<String, Value>>) -> (u8, &'static str) {
    let side = |k: &str, side: &str| {
        fields.and_then(|f| f.get(k)).and_then(|c| c.get(side)).and_then(Value::as_str).unwrap_or_default()
    };
    let inactive = |v: &str| matches!(v, "closed" | "disabled");
    for k in ["user_status", "membership_status"] {
        let (from, to) = (side(k, "from"), side(k, "to"));
        if inactive(to) && !inactive(from) {
            return (5, "Disable");
        }
        if inactive(from) && !to.is_empty() && !inactive(to) {
            return (2, "Enable");
        }
    }
    (99, "Update")
}

/// The change event of an Admin user record that changed since the last snapshot.
pub(crate) fn user_change(line: &LineView<'_>) -> Map<String, Value> {
    let raw = line.raw;
    let change = line.change();
    let fields = change.and_then(|c| c.fields);
    let mut meta = metadata(line, PRODUCT, &format!("chg:{}", line.event_id));
    meta.insert("correlation_uid".into(), s(line.event_id));
    let (id, name) = activity(fields);
    let mut out = header(ACCOUNT_CHANGE, id, name, (1, "Informational"), line, meta);
    let u = UserRecord(raw);
    out.insert("user".into(), Value::Object(user(u)));

    let mut result = Map::new();
    if let Some(uid) = u.id() {
        result.insert("uid".into(), s(uid));
    }
    if let Some(f) = fields
        && let Some(list) = changed_identity(u, f, &super::KEYS, &mut result)
    {
        result.insert("groups".into(), Value::Array(group_objects(groups_of(Some(list)))));
    }
    if !result.is_empty() {
        out.insert("user_result".into(), Value::Object(result));
    }
    let mut unmapped = Map::new();
    if let Some(f) = fields {
        unmapped.insert("changes".into(), Value::Object(f.clone()));
    }
    if let Some(p) = change.and_then(|c| c.previous_event_id) {
        unmapped.insert("previous_event_id".into(), s(p));
    }
    put_obj(&mut out, "unmapped", unmapped);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn closing_disables_and_reopening_enables() {
        let f = |v: Value| v.as_object().cloned();
        let close = f(json!({"user_status": {"from": "active", "to": "closed"}}));
        let reopen = f(json!({"membership_status": {"from": "closed", "to": "active"}}));
        let rename = f(json!({"last_name": {"from": "A", "to": "B"}}));
        assert_eq!(activity(close.as_ref()), (5, "Disable"));
        assert_eq!(activity(reopen.as_ref()), (2, "Enable"));
        assert_eq!(activity(rename.as_ref()), (99, "Update"));
        assert_eq!(activity(None), (99, "Update"));
    }
}
