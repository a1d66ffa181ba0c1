//! ECS 9.4.0 and OCSF 1.4.0 for the v2 lines, built with the shared pieces of `../mapping/`:
//! - a procedure status line (`yousign_procedure`, the v2.1 `ProcedureOutput` as listed): the
//!   procedure is the entity (OCSF Entity Management, type "Signature Request"; ECS
//!   `event.category: file`), its creator the actor, its members the people `related` names.
//!   The time is `updatedAt` (the line's `_time`). A refused procedure is a failure outcome.
//! - a user record (`yousign_v2_user`, the v2.1 `UserOutput`, a snapshot line with `_change`):
//!   its state (OCSF User Inventory Info; ECS `event.kind: state`), and when it changed a change
//!   event (id `chg:` + the line's id): a deletion is an Account Change Disable, an activation
//!   Enable, a permission raised to or lowered from `ROLE_ADMIN` User Access Management Assign /
//!   Revoke Privileges, anything else Account Change "Other".
//!
//! The v2 names differ from v3's (`firstname`, `creatorFirstName`, `permission`, IRI ids), so
//! the people are read here; the documents are built as `../mapping/` builds them.

use serde_json::{Map, Value};

use super::super::mapping::classes::{ACCOUNT_CHANGE, ENTITY_MANAGEMENT, OcsfClass, USER_ACCESS, USER_INVENTORY};
use super::super::mapping::{
    Line, Person, ecs_doc, ecs_event, object, ocsf_head, ocsf_metadata, ocsf_status, original, own, put_obj, related,
    s, strings, text,
};
use crate::core::fields;
use crate::format::{Doc, Format, FormatOptions};

/// `first last` from two optional name fields.
fn full_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    match (first, last) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(n), None) | (None, Some(n)) => Some(n.to_owned()),
        (None, None) => None,
    }
}

/// A v2 person (`{id, firstname, lastname, email, phone}`: a user or a member).
fn person(m: &Map<String, Value>) -> Person<'_> {
    Person {
        id: text(m, "id"),
        email: text(m, "email"),
        full_name: full_name(text(m, "firstname"), text(m, "lastname")),
        phone: text(m, "phone"),
        ip: None,
    }
}

/// A procedure's creator: its IRI and the names the list gives.
fn creator(raw: &Map<String, Value>) -> Person<'_> {
    Person {
        id: text(raw, "creator"),
        full_name: full_name(text(raw, "creatorFirstName"), text(raw, "creatorLastName")),
        ..Person::default()
    }
}

/// OCSF Entity Management activity and ECS `event.type` of a v2 status (`draft`, `active`,
/// `finished`, `expired`, `refused`).
fn verb(status: &str) -> ((u8, &'static str), &'static str) {
    match status {
        "draft" => ((1, "Create"), "creation"),
        "active" => ((10, "Activate"), "change"),
        "" => ((99, "Other"), "info"),
        _ => ((3, "Update"), "change"),
    }
}

/// A procedure status line in `format`: one document.
pub(super) fn procedure(format: Format, raw: &Map<String, Value>, opts: FormatOptions) -> Vec<Doc> {
    let line = Line::new(raw);
    let status = text(raw, "status").unwrap_or_default();
    let failed = status == "refused";
    let (activity, ecs_type) = verb(status);
    let by = creator(raw);
    let members: Vec<Person<'_>> = raw
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(person)
        .collect();
    let message = text(raw, "name").map(|n| format!("Procedure {status}: {n}"));
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => {
            let mut ev = ecs_event(&line, "event", "file", &[ecs_type], line.event_id);
            ev.insert("action".into(), Value::String(format!("procedure-{status}")));
            ev.insert("outcome".into(), s(if failed { "failure" } else { "success" }));
            if opts.include_original {
                ev.insert("original".into(), original(raw));
            }
            let mut out = ecs_doc(&line, None, ev);
            put_obj(&mut out, "user", by.ecs());
            let people: Vec<&Person<'_>> = std::iter::once(&by).chain(&members).collect();
            put_obj(&mut out, "related", related(&people));
            out.extend(message.map(|m| ("message".to_owned(), Value::String(m))));
            let mut y = Map::new();
            y.insert("procedure".into(), Value::Object(own(raw, &[])));
            out.insert("yousign".into(), Value::Object(y));
            out
        }
        Format::Ocsf => {
            let severity = if failed { (2, "Low") } else { (1, "Informational") };
            let md = ocsf_metadata(&line, line.event_id);
            let mut out = ocsf_head(ENTITY_MANAGEMENT, activity, severity, &line, None, md);
            let mut e = Map::new();
            e.insert("type_id".into(), 99.into());
            e.insert("type".into(), s("Signature Request"));
            e.insert("uid".into(), s(text(raw, "id").unwrap_or("unknown")));
            e.extend(text(raw, "name").map(|n| ("name".to_owned(), s(n))));
            put_obj(&mut e, "data", own(raw, &[]));
            out.insert("entity".into(), Value::Object(e));
            if !by.is_empty() {
                let mut actor = Map::new();
                actor.insert("user".into(), Value::Object(by.ocsf()));
                out.insert("actor".into(), Value::Object(actor));
            }
            ocsf_status(&mut out, !failed);
            if !status.is_empty() {
                out.insert("status_detail".into(), s(status));
            }
            out.extend(message.map(|m| ("message".to_owned(), Value::String(m))));
            if opts.include_original {
                out.insert("raw_data".into(), original(raw));
            }
            out
        }
    };
    vec![Doc { event_id: line.event_id.to_owned(), value }]
}

