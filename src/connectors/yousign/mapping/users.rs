//! A user record (`yousign_user`: the v3 `User` object, a snapshot line with `_change`). Its
//! state is an inventory record (OCSF User Inventory Info; ECS `event.kind: state`, category
//! `iam`). When it changed since the stored record, a change event follows (id `chg:` + the
//! line's id): a deactivation or reactivation is an OCSF Account Change (Disable / Enable), a
//! role raised or lowered is User Access Management (Assign / Revoke Privileges), anything else
//! an Account Change "Other"; in ECS the user is `user.target` and what changed `user.changes`.

use serde_json::{Map, Value};

use super::classes::{ACCOUNT_CHANGE, OcsfClass, USER_ACCESS, USER_INVENTORY};
use super::{
    Line, Person, ecs_doc, ecs_event, object, ocsf_head, ocsf_metadata, original, own, put_obj, related, s, strings,
    text,
};
use crate::core::fields;
use crate::format::{Doc, Format, FormatOptions};

/// User fields placed in schema fields; the rest goes to `yousign.user` / `unmapped`.
const MAPPED: &[&str] = &["id", "email", "first_name", "last_name"];

/// Roles with administrative rights.
fn is_admin(role: &str) -> bool {
    matches!(role, "owner" | "admin")
}

/// What a change did, as far as the schemas tell it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Enabled,
    Disabled,
    /// The role now has more rights (`member` → `admin`).
    RoleRaised,
    RoleLowered,
    Other,
}

/// `_change.fields` of an updated record.
fn change_fields(raw: &Map<String, Value>) -> Option<Map<String, Value>> {
    let c = object(raw, fields::CHANGE)?;
    (text(c, "type") == Some("updated")).then(|| object(c, "fields").cloned().unwrap_or_default())
}

fn kind(fields: &Map<String, Value>) -> Kind {
    let to = |k: &str| fields.get(k).and_then(|c| c.get("to"));
    let from = |k: &str| fields.get(k).and_then(|c| c.get("from"));
    match to("is_active").and_then(Value::as_bool) {
        Some(true) => return Kind::Enabled,
        Some(false) => return Kind::Disabled,
        None => {}
    }
    let admin = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(is_admin);
    if fields.contains_key("role") {
        match (admin(from("role")), admin(to("role"))) {
            (false, true) => return Kind::RoleRaised,
            (true, false) => return Kind::RoleLowered,
            _ => {}
        }
    }
    Kind::Other
}

/// ECS `event.action` and the OCSF class and activity of a change.
fn classify(k: Kind) -> (&'static str, OcsfClass, (u8, &'static str)) {
    match k {
        Kind::Enabled => ("user-activated", ACCOUNT_CHANGE, (2, "Enable")),
        Kind::Disabled => ("user-deactivated", ACCOUNT_CHANGE, (5, "Disable")),
        Kind::RoleRaised => ("user-role-raised", USER_ACCESS, (1, "Assign Privileges")),
        Kind::RoleLowered => ("user-role-lowered", USER_ACCESS, (2, "Revoke Privileges")),
        Kind::Other => ("user-modified", ACCOUNT_CHANGE, (99, "Other")),
    }
}

/// `change_type` and `previous_event_id` of `_change`, for the vendor namespace.
fn change_meta(raw: &Map<String, Value>, d: &mut Map<String, Value>) {
    if let Some(c) = object(raw, fields::CHANGE) {
        d.extend(text(c, "type").map(|t| ("change_type".to_owned(), s(t))));
        d.extend(text(c, "previous_event_id").map(|p| ("previous_event_id".to_owned(), s(p))));
    }
}

/// A user record in `format`: its state and, when it changed, a change event (`chg:` + id).
pub(in crate::connectors::yousign) fn user(format: Format, raw: &Map<String, Value>, opts: FormatOptions) -> Vec<Doc> {
    let line = Line::new(raw);
    let id = line.event_id.to_owned();
    let chg_id = format!("chg:{id}");
    let changed = change_fields(raw);
    let (state, change) = match format {
        Format::Raw => (raw.clone(), None),
        Format::Ecs => (ecs_state(&line, opts), changed.as_ref().map(|f| ecs_change(&line, f, &chg_id))),
        Format::Ocsf => (ocsf_state(&line, opts), changed.as_ref().map(|f| ocsf_change(&line, f, &chg_id))),
    };
    let mut docs = vec![Doc { event_id: id, value: state }];
    if let Some(c) = change {
        docs.push(Doc { event_id: chg_id, value: c });
    }
    docs
}

/// ECS `user`-shaped fields of the record, with its role as `roles`.
fn ecs_user(raw: &Map<String, Value>) -> Map<String, Value> {
    let mut u = Person::from(raw).ecs();
    if let Some(role) = text(raw, "role") {
        u.insert("roles".into(), strings([role]));
    }
    u
}

