//! OCSF events of Monitor records: the acting user in `actor.user` (or `user` for
//! Authentication, `evidences` for Detection Finding), the client in `src_endpoint` and
//! `http_request`, and every field without an OCSF home in `unmapped` under its DocuSign name.

use crate::core::fields;
use serde_json::{Map, Value};

use super::{header, metadata, uid_object, user_object};
use crate::connectors::docusign::mapping::classes::{API_ACTIVITY, alert_severity};
use crate::connectors::docusign::mapping::vocab::{Classification, Family, Outcome, classify, new_value};
use crate::connectors::docusign::mapping::{
    LineView, MONITOR_MAPPED, USER_MAPPED, enrichment, event_actor, is_blank, keyed, original, put_obj, s, text,
};

/// DocuSign's `integratorKey` for actions in its own web app: not an application id.
pub(crate) const INTERNAL_KEY: &str = "##DOCUSIGN_INTERNAL_NOT_USED##";

/// Record fields every Monitor event maps (or that only duplicate mapped ones); our own line
/// fields are mapped too.
pub(crate) const ALWAYS_MAPPED: &[&str] = &["userAgent", "object", "action"];

/// Which raw fields (top level and in `data`) a mapping used, so `unmapped` gets the rest.
#[derive(Debug, Default)]
struct Used {
    top: Vec<&'static str>,
    data: Vec<&'static str>,
}

/// The parts of a Monitor event most classes share.
struct Parts<'a> {
    raw: &'a Map<String, Value>,
    data: Option<&'a Map<String, Value>>,
    used: Used,
}