/// User fields placed in schema fields; the rest goes to `yousign.user` / `unmapped`.
const MAPPED: &[&str] = &["id", "email", "firstname", "lastname", "fullName"];

/// A v2 permission with administrative rights.
fn is_admin(permission: &str) -> bool {
    permission.contains("ADMIN")
}

/// What a change did: ECS `event.action`, the OCSF class and activity.
fn classify(f: &Map<String, Value>) -> (&'static str, OcsfClass, (u8, &'static str)) {
    let to = |k: &str| f.get(k).and_then(|c| c.get("to"));
    let from = |k: &str| f.get(k).and_then(|c| c.get("from"));
    let admin = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(is_admin);
    if to("deleted").and_then(Value::as_bool) == Some(true) {
        return ("user-deleted", ACCOUNT_CHANGE, (5, "Disable"));
    }
    if to("status").and_then(Value::as_str) == Some("activated") {
        return ("user-activated", ACCOUNT_CHANGE, (2, "Enable"));
    }
    if f.contains_key("permission") {
        match (admin(from("permission")), admin(to("permission"))) {
            (false, true) => return ("user-role-raised", USER_ACCESS, (1, "Assign Privileges")),
            (true, false) => return ("user-role-lowered", USER_ACCESS, (2, "Revoke Privileges")),
            _ => {}
        }
    }
    ("user-modified", ACCOUNT_CHANGE, (99, "user-modified"))
}

/// `_change.fields` of an updated record.
fn change_fields(raw: &Map<String, Value>) -> Option<Map<String, Value>> {
    let c = object(raw, fields::CHANGE)?;
    (text(c, "type") == Some("updated")).then(|| object(c, "fields").cloned().unwrap_or_default())
}

/// The vendor namespace of a user document: its own fields (or `changes`) and `_change`'s
/// type and previous id.
fn vendor(raw: &Map<String, Value>, mut d: Map<String, Value>) -> Map<String, Value> {
    if let Some(c) = object(raw, fields::CHANGE) {
        d.extend(text(c, "type").map(|t| ("change_type".to_owned(), s(t))));
        d.extend(text(c, "previous_event_id").map(|p| ("previous_event_id".to_owned(), s(p))));
    }
    d
}

fn ecs_user(raw: &Map<String, Value>) -> Map<String, Value> {
    let mut u = person(raw).ecs();
    if let Some(p) = text(raw, "permission") {
        u.insert("roles".into(), strings([p]));
    }
    u
}

fn ocsf_user(raw: &Map<String, Value>) -> Map<String, Value> {
    let mut u = person(raw).ocsf();
    if let Some(p) = text(raw, "permission") {
        let (type_id, ty) = if is_admin(p) { (2, "Admin") } else { (1, "User") };
        u.insert("type_id".into(), type_id.into());
        u.insert("type".into(), s(ty));
    }
    u
}

