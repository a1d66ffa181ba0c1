//! DocuSign's ECS 9.4.0 and OCSF 1.4.0 mappings: Monitor customer events and Admin user
//! records. Pure functions, no I/O.
//!
//! # Architecture
//! - this file: the two streams' render functions, and a view of the fields both mappings
//!   read (times, the acting user's Admin record, `_change`).
//! - `connect.rs`: DocuSign Connect messages (both formats).
//! - `vocab.rs`: which family a Monitor `object`/`action` belongs to, and its ECS category/type
//!   and OCSF class/activity.
//! - `classes.rs`: the OCSF classes emitted (ids, captions) and the severity scales.
//! - `ecs/`, `ocsf/`: the two mappings, each with `event.rs` (Monitor events) and its Admin
//!   user records (`ecs/mod.rs`, `ocsf/user.rs`).
//! - `text/`: Monitor events in both formats written straight from the line's text, without a
//!   tree (the fast path of `Stream::render_text`); the two tree mappings are its reference.
//!
//! `docs/mapping.md` is the field-by-field table; the tests validate every mapped event
//! against the official schemas (checked in under `tests/fixtures/`).

mod classes;
mod connect;
mod ecs;
mod envelopes;
mod ocsf;
mod text;
mod vocab;

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::core::fields;
use crate::format::{Doc, Format, FormatOptions};
pub(super) use envelopes::{envelope, envelope_audit};

pub(super) use connect::render as connect;
pub(super) use text::event as event_text;

/// A Monitor customer event in `format` (ECS or OCSF): one document.
pub(super) fn event(format: Format, raw: &Map<String, Value>, opts: FormatOptions) -> Vec<Doc> {
    let line = LineView::new(raw);
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => ecs::event(&line, opts.include_original),
        Format::Ocsf => ocsf::event(&line, opts.include_original),
    };
    vec![Doc { event_id: line.event_id.to_owned(), value }]
}

/// An Admin user record in `format` (ECS or OCSF): its state record and, when it changed, a
/// change event (ids: the line's `event_id`, and `"chg:" + event_id`).
pub(super) fn user(format: Format, raw: &Map<String, Value>, opts: FormatOptions) -> Vec<Doc> {
    let line = LineView::new(raw);
    let event_id = line.event_id.to_owned();
    let changed = line.change().is_some_and(|c| c.updated);
    let (state, change) = match format {
        Format::Raw => (raw.clone(), None),
        Format::Ecs => (ecs::user(&line, opts.include_original), changed.then(|| ecs::user_change(&line))),
        Format::Ocsf => (ocsf::user_state(&line, opts.include_original), changed.then(|| ocsf::user_change(&line))),
    };
    let mut docs = vec![Doc { event_id: event_id.clone(), value: state }];
    if let Some(change) = change {
        docs.push(Doc { event_id: format!("chg:{event_id}"), value: change });
    }
    docs
}

/// A non-empty string field.
pub(crate) fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Whether a value carries nothing (null, `""`, `{}`, `[]`): such fields are left out.
pub(crate) fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A string value.
pub(crate) fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// Inserts `m` under `key` unless it is empty.
pub(crate) fn put_obj(out: &mut Map<String, Value>, key: &str, m: Map<String, Value>) {
    if !m.is_empty() {
        out.insert(key.to_owned(), Value::Object(m));
    }
}

/// The fields of a raw line both mappings read.
#[derive(Debug)]
pub(crate) struct LineView<'a> {
    pub(crate) raw: &'a Map<String, Value>,
    pub(crate) event_id: &'a str,
    /// `_time` (RFC 3339), falling back to the record's own `timestamp`.
    pub(crate) time: Option<&'a str>,
    pub(crate) collected_at: Option<&'a str>,
}

impl<'a> LineView<'a> {
    pub(crate) fn new(raw: &'a Map<String, Value>) -> Self {
        Self {
            raw,
            event_id: text(raw, fields::EVENT_ID).unwrap_or_default(),
            time: text(raw, fields::TIME).or_else(|| text(raw, "timestamp")),
            collected_at: text(raw, fields::COLLECTED_AT),
        }
    }

    /// `time` in Unix milliseconds (0 when absent or unreadable).
    pub(crate) fn time_ms(&self) -> i64 {
        self.time.and_then(millis).unwrap_or(0)
    }

    /// The `_change` of a user record.
    pub(crate) fn change(&self) -> Option<Change<'a>> {
        let c = self.raw.get("_change")?.as_object()?;
        Some(Change {
            updated: text(c, "type") == Some("updated"),
            previous_event_id: text(c, "previous_event_id"),
            fields: c.get("fields").and_then(Value::as_object),
        })
    }
}

/// RFC 3339 → Unix milliseconds.
pub(crate) fn millis(t: &str) -> Option<i64> {
    crate::format::time::parse_time(t).map(|(t, _)| t.timestamp_millis())
}

/// A user record's `_change`: first observation or a change since the last stored snapshot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Change<'a> {
    /// `type: "updated"` (a change); otherwise `"observed"` (first sight).
    pub(crate) updated: bool,
    pub(crate) previous_event_id: Option<&'a str>,
    /// `{field: {from, to}}`.
    pub(crate) fields: Option<&'a Map<String, Value>>,
}

/// An Admin user record (a user line itself, or the `_user` enrichment of an event).
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserRecord<'a>(pub(crate) &'a Map<String, Value>);

/// The names a schema gives a user's identity fields.
#[derive(Debug)]
pub(crate) struct UserKeys {
    /// The user id: ECS `id`, OCSF `uid`.
    pub(crate) id: &'static str,
    /// The email address: ECS `email`, OCSF `email_addr`.
    pub(crate) email: &'static str,
}

