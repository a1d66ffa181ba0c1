//! ECS 9.4.0 and OCSF 1.4.0 renderings of eSignature envelope status lines and envelope audit
//! lines. An envelope is the entity: OCSF Entity Management (the envelope as `entity`, type
//! "Envelope"); ECS `event.category: file` (an envelope is a set of documents). The actor is
//! the sender for a status line, the audit event's user for an audit line; the client IP of an
//! audit event is `source.ip` / `src_endpoint.ip`. DocuSign's own fields go under
//! `docusign.envelope` / `docusign.audit` (ECS) and `entity.data` / `unmapped` (OCSF).

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::classes::ENTITY_MANAGEMENT;
use super::{LineView, ecs, is_blank, keyed, ocsf, original, put_obj, s, text};
use crate::core::fields;
use crate::format::{Doc, Format, FormatOptions};

/// How a status or an audit action is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Create,
    Read,
    Update,
    Delete,
    Other,
}

impl Verb {
    /// OCSF Entity Management activity id and caption.
    fn ocsf(self) -> (u8, &'static str) {
        match self {
            Verb::Create => (1, "Create"),
            Verb::Read => (2, "Read"),
            Verb::Update => (3, "Update"),
            Verb::Delete => (4, "Delete"),
            Verb::Other => (99, "Other"),
        }
    }

    /// ECS `event.type` with `event.category: file`.
    fn ecs(self) -> &'static str {
        match self {
            Verb::Create => "creation",
            Verb::Read => "access",
            Verb::Update => "change",
            Verb::Delete => "deletion",
            Verb::Other => "info",
        }
    }
}

/// An envelope status (`created`, `sent`, … `voided`, `deleted`).
fn status_verb(status: &str) -> Verb {
    match status.to_ascii_lowercase().as_str() {
        "created" => Verb::Create,
        "deleted" | "purged" => Verb::Delete,
        "" => Verb::Other,
        _ => Verb::Update,
    }
}

/// An audit event's `Action` ("Registered", "Sent Invitations", "Viewed", "Signed", "Declined",
/// "Voided", "Printable Copy Downloaded", …).
fn action_verb(action: &str) -> Verb {
    let a = action.to_ascii_lowercase();
    let has = |w: &[&str]| w.iter().any(|x| a.contains(x));
    if has(&["registered", "created"]) {
        Verb::Create
    } else if has(&["deleted", "purged"]) {
        Verb::Delete
    } else if has(&["viewed", "download", "printed", "opened"]) {
        Verb::Read
    } else if a.is_empty() {
        Verb::Other
    } else {
        Verb::Update
    }
}

/// `envelope-completed`, `sent-invitations`: lowercase words joined by dashes (the vocabulary's
/// kebab case, after `prefix`).
fn kebab(prefix: &str, s: &str) -> String {
    let mut out = String::from(prefix);
    super::vocab::kebab_into(s, &mut out);
    out
}

/// A field that is an IP address.
fn ip(raw: &Map<String, Value>, key: &str) -> Option<String> {
    text(raw, key).and_then(|v| v.trim().parse::<IpAddr>().ok()).map(|i| i.to_string())
}

