//! A webhook message (`yousign_webhook`: the payload as received, `event_id`, `event_name`,
//! `event_time` in Unix seconds as a string, `subscription_id`, `sandbox`, `data`).
//!
//! `signature_request.*` and the events of a person on a request (`signer.*`, `approver.*`)
//! are the request's lifecycle: OCSF Entity Management with the request as `entity`, ECS
//! `event.category: file`. The actor is the person for a person's event (with their IP where
//! the message has one), the request's sender otherwise. A signer's identification
//! (`signer.identification_{failed,blocked,expired,succeeded}`) is an authentication: OCSF
//! Authentication (Logon) with the signer as `user`, ECS `event.category: authentication`.
//! Declines, rejections, errors and failed deliveries are failure outcomes. The time is
//! `event_time`. Yousign has no webhook event for a change of webhook subscriptions.

use serde_json::{Map, Value};

use super::classes::{AUTHENTICATION, ENTITY_MANAGEMENT};
use super::requests::{Request, Verb};
use super::{
    Line, Person, ecs_doc, ecs_event, is_blank, keyed, object, ocsf_head, ocsf_metadata, ocsf_status, original, own,
    put_obj, related, s, strings, text,
};
use crate::format::{Doc, Format, FormatOptions};

/// A signer's identity check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identification {
    Succeeded,
    Failed,
    /// Too many failed attempts: the signer can no longer try.
    Blocked,
    Expired,
}

impl Identification {
    /// OCSF severity: a block is what an analyst should see first.
    fn severity(self) -> (u8, &'static str) {
        match self {
            Identification::Succeeded => (1, "Informational"),
            Identification::Failed | Identification::Expired => (2, "Low"),
            Identification::Blocked => (3, "Medium"),
        }
    }

    fn detail(self) -> &'static str {
        match self {
            Identification::Succeeded => "The signer passed identity verification.",
            Identification::Failed => "The signer failed identity verification.",
            Identification::Blocked => "The signer was blocked after too many failed identity verifications.",
            Identification::Expired => "The signer's identity verification expired.",
        }
    }
}

/// What an event name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A step of a request (`signature_request.*`, or a person's `signer.*`/`approver.*`).
    Lifecycle(Verb),
    Identification(Identification),
    /// Another family (`contact.*`, `verification.*`, `workflow_session.*`, …).
    Other,
}

/// The meaning of `event_name`, and whether it is a success.
fn meaning(name: &str) -> (Kind, bool) {
    let (family, what) = name.split_once('.').unwrap_or((name, ""));
    if family == "signer"
        && let Some(result) = what.strip_prefix("identification_")
    {
        let id = match result {
            "succeeded" => Identification::Succeeded,
            "blocked" => Identification::Blocked,
            "expired" => Identification::Expired,
            _ => Identification::Failed,
        };
        return (Kind::Identification(id), id == Identification::Succeeded);
    }
    if !matches!(family, "signature_request" | "signer" | "approver") {
        return (Kind::Other, true);
    }
    let failed = matches!(what, "declined" | "rejected" | "error" | "notification_delivery_failed");
    let verb = match what {
        "activated" | "reactivated" => Verb::Activate,
        "link_opened" => Verb::Read,
        "deleted" | "permanently_deleted" => Verb::Delete,
        _ => Verb::Update,
    };
    (Kind::Lifecycle(verb), !failed)
}

/// The fields of a webhook message both mappings read.
#[derive(Debug)]
struct Message<'a> {
    name: &'a str,
    kind: Kind,
    success: bool,
    /// `event_time` in Unix milliseconds.
    time_ms: Option<i64>,
    /// `event_time` as RFC 3339.
    time: Option<String>,
    sandbox: bool,
    data: Option<&'a Map<String, Value>>,
    request: Option<Request<'a>>,
    /// The signer or approver the event is about, and which of the two (`data`'s key).
    person: Option<(&'static str, Person<'a>)>,
}

impl<'a> Message<'a> {
    fn new(raw: &'a Map<String, Value>) -> Self {
        let name = text(raw, "event_name").unwrap_or_default();
        let (kind, success) = meaning(name);
        let secs = match raw.get("event_time") {
            Some(Value::String(t)) => t.trim().parse::<i64>().ok(),
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        };
        let at = secs.and_then(|t| chrono::DateTime::from_timestamp(t, 0));
        let data = object(raw, "data");
        let person = ["signer", "approver"].into_iter().find_map(|k| {
            let p = data.and_then(|d| object(d, k))?;
            Some((k, person(p)))
        });
        Self {
            name,
            kind,
            success,
            time_ms: at.map(|t| t.timestamp_millis()),
            time: at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            sandbox: raw.get("sandbox") == Some(&Value::Bool(true)),
            data,
            request: data.and_then(|d| object(d, "signature_request")).map(Request::new),
            person,
        }
    }

