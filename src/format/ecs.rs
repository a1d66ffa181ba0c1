//! The ECS 9.4.0 mapping, after Elastic's own SaaS audit pipelines (Okta, 1Password): the
//! actor in `user.*`, the affected user in `user.target.*`, the client in `source.*` and
//! `user_agent.*`, the classification in `event.*`, everything DocuSign-specific under
//! `docusign.*`. Admin user records are `event.kind: state`; their changes are events.

use serde_json::{Map, Value};

use super::classes::{alert_severity, ecs_severity};
use super::vocab::{Outcome, classify, ecs_action};
use super::{ECS_VERSION, Line, USER_MAPPED, UserRecord, enrichment, groups_of, is_blank, original, put_obj, s, text};

/// Raw Monitor fields that are mapped to ECS fields (or are our own line fields) and so are
/// not repeated under `docusign.*`.
const EVENT_MAPPED: &[&str] = &[
    "timestamp",
    "eventId",
    "userId",
    "userEmail",
    "accountId",
    "organizationId",
    "ipAddress",
    "ipAddressLocation",
    "userAgent",
    "userAgentClientInfo",
    "latitude",
    "longitude",
    "city",
    "state",
    "country",
    "device",
    "browser",
    "os",
    "affectedUserId",
    "affectedUserIsMemberOfDomain",
    "isUserMemberOfDomain",
    "referencedUserId",
    "referencedUserIsMemberOfDomain",
    "proxyStatus",
    "proxyType",
    "proxyLevel",
    "integratorKey",
    "_user",
    "_time",
    "_collected_at",
    "event_id",
    "vendor",
    "product",
    "source_log_type",
];

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::Array(items.into_iter().map(s).collect())
}

/// `event.*` fields every document has.
fn event_base(line: &Line<'_>, kind: &str, category: &[&str], ty: &[&str], id: &str) -> Map<String, Value> {
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
    if let Some(t) = text(line.raw, "source_log_type") {
        ev.insert("dataset".into(), Value::String(format!("docusign.{t}")));
    }
    ev
}

fn head(line: &Line<'_>, out: &mut Map<String, Value>) {
    if let Some(t) = line.time {
        out.insert("@timestamp".into(), s(t));
    }
    let mut ecs = Map::new();
    ecs.insert("version".into(), s(ECS_VERSION));
    out.insert("ecs".into(), Value::Object(ecs));
}

/// `user.*`-shaped fields (id, name = login email, email, full_name, group) of an Admin record.
fn user_fields(u: UserRecord<'_>, m: &mut Map<String, Value>) {
    if let Some(id) = u.id() {
        m.entry("id").or_insert_with(|| s(id));
    }
    if let Some(e) = u.email() {
        m.insert("name".into(), s(e));
        m.insert("email".into(), s(e));
    }
    if let Some(n) = u.full_name() {
        m.insert("full_name".into(), s(&n));
    }
    put_obj(m, "group", group_fields(u.groups()));
}

fn group_fields<'a>(groups: impl Iterator<Item = (Option<&'a str>, Option<&'a str>, bool)>) -> Map<String, Value> {
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
fn rest(from: &Map<String, Value>, skip: &[&str], to: &mut Map<String, Value>) {
    for (k, v) in from {
        if !is_blank(v) && !skip.contains(&k.as_str()) {
            to.insert(k.clone(), v.clone());
        }
    }
}