/// A user record in `format`: its state and, when it changed, a change event (`chg:` + id).
pub(super) fn user(format: Format, raw: &Map<String, Value>, opts: FormatOptions) -> Vec<Doc> {
    let line = Line::new(raw);
    let id = line.event_id.to_owned();
    let chg_id = format!("chg:{id}");
    let changed = change_fields(raw);
    let (state, change) = match format {
        Format::Raw => (raw.clone(), None),
        Format::Ecs => (user_ecs(&line, opts), changed.as_ref().map(|f| change_ecs(&line, f, &chg_id))),
        Format::Ocsf => (user_ocsf(&line, opts), changed.as_ref().map(|f| change_ocsf(&line, f, &chg_id))),
    };
    let mut docs = vec![Doc { event_id: id, value: state }];
    docs.extend(change.map(|value| Doc { event_id: chg_id, value }));
    docs
}

fn user_ecs(line: &Line<'_>, opts: FormatOptions) -> Map<String, Value> {
    let raw = line.raw;
    let mut ev = ecs_event(line, "state", "iam", &["user", "info"], line.event_id);
    if opts.include_original {
        ev.insert("original".into(), original(raw));
    }
    let mut out = ecs_doc(line, None, ev);
    put_obj(&mut out, "user", ecs_user(raw));
    put_obj(&mut out, "related", related(&[&person(raw)]));
    let mut y = Map::new();
    y.insert("user".into(), Value::Object(vendor(raw, own(raw, MAPPED))));
    out.insert("yousign".into(), Value::Object(y));
    out
}

fn change_ecs(line: &Line<'_>, f: &Map<String, Value>, id: &str) -> Map<String, Value> {
    let raw = line.raw;
    let (action, class, _) = classify(f);
    let types: &[&str] = if class == USER_ACCESS { &["user", "change", "admin"] } else { &["user", "change"] };
    let mut ev = ecs_event(line, "event", "iam", types, id);
    ev.insert("action".into(), s(action));
    ev.insert("outcome".into(), s("success"));
    let mut out = ecs_doc(line, None, ev);
    let mut user = Map::new();
    user.insert("target".into(), Value::Object(ecs_user(raw)));
    out.insert("user".into(), Value::Object(user));
    put_obj(&mut out, "related", related(&[&person(raw)]));
    let mut d = Map::new();
    d.insert("changes".into(), Value::Object(f.clone()));
    d.insert("state_event_id".into(), s(line.event_id));
    let mut y = Map::new();
    y.insert("user".into(), Value::Object(vendor(raw, d)));
    out.insert("yousign".into(), Value::Object(y));
    out
}

fn user_ocsf(line: &Line<'_>, opts: FormatOptions) -> Map<String, Value> {
    let raw = line.raw;
    let md = ocsf_metadata(line, line.event_id);
    let mut out = ocsf_head(USER_INVENTORY, (2, "Collect"), (1, "Informational"), line, None, md);
    out.insert("user".into(), Value::Object(ocsf_user(raw)));
    put_obj(&mut out, "unmapped", vendor(raw, own(raw, MAPPED)));
    if opts.include_original {
        out.insert("raw_data".into(), original(raw));
    }
    out
}