fn ecs_state(line: &Line<'_>, opts: FormatOptions) -> Map<String, Value> {
    let raw = line.raw;
    let mut ev = ecs_event(line, "state", "iam", &["user", "info"], line.event_id);
    if opts.include_original {
        ev.insert("original".into(), original(raw));
    }
    let mut out = ecs_doc(line, None, ev);
    put_obj(&mut out, "user", ecs_user(raw));
    put_obj(&mut out, "related", related(&[&Person::from(raw)]));
    let mut d = own(raw, MAPPED);
    change_meta(raw, &mut d);
    let mut y = Map::new();
    y.insert("user".into(), Value::Object(d));
    out.insert("yousign".into(), Value::Object(y));
    out
}

fn ecs_change(line: &Line<'_>, f: &Map<String, Value>, id: &str) -> Map<String, Value> {
    let raw = line.raw;
    let k = kind(f);
    let (action, _, _) = classify(k);
    let types: &[&str] = if matches!(k, Kind::RoleRaised | Kind::RoleLowered) {
        &["user", "change", "admin"]
    } else {
        &["user", "change"]
    };
    let mut ev = ecs_event(line, "event", "iam", types, id);
    ev.insert("action".into(), s(action));
    ev.insert("outcome".into(), s("success"));
    let mut out = ecs_doc(line, None, ev);
    let to = |k: &str| f.get(k).and_then(|c| c.get("to")).and_then(Value::as_str);
    let mut changes = Map::new();
    if let Some(e) = to("email") {
        changes.insert("name".into(), s(e));
        changes.insert("email".into(), s(e));
    }
    if let Some(r) = to("role") {
        changes.insert("roles".into(), strings([r]));
    }
    if (f.contains_key("first_name") || f.contains_key("last_name"))
        && let Some(n) = Person::from(raw).full_name
    {
        changes.insert("full_name".into(), Value::String(n));
    }
    let mut user = Map::new();
    user.insert("target".into(), Value::Object(ecs_user(raw)));
    put_obj(&mut user, "changes", changes);
    out.insert("user".into(), Value::Object(user));
    put_obj(&mut out, "related", related(&[&Person::from(raw)]));
    let mut d = Map::new();
    d.insert("changes".into(), Value::Object(f.clone()));
    change_meta(raw, &mut d);
    d.insert("state_event_id".into(), s(line.event_id));
    let mut y = Map::new();
    y.insert("user".into(), Value::Object(d));
    out.insert("yousign".into(), Value::Object(y));
    out
}

/// An OCSF `user` of the record: identity, and `type` Admin for an owner or admin.
fn ocsf_user(raw: &Map<String, Value>) -> Map<String, Value> {
    let mut u = Person::from(raw).ocsf();
    if let Some(role) = text(raw, "role") {
        let (type_id, ty) = if is_admin(role) { (2, "Admin") } else { (1, "User") };
        u.insert("type_id".into(), type_id.into());
        u.insert("type".into(), s(ty));
    }
    u
}

fn ocsf_state(line: &Line<'_>, opts: FormatOptions) -> Map<String, Value> {
    let raw = line.raw;
    let md = ocsf_metadata(line, line.event_id);
    let mut out = ocsf_head(USER_INVENTORY, (2, "Collect"), (1, "Informational"), line, None, md);
    out.insert("user".into(), Value::Object(ocsf_user(raw)));
    let mut d = own(raw, MAPPED);
    change_meta(raw, &mut d);
    put_obj(&mut out, "unmapped", d);
    if opts.include_original {
        out.insert("raw_data".into(), original(raw));
    }
    out
}

fn ocsf_change(line: &Line<'_>, f: &Map<String, Value>, id: &str) -> Map<String, Value> {
    let raw = line.raw;
    let k = kind(f);
    let (action, class, activity) = classify(k);
    let md = ocsf_metadata(line, id);
    // Rights changes and deactivations are what an access review looks for.
    let severity = if k == Kind::Other { (1, "Informational") } else { (2, "Low") };
    let mut out = ocsf_head(class, (activity.0, action), severity, line, None, md);
    out.insert("user".into(), Value::Object(ocsf_user(raw)));
    if class == USER_ACCESS {
        let role = f.get("role").and_then(|c| c.get(if k == Kind::RoleRaised { "to" } else { "from" }));
        let privileges: Vec<Value> = role.and_then(Value::as_str).map(s).into_iter().collect();
        out.insert("privileges".into(), Value::Array(privileges));
    }
    super::ocsf_status(&mut out, true);
    let mut d = Map::new();
    d.insert("changes".into(), Value::Object(f.clone()));
    change_meta(raw, &mut d);
    d.insert("state_event_id".into(), s(line.event_id));
    out.insert("unmapped".into(), Value::Object(d));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_are_told_apart() {
        let f = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(kind(&f(json!({"is_active": {"from": true, "to": false}}))), Kind::Disabled);
        assert_eq!(kind(&f(json!({"is_active": {"from": false, "to": true}}))), Kind::Enabled);
        assert_eq!(kind(&f(json!({"role": {"from": "member", "to": "admin"}}))), Kind::RoleRaised);
        assert_eq!(kind(&f(json!({"role": {"from": "admin", "to": "member"}}))), Kind::RoleLowered);
        assert_eq!(kind(&f(json!({"role": {"from": "admin", "to": "owner"}}))), Kind::Other);
        assert_eq!(kind(&f(json!({"status": {"from": "pending", "to": "accepted"}}))), Kind::Other);
    }
}