/// `source.*` and `user_agent.*` of a Monitor event.
fn client(raw: &Map<String, Value>, out: &mut Map<String, Value>, related_ip: &mut Vec<Value>) {
    let mut source = Map::new();
    if let Some(ip) = text(raw, "ipAddress") {
        source.insert("ip".into(), s(ip));
        related_ip.push(s(ip));
    }
    let loc = raw.get("ipAddressLocation").and_then(Value::as_object).unwrap_or(raw);
    let mut geo = Map::new();
    if let (Some(lat), Some(lon)) =
        (loc.get("latitude").and_then(Value::as_f64), loc.get("longitude").and_then(Value::as_f64))
    {
        let mut p = Map::new();
        p.insert("lat".into(), lat.into());
        p.insert("lon".into(), lon.into());
        geo.insert("location".into(), Value::Object(p));
    }
    for (from, to) in [("city", "city_name"), ("state", "region_name"), ("country", "country_name")] {
        if let Some(v) = text(loc, from) {
            geo.insert(to.into(), s(v));
        }
    }
    put_obj(&mut source, "geo", geo);
    put_obj(out, "source", source);

    let mut ua = Map::new();
    if let Some(a) = text(raw, "userAgent") {
        ua.insert("original".into(), s(a));
    }
    if let Some(info) = raw.get("userAgentClientInfo").and_then(Value::as_object) {
        let part = |k: &str| info.get(k).and_then(Value::as_object);
        if let Some(b) = part("browser") {
            if let Some(n) = text(b, "family").filter(|n| *n != "Other") {
                ua.insert("name".into(), s(n));
            }
            if let Some(v) = version(b) {
                ua.insert("version".into(), Value::String(v));
            }
        }
        if let Some(o) = part("os") {
            let mut os = Map::new();
            if let Some(n) = text(o, "family").filter(|n| *n != "Other") {
                os.insert("name".into(), s(n));
            }
            if let Some(v) = version(o) {
                os.insert("version".into(), Value::String(v));
            }
            put_obj(&mut ua, "os", os);
        }
        if let Some(n) = part("device").and_then(|d| text(d, "family")).filter(|n| *n != "Other") {
            let mut d = Map::new();
            d.insert("name".into(), s(n));
            ua.insert("device".into(), Value::Object(d));
        }
    }
    put_obj(out, "user_agent", ua);
}

/// `major.minor.patch` of a `{version: {major, minor, patch}}`, empty parts dropped.
fn version(part: &Map<String, Value>) -> Option<String> {
    let v = part.get("version")?.as_object()?;
    let mut out = String::new();
    for k in ["major", "minor", "patch"] {
        let Some(p) = text(v, k) else { break };
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(p);
    }
    (!out.is_empty()).then_some(out)
}

/// A Monitor event.
pub(super) fn event(line: &Line<'_>, include_original: bool) -> Map<String, Value> {
    let raw = line.raw;
    let (object, action) = (text(raw, "object").unwrap_or_default(), text(raw, "action").unwrap_or_default());
    let data = raw.get("data").and_then(Value::as_object);
    let data_text = |k: &str| data.and_then(|d| text(d, k));
    let class = classify(object, action, text(raw, "result").unwrap_or_default(), data);
    let mut out = Map::new();
    head(line, &mut out);

    let mut ev = event_base(line, class.ecs_kind, class.ecs_category, class.ecs_type, line.event_id);
    if !object.is_empty() || !action.is_empty() {
        ev.insert("action".into(), Value::String(ecs_action(object, action)));
    }
    match class.outcome {
        Outcome::Success => ev.insert("outcome".into(), s("success")),
        Outcome::Failure => ev.insert("outcome".into(), s("failure")),
        Outcome::Unknown => None,
    };
    if let Some(r) = data_text("FailureReason").or_else(|| data_text("VoidedReason")) {
        ev.insert("reason".into(), s(r));
    }
    let mut rule = Map::new();
    if class.ecs_kind == "alert" {
        let (sev, _) = alert_severity(data_text("Severity").unwrap_or_default());
        if let Some(n) = ecs_severity(sev) {
            ev.insert("severity".into(), n.into());
        }
        rule.insert("name".into(), s(action));
    }
    if include_original {
        ev.insert("original".into(), original(raw));
    }
    out.insert("event".into(), Value::Object(ev));

    let (mut related_user, mut related_ip) = (Vec::new(), Vec::new());
    let mut user = Map::new();
    if let Some(id) = text(raw, "userId") {
        user.insert("id".into(), s(id));
    }
    if let Some(e) = text(raw, "userEmail") {
        user.insert("name".into(), s(e));
        user.insert("email".into(), s(e));
    }
    let enriched = enrichment(raw);
    if let Some(u) = enriched {
        user_fields(u, &mut user);
    }
    let target = text(raw, "affectedUserId").or_else(|| data_text("AffectedUserId"));
    if let Some(t) = target {
        let mut m = Map::new();
        m.insert("id".into(), s(t));
        user.insert("target".into(), Value::Object(m));
    }
    for k in ["id", "email"] {
        if let Some(Value::String(v)) = user.get(k) {
            related_user.push(s(v));
        }
    }
    related_user.extend(target.map(s));
    put_obj(&mut out, "user", user);
    client(raw, &mut out, &mut related_ip);

    if let Some(o) = text(raw, "organizationId") {
        let mut m = Map::new();
        m.insert("id".into(), s(o));
        out.insert("organization".into(), Value::Object(m));
    }
    if let Some(a) = text(raw, "accountId") {
        let mut account = Map::new();
        account.insert("id".into(), s(a));
        let mut cloud = Map::new();
        cloud.insert("account".into(), Value::Object(account));
        out.insert("cloud".into(), Value::Object(cloud));
    }
    let mut group = Map::new();
    for (from, to) in
        [("PermissionProfileId", "id"), ("GroupId", "id"), ("PermissionProfileName", "name"), ("GroupName", "name")]
    {
        if let Some(v) = data_text(from) {
            group.entry(to).or_insert_with(|| s(v));
        }
    }
    if matches!(class.family, super::vocab::Family::GroupManagement) {
        put_obj(&mut out, "group", group);
    }
    put_obj(&mut out, "rule", rule);
    let mut related = Map::new();
    if !related_ip.is_empty() {
        related.insert("ip".into(), Value::Array(related_ip));
    }
    related_user.dedup();
    if !related_user.is_empty() {
        related.insert("user".into(), Value::Array(related_user));
    }
    put_obj(&mut out, "related", related);
    out.insert("docusign".into(), Value::Object(vendor(raw, enriched)));
    out
}