fn change_ocsf(line: &Line<'_>, f: &Map<String, Value>, id: &str) -> Map<String, Value> {
    let raw = line.raw;
    let (_, class, activity) = classify(f);
    let md = ocsf_metadata(line, id);
    // Rights changes and deletions are what an access review looks for.
    let severity = if activity.0 == 99 { (1, "Informational") } else { (2, "Low") };
    let mut out = ocsf_head(class, activity, severity, line, None, md);
    out.insert("user".into(), Value::Object(ocsf_user(raw)));
    if class == USER_ACCESS {
        let side = if activity.0 == 1 { "to" } else { "from" };
        let p = f.get("permission").and_then(|c| c.get(side)).and_then(Value::as_str);
        out.insert("privileges".into(), Value::Array(p.map(s).into_iter().collect()));
    }
    ocsf_status(&mut out, true);
    let mut d = Map::new();
    d.insert("changes".into(), Value::Object(f.clone()));
    d.insert("state_event_id".into(), s(line.event_id));
    out.insert("unmapped".into(), Value::Object(vendor(raw, d)));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::super::mapping::schema_check::{check_ecs, check_ocsf};
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        let Value::Object(m) = v else { panic!("not an object: {v}") };
        m
    }

    fn line(mut m: Map<String, Value>, log_type: &str, time: &str) -> Map<String, Value> {
        m.insert("event_id".into(), json!("ev1"));
        m.insert("_time".into(), json!(time));
        m.insert("_collected_at".into(), json!("2026-11-23T12:00:00.123Z"));
        m.insert("source_log_type".into(), json!(log_type));
        m.insert("vendor".into(), json!("yousign"));
        m.insert("product".into(), json!("esignature"));
        m
    }

    fn checked(docs: &[Doc], ocsf: bool) -> Vec<(u64, u64)> {
        docs.iter()
            .filter_map(|d| {
                if ocsf {
                    Some(check_ocsf(&d.event_id, &d.value))
                } else {
                    check_ecs(&d.event_id, &d.value);
                    None
                }
            })
            .collect()
    }

    #[test]
    fn procedures_in_every_status_hold_to_the_schemas() {
        let opts = FormatOptions { include_original: true };
        for (status, activity) in [("draft", 1), ("active", 10), ("finished", 3), ("expired", 3), ("refused", 3)] {
            let raw = line(
                obj(json!({
                    "id": "/procedures/1", "name": "NDA", "status": status,
                    "updatedAt": "2026-11-20T10:00:00+00:00", "creator": "/users/9",
                    "creatorFirstName": "Jane", "creatorLastName": "Doe",
                    "members": [{"id": "/members/2", "email": "bob@example.com", "firstname": "Bob", "status": "done"}],
                })),
                "yousign_procedure",
                "2026-11-20T10:00:00Z",
            );
            let ecs = procedure(Format::Ecs, &raw, opts);
            checked(&ecs, false);
            assert_eq!(ecs[0].value["event"]["outcome"], if status == "refused" { "failure" } else { "success" });
            assert!(ecs[0].value["related"]["user"].as_array().unwrap().contains(&json!("bob@example.com")));
            let ocsf = procedure(Format::Ocsf, &raw, opts);
            assert_eq!(checked(&ocsf, true), vec![(3004, activity)]);
            assert_eq!(ocsf[0].value["actor"]["user"]["uid"], "/users/9");
        }
    }

    #[test]
    fn users_and_their_changes_hold_to_the_schemas() {
        let base = json!({"id": "/users/9", "firstname": "Jane", "lastname": "Doe", "email": "jane@example.com",
                          "permission": "ROLE_ADMIN", "status": "activated", "deleted": false});
        let opts = FormatOptions { include_original: false };
        let state = line(obj(base.clone()), "yousign_v2_user", "2026-11-23T12:00:00.123Z");
        assert_eq!(checked(&user(Format::Ocsf, &state, opts), true), vec![(5003, 2)]);
        checked(&user(Format::Ecs, &state, opts), false);
        for (fields, want) in [
            (json!({"permission": {"from": "ROLE_USER", "to": "ROLE_ADMIN"}}), (3005, 1)),
            (json!({"permission": {"from": "ROLE_ADMIN", "to": "ROLE_USER"}}), (3005, 2)),
            (json!({"deleted": {"from": false, "to": true}}), (3001, 5)),
            (json!({"status": {"from": "not_activated", "to": "activated"}}), (3001, 2)),
            (json!({"email": {"from": "a@example.com", "to": "jane@example.com"}}), (3001, 99)),
        ] {
            let mut m = obj(base.clone());
            m.insert("_change".into(), json!({"type": "updated", "fields": fields, "previous_event_id": "old"}));
            let raw = line(m, "yousign_v2_user", "2026-11-23T12:00:00.123Z");
            let ocsf = user(Format::Ocsf, &raw, opts);
            assert_eq!(checked(&ocsf, true), vec![(5003, 2), want]);
            assert_eq!(ocsf[1].event_id, "chg:ev1");
            checked(&user(Format::Ecs, &raw, opts), false);
        }
    }
}