impl<'a> Parts<'a> {
    /// `data[key]` as text, marked used.
    fn data(&mut self, key: &'static str) -> Option<&'a str> {
        let v = self.data.and_then(|d| text(d, key));
        if v.is_some() {
            self.used.data.push(key);
        }
        v
    }

    /// Top-level `key` as text, marked used.
    fn top(&mut self, key: &'static str) -> Option<&'a str> {
        let v = text(self.raw, key);
        if v.is_some() {
            self.used.top.push(key);
        }
        v
    }

    /// The affected user's id (`affectedUserId` or `data.AffectedUserId`).
    fn target(&mut self) -> Option<&'a str> {
        let t = self.top("affectedUserId");
        let d = self.data("AffectedUserId");
        t.or(d)
    }

    /// The acting user: `userId`, `userEmail`, the `_user` enrichment, account and org.
    fn actor_user(&self) -> Option<Map<String, Value>> {
        let raw = self.raw;
        let mut u = Map::new();
        event_actor(raw, &super::KEYS, &mut u);
        if let Some(r) = enrichment(raw) {
            user_object(r, &mut u);
        }
        if let Some(a) = text(raw, "accountId") {
            u.insert("account".into(), keyed("uid", a));
        }
        if let Some(o) = text(raw, "organizationId") {
            u.insert("org".into(), keyed("uid", o));
        }
        (!u.is_empty()).then_some(u)
    }

    /// `actor`: the acting user, and the integration (`integratorKey`) it acted through.
    fn actor(&mut self) -> Option<Value> {
        let mut a = Map::new();
        if let Some(u) = self.actor_user() {
            a.insert("user".into(), Value::Object(u));
        }
        if let Some(k) = text(self.raw, "integratorKey").filter(|k| *k != INTERNAL_KEY) {
            self.used.top.push("integratorKey");
            a.insert("app_uid".into(), s(k));
        }
        (!a.is_empty()).then_some(Value::Object(a))
    }

    /// `src_endpoint`: IP and geolocation.
    fn src_endpoint(&mut self) -> Option<Map<String, Value>> {
        let raw = self.raw;
        let mut e = Map::new();
        if let Some(ip) = text(raw, "ipAddress") {
            e.insert("ip".into(), s(ip));
        }
        let nested = raw.get("ipAddressLocation").and_then(Value::as_object);
        let loc_src = nested.unwrap_or(raw);
        let mut loc = Map::new();
        if let Some(c) = text(loc_src, "city") {
            loc.insert("city".into(), s(c));
        }
        for (from, to) in [("latitude", "lat"), ("longitude", "long")] {
            if let Some(n) = loc_src.get(from).filter(|v| v.is_number()) {
                loc.insert(to.into(), n.clone());
            }
        }
        if nested.is_some() {
            // The flat copies only repeat `ipAddressLocation`.
            self.used.top.extend(["latitude", "longitude", "city", "state", "country"]);
        } else {
            self.used.top.extend(["latitude", "longitude", "city"]);
        }
        if !loc.is_empty() && !e.is_empty() {
            e.insert("location".into(), Value::Object(loc));
        }
        (!e.is_empty()).then_some(e)
    }

    /// `http_request` with the user agent.
    fn http_request(&self) -> Option<Value> {
        let ua = text(self.raw, "userAgent")?;
        let mut m = Map::new();
        m.insert("user_agent".into(), s(ua));
        Some(Value::Object(m))
    }

    /// Everything not used, under its DocuSign name; blank values left out.
    fn unmapped(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let client_info = self.raw.get("userAgentClientInfo").is_some_and(|v| !is_blank(v));
        for (k, v) in self.raw {
            let k = k.as_str();
            if is_blank(v)
                || MONITOR_MAPPED.contains(&k)
                || ALWAYS_MAPPED.contains(&k)
                || fields::is_line_field(k)
                || self.used.top.contains(&k)
            {
                continue;
            }
            match k {
                // Flat copies of `userAgentClientInfo`.
                "device" | "browser" | "os" if client_info => {}
                "data" => put_obj(&mut out, k, leftover(v, &self.used.data)),
                "ipAddressLocation" => put_obj(&mut out, k, leftover(v, &["latitude", "longitude", "city"])),
                "_user" => put_obj(&mut out, k, leftover(v, USER_MAPPED)),
                _ => {
                    out.insert(k.to_owned(), v.clone());
                }
            }
        }
        out
    }
}

/// The non-blank fields of object `v` not in `skip`.
fn leftover(v: &Value, skip: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in v.as_object().into_iter().flatten() {
        if !is_blank(v) && !skip.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// A Monitor event.
pub(crate) fn event(line: &LineView<'_>, include_original: bool) -> Map<String, Value> {
    let raw = line.raw;
    let (object, action) = (text(raw, "object").unwrap_or_default(), text(raw, "action").unwrap_or_default());
    let data = raw.get("data").and_then(Value::as_object);
    let result = text(raw, "result").unwrap_or_default();
    let class: Classification = classify(object, action, result, new_value(data));
    let mut p = Parts { raw, data, used: Used::default() };

    let activity_name = if class.activity_id == 99 && !action.is_empty() {
        action
    } else {
        class.ocsf.activity_caption(class.activity_id)
    };
    let severity = if class.family == Family::Alert {
        alert_severity(p.data("Severity").unwrap_or_default())
    } else {
        (1, "Informational")
    };
    let mut meta = metadata(line, "DocuSign Monitor", line.event_id);
    if let Some(t) = text(raw, "timestamp") {
        meta.insert("original_time".into(), s(t));
    }
    if !object.is_empty() || !action.is_empty() {
        meta.insert("event_code".into(), Value::String(format!("{object}.{action}")));
    }
    if let Some(o) = text(raw, "organizationId") {
        meta.insert("tenant_uid".into(), s(o));
    }
    let mut out = header(class.ocsf, class.activity_id, activity_name, severity, line, meta);
    let status = match class.outcome {
        Outcome::Success => Some((1, "Success")),
        Outcome::Failure => Some((2, "Failure")),
        Outcome::Unknown => None,
    };
    if let Some((id, name)) = status.filter(|_| class.family != Family::Alert) {
        p.used.top.push("result");
        out.insert("status_id".into(), id.into());
        out.insert("status".into(), s(name));
    }

    match class.family {
        Family::Authentication => authentication(&mut p, &mut out),
        Family::Alert => finding(&mut p, &mut out, line.event_id, action),
        family => {
            let actor = p.actor();
            match family {
                Family::AccountChange | Family::UserAccess => {
                    let target = p.target();
                    let user = target.map(uid_object).or_else(|| actor_user_value(&p));
                    out.insert("user".into(), user.unwrap_or_else(unknown_user));
                    if family == Family::UserAccess {
                        let privilege =
                            p.data("PermissionProfileName").or_else(|| p.data("PermissionProfileId")).unwrap_or(action);
                        out.insert("privileges".into(), Value::Array(vec![s(privilege)]));
                    }
                }
                Family::GroupManagement => group(&mut p, &mut out, object, class.activity_id),
                Family::EntityManagement => {
                    out.insert("entity".into(), entity(&mut p, object));
                }
                _ => api(&mut p, &mut out, class.family, object, action),
            }
            // API Activity requires an actor and a source endpoint.
            let api_activity = class.ocsf.uid == API_ACTIVITY.uid;
            if let Some(a) = actor {
                out.insert("actor".into(), a);
            } else if api_activity {
                let mut a = Map::new();
                a.insert("app_name".into(), s("DocuSign"));
                out.insert("actor".into(), Value::Object(a));
            }
            client(&mut p, &mut out, api_activity);
        }
    }
    put_obj(&mut out, "unmapped", p.unmapped());
    if include_original {
        out.insert("raw_data".into(), original(raw));
    }
    out
}

/// A `user` for a record that names none (the classes require one).
fn unknown_user() -> Value {
    let mut m = Map::new();
    m.insert("name".into(), s("Unknown"));
    Value::Object(m)
}

fn actor_user_value(p: &Parts<'_>) -> Option<Value> {
    p.actor_user().map(Value::Object)
}

/// `src_endpoint` and `http_request`; `required` gives API Activity an endpoint even
/// without an IP.
fn client(p: &mut Parts<'_>, out: &mut Map<String, Value>, required: bool) {
    match p.src_endpoint() {
        Some(e) => {
            out.insert("src_endpoint".into(), Value::Object(e));
        }
        None if required => {
            let mut e = Map::new();
            e.insert("name".into(), s(text(p.raw, "source").unwrap_or("Unknown")));
            out.insert("src_endpoint".into(), Value::Object(e));
        }
        None => {}
    }
    if let Some(h) = p.http_request() {
        out.insert("http_request".into(), h);
    }
}

fn authentication(p: &mut Parts<'_>, out: &mut Map<String, Value>) {
    let user = actor_user_value(p).unwrap_or_else(unknown_user);
    out.insert("user".into(), user);
    // The schema wants the service (or destination) authenticated to.
    let mut service = Map::new();
    service.insert("name".into(), s("DocuSign"));
    out.insert("service".into(), Value::Object(service));
    if let Some(k) = text(p.raw, "integratorKey").filter(|k| *k != INTERNAL_KEY) {
        p.used.top.push("integratorKey");
        let mut a = Map::new();
        a.insert("app_uid".into(), s(k));
        out.insert("actor".into(), Value::Object(a));
    }
    if let Some(t) = p.data("LoginType") {
        let (id, name) = match t.to_ascii_lowercase().as_str() {
            "jwt" | "oauth" | "oauth2" => (6, "OAUTH 2.0"),
            "saml" => (5, "SAML"),
            "openid" | "oidc" => (4, "OpenID"),
            _ => (99, t),
        };
        out.insert("auth_protocol_id".into(), id.into());
        out.insert("auth_protocol".into(), s(name));
    }
    if let Some(r) = p.data("FailureReason") {
        out.insert("status_detail".into(), s(r));
    }
    client(p, out, false);
}

fn group(p: &mut Parts<'_>, out: &mut Map<String, Value>, object: &str, activity_id: u8) {
    let mut g = Map::new();
    if let Some(id) = p.data("PermissionProfileId").or_else(|| p.data("GroupId")) {
        g.insert("uid".into(), s(id));
    }
    let name = p.data("PermissionProfileName").or_else(|| p.data("GroupName"));
    g.insert("name".into(), s(name.unwrap_or(object)));
    g.insert("type".into(), s(object));
    if matches!(activity_id, 1 | 2)
        && let Some(f) = p.top("field")
    {
        out.insert("privileges".into(), Value::Array(vec![s(f)]));
    }
    out.insert("group".into(), Value::Object(g));
    if matches!(activity_id, 3 | 4)
        && let Some(t) = p.target()
    {
        out.insert("user".into(), uid_object(t));
    }
}

fn entity(p: &mut Parts<'_>, object: &str) -> Value {
    let mut e = Map::new();
    let (uid, name) = match object {
        "Template" => (p.data("TemplateId"), p.data("TemplateName")),
        "IntegratorKey" => (p.data("KeyId"), p.data("AppName")),
        _ => (None, None),
    };
    if let Some(u) = uid {
        e.insert("uid".into(), s(u));
    }
    let name = name.or_else(|| p.top("field")).or_else(|| p.top("property")).unwrap_or(object);
    e.insert("name".into(), s(name));
    e.insert("type".into(), s(object));
    Value::Object(e)
}

fn api(p: &mut Parts<'_>, out: &mut Map<String, Value>, family: Family, object: &str, action: &str) {
    let mut api = Map::new();
    api.insert("operation".into(), s(if action.is_empty() { "Unknown" } else { action }));
    if !object.is_empty() {
        let mut g = Map::new();
        g.insert("name".into(), s(object));
        api.insert("group".into(), Value::Object(g));
    }
    out.insert("api".into(), Value::Object(api));
    if family == Family::Envelope {
        let mut r = Map::new();
        if let Some(id) = p.data("EnvelopeId") {
            r.insert("uid".into(), s(id));
        }
        r.insert("name".into(), s(p.data("EnvelopeSubject").unwrap_or(object)));
        r.insert("type".into(), s(object));
        out.insert("resources".into(), Value::Array(vec![Value::Object(r)]));
    }
}

fn finding(p: &mut Parts<'_>, out: &mut Map<String, Value>, event_id: &str, action: &str) {
    let mut f = Map::new();
    f.insert("uid".into(), s(event_id));
    f.insert("title".into(), s(if action.is_empty() { "Monitor alert" } else { action }));
    f.insert("types".into(), Value::Array(vec![s("DocuSign Monitor alert")]));
    if let Some(ids) = p.data.and_then(|d| d.get("EventIds")).and_then(Value::as_array) {
        p.used.data.push("EventIds");
        let related: Vec<Value> = ids.iter().filter_map(Value::as_str).map(uid_object).collect();
        f.insert("related_events_count".into(), related.len().into());
        f.insert("related_events".into(), Value::Array(related));
    }
    out.insert("finding_info".into(), Value::Object(f));
    if let Some(n) = p.data("Count").and_then(|c| c.parse::<u64>().ok()) {
        out.insert("count".into(), n.into());
    }
    out.insert("status_id".into(), 1.into());
    out.insert("status".into(), s("New"));
    let mut evidence = Map::new();
    if let Some(a) = p.actor() {
        evidence.insert("actor".into(), a);
    }
    client(p, &mut evidence, false);
    if !evidence.is_empty() {
        out.insert("evidences".into(), Value::Array(vec![Value::Object(evidence)]));
    }
}