    /// Who acted: the signer or approver for their events, else the request's sender.
    fn actor(&self) -> Option<&Person<'a>> {
        match (&self.person, &self.request) {
            (Some((_, p)), _) => Some(p),
            (None, Some(r)) if !r.sender.is_empty() => Some(&r.sender),
            _ => None,
        }
    }

    /// Everyone the message names: the person and the sender.
    fn people(&self) -> Vec<&Person<'a>> {
        let mut v: Vec<&Person<'a>> = self.person.iter().map(|(_, p)| p).collect();
        v.extend(self.request.as_ref().map(|r| &r.sender).filter(|p| !p.is_empty()));
        v
    }

    /// Why it failed, when the message says (a request's decline or rejection reason).
    fn reason(&self) -> Option<String> {
        if let Kind::Identification(id) = self.kind {
            return (!self.success).then(|| id.detail().to_owned());
        }
        if self.success {
            return None;
        }
        self.request.as_ref().and_then(Request::reason).map(str::to_owned)
    }

    /// The message's own fields besides `data`: name, time, subscription, sandbox.
    fn envelope(raw: &Map<String, Value>) -> Map<String, Value> {
        own(raw, &["data"])
    }

    /// The `data` objects as the vendor namespace holds them: `signature_request`, `signer`,
    /// `approver` by name (blank fields left out), any other under `data`.
    fn vendor_data(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let mut rest = Map::new();
        for (k, v) in self.data.into_iter().flatten() {
            match (k.as_str(), v) {
                ("signature_request" | "signer" | "approver", Value::Object(m)) => {
                    put_obj(&mut out, k, own(m, &[]));
                }
                _ if !is_blank(v) => {
                    rest.insert(k.clone(), v.clone());
                }
                _ => {}
            }
        }
        put_obj(&mut out, "data", rest);
        out
    }
}

/// A signer or approver as webhooks carry them: `id`, `info{first_name, last_name, email,
/// phone_number}`, and an `ip_address` where the message has one.
fn person(m: &Map<String, Value>) -> Person<'_> {
    let mut p = object(m, "info").map(Person::from).unwrap_or_default();
    let outer = Person::from(m);
    p.id = outer.id;
    p.ip = p.ip.or(outer.ip);
    p.email = p.email.or(outer.email);
    p
}

/// A webhook message in `format` (ECS or OCSF): one document.
pub(in crate::connectors::yousign) fn webhook(
    format: Format,
    raw: &Map<String, Value>,
    opts: FormatOptions,
) -> Vec<Doc> {
    let line = Line::new(raw);
    let m = Message::new(raw);
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => ecs(&line, &m, opts),
        Format::Ocsf => ocsf(&line, &m, opts),
    };
    vec![Doc { event_id: line.event_id.to_owned(), value }]
}

fn ecs(line: &Line<'_>, m: &Message<'_>, opts: FormatOptions) -> Map<String, Value> {
    let raw = line.raw;
    let (category, ty) = match m.kind {
        Kind::Identification(_) => ("authentication", "start"),
        Kind::Lifecycle(v) => ("file", v.ecs()),
        Kind::Other => ("file", "info"),
    };
    let mut ev = ecs_event(line, "event", category, &[ty], line.event_id);
    ev.insert("action".into(), s(m.name));
    ev.insert("outcome".into(), s(if m.success { "success" } else { "failure" }));
    if let Some(r) = m.reason() {
        ev.insert("reason".into(), Value::String(r));
    }
    if opts.include_original {
        ev.insert("original".into(), original(raw));
    }
    let mut out = ecs_doc(line, m.time.as_deref(), ev);
    if m.sandbox {
        out.insert("tags".into(), strings(["sandbox"]));
    }
    if let Some(a) = m.actor() {
        put_obj(&mut out, "user", a.ecs());
        if let Some(ip) = &a.ip {
            out.insert("source".into(), keyed("ip", ip));
        }
    }
    put_obj(&mut out, "related", related(&m.people()));
    if let Some(n) = m.request.as_ref().and_then(|r| r.name) {
        out.insert("message".into(), Value::String(format!("Yousign {}: {n}", m.name)));
    }
    let mut y = m.vendor_data();
    y.insert("webhook".into(), Value::Object(Message::envelope(raw)));
    out.insert("yousign".into(), Value::Object(y));
    out
}