/// The raw fields not blank and not ours.
fn own_fields(raw: &Map<String, Value>) -> Map<String, Value> {
    raw.iter()
        .filter(|(k, v)| !fields::ADDED.contains(&k.as_str()) && !is_blank(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The envelope's sender (`sender{userId,userName,email}`), with the given key names.
fn sender(raw: &Map<String, Value>, id: &str, email: &str) -> Map<String, Value> {
    let mut u = Map::new();
    if let Some(snd) = raw.get("sender").and_then(Value::as_object) {
        u.extend(text(snd, "userId").map(|v| (id.to_owned(), s(v))));
        u.extend(text(snd, "userName").map(|v| ("name".to_owned(), s(v))));
        u.extend(text(snd, "email").map(|v| (email.to_owned(), s(v))));
    }
    u
}

/// An audit event's user (`UserId`, `UserName`), with the given id key name.
fn audit_user(raw: &Map<String, Value>, id: &str) -> Map<String, Value> {
    let mut u = Map::new();
    u.extend(text(raw, "UserId").map(|v| (id.to_owned(), s(v))));
    u.extend(text(raw, "UserName").map(|v| ("name".to_owned(), s(v))));
    u
}

/// An envelope status line in `format`: one document.
pub(in crate::connectors::docusign) fn envelope(
    format: Format,
    raw: &Map<String, Value>,
    opts: FormatOptions,
) -> Vec<Doc> {
    let line = LineView::new(raw);
    let status = text(raw, "status").unwrap_or_default();
    let verb = status_verb(status);
    let gap = raw.get(crate::core::fields::CONNECT_GAP) == Some(&Value::Bool(true));
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => {
            let mut ev = ecs::event_base(&line, "event", &["file"], &[verb.ecs()], line.event_id);
            ev.insert("action".into(), Value::String(kebab("envelope", status)));
            if let Some(r) = text(raw, "voidedReason") {
                ev.insert("reason".into(), s(r));
            }
            if opts.include_original {
                ev.insert("original".into(), original(raw));
            }
            let mut out = Map::new();
            ecs::head(&line, &mut out);
            out.insert("event".into(), Value::Object(ev));
            if gap {
                // Emitted by reconciliation: Connect never delivered this transition.
                out.insert("tags".into(), Value::Array(vec![s("connect_gap")]));
            }
            let user = sender(raw, "id", "email");
            let names: Vec<Value> = ["name", "email"].iter().filter_map(|k| user.get(*k).cloned()).collect();
            put_obj(&mut out, "user", user);
            if !names.is_empty() {
                out.insert("related".into(), Value::Object(Map::from_iter([("user".to_owned(), Value::Array(names))])));
            }
            if let Some(subject) = text(raw, "emailSubject") {
                out.insert("message".into(), Value::String(format!("Envelope {status}: {subject}")));
            }
            let mut ds = Map::new();
            ds.insert("envelope".into(), Value::Object(own_fields(raw)));
            out.insert("docusign".into(), Value::Object(ds));
            out
        }
        Format::Ocsf => {
            let (activity_id, activity) = verb.ocsf();
            let severity = if matches!(status, "declined" | "voided") { (2, "Low") } else { (1, "Informational") };
            let mut md = ocsf::metadata(&line, "eSignature", line.event_id);
            if gap {
                md.insert("labels".into(), Value::Array(vec![s("connect_gap")]));
            }
            let mut out = ocsf::header(ENTITY_MANAGEMENT, activity_id, activity, severity, &line, md);
            out.insert("entity".into(), Value::Object(entity(raw, Some(own_fields(raw)))));
            let user = sender(raw, "uid", "email_addr");
            if !user.is_empty() {
                out.insert("actor".into(), Value::Object(Map::from_iter([("user".to_owned(), Value::Object(user))])));
            }
            out.insert("status_id".into(), 1.into());
            out.insert("status".into(), s("Success"));
            if !status.is_empty() {
                out.insert("status_detail".into(), s(status));
            }
            if opts.include_original {
                out.insert("raw_data".into(), original(raw));
            }
            out
        }
    };
    vec![Doc { event_id: line.event_id.to_owned(), value }]
}

/// OCSF `entity`: the envelope (`uid`, subject as `name`, type "Envelope"), with `data`.
fn entity(raw: &Map<String, Value>, data: Option<Map<String, Value>>) -> Map<String, Value> {
    let mut e = Map::new();
    e.insert("type_id".into(), 99.into());
    e.insert("type".into(), s("Envelope"));
    e.insert("uid".into(), s(text(raw, "envelopeId").unwrap_or("unknown")));
    if let Some(n) = text(raw, "emailSubject") {
        e.insert("name".into(), s(n));
    }
    if let Some(d) = data.filter(|d| !d.is_empty()) {
        e.insert("data".into(), Value::Object(d));
    }
    e
}

/// An envelope audit line in `format`: one document.
pub(in crate::connectors::docusign) fn envelope_audit(
    format: Format,
    raw: &Map<String, Value>,
    opts: FormatOptions,
) -> Vec<Doc> {
    let line = LineView::new(raw);
    let action = text(raw, "Action").unwrap_or_default();
    let verb = action_verb(action);
    let client = ip(raw, "ClientIPAddress");
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => {
            let mut ev = ecs::event_base(&line, "event", &["file"], &[verb.ecs()], line.event_id);
            ev.insert("action".into(), Value::String(kebab("", action)));
            ev.insert("outcome".into(), s("success"));
            if opts.include_original {
                ev.insert("original".into(), original(raw));
            }
            let mut out = Map::new();
            ecs::head(&line, &mut out);
            out.insert("event".into(), Value::Object(ev));
            let user = audit_user(raw, "id");
            let mut related = Map::new();
            if let Some(n) = user.get("name") {
                related.insert("user".into(), Value::Array(vec![n.clone()]));
            }
            put_obj(&mut out, "user", user);
            if let Some(ip) = &client {
                out.insert("source".into(), keyed("ip", ip));
                related.insert("ip".into(), Value::Array(vec![s(ip)]));
            }
            put_obj(&mut out, "related", related);
            if let Some(m) = text(raw, "Message") {
                out.insert("message".into(), s(m));
            }
            let mut ds = Map::new();
            ds.insert("audit".into(), Value::Object(own_fields(raw)));
            out.insert("docusign".into(), Value::Object(ds));
            out
        }
        Format::Ocsf => {
            let (activity_id, caption) = verb.ocsf();
            let activity = if verb == Verb::Other && !action.is_empty() { action } else { caption };
            let severity = if action.eq_ignore_ascii_case("declined") || action.eq_ignore_ascii_case("voided") {
                (2, "Low")
            } else {
                (1, "Informational")
            };
            let md = ocsf::metadata(&line, "eSignature", line.event_id);
            let mut out = ocsf::header(ENTITY_MANAGEMENT, activity_id, activity, severity, &line, md);
            out.insert("entity".into(), Value::Object(entity(raw, None)));
            let user = audit_user(raw, "uid");
            if !user.is_empty() {
                out.insert("actor".into(), Value::Object(Map::from_iter([("user".to_owned(), Value::Object(user))])));
            }
            if let Some(ip) = &client {
                out.insert("src_endpoint".into(), keyed("ip", ip));
            }
            if let Some(m) = text(raw, "Message") {
                out.insert("message".into(), s(m));
            }
            out.insert("status_id".into(), 1.into());
            out.insert("status".into(), s("Success"));
            let mapped = ["Action", "UserId", "UserName", "ClientIPAddress", "Message", "envelopeId", "logTime"];
            let rest: Map<String, Value> =
                own_fields(raw).into_iter().filter(|(k, _)| !mapped.contains(&k.as_str())).collect();
            put_obj(&mut out, "unmapped", rest);
            if opts.include_original {
                out.insert("raw_data".into(), original(raw));
            }
            out
        }
    };
    vec![Doc { event_id: line.event_id.to_owned(), value }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs() {
        assert_eq!(status_verb("created"), Verb::Create);
        assert_eq!(status_verb("completed"), Verb::Update);
        assert_eq!(status_verb("deleted"), Verb::Delete);
        assert_eq!(action_verb("Viewed"), Verb::Read);
        assert_eq!(action_verb("Printable Copy Downloaded"), Verb::Read);
        assert_eq!(action_verb("Signed"), Verb::Update);
        assert_eq!(action_verb("Registered"), Verb::Create);
        assert_eq!(kebab("envelope", "completed"), "envelope-completed");
        assert_eq!(kebab("", "Sent Invitations"), "sent-invitations");
    }
}
