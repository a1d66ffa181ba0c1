//! A signature request status line (`yousign_signature_request`: the v3 `SignatureRequestInList`
//! object as listed). The request is the entity: OCSF Entity Management (type "Signature
//! Request"), ECS `event.category: file` (a request is a set of documents). The actor is the
//! request's sender. The time is the status's own lifecycle date where the record has one
//! (`completed_at` for done, `activated_at` for ongoing, `created_at` for draft, …), else when
//! the status was seen (`_time`). A declined or rejected request is a failure outcome.

use serde_json::{Map, Value};

use super::classes::ENTITY_MANAGEMENT;
use super::{
    Line, Person, ecs_doc, ecs_event, millis, object, ocsf_head, ocsf_metadata, ocsf_status, original, own, put_obj,
    related, s, text,
};
use crate::format::{Doc, Format, FormatOptions};

/// How a status or an event is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Create,
    Read,
    Update,
    Delete,
    /// The request was sent to its signers (Yousign: "activated").
    Activate,
    Other,
}

impl Verb {
    /// OCSF Entity Management activity id and caption.
    pub(super) fn ocsf(self) -> (u8, &'static str) {
        match self {
            Verb::Create => (1, "Create"),
            Verb::Read => (2, "Read"),
            Verb::Update => (3, "Update"),
            Verb::Delete => (4, "Delete"),
            Verb::Activate => (10, "Activate"),
            Verb::Other => (99, "Other"),
        }
    }

    /// ECS `event.type` with `event.category: file`.
    pub(super) fn ecs(self) -> &'static str {
        match self {
            Verb::Create => "creation",
            Verb::Read => "access",
            Verb::Update | Verb::Activate => "change",
            Verb::Delete => "deletion",
            Verb::Other => "info",
        }
    }
}

/// A v3 status: `draft`, `approval`, `ongoing`, `done`, `declined`, `rejected`, `expired`,
/// `canceled`, `deleted`.
pub(super) fn status_verb(status: &str) -> Verb {
    match status {
        "draft" => Verb::Create,
        "ongoing" => Verb::Activate,
        "deleted" => Verb::Delete,
        "" => Verb::Other,
        _ => Verb::Update,
    }
}

/// What both the status line and a webhook's `data.signature_request` say of a request.
#[derive(Debug)]
pub(super) struct Request<'a> {
    pub(super) m: &'a Map<String, Value>,
    pub(super) id: Option<&'a str>,
    pub(super) status: &'a str,
    pub(super) name: Option<&'a str>,
    pub(super) sender: Person<'a>,
}

impl<'a> Request<'a> {
    pub(super) fn new(m: &'a Map<String, Value>) -> Self {
        Self {
            m,
            id: text(m, "id"),
            status: text(m, "status").unwrap_or_default(),
            name: text(m, "name"),
            sender: object(m, "sender").map(Person::from).unwrap_or_default(),
        }
    }

    /// The date of the step that set the current status, when the record has one.
    pub(super) fn lifecycle_date(&self) -> Option<&'a str> {
        match self.status {
            "done" => text(self.m, "completed_at"),
            "ongoing" | "approval" => text(self.m, "activated_at"),
            "draft" => text(self.m, "created_at"),
            "declined" => object(self.m, "decline_information").and_then(|d| text(d, "declined_at")),
            "rejected" => object(self.m, "rejection_information").and_then(|d| text(d, "rejected_at")),
            "expired" => text(self.m, "expiration_date"),
            _ => None,
        }
    }

    /// Declined by a signer or rejected by an approver: the request failed.
    pub(super) fn failed(&self) -> bool {
        matches!(self.status, "declined" | "rejected")
    }

    /// Why it was declined or rejected, when the record says.
    pub(super) fn reason(&self) -> Option<&'a str> {
        ["decline_information", "rejection_information"]
            .iter()
            .find_map(|k| object(self.m, k).and_then(|d| text(d, "reason")))
    }

    /// OCSF `entity`: the request (`uid`, `name`, type "Signature Request") with its own
    /// fields as `data`.
    pub(super) fn entity(&self) -> Map<String, Value> {
        let mut e = Map::new();
        e.insert("type_id".into(), 99.into());
        e.insert("type".into(), s("Signature Request"));
        e.insert("uid".into(), s(self.id.unwrap_or("unknown")));
        e.extend(self.name.map(|n| ("name".to_owned(), s(n))));
        put_obj(&mut e, "data", own(self.m, &[]));
        e
    }
}

/// `signature-request-done`: ECS `event.action` of a status.
fn action(status: &str) -> String {
    format!("signature-request-{}", status.replace('_', "-"))
}

/// A signature request status line in `format`: one document.
pub(in crate::connectors::yousign) fn signature_request(
    format: Format,
    raw: &Map<String, Value>,
    opts: FormatOptions,
) -> Vec<Doc> {
    let line = Line::new(raw);
    let r = Request::new(raw);
    let verb = status_verb(r.status);
    let date = r.lifecycle_date();
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => {
            let mut ev = ecs_event(&line, "event", "file", &[verb.ecs()], line.event_id);
            ev.insert("action".into(), Value::String(action(r.status)));
            ev.insert("outcome".into(), s(if r.failed() { "failure" } else { "success" }));
            if let Some(why) = r.reason() {
                ev.insert("reason".into(), s(why));
            }
            if opts.include_original {
                ev.insert("original".into(), original(raw));
            }
            let mut out = ecs_doc(&line, date, ev);
            put_obj(&mut out, "user", r.sender.ecs());
            put_obj(&mut out, "related", related(&[&r.sender]));
            if let Some(name) = r.name {
                out.insert("message".into(), Value::String(format!("Signature request {}: {name}", r.status)));
            }
            let mut y = Map::new();
            y.insert("signature_request".into(), Value::Object(own(raw, &[])));
            out.insert("yousign".into(), Value::Object(y));
            out
        }
        Format::Ocsf => {
            let severity = if r.failed() { (2, "Low") } else { (1, "Informational") };
            let mut md = ocsf_metadata(&line, line.event_id);
            if let Some(d) = date {
                md.insert("original_time".into(), s(d));
            }
            let mut out = ocsf_head(ENTITY_MANAGEMENT, verb.ocsf(), severity, &line, date.and_then(millis), md);
            out.insert("entity".into(), Value::Object(r.entity()));
            if !r.sender.is_empty() {
                let mut actor = Map::new();
                actor.insert("user".into(), Value::Object(r.sender.ocsf()));
                out.insert("actor".into(), Value::Object(actor));
            }
            ocsf_status(&mut out, !r.failed());
            if !r.status.is_empty() {
                out.insert("status_detail".into(), s(r.reason().unwrap_or(r.status)));
            }
            if let Some(name) = r.name {
                out.insert("message".into(), Value::String(format!("Signature request {}: {name}", r.status)));
            }
            if opts.include_original {
                out.insert("raw_data".into(), original(raw));
            }
            out
        }
    };
    vec![Doc { event_id: line.event_id.to_owned(), value }]
}