fn ocsf(line: &Line<'_>, m: &Message<'_>, opts: FormatOptions) -> Map<String, Value> {
    let raw = line.raw;
    let mut md = ocsf_metadata(line, line.event_id);
    md.insert("event_code".into(), s(m.name));
    if let Some(t) = text(raw, "event_time") {
        md.insert("original_time".into(), s(t));
    }
    if let Some(id) = m.request.as_ref().and_then(|r| r.id) {
        md.insert("correlation_uid".into(), s(id));
    }
    if m.sandbox {
        md.insert("labels".into(), strings(["sandbox"]));
    }
    let actor = m.actor();
    let mut out;
    if let Kind::Identification(id) = m.kind {
        out = ocsf_head(AUTHENTICATION, (1, "Logon"), id.severity(), line, m.time_ms, md);
        out.insert("user".into(), Value::Object(actor.map_or_else(|| Person::default().ocsf(), Person::ocsf)));
        out.insert("service".into(), keyed("name", super::PRODUCT));
        out.insert("status_detail".into(), s(id.detail()));
        if let Some(r) = &m.request {
            out.insert(
                "message".into(),
                Value::String(format!("{} ({})", id.detail(), r.name.unwrap_or("signature request"))),
            );
        }
    } else {
        let (severity, verb) = match m.kind {
            Kind::Lifecycle(v) if !m.success => ((2, "Low"), v),
            Kind::Lifecycle(v) => ((1, "Informational"), v),
            _ => ((1, "Informational"), Verb::Other),
        };
        let (activity_id, caption) = verb.ocsf();
        let name = if activity_id == 99 { m.name } else { caption };
        out = ocsf_head(ENTITY_MANAGEMENT, (activity_id, name), severity, line, m.time_ms, md);
        out.insert("entity".into(), Value::Object(entity(m)));
        if let Some(a) = actor {
            let mut act = Map::new();
            act.insert("user".into(), Value::Object(a.ocsf()));
            out.insert("actor".into(), Value::Object(act));
        }
        out.insert("status_detail".into(), Value::String(m.reason().unwrap_or_else(|| m.name.to_owned())));
        if let Some(n) = m.request.as_ref().and_then(|r| r.name) {
            out.insert("message".into(), Value::String(format!("Yousign {}: {n}", m.name)));
        }
    }
    ocsf_status(&mut out, m.success);
    if let Some(ip) = actor.and_then(|a| a.ip.as_deref()) {
        out.insert("src_endpoint".into(), keyed("ip", ip));
    }
    let mut unmapped = m.vendor_data();
    // The request's own fields are the entity's `data` in Entity Management.
    if m.request.is_some() && !matches!(m.kind, Kind::Identification(_)) {
        unmapped.remove("signature_request");
    }
    unmapped.insert("webhook".into(), Value::Object(Message::envelope(raw)));
    out.insert("unmapped".into(), Value::Object(unmapped));
    if opts.include_original {
        out.insert("raw_data".into(), original(raw));
    }
    out
}

/// OCSF `entity`: the signature request; for another family, the first `data` object with an
/// `id` (its key as the type), else the event name.
fn entity(m: &Message<'_>) -> Map<String, Value> {
    if let Some(r) = &m.request {
        return r.entity();
    }
    let mut e = Map::new();
    let found = m.data.into_iter().flatten().find_map(|(k, v)| Some((k, text(v.as_object()?, "id")?)));
    match found {
        Some((k, id)) => {
            e.insert("uid".into(), s(id));
            e.insert("type".into(), s(k));
        }
        None => {
            e.insert("name".into(), s(if m.name.is_empty() { "unknown" } else { m.name }));
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_map_to_their_meaning() {
        assert_eq!(meaning("signature_request.activated"), (Kind::Lifecycle(Verb::Activate), true));
        assert_eq!(meaning("signature_request.declined"), (Kind::Lifecycle(Verb::Update), false));
        assert_eq!(meaning("signature_request.permanently_deleted"), (Kind::Lifecycle(Verb::Delete), true));
        assert_eq!(meaning("signer.link_opened"), (Kind::Lifecycle(Verb::Read), true));
        assert_eq!(meaning("signer.declined"), (Kind::Lifecycle(Verb::Update), false));
        assert_eq!(meaning("signer.identification_failed"), (Kind::Identification(Identification::Failed), false));
        assert_eq!(meaning("signer.identification_blocked"), (Kind::Identification(Identification::Blocked), false));
        assert_eq!(meaning("signer.identification_succeeded"), (Kind::Identification(Identification::Succeeded), true));
        assert_eq!(meaning("approver.rejected"), (Kind::Lifecycle(Verb::Update), false));
        assert_eq!(meaning("contact.created"), (Kind::Other, true));
    }
}
