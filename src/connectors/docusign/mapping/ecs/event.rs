//! ECS documents of Monitor events.

use crate::core::fields;
use serde_json::{Map, Value};

use super::{event_base, head, rest, user_fields};
use crate::connectors::docusign::mapping::classes::{alert_severity, ecs_severity};
use crate::connectors::docusign::mapping::vocab::{Family, Outcome, classify, ecs_action, new_value};
use crate::connectors::docusign::mapping::{
    LineView, MONITOR_MAPPED, USER_MAPPED, UserRecord, enrichment, event_actor, is_blank, keyed, original, put_obj, s,
    text,
};

/// Raw Monitor fields that are mapped to ECS fields and so are not repeated under
/// `docusign.*` (nor are our own line fields and `_user`).
pub(crate) const EVENT_MAPPED: &[&str] = &[
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
];

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
pub(crate) fn event(line: &LineView<'_>, include_original: bool) -> Map<String, Value> {
    let raw = line.raw;
    let (object, action) = (text(raw, "object").unwrap_or_default(), text(raw, "action").unwrap_or_default());
    let data = raw.get("data").and_then(Value::as_object);
    let data_text = |k: &str| data.and_then(|d| text(d, k));
    let class = classify(object, action, text(raw, "result").unwrap_or_default(), new_value(data));
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
    event_actor(raw, &super::KEYS, &mut user);
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
        out.insert("organization".into(), keyed("id", o));
    }
    if let Some(a) = text(raw, "accountId") {
        let mut cloud = Map::new();
        cloud.insert("account".into(), keyed("id", a));
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
    if matches!(class.family, Family::GroupManagement) {
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
        if is_blank(v)
            || MONITOR_MAPPED.contains(&k.as_str())
            || EVENT_MAPPED.contains(&k.as_str())
            || fields::is_line_field(k)
            || k == fields::USER
        {
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
