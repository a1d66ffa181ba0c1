//! The OCSF document of a Monitor event, written as `ocsf/event.rs` builds it: the same class
//! per family, the same fields marked used, the rest in `unmapped`.

use std::borrow::Cow;

use super::scan::{self, Fallback, Fields, is_blank};
use super::writer::Writer;
use super::{Line, User, enrichment, identity};
use crate::connectors::docusign::mapping::classes::{API_ACTIVITY, alert_severity};
use crate::connectors::docusign::mapping::ocsf::{ALWAYS_MAPPED, INTERNAL_KEY, KEYS};
use crate::connectors::docusign::mapping::vocab::{Family, Outcome, classify};
use crate::connectors::docusign::mapping::{MONITOR_MAPPED, USER_MAPPED, millis};
use crate::core::fields;
use crate::format::OCSF_VERSION;

/// Field names marked used, without allocating.
#[derive(Debug)]
struct Marks {
    names: [&'static str; 32],
    len: usize,
    overflow: bool,
}

impl Marks {
    const fn new() -> Self {
        Self { names: [""; 32], len: 0, overflow: false }
    }

    fn push(&mut self, name: &'static str) {
        match self.names.get_mut(self.len) {
            Some(slot) => {
                *slot = name;
                self.len += 1;
            }
            None => self.overflow = true,
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.names[..self.len].contains(&name)
    }
}

/// What of the line the event reads, and which raw fields (top level, in `data`) it used.
struct Parts<'l, 'a> {
    raw: &'l Fields<'a>,
    data: Option<&'l Fields<'a>>,
    enriched: Option<&'l User<'a>>,
    top: Marks,
    data_used: Marks,
}

impl<'a> Parts<'_, 'a> {
    /// `data[key]` as text, marked used.
    fn data(&mut self, key: &'static str) -> Option<Cow<'a, str>> {
        let v = self.data.and_then(|d| d.text(key));
        if v.is_some() {
            self.data_used.push(key);
        }
        v
    }

    /// Top-level `key` as text, marked used.
    fn top(&mut self, key: &'static str) -> Option<Cow<'a, str>> {
        let v = self.raw.text(key);
        if v.is_some() {
            self.top.push(key);
        }
        v
    }

    /// The affected user's id (`affectedUserId` or `data.AffectedUserId`).
    fn target(&mut self) -> Option<Cow<'a, str>> {
        let t = self.top("affectedUserId");
        let d = self.data("AffectedUserId");
        t.or(d)
    }

    /// The members of the acting user's object: `userId`, `userEmail`, the `_user`
    /// enrichment, account and org.
    fn actor_user(&self, w: &mut Writer<'_>) -> Result<(), Fallback> {
        identity(w, &KEYS, self.raw, self.enriched);
        if let Some(u) = self.enriched {
            w.begin_array("groups");
            u.groups(|(id, name, _)| {
                if id.is_some() || name.is_some() {
                    w.begin("");
                    if let Some(id) = id {
                        w.str("uid", &id);
                    }
                    if let Some(n) = name {
                        w.str("name", &n);
                    }
                    w.end();
                }
            })?;
            w.end();
        }
        for (from, to) in [("accountId", "account"), ("organizationId", "org")] {
            if let Some(v) = self.raw.text(from) {
                w.begin(to);
                w.str("uid", &v);
                w.end();
            }
        }
        Ok(())
    }

    /// `key`: the acting user's object, or `{"name": "Unknown"}` (the classes require one).
    fn user_or_unknown(&self, w: &mut Writer<'_>) -> Result<(), Fallback> {
        w.begin("user");
        self.actor_user(w)?;
        if w.is_empty() {
            w.str("name", "Unknown");
        }
        w.end();
        Ok(())
    }

    /// The integration the user acted through (`integratorKey`), marked used.
    fn app_uid(&mut self) -> Option<Cow<'a, str>> {
        let k = self.raw.text("integratorKey").filter(|k| k != INTERNAL_KEY);
        if k.is_some() {
            self.top.push("integratorKey");
        }
        k
    }