/// Identity fields of an Admin record: the id (unless already set), `name` (the login email),
/// the email and `full_name`.
pub(crate) fn identity(u: UserRecord<'_>, keys: &UserKeys, m: &mut Map<String, Value>) {
    if let Some(id) = u.id() {
        m.entry(keys.id).or_insert_with(|| s(id));
    }
    if let Some(e) = u.email() {
        m.insert("name".into(), s(e));
        m.insert(keys.email.into(), s(e));
    }
    if let Some(n) = u.full_name() {
        m.insert("full_name".into(), s(&n));
    }
}

/// The acting user a Monitor event names itself: `userId`, and `userEmail` (the login name).
pub(crate) fn event_actor(raw: &Map<String, Value>, keys: &UserKeys, m: &mut Map<String, Value>) {
    if let Some(id) = text(raw, "userId") {
        m.insert(keys.id.into(), s(id));
    }
    if let Some(e) = text(raw, "userEmail") {
        m.insert("name".into(), s(e));
        m.insert(keys.email.into(), s(e));
    }
}

/// What a user change set, from its `_change.fields`: `name` and the email from a new email,
/// `full_name` when a part of the name changed. Returns the changed groups list, if any.
pub(crate) fn changed_identity<'a>(
    u: UserRecord<'_>,
    fields: &'a Map<String, Value>,
    keys: &UserKeys,
    m: &mut Map<String, Value>,
) -> Option<&'a Value> {
    let to = |k: &str| fields.get(k).and_then(|c| c.get("to"));
    if let Some(Value::String(e)) = to("email") {
        m.insert("name".into(), s(e));
        m.insert(keys.email.into(), s(e));
    }
    if ["user_name", "first_name", "last_name"].iter().any(|k| fields.contains_key(*k))
        && let Some(n) = u.full_name()
    {
        m.insert("full_name".into(), s(&n));
    }
    to("ds_groups").or_else(|| to("groups"))
}

/// `{key: value}`.
pub(crate) fn keyed(key: &str, value: &str) -> Value {
    let mut m = Map::new();
    m.insert(key.to_owned(), s(value));
    Value::Object(m)
}

/// The Monitor event fields both mappings place in schema fields (each adds its own).
pub(crate) const MONITOR_MAPPED: &[&str] =
    &["timestamp", "eventId", "userId", "userEmail", "accountId", "organizationId", "ipAddress"];

/// The fields of an Admin user record the mappings place in schema fields; the rest goes to
/// the vendor namespace (ECS `docusign.user`, OCSF `unmapped`).
pub(crate) const USER_MAPPED: &[&str] = &["id", "email", "user_name", "groups", "ds_groups"];

impl<'a> UserRecord<'a> {
    pub(crate) fn id(self) -> Option<&'a str> {
        text(self.0, "id")
    }

    pub(crate) fn email(self) -> Option<&'a str> {
        text(self.0, "email")
    }

    /// `user_name` (DocuSign's display name), else first and last name.
    pub(crate) fn full_name(self) -> Option<Cow<'a, str>> {
        if let Some(n) = text(self.0, "user_name") {
            return Some(Cow::Borrowed(n));
        }
        match (text(self.0, "first_name"), text(self.0, "last_name")) {
            (Some(f), Some(l)) => Some(Cow::Owned(format!("{f} {l}"))),
            (Some(n), None) | (None, Some(n)) => Some(Cow::Borrowed(n)),
            (None, None) => None,
        }
    }

    /// `(id, name, is_admin)` of each group: Admin API `ds_groups` (`ds_group_id`,
    /// `group_name`) or the collector's `groups` (`id`, `name`).
    pub(crate) fn groups(self) -> impl Iterator<Item = (Option<&'a str>, Option<&'a str>, bool)> {
        groups_of(self.0.get("groups").or_else(|| self.0.get("ds_groups")))
    }
}

/// `(id, name, is_admin)` of each group object in a `groups`/`ds_groups` list.
pub(crate) fn groups_of(list: Option<&Value>) -> impl Iterator<Item = (Option<&str>, Option<&str>, bool)> {
    list.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object).map(|g| {
        let id = text(g, "id").or_else(|| text(g, "ds_group_id")).or_else(|| text(g, "group_id"));
        let name = text(g, "name").or_else(|| text(g, "group_name"));
        (id, name, g.get("is_admin").and_then(Value::as_bool).unwrap_or(false))
    })
}

/// The acting user's Admin record on a Monitor event, if the collector attached one.
pub(crate) fn enrichment(raw: &Map<String, Value>) -> Option<UserRecord<'_>> {
    raw.get("_user").and_then(Value::as_object).map(UserRecord)
}

/// The serialized raw line, for `event.original` / `raw_data`.
pub(crate) fn original(raw: &Map<String, Value>) -> Value {
    Value::String(serde_json::to_string(raw).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::normalize::obj;
    use serde_json::json;

    #[test]
    fn user_record_view() {
        let u = obj(json!({"id": "u", "first_name": "Zoë", "last_name": "Müller", "ds_groups": [
            {"ds_group_id": "g1", "group_name": "Administrators", "is_admin": true}, {"group_id": "7"}]}));
        let r = UserRecord(&u);
        assert_eq!(r.full_name().as_deref(), Some("Zoë Müller"));
        let g: Vec<_> = r.groups().collect();
        assert_eq!(g, vec![(Some("g1"), Some("Administrators"), true), (Some("7"), None, false)]);
        assert_eq!(millis("2023-03-03T09:10:06.0512813Z"), Some(1_677_834_606_051));
    }
}
