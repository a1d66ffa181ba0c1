//! The ECS document of a Monitor event, written as `ecs/event.rs` builds it.

use std::borrow::Cow;

use super::scan::{Fallback, Fields, is_blank};
use super::writer::Writer;
use super::{Line, User, Written, enrichment, identity};
use crate::connectors::docusign::mapping::classes::{alert_severity, ecs_severity};
use crate::connectors::docusign::mapping::ecs::{EVENT_MAPPED, KEYS};
use crate::connectors::docusign::mapping::vocab::{Classification, Family, Outcome, classify, ecs_action};
use crate::connectors::docusign::mapping::{MONITOR_MAPPED, USER_MAPPED};
use crate::core::fields;
use crate::format::ECS_VERSION;

/// Keys `docusign.*` writes itself: a record with a field of that name takes the tree path
/// (which lets ours replace it in place).
const VENDOR_OWN: &[&str] = &["integrator_key", "proxy", "user", "referenced_user", "affected_user"];

/// A Monitor event.
pub(super) fn event(line: &Line<'_>, json: &str, include_original: bool, w: &mut Writer<'_>) -> Result<(), Fallback> {
    let raw = &line.raw;
    if VENDOR_OWN.iter().any(|k| raw.get(k).is_some()) {
        return Err(Fallback);
    }
    let (object, action) = (line.text_or_empty("object"), line.text_or_empty("action"));
    let data = raw.obj("data")?;
    let data_text = |k: &str| data.as_ref().and_then(|d| d.text(k));
    let new_value = data.as_ref().and_then(|d| d.string("NewValue")).unwrap_or_default();
    let class = classify(&object, &action, &line.text_or_empty("result"), &new_value);
    let enriched = enrichment(raw)?;
    if enriched.as_ref().is_some_and(|u| u.0.get("is_member_of_domain").is_some()) {
        return Err(Fallback);
    }

    if let Some(t) = &line.time {
        w.str("@timestamp", t);
    }
    w.begin("ecs");
    w.str("version", ECS_VERSION);
    w.end();

    let alert = class.ecs_kind == "alert";
    event_fields(line, json, include_original, &class, (&object, &action), data.as_ref(), w);

    let target = raw.text("affectedUserId").or_else(|| data_text("AffectedUserId"));
    let (id, email) = user(raw, enriched.as_ref(), target.as_deref(), w)?;
    let ip = raw.text("ipAddress");
    client(raw, ip.as_deref(), w)?;

    if let Some(o) = raw.text("organizationId") {
        w.begin("organization");
        w.str("id", &o);
        w.end();
    }
    if let Some(a) = raw.text("accountId") {
        w.begin("cloud");
        w.begin("account");
        w.str("id", &a);
        w.end();
        w.end();
    }
    if matches!(class.family, Family::GroupManagement) {
        w.begin("group");
        if let Some(v) = data_text("PermissionProfileId").or_else(|| data_text("GroupId")) {
            w.str("id", &v);
        }
        if let Some(v) = data_text("PermissionProfileName").or_else(|| data_text("GroupName")) {
            w.str("name", &v);
        }
        w.end();
    }
    if alert {
        w.begin("rule");
        w.str("name", &action);
        w.end();
    }
    w.begin("related");
    if let Some(ip) = &ip {
        w.strs("ip", [ip.as_ref()]);
    }
    let mut users: [Option<&str>; 3] = [id.as_deref(), email.as_deref(), target.as_deref()];
    // As the tree's `Vec::dedup`: repeats next to each other are dropped.
    if users[1].is_some() && users[1] == users[0] {
        users[1] = None;
    }
    let last = users[1].or(users[0]);
    if users[2].is_some() && users[2] == last {
        users[2] = None;
    }
    if users.iter().any(Option::is_some) {
        w.strs("user", users.into_iter().flatten());
    }
    w.end();

    w.begin("docusign");
    w.force();
    vendor(raw, enriched.as_ref(), w);
    w.end();
    Ok(())
}

/// `event.*`.
fn event_fields(
    line: &Line<'_>,
    json: &str,
    include_original: bool,
    class: &Classification,
    (object, action): (&str, &str),
    data: Option<&Fields<'_>>,
    w: &mut Writer<'_>,
) {
    let raw = &line.raw;
    let data_text = |k: &str| data.and_then(|d| d.text(k));
    w.begin("event");
    w.str("kind", class.ecs_kind);
    w.strs("category", class.ecs_category.iter().copied());
    w.strs("type", class.ecs_type.iter().copied());
    w.str("id", &line.event_id);
    if let Some(t) = &line.collected_at {
        w.str("created", t);
    }
    w.str("module", "docusign");
    if let Some(p) = raw.text("product") {
        w.str("provider", &p);
    }
    if let Some(t) = raw.text(fields::LOG_TYPE) {
        w.str("dataset", &format!("docusign.{t}"));
    }
    if !object.is_empty() || !action.is_empty() {
        w.str("action", &ecs_action(object, action));
    }
    match class.outcome {
        Outcome::Success => w.str("outcome", "success"),
        Outcome::Failure => w.str("outcome", "failure"),
        Outcome::Unknown => {}
    }
    if let Some(r) = data_text("FailureReason").or_else(|| data_text("VoidedReason")) {
        w.str("reason", &r);
    }
    if class.ecs_kind == "alert" {
        let (sev, _) = alert_severity(&data_text("Severity").unwrap_or_default());
        if let Some(n) = ecs_severity(sev) {
            w.int("severity", n);
        }
    }
    if include_original {
        w.str("original", json);
    }
    w.end();
}