    /// The members of `actor`: the acting user and the integration.
    fn actor(&self, app_uid: Option<&str>, w: &mut Writer<'_>) -> Result<(), Fallback> {
        w.begin("user");
        self.actor_user(w)?;
        w.end();
        if let Some(k) = app_uid {
            w.str("app_uid", k);
        }
        Ok(())
    }

    /// `src_endpoint` (IP and geolocation; `required`: named even without an IP) and
    /// `http_request`.
    fn client(&mut self, w: &mut Writer<'_>, required: bool) -> Result<(), Fallback> {
        let raw = self.raw;
        let nested = raw.obj("ipAddressLocation")?;
        if nested.is_some() {
            // The flat copies only repeat `ipAddressLocation`.
            for k in ["latitude", "longitude", "city", "state", "country"] {
                self.top.push(k);
            }
        } else {
            for k in ["latitude", "longitude", "city"] {
                self.top.push(k);
            }
        }
        let loc = nested.as_ref().unwrap_or(raw);
        w.begin("src_endpoint");
        if let Some(ip) = raw.text("ipAddress") {
            w.str("ip", &ip);
            w.begin("location");
            if let Some(c) = loc.text("city") {
                w.str("city", &c);
            }
            for (from, to) in [("latitude", "lat"), ("longitude", "long")] {
                if let Some(n) = loc.get(from).filter(|v| scan::is_number(v)) {
                    w.raw(to, n);
                }
            }
            w.end();
        }
        if required && w.is_empty() {
            w.str("name", &raw.text("source").unwrap_or(Cow::Borrowed("Unknown")));
        }
        w.end();
        if let Some(ua) = raw.text("userAgent") {
            w.begin("http_request");
            w.str("user_agent", &ua);
            w.end();
        }
        Ok(())
    }

