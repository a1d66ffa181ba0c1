//! ECS and OCSF renderings of DocuSign Connect messages (JSON SIM: `event`, `data.accountId`,
//! `data.envelopeId`, `data.recipientId`, `data.envelopeSummary`).
//!
//! Envelope and recipient lifecycle events map as the Monitor mapping maps envelope actions:
//! ECS category `file` (sent: creation, delivered/viewed: access, a status change: change,
//! deleted/purged/discarded: deletion), OCSF API Activity with the envelope as a resource.
//! `recipient-authenticationfailed` (the recipient failed every identity check) is an
//! authentication failure: ECS category `authentication` with `event.outcome: failure`, OCSF
//! Authentication (Logon, status Failure). The acting person is the envelope's sender for
//! envelope events and the recipient for recipient events (the other one is `user.target` in
//! ECS and `unmapped.sender` or `unmapped.recipient` in OCSF).

use serde_json::{Map, Value};

use super::classes::{API_ACTIVITY, AUTHENTICATION};
use super::{LineView, is_blank, keyed, original, put_obj, s, text};
use crate::format::{Doc, Format, FormatOptions};

/// A Connect message in `format` (ECS or OCSF): one document.
pub(in crate::connectors::docusign) fn render(
    format: Format,
    raw: &Map<String, Value>,
    opts: FormatOptions,
) -> Vec<Doc> {
    let line = LineView::new(raw);
    let m = Connect::new(raw);
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => ecs(&line, &m, opts.include_original),
        Format::Ocsf => ocsf(&line, &m, opts.include_original),
    };
    vec![Doc { event_id: line.event_id.to_owned(), value }]
}

/// What an event name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Created or sent: ECS creation, OCSF Create.
    Create,
    /// Delivered (opened, viewed): ECS access, OCSF Read.
    Read,
    /// Any other status change (completed, declined, voided, corrected, resent, …).
    Update,
    /// Deleted, purged, discarded.
    Delete,
    /// The recipient failed authentication.
    AuthFailure,
    /// Not an envelope or recipient event (templates, clicks, SMS opt-in/out).
    Other,
}

fn kind(event: &str) -> Kind {
    let (group, what) = event.split_once('-').unwrap_or(("", event));
    if !matches!(group, "envelope" | "recipient") {
        return Kind::Other;
    }
    match what {
        "authenticationfailed" => Kind::AuthFailure,
        "created" | "sent" if group == "envelope" => Kind::Create,
        "delivered" => Kind::Read,
        "deleted" | "purge" | "discard" => Kind::Delete,
        _ => Kind::Update,
    }
}

/// A person named in a Connect message (the sender, or a recipient).
#[derive(Debug, Default, Clone, Copy)]
struct Person<'a> {
    id: Option<&'a str>,
    name: Option<&'a str>,
    email: Option<&'a str>,
    ip: Option<&'a str>,
}

impl<'a> Person<'a> {
    fn from(m: &'a Map<String, Value>, name_key: &str) -> Self {
        Self { id: text(m, "userId"), name: text(m, name_key), email: text(m, "email"), ip: text(m, "ipAddress") }
    }

    fn is_empty(&self) -> bool {
        self.id.is_none() && self.name.is_none() && self.email.is_none()
    }
}

/// The fields of a Connect message both mappings read.
#[derive(Debug)]
struct Connect<'a> {
    event: &'a str,
    kind: Kind,
    account: Option<&'a str>,
    envelope: Option<&'a str>,
    recipient_id: Option<String>,
    summary: Option<&'a Map<String, Value>>,
    sender: Person<'a>,
    /// The recipient `data.recipientId` names, found in `envelopeSummary.recipients`.
    recipient: Person<'a>,
    recipient_status: Option<&'a str>,
}

