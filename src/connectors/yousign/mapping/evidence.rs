//! A signer's audit trail (the evidence of one signature: an OCSF Authentication logon of the
//! signer, ECS `authentication`, with the signer's IP and OTP mode) and a webhook subscription
//! record (OCSF Entity Management of the subscription, ECS `configuration`; a new or changed
//! one is an update).

use serde_json::{Map, Value};

use super::classes::{AUTHENTICATION, ENTITY_MANAGEMENT};
use super::{
    Line, Person, ecs_doc, ecs_event, keyed, millis, object, ocsf_head, ocsf_metadata, ocsf_status, original, own,
    put_obj, related, s, text,
};
use crate::core::fields;
use crate::format::{Doc, Format, FormatOptions};

/// A signer's audit trail in `format`: one document, timed when the signature completed.
pub(in crate::connectors::yousign) fn audit_trail(
    format: Format,
    raw: &Map<String, Value>,
    opts: FormatOptions,
) -> Vec<Doc> {
    let line = Line::new(raw);
    let signer = object(raw, "signer").map(Person::from).unwrap_or_default();
    let sender = object(raw, "sender").map(Person::from).unwrap_or_default();
    let mode = object(raw, "authentication").and_then(|a| text(a, "mode"));
    let done = object(raw, "signer").and_then(|m| text(m, "signature_process_completed_at"));
    let request = object(raw, "signature_request").and_then(|r| text(r, "name"));
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => {
            let mut ev = ecs_event(&line, "event", "authentication", &["start"], line.event_id);
            ev.insert("action".into(), s("signer-signed"));
            ev.insert("outcome".into(), s("success"));
            if opts.include_original {
                ev.insert("original".into(), original(raw));
            }
            let mut out = ecs_doc(&line, done, ev);
            put_obj(&mut out, "user", signer.ecs());
            if let Some(ip) = signer.ip.as_deref() {
                out.insert("source".into(), keyed("ip", ip));
            }
            put_obj(&mut out, "related", related(&[&signer, &sender]));
            if let Some(name) = request {
                out.insert("message".into(), Value::String(format!("Signed: {name}")));
            }
            let mut y = Map::new();
            y.insert("audit_trail".into(), Value::Object(own(raw, &[])));
            out.insert("yousign".into(), Value::Object(y));
            out
        }
        Format::Ocsf => {
            let md = ocsf_metadata(&line, line.event_id);
            let mut out =
                ocsf_head(AUTHENTICATION, (1, "Logon"), (1, "Informational"), &line, done.and_then(millis), md);
            out.insert("user".into(), Value::Object(signer.ocsf()));
            // Authentication needs a service or a destination: the signature service.
            out.insert("service".into(), keyed("name", super::PRODUCT));
            if let Some(ip) = signer.ip.as_deref() {
                out.insert("src_endpoint".into(), keyed("ip", ip));
            }
            if let Some(m) = mode {
                out.insert("auth_protocol_id".into(), 99.into());
                out.insert("auth_protocol".into(), s(m));
            }
            ocsf_status(&mut out, true);
            out.insert("unmapped".into(), Value::Object(own(raw, &[])));
            if opts.include_original {
                out.insert("raw_data".into(), original(raw));
            }
            out
        }
    };
    vec![Doc { event_id: line.event_id.to_owned(), value }]
}

/// A webhook subscription record in `format`: one document; a new or changed subscription
/// (the snapshot's `_change.type` is `updated`) is an update.
pub(in crate::connectors::yousign) fn subscription(
    format: Format,
    raw: &Map<String, Value>,
    opts: FormatOptions,
) -> Vec<Doc> {
    let line = Line::new(raw);
    let changed = object(raw, fields::CHANGE).and_then(|c| text(c, "type")) == Some("updated");
    let endpoint = text(raw, "endpoint");
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => {
            let ty = if changed { "change" } else { "info" };
            let mut ev = ecs_event(&line, "event", "configuration", &[ty], line.event_id);
            let action = if changed { "webhook-subscription-changed" } else { "webhook-subscription-observed" };
            ev.insert("action".into(), s(action));
            if opts.include_original {
                ev.insert("original".into(), original(raw));
            }
            let mut out = ecs_doc(&line, text(raw, "updated_at").or(text(raw, "created_at")), ev);
            if let Some(e) = endpoint {
                out.insert("message".into(), Value::String(format!("Webhook subscription to {e}")));
            }
            let mut y = Map::new();
            y.insert("webhook_subscription".into(), Value::Object(own(raw, &[])));
            out.insert("yousign".into(), Value::Object(y));
            out
        }
        Format::Ocsf => {
            let activity = if changed { (3, "Update") } else { (2, "Read") };
            let md = ocsf_metadata(&line, line.event_id);
            let mut out = ocsf_head(ENTITY_MANAGEMENT, activity, (1, "Informational"), &line, None, md);
            let mut entity = Map::new();
            entity.insert("type".into(), s("Webhook Subscription"));
            entity.insert("uid".into(), s(text(raw, "id").unwrap_or("unknown")));
            entity.extend(endpoint.map(|e| ("name".to_owned(), s(e))));
            entity.insert("data".into(), Value::Object(own(raw, &[])));
            out.insert("entity".into(), Value::Object(entity));
            if opts.include_original {
                out.insert("raw_data".into(), original(raw));
            }
            out
        }
    };
    vec![Doc { event_id: line.event_id.to_owned(), value }]
}