/// `docusign.*` of a Monitor event: DocuSign's own fields in snake case, `data` as it came,
/// and every field this mapping does not know under its own name.
fn vendor(raw: &Map<String, Value>, enriched: Option<UserRecord<'_>>) -> Map<String, Value> {
    let mut d = Map::new();
    for (k, v) in raw {
        if is_blank(v) || EVENT_MAPPED.contains(&k.as_str()) {
            continue;
        }
        d.insert(k.clone(), v.clone());
    }
    if let Some(k) = text(raw, "integratorKey") {
        d.insert("integrator_key".into(), s(k));
    }
    let mut proxy = Map::new();
    for (from, to) in [("proxyStatus", "status"), ("proxyType", "type"), ("proxyLevel", "level")] {
        if let Some(v) = text(raw, from) {
            proxy.insert(to.into(), s(v));
        }
    }
    put_obj(&mut d, "proxy", proxy);
    let mut user = Map::new();
    if let Some(u) = enriched {
        rest(u.0, USER_MAPPED, &mut user);
    }
    let flag = |k: &str| raw.get(k).filter(|v| v.is_boolean()).cloned();
    if let Some(b) = flag("isUserMemberOfDomain") {
        user.insert("is_member_of_domain".into(), b);
    }
    put_obj(&mut d, "user", user);
    for (prefix, id, member) in [
        ("referenced_user", "referencedUserId", "referencedUserIsMemberOfDomain"),
        ("affected_user", "affectedUserId", "affectedUserIsMemberOfDomain"),
    ] {
        let mut m = Map::new();
        if let Some(v) = text(raw, id) {
            m.insert("id".into(), s(v));
            if let Some(b) = flag(member) {
                m.insert("is_member_of_domain".into(), b);
            }
        }
        put_obj(&mut d, prefix, m);
    }
    d
}

/// An Admin user record: the user's state.
pub(super) fn user(line: &Line<'_>, include_original: bool) -> Map<String, Value> {
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
    skip.extend(LINE_FIELDS);
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

/// Our own line fields, mapped to `event.*`.
const LINE_FIELDS: &[&str] = &["_time", "_collected_at", "event_id", "vendor", "product", "source_log_type"];

fn related_users(u: UserRecord<'_>) -> Value {
    let mut r = Map::new();
    r.insert("user".into(), strings(u.id().into_iter().chain(u.email())));
    Value::Object(r)
}

/// The change event of an Admin user record that changed since the last snapshot.
pub(super) fn user_change(line: &Line<'_>) -> Map<String, Value> {
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
        let to = |k: &str| f.get(k).and_then(Value::as_object).and_then(|c| c.get("to"));
        if let Some(Value::String(e)) = to("email") {
            changes.insert("name".into(), s(e));
            changes.insert("email".into(), s(e));
        }
        if ["user_name", "first_name", "last_name"].iter().any(|k| f.contains_key(*k))
            && let Some(n) = u.full_name()
        {
            changes.insert("full_name".into(), s(&n));
        }
        put_obj(&mut changes, "group", group_fields(groups_of(to("ds_groups").or_else(|| to("groups")))));
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
