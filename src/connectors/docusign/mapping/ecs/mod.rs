//! The ECS 9.4.0 mapping, after Elastic's own SaaS audit pipelines (Okta, 1Password): the
//! actor in `user.*`, the affected user in `user.target.*`, the client in `source.*` and
//! `user_agent.*`, the classification in `event.*`, everything DocuSign-specific under
//! `docusign.*`. Admin user records are `event.kind: state`; their changes are events.

mod event;

pub(crate) use event::{EVENT_MAPPED, event};

use crate::core::fields;
use serde_json::{Map, Value};

use super::{
    LineView, UserKeys, UserRecord, changed_identity, groups_of, identity, is_blank, original, put_obj, s, text,
};
use crate::format::ECS_VERSION;

pub(super) fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::Array(items.into_iter().map(s).collect())
}

/// `event.*` fields every document has.
pub(super) fn event_base(
    line: &LineView<'_>,
    kind: &str,
    category: &[&str],
    ty: &[&str],
    id: &str,
) -> Map<String, Value> {
    let mut ev = Map::new();
    ev.insert("kind".into(), s(kind));
    ev.insert("category".into(), strings(category.iter().copied()));
    ev.insert("type".into(), strings(ty.iter().copied()));
    ev.insert("id".into(), s(id));
    if let Some(t) = line.collected_at {
        ev.insert("created".into(), s(t));
    }
    ev.insert("module".into(), s("docusign"));
    if let Some(p) = text(line.raw, "product") {
        ev.insert("provider".into(), s(p));
    }
    if let Some(t) = text(line.raw, fields::LOG_TYPE) {
        ev.insert("dataset".into(), Value::String(format!("docusign.{t}")));
    }
    ev
}

pub(super) fn head(line: &LineView<'_>, out: &mut Map<String, Value>) {
    if let Some(t) = line.time {
        out.insert("@timestamp".into(), s(t));
    }
    let mut ecs = Map::new();
    ecs.insert("version".into(), s(ECS_VERSION));
    out.insert("ecs".into(), Value::Object(ecs));
}

/// ECS names of the user identity fields.
pub(super) const KEYS: UserKeys = UserKeys { id: "id", email: "email" };

/// `user.*`-shaped fields (id, name = login email, email, full_name, group) of an Admin record.
pub(super) fn user_fields(u: UserRecord<'_>, m: &mut Map<String, Value>) {
    identity(u, &KEYS, m);
    put_obj(m, "group", group_fields(u.groups()));
}

pub(super) fn group_fields<'a>(
    groups: impl Iterator<Item = (Option<&'a str>, Option<&'a str>, bool)>,
) -> Map<String, Value> {
    let (mut ids, mut names) = (Vec::new(), Vec::new());
    for (id, name, _) in groups {
        ids.extend(id.map(s));
        names.extend(name.map(s));
    }
    let mut g = Map::new();
    if !ids.is_empty() {
        g.insert("id".into(), Value::Array(ids));
    }
    if !names.is_empty() {
        g.insert("name".into(), Value::Array(names));
    }
    g
}

/// Copies the fields of `from` not in `skip` (and not blank) into `to`.
pub(super) fn rest(from: &Map<String, Value>, skip: &[&str], to: &mut Map<String, Value>) {
    for (k, v) in from {
        if !is_blank(v) && !skip.contains(&k.as_str()) {
            to.insert(k.clone(), v.clone());
        }
    }
}

/// An Admin user record: the user's state.
pub(super) fn user(line: &LineView<'_>, include_original: bool) -> Map<String, Value> {
    let raw = line.raw;
    let mut out = Map::new();
    head(line, &mut out);
    let mut ev = event_base(line, "state", &["iam"], &["user", "info"], line.event_id);
    if include_original {
        ev.insert("original".into(), original(raw));
    }
    out.insert("event".into(), Value::Object(ev));
    let u = UserRecord(raw);
    let mut user = Map::new();
    user_fields(u, &mut user);
    out.insert("related".into(), related_users(u));
    put_obj(&mut out, "user", user);
    let mut d = Map::new();
    let mut skip = vec!["id", "email", "user_name", "_change"];
    skip.extend(fields::LINE);
    rest(raw, &skip, &mut d);
    if let Some(c) = line.change() {
        d.insert("change_type".into(), s(if c.updated { "updated" } else { "observed" }));
        if let Some(p) = c.previous_event_id {
            d.insert("previous_event_id".into(), s(p));
        }
    }
    let mut docusign = Map::new();
    docusign.insert("user".into(), Value::Object(d));
    out.insert("docusign".into(), Value::Object(docusign));
    out
}

fn related_users(u: UserRecord<'_>) -> Value {
    let mut r = Map::new();
    r.insert("user".into(), strings(u.id().into_iter().chain(u.email())));
    Value::Object(r)
}

/// The change event of an Admin user record that changed since the last snapshot.
pub(super) fn user_change(line: &LineView<'_>) -> Map<String, Value> {
    let raw = line.raw;
    let mut out = Map::new();
    head(line, &mut out);
    let id = format!("chg:{}", line.event_id);
    let mut ev = event_base(line, "event", &["iam"], &["user", "change"], &id);
    ev.insert("action".into(), s("user-modified"));
    out.insert("event".into(), Value::Object(ev));
    let u = UserRecord(raw);
    let mut target = Map::new();
    user_fields(u, &mut target);
    let change = line.change();
    let fields = change.and_then(|c| c.fields);
    let mut user = Map::new();
    user.insert("target".into(), Value::Object(target));
    let mut changes = Map::new();
    if let Some(f) = fields {
        let groups = changed_identity(u, f, &KEYS, &mut changes);
        put_obj(&mut changes, "group", group_fields(groups_of(groups)));
    }
    put_obj(&mut user, "changes", changes);
    out.insert("user".into(), Value::Object(user));
    out.insert("related".into(), related_users(u));
    let mut d = Map::new();
    if let Some(f) = fields {
        d.insert("changes".into(), Value::Object(f.clone()));
    }
    if let Some(p) = change.and_then(|c| c.previous_event_id) {
        d.insert("previous_event_id".into(), s(p));
    }
    d.insert("state_event_id".into(), s(line.event_id));
    let mut docusign = Map::new();
    docusign.insert("user".into(), Value::Object(d));
    out.insert("docusign".into(), Value::Object(docusign));
    out
}