/// `user.*`; returns the `user.id` and `user.email` written (for `related.user`).
fn user<'a>(
    raw: &Fields<'a>,
    enriched: Option<&User<'a>>,
    target: Option<&str>,
    w: &mut Writer<'_>,
) -> Result<Written<'a>, Fallback> {
    w.begin("user");
    let (id, email) = identity(w, &KEYS, raw, enriched);
    if let Some(u) = enriched {
        w.begin("group");
        w.begin_array("id");
        u.groups(|(id, _, _)| {
            if let Some(id) = id {
                w.str("", &id);
            }
        })?;
        w.end();
        w.begin_array("name");
        u.groups(|(_, name, _)| {
            if let Some(n) = name {
                w.str("", &n);
            }
        })?;
        w.end();
        w.end();
    }
    if let Some(t) = target {
        w.begin("target");
        w.str("id", t);
        w.end();
    }
    w.end();
    Ok((id, email))
}

/// `source.*` and `user_agent.*`.
fn client(raw: &Fields<'_>, ip: Option<&str>, w: &mut Writer<'_>) -> Result<(), Fallback> {
    w.begin("source");
    if let Some(ip) = ip {
        w.str("ip", ip);
    }
    let nested = raw.obj("ipAddressLocation")?;
    let loc = nested.as_ref().unwrap_or(raw);
    w.begin("geo");
    if let (Some(lat), Some(lon)) = (loc.f64("latitude"), loc.f64("longitude")) {
        w.begin("location");
        w.f64("lat", lat);
        w.f64("lon", lon);
        w.end();
    }
    for (from, to) in [("city", "city_name"), ("state", "region_name"), ("country", "country_name")] {
        if let Some(v) = loc.text(from) {
            w.str(to, &v);
        }
    }
    w.end();
    w.end();

    w.begin("user_agent");
    if let Some(a) = raw.text("userAgent") {
        w.str("original", &a);
    }
    if let Some(info) = raw.obj("userAgentClientInfo")? {
        let family = |p: &Fields<'_>| p.text("family").filter(|n| n != "Other").map(Cow::into_owned);
        if let Some(b) = info.obj("browser")? {
            if let Some(n) = family(&b) {
                w.str("name", &n);
            }
            if let Some(v) = version(&b)? {
                w.str("version", &v);
            }
        }
        if let Some(o) = info.obj("os")? {
            w.begin("os");
            if let Some(n) = family(&o) {
                w.str("name", &n);
            }
            if let Some(v) = version(&o)? {
                w.str("version", &v);
            }
            w.end();
        }
        if let Some(n) = info.obj("device")?.as_ref().and_then(family) {
            w.begin("device");
            w.str("name", &n);
            w.end();
        }
    }
    w.end();
    Ok(())
}

/// `major.minor.patch` of a `{version: {major, minor, patch}}`, empty parts dropped.
fn version(part: &Fields<'_>) -> Result<Option<String>, Fallback> {
    let Some(v) = part.obj("version")? else { return Ok(None) };
    let mut out = String::new();
    for k in ["major", "minor", "patch"] {
        let Some(p) = v.text(k) else { break };
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&p);
    }
    Ok((!out.is_empty()).then_some(out))
}

/// `docusign.*`: DocuSign's fields this mapping does not place, as they came.
fn vendor(raw: &Fields<'_>, enriched: Option<&User<'_>>, w: &mut Writer<'_>) {
    for (k, v) in raw.iter() {
        if is_blank(v)
            || MONITOR_MAPPED.contains(&k)
            || EVENT_MAPPED.contains(&k)
            || fields::is_line_field(k)
            || k == fields::USER
        {
            continue;
        }
        w.raw(k, v);
    }
    if let Some(k) = raw.text("integratorKey") {
        w.str("integrator_key", &k);
    }
    w.begin("proxy");
    for (from, to) in [("proxyStatus", "status"), ("proxyType", "type"), ("proxyLevel", "level")] {
        if let Some(v) = raw.text(from) {
            w.str(to, &v);
        }
    }
    w.end();
    w.begin("user");
    if let Some(u) = enriched {
        for (k, v) in u.0.iter() {
            if !is_blank(v) && !USER_MAPPED.contains(&k) {
                w.raw(k, v);
            }
        }
    }
    if let Some(b) = raw.bool("isUserMemberOfDomain") {
        w.raw("is_member_of_domain", b);
    }
    w.end();
    for (prefix, id, member) in [
        ("referenced_user", "referencedUserId", "referencedUserIsMemberOfDomain"),
        ("affected_user", "affectedUserId", "affectedUserIsMemberOfDomain"),
    ] {
        if let Some(v) = raw.text(id) {
            w.begin(prefix);
            w.str("id", &v);
            if let Some(b) = raw.bool(member) {
                w.raw("is_member_of_domain", b);
            }
            w.end();
        }
    }
}