impl<'a> Connect<'a> {
    fn new(raw: &'a Map<String, Value>) -> Self {
        let event = text(raw, "event").unwrap_or_default();
        let data = raw.get("data").and_then(Value::as_object);
        let dt = |k: &str| data.and_then(|d| text(d, k));
        let recipient_id = data.and_then(|d| match d.get("recipientId") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        });
        let summary = data.and_then(|d| d.get("envelopeSummary")).and_then(Value::as_object);
        let sender =
            summary.and_then(|s| s.get("sender")).and_then(Value::as_object).map(|m| Person::from(m, "userName"));
        let found = recipient_id.as_deref().and_then(|id| find_recipient(summary, id));
        Self {
            event,
            kind: kind(event),
            account: dt("accountId"),
            envelope: dt("envelopeId"),
            recipient_id,
            summary,
            sender: sender.unwrap_or_default(),
            recipient: found.map(|r| Person::from(r, "name")).unwrap_or_default(),
            recipient_status: found.and_then(|r| text(r, "status")),
        }
    }

    fn is_recipient_event(&self) -> bool {
        self.event.starts_with("recipient-")
    }

    fn summary_text(&self, k: &str) -> Option<&'a str> {
        self.summary.and_then(|s| text(s, k))
    }

    /// Why the envelope was voided or declined, when the summary says.
    fn reason(&self) -> Option<&'a str> {
        self.summary_text("voidedReason").or_else(|| self.summary_text("declinedReason"))
    }

    /// `docusign.connect.*` (ECS) and `unmapped.connect` (OCSF): the message's own fields.
    fn vendor(&self, raw: &Map<String, Value>) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("event".into(), s(self.event));
        for (from, to) in [("uri", "uri"), ("apiVersion", "api_version")] {
            if let Some(v) = text(raw, from) {
                m.insert(to.into(), s(v));
            }
        }
        for (from, to) in [("retryCount", "retry_count"), ("configurationId", "configuration_id")] {
            if let Some(v) = raw.get(from).filter(|v| !is_blank(v)) {
                m.insert(to.into(), v.clone());
            }
        }
        if let Some(e) = self.envelope {
            m.insert("envelope_id".into(), s(e));
        }
        if let Some(r) = &self.recipient_id {
            m.insert("recipient_id".into(), s(r));
        }
        if let Some(st) = self.recipient_status {
            m.insert("recipient_status".into(), s(st));
        }
        for (from, to) in [
            ("status", "envelope_status"),
            ("emailSubject", "email_subject"),
            ("statusChangedDateTime", "status_changed"),
            ("purgeState", "purge_state"),
        ] {
            if let Some(v) = self.summary_text(from) {
                m.insert(to.into(), s(v));
            }
        }
        m
    }
}

/// The recipient with `recipientId == id` in any list of `envelopeSummary.recipients`.
fn find_recipient<'a>(summary: Option<&'a Map<String, Value>>, id: &str) -> Option<&'a Map<String, Value>> {
    let lists = summary?.get("recipients")?.as_object()?;
    lists.values().filter_map(Value::as_array).flatten().filter_map(Value::as_object).find(|r| {
        match r.get("recipientId") {
            Some(Value::String(s)) => s == id,
            Some(Value::Number(n)) => n.to_string() == id,
            _ => false,
        }
    })
}

/// The ECS document.
fn ecs(line: &LineView<'_>, m: &Connect<'_>, include_original: bool) -> Map<String, Value> {
    let raw = line.raw;
    let mut out = Map::new();
    super::ecs::head(line, &mut out);
    let (category, ty): (&[&str], &[&str]) = match m.kind {
        Kind::Create => (&["file"], &["creation"]),
        Kind::Read => (&["file"], &["access"]),
        Kind::Update => (&["file"], &["change"]),
        Kind::Delete => (&["file"], &["deletion"]),
        Kind::AuthFailure => (&["authentication"], &["start"]),
        Kind::Other => (&["api"], &["info"]),
    };
    let mut ev = super::ecs::event_base(line, "event", category, ty, line.event_id);
    ev.insert("action".into(), s(m.event));
    if m.kind == Kind::AuthFailure {
        ev.insert("outcome".into(), s("failure"));
        ev.insert("reason".into(), s("the recipient failed every identity verification attempt"));
    } else if let Some(r) = m.reason() {
        ev.insert("reason".into(), s(r));
    }
    if include_original {
        ev.insert("original".into(), original(raw));
    }
    out.insert("event".into(), Value::Object(ev));
    let (actor, other) = if m.is_recipient_event() { (m.recipient, m.sender) } else { (m.sender, m.recipient) };
    let mut user = ecs_person(&actor);
    if !other.is_empty() {
        user.insert("target".into(), Value::Object(ecs_person(&other)));
    }
    put_obj(&mut out, "user", user);
    let mut related_ip = Vec::new();
    if let Some(ip) = actor.ip {
        out.insert("source".into(), keyed("ip", ip));
        related_ip.push(s(ip));
    }
    if let Some(a) = m.account {
        let mut cloud = Map::new();
        cloud.insert("account".into(), keyed("id", a));
        out.insert("cloud".into(), Value::Object(cloud));
    }
    let mut related = Map::new();
    let mut users: Vec<Value> = [actor, other].iter().filter_map(|p| p.email.or(p.id)).map(s).collect();
    users.dedup();
    if !users.is_empty() {
        related.insert("user".into(), Value::Array(users));
    }
    if !related_ip.is_empty() {
        related.insert("ip".into(), Value::Array(related_ip));
    }
    put_obj(&mut out, "related", related);
    let mut vendor = Map::new();
    vendor.insert("connect".into(), Value::Object(m.vendor(raw)));
    out.insert("docusign".into(), Value::Object(vendor));
    out
}