    /// `unmapped`: every field not used, under its DocuSign name; blank values left out.
    fn unmapped(&self, w: &mut Writer<'_>) -> Result<(), Fallback> {
        let client_info = self.raw.get("userAgentClientInfo").is_some_and(|v| !is_blank(v));
        w.begin("unmapped");
        for (k, v) in self.raw.iter() {
            if is_blank(v)
                || MONITOR_MAPPED.contains(&k)
                || ALWAYS_MAPPED.contains(&k)
                || fields::is_line_field(k)
                || self.top.contains(k)
            {
                continue;
            }
            match k {
                "device" | "browser" | "os" if client_info => {}
                "data" => leftover(w, "data", v, |k| self.data_used.contains(k))?,
                "ipAddressLocation" => {
                    leftover(w, "ipAddressLocation", v, |k| ["latitude", "longitude", "city"].contains(&k))?;
                }
                "_user" => leftover(w, "_user", v, |k| USER_MAPPED.contains(&k))?,
                _ => w.raw(k, v),
            }
        }
        w.end();
        Ok(())
    }
}

/// `key`: the non-blank fields of object `v` not skipped (left out if none).
fn leftover(w: &mut Writer<'_>, key: &'static str, v: &str, skip: impl Fn(&str) -> bool) -> Result<(), Fallback> {
    if !v.starts_with('{') {
        return Ok(());
    }
    let f = Fields::scan(v)?;
    w.begin(key);
    for (k, v) in f.iter() {
        if !is_blank(v) && !skip(k) {
            w.raw(k, v);
        }
    }
    w.end();
    Ok(())
}

/// A Monitor event.
pub(super) fn event(line: &Line<'_>, json: &str, include_original: bool, w: &mut Writer<'_>) -> Result<(), Fallback> {
    let raw = &line.raw;
    let (object, action) = (line.text_or_empty("object"), line.text_or_empty("action"));
    let data = raw.obj("data")?;
    let enriched = enrichment(raw)?;
    let new_value = data.as_ref().and_then(|d| d.string("NewValue")).unwrap_or_default();
    let class = classify(&object, &action, &line.text_or_empty("result"), &new_value);
    let mut p =
        Parts { raw, data: data.as_ref(), enriched: enriched.as_ref(), top: Marks::new(), data_used: Marks::new() };

    let caption = class.ocsf.activity_caption(class.activity_id);
    let activity_name: &str = if class.activity_id == 99 && !action.is_empty() { &action } else { caption };
    let severity_text;
    let (severity_id, severity) = if class.family == Family::Alert {
        severity_text = p.data("Severity").unwrap_or_default();
        alert_severity(&severity_text)
    } else {
        (1, "Informational")
    };
    w.int("class_uid", class.ocsf.uid);
    w.str("class_name", class.ocsf.name);
    w.int("category_uid", class.ocsf.category_uid);
    w.str("category_name", class.ocsf.category_name);
    w.int("activity_id", class.activity_id);
    w.str("activity_name", activity_name);
    w.int("type_uid", u64::from(class.ocsf.uid) * 100 + u64::from(class.activity_id));
    w.str("type_name", &format!("{}: {caption}", class.ocsf.name));
    w.int("severity_id", severity_id);
    w.str("severity", severity);
    w.int("time", line.time.as_deref().and_then(millis).unwrap_or(0));
    metadata(line, &object, &action, w);

    let status = match class.outcome {
        Outcome::Success => Some((1, "Success")),
        Outcome::Failure => Some((2, "Failure")),
        Outcome::Unknown => None,
    };
    if let Some((id, name)) = status.filter(|_| class.family != Family::Alert) {
        p.top.push("result");
        w.int("status_id", id);
        w.str("status", name);
    }

    match class.family {
        Family::Authentication => authentication(&mut p, w)?,
        Family::Alert => finding(&mut p, w, &line.event_id, &action)?,
        family => {
            let app_uid = p.app_uid();
            match family {
                Family::AccountChange | Family::UserAccess => {
                    match p.target() {
                        Some(t) => {
                            w.begin("user");
                            w.str("uid", &t);
                            w.end();
                        }
                        None => p.user_or_unknown(w)?,
                    }
                    if family == Family::UserAccess {
                        let privilege = p.data("PermissionProfileName").or_else(|| p.data("PermissionProfileId"));
                        w.strs("privileges", [privilege.as_deref().unwrap_or(&action)]);
                    }
                }
                Family::GroupManagement => group(&mut p, w, &object, class.activity_id),
                Family::EntityManagement => entity(&mut p, w, &object),
                _ => api(&mut p, w, family, &object, &action),
            }
            // API Activity requires an actor and a source endpoint.
            let api_activity = class.ocsf.uid == API_ACTIVITY.uid;
            w.begin("actor");
            p.actor(app_uid.as_deref(), w)?;
            if api_activity && w.is_empty() {
                w.str("app_name", "DocuSign");
            }
            w.end();
            p.client(w, api_activity)?;
        }
    }
    if p.top.overflow || p.data_used.overflow {
        return Err(Fallback);
    }
    p.unmapped(w)?;
    if include_original {
        w.str("raw_data", json);
    }
    Ok(())
}

/// `metadata`: product, version, `uid`, when the collector logged the line, and the event's
/// own time, code and tenant.
fn metadata(line: &Line<'_>, object: &str, action: &str, w: &mut Writer<'_>) {
    let raw = &line.raw;
    w.begin("metadata");
    w.begin("product");
    w.str("name", "DocuSign Monitor");
    w.str("vendor_name", "DocuSign");
    w.end();
    w.str("version", OCSF_VERSION);
    w.str("uid", &line.event_id);
    if let Some(t) = line.collected_at.as_deref().and_then(millis) {
        w.int("logged_time", t);
    }
    if let Some(n) = raw.text(fields::LOG_TYPE) {
        w.str("log_name", &n);
    }
    if let Some(t) = raw.text("timestamp") {
        w.str("original_time", &t);
    }
    if !object.is_empty() || !action.is_empty() {
        w.str("event_code", &format!("{object}.{action}"));
    }
    if let Some(o) = raw.text("organizationId") {
        w.str("tenant_uid", &o);
    }
    w.end();
}

fn authentication(p: &mut Parts<'_, '_>, w: &mut Writer<'_>) -> Result<(), Fallback> {
    p.user_or_unknown(w)?;
    // The schema wants the service (or destination) authenticated to.
    w.begin("service");
    w.str("name", "DocuSign");
    w.end();
    if let Some(k) = p.app_uid() {
        w.begin("actor");
        w.str("app_uid", &k);
        w.end();
    }
    if let Some(t) = p.data("LoginType") {
        let (id, name) = match t.to_ascii_lowercase().as_str() {
            "jwt" | "oauth" | "oauth2" => (6, "OAUTH 2.0"),
            "saml" => (5, "SAML"),
            "openid" | "oidc" => (4, "OpenID"),
            _ => (99, &*t),
        };
        w.int("auth_protocol_id", id);
        w.str("auth_protocol", name);
    }
    if let Some(r) = p.data("FailureReason") {
        w.str("status_detail", &r);
    }
    p.client(w, false)
}

fn group(p: &mut Parts<'_, '_>, w: &mut Writer<'_>, object: &str, activity_id: u8) {
    let uid = p.data("PermissionProfileId").or_else(|| p.data("GroupId"));
    let name = p.data("PermissionProfileName").or_else(|| p.data("GroupName"));
    if matches!(activity_id, 1 | 2)
        && let Some(f) = p.top("field")
    {
        w.strs("privileges", [f.as_ref()]);
    }
    typed(w, "group", uid.as_deref(), name.as_deref().unwrap_or(object), object);
    if matches!(activity_id, 3 | 4)
        && let Some(t) = p.target()
    {
        w.begin("user");
        w.str("uid", &t);
        w.end();
    }
}

fn entity(p: &mut Parts<'_, '_>, w: &mut Writer<'_>, object: &str) {
    let (uid, name) = match object {
        "Template" => (p.data("TemplateId"), p.data("TemplateName")),
        "IntegratorKey" => (p.data("KeyId"), p.data("AppName")),
        _ => (None, None),
    };
    let name = name.or_else(|| p.top("field")).or_else(|| p.top("property"));
    typed(w, "entity", uid.as_deref(), name.as_deref().unwrap_or(object), object);
}

/// `{uid?, name, type}` under `key` (`""` inside an array): a group, an entity, a resource.
fn typed(w: &mut Writer<'_>, key: &'static str, uid: Option<&str>, name: &str, ty: &str) {
    w.begin(key);
    if let Some(id) = uid {
        w.str("uid", id);
    }
    w.str("name", name);
    w.str("type", ty);
    w.end();
}

fn api(p: &mut Parts<'_, '_>, w: &mut Writer<'_>, family: Family, object: &str, action: &str) {
    w.begin("api");
    w.str("operation", if action.is_empty() { "Unknown" } else { action });
    if !object.is_empty() {
        w.begin("group");
        w.str("name", object);
        w.end();
    }
    w.end();
    if family == Family::Envelope {
        let uid = p.data("EnvelopeId");
        let name = p.data("EnvelopeSubject");
        w.begin_array("resources");
        typed(w, "", uid.as_deref(), name.as_deref().unwrap_or(object), object);
        w.end();
    }
}

fn finding(p: &mut Parts<'_, '_>, w: &mut Writer<'_>, event_id: &str, action: &str) -> Result<(), Fallback> {
    w.begin("finding_info");
    w.str("uid", event_id);
    w.str("title", if action.is_empty() { "Monitor alert" } else { action });
    w.strs("types", ["DocuSign Monitor alert"]);
    if let Some(ids) = p.data.and_then(|d| d.get("EventIds")).filter(|v| v.starts_with('[')) {
        p.data_used.push("EventIds");
        let mut count = 0usize;
        scan::elements(ids, |v| {
            count += usize::from(v.starts_with('"'));
            Ok(())
        })?;
        w.int("related_events_count", count);
        w.begin_array("related_events");
        w.force();
        scan::elements(ids, |v| {
            if let Some(id) = scan::string(v) {
                w.begin("");
                w.str("uid", &id);
                w.end();
            }
            Ok(())
        })?;
        w.end();
    }
    w.end();
    if let Some(n) = p.data("Count").and_then(|c| c.parse::<u64>().ok()) {
        w.int("count", n);
    }
    w.int("status_id", 1);
    w.str("status", "New");
    let app_uid = p.app_uid();
    w.begin_array("evidences");
    w.begin("");
    w.begin("actor");
    p.actor(app_uid.as_deref(), w)?;
    w.end();
    p.client(w, false)?;
    w.end();
    w.end();
    Ok(())
}