/// ECS `user`-shaped fields of a person.
fn ecs_person(p: &Person<'_>) -> Map<String, Value> {
    let mut u = Map::new();
    if let Some(id) = p.id {
        u.insert("id".into(), s(id));
    }
    if let Some(e) = p.email {
        u.insert("email".into(), s(e));
        u.insert("name".into(), s(e));
    }
    if let Some(n) = p.name {
        u.insert("full_name".into(), s(n));
    }
    u
}

/// An OCSF `user` of a person (`{"name": "Unknown"}` when the message names nobody).
fn ocsf_user(p: &Person<'_>) -> Value {
    let mut u = Map::new();
    if let Some(id) = p.id {
        u.insert("uid".into(), s(id));
    }
    if let Some(e) = p.email {
        u.insert("email_addr".into(), s(e));
    }
    u.insert("name".into(), s(p.email.or(p.name).unwrap_or("Unknown")));
    if let Some(n) = p.name {
        u.insert("full_name".into(), s(n));
    }
    Value::Object(u)
}

/// The OCSF event.
fn ocsf(line: &LineView<'_>, m: &Connect<'_>, include_original: bool) -> Map<String, Value> {
    let raw = line.raw;
    let mut meta = super::ocsf::metadata(line, "DocuSign eSignature", line.event_id);
    if let Some(t) = text(raw, "generatedDateTime") {
        meta.insert("original_time".into(), s(t));
    }
    meta.insert("event_code".into(), s(m.event));
    if let Some(a) = m.account {
        meta.insert("tenant_uid".into(), s(a));
    }
    let (actor, other) = if m.is_recipient_event() { (m.recipient, m.sender) } else { (m.sender, m.recipient) };
    let mut out;
    if m.kind == Kind::AuthFailure {
        out = super::ocsf::header(AUTHENTICATION, 1, "Logon", (3, "Medium"), line, meta);
        out.insert("status_id".into(), 2.into());
        out.insert("status".into(), s("Failure"));
        out.insert("status_detail".into(), s("The recipient failed every identity verification attempt."));
        out.insert("user".into(), ocsf_user(&actor));
        let mut service = Map::new();
        service.insert("name".into(), s("DocuSign eSignature"));
        out.insert("service".into(), Value::Object(service));
    } else {
        let activity = match m.kind {
            Kind::Create => 1,
            Kind::Read => 2,
            Kind::Update => 3,
            Kind::Delete => 4,
            Kind::AuthFailure | Kind::Other => 99,
        };
        let name = if activity == 99 { m.event } else { API_ACTIVITY.activity_caption(activity) };
        out = super::ocsf::header(API_ACTIVITY, activity, name, (1, "Informational"), line, meta);
        let mut a = Map::new();
        if actor.is_empty() {
            a.insert("app_name".into(), s("DocuSign"));
        } else {
            a.insert("user".into(), ocsf_user(&actor));
        }
        out.insert("actor".into(), Value::Object(a));
        let mut api = Map::new();
        api.insert("operation".into(), s(m.event));
        let mut service = Map::new();
        service.insert("name".into(), s("DocuSign Connect"));
        api.insert("service".into(), Value::Object(service));
        out.insert("api".into(), Value::Object(api));
        if let Some(e) = m.envelope {
            let mut r = Map::new();
            r.insert("uid".into(), s(e));
            r.insert("name".into(), s(m.summary_text("emailSubject").unwrap_or("Envelope")));
            r.insert("type".into(), s("Envelope"));
            out.insert("resources".into(), Value::Array(vec![Value::Object(r)]));
        }
    }
    let endpoint = match actor.ip {
        Some(ip) => keyed("ip", ip),
        None => keyed("name", "Unknown"),
    };
    // API Activity requires a source endpoint; Authentication takes one when known.
    if actor.ip.is_some() || m.kind != Kind::AuthFailure {
        out.insert("src_endpoint".into(), endpoint);
    }
    let mut unmapped = Map::new();
    unmapped.insert("connect".into(), Value::Object(m.vendor(raw)));
    if !other.is_empty() {
        let key = if m.is_recipient_event() { "sender" } else { "recipient" };
        unmapped.insert(key.into(), ocsf_user(&other));
    }
    out.insert("unmapped".into(), Value::Object(unmapped));
    if include_original {
        out.insert("raw_data".into(), original(raw));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_map_to_their_meaning() {
        assert_eq!(kind("envelope-sent"), Kind::Create);
        assert_eq!(kind("envelope-created"), Kind::Create);
        assert_eq!(kind("recipient-sent"), Kind::Update);
        assert_eq!(kind("recipient-delivered"), Kind::Read);
        assert_eq!(kind("envelope-completed"), Kind::Update);
        assert_eq!(kind("envelope-voided"), Kind::Update);
        assert_eq!(kind("envelope-purge"), Kind::Delete);
        assert_eq!(kind("recipient-authenticationfailed"), Kind::AuthFailure);
        assert_eq!(kind("template-created"), Kind::Other);
    }
}
