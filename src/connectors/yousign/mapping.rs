//! Yousign's ECS 9.4.0 and OCSF 1.4.0 renderings: a signature request status line is an
//! entity change (OCSF Entity Management, the request as `entity`; ECS `event.category: file`),
//! a user record is an inventory state (OCSF User Inventory Info; ECS `iam`) and, when it
//! changed, an account change. Yousign's own fields go under `yousign.*` (ECS) and
//! `entity.data` / `unmapped` (OCSF). Pure functions, no I/O.

use serde_json::{Map, Value, json};

use crate::core::fields;
use crate::format::{Doc, ECS_VERSION, Format, FormatOptions, OCSF_VERSION};

fn text<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

/// The line's own fields (not blank, not the collector's).
fn own(raw: &Map<String, Value>) -> Map<String, Value> {
    raw.iter()
        .filter(|(k, v)| !fields::ADDED.contains(&k.as_str()) && k.as_str() != fields::CHANGE && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn millis(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t).ok().map(|t| t.timestamp_millis())
}

/// The line's time in milliseconds: `_time`, else when it was collected.
fn time_ms(raw: &Map<String, Value>) -> i64 {
    text(raw, fields::TIME).or_else(|| text(raw, fields::COLLECTED_AT)).and_then(millis).unwrap_or_default()
}

fn event_id(raw: &Map<String, Value>) -> String {
    text(raw, fields::EVENT_ID).unwrap_or_default().to_owned()
}

/// ECS `@timestamp`, `ecs`, and the `event` fields every Yousign document has.
fn ecs_head(raw: &Map<String, Value>, kind: &str, category: &str, ty: &[&str], id: &str) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(t) = text(raw, fields::TIME) {
        out.insert("@timestamp".into(), json!(t));
    }
    out.insert("ecs".into(), json!({"version": ECS_VERSION}));
    let mut ev = Map::new();
    ev.insert("kind".into(), json!(kind));
    ev.insert("category".into(), json!([category]));
    ev.insert("type".into(), json!(ty));
    ev.insert("id".into(), json!(id));
    ev.insert("module".into(), json!(super::NAME));
    if let Some(p) = text(raw, fields::PRODUCT) {
        ev.insert("provider".into(), json!(p));
    }
    if let Some(t) = text(raw, fields::LOG_TYPE) {
        ev.insert("dataset".into(), json!(format!("yousign.{t}")));
    }
    if let Some(t) = text(raw, fields::COLLECTED_AT) {
        ev.insert("created".into(), json!(t));
    }
    out.insert("event".into(), Value::Object(ev));
    out
}

/// An OCSF class header: class, activity, severity, time and metadata.
#[allow(clippy::too_many_arguments)]
fn ocsf_head(
    raw: &Map<String, Value>,
    (class_uid, class_name): (u32, &str),
    (category_uid, category_name): (u32, &str),
    (activity_id, activity): (u32, &str),
    severity: (u32, &str),
    uid: &str,
) -> Map<String, Value> {
    let mut md = Map::new();
    md.insert("product".into(), json!({"name": "Yousign", "vendor_name": "Yousign"}));
    md.insert("version".into(), json!(OCSF_VERSION));
    md.insert("uid".into(), json!(uid));
    if let Some(t) = text(raw, fields::COLLECTED_AT).and_then(millis) {
        md.insert("logged_time".into(), json!(t));
    }
    if let Some(n) = text(raw, fields::LOG_TYPE) {
        md.insert("log_name".into(), json!(n));
    }
    let mut out = Map::new();
    out.insert("class_uid".into(), json!(class_uid));
    out.insert("class_name".into(), json!(class_name));
    out.insert("category_uid".into(), json!(category_uid));
    out.insert("category_name".into(), json!(category_name));
    out.insert("activity_id".into(), json!(activity_id));
    out.insert("activity_name".into(), json!(activity));
    out.insert("type_uid".into(), json!(u64::from(class_uid) * 100 + u64::from(activity_id)));
    out.insert("type_name".into(), json!(format!("{class_name}: {activity}")));
    out.insert("severity_id".into(), json!(severity.0));
    out.insert("severity".into(), json!(severity.1));
    out.insert("time".into(), json!(time_ms(raw)));
    out.insert("metadata".into(), Value::Object(md));
    out
}

const ENTITY_MANAGEMENT: (u32, &str) = (3004, "Entity Management");
const IAM: (u32, &str) = (3, "Identity & Access Management");
const USER_INVENTORY: (u32, &str) = (5003, "User Inventory Info");
const ACCOUNT_CHANGE: (u32, &str) = (3001, "Account Change");
const DISCOVERY: (u32, &str) = (5, "Discovery");

/// A signature request's status: OCSF Entity Management activity and ECS `event.type`.
fn status_verb(status: &str) -> ((u32, &'static str), &'static str) {
    match status {
        "draft" => ((1, "Create"), "creation"),
        "deleted" => ((4, "Delete"), "deletion"),
        _ => ((3, "Update"), "change"),
    }
}

/// A signature request status line in `format`: one document.
pub(super) fn signature_request(format: Format, raw: &Map<String, Value>, opts: FormatOptions) -> Vec<Doc> {
    let id = event_id(raw);
    let status = text(raw, "status").unwrap_or_default();
    let (activity, ecs_type) = status_verb(status);
    let sender = raw.get("sender").and_then(Value::as_object);
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => {
            let mut out = ecs_head(raw, "event", "file", &[ecs_type], &id);
            if let Some(Value::Object(ev)) = out.get_mut("event") {
                ev.insert("action".into(), json!(format!("signature-request-{}", status.replace('_', "-"))));
                if opts.include_original {
                    ev.insert("original".into(), json!(Value::Object(raw.clone()).to_string()));
                }
            }
            if let Some(snd) = sender {
                let mut u = Map::new();
                u.extend(text(snd, "id").map(|v| ("id".to_owned(), json!(v))));
                u.extend(text(snd, "email").map(|v| ("email".to_owned(), json!(v))));
                if !u.is_empty() {
                    out.insert("user".into(), Value::Object(u));
                }
            }
            if let Some(name) = text(raw, "name") {
                out.insert("message".into(), json!(format!("Signature request {status}: {name}")));
            }
            out.insert("yousign".into(), json!({"signature_request": own(raw)}));
            out
        }
        Format::Ocsf => {
            let severity = if matches!(status, "declined" | "rejected") { (2, "Low") } else { (1, "Informational") };
            let mut out = ocsf_head(raw, ENTITY_MANAGEMENT, IAM, activity, severity, &id);
            let mut entity = Map::new();
            entity.insert("type".into(), json!("Signature Request"));
            entity.insert("uid".into(), json!(text(raw, "id").unwrap_or("unknown")));
            entity.extend(text(raw, "name").map(|n| ("name".to_owned(), json!(n))));
            entity.insert("data".into(), Value::Object(own(raw)));
            out.insert("entity".into(), Value::Object(entity));
            if let Some(snd) = sender {
                let mut u = Map::new();
                u.extend(text(snd, "id").map(|v| ("uid".to_owned(), json!(v))));
                u.extend(text(snd, "email").map(|v| ("email_addr".to_owned(), json!(v))));
                if !u.is_empty() {
                    out.insert("actor".into(), json!({"user": u}));
                }
            }
            out.insert("status_id".into(), json!(1));
            out.insert("status".into(), json!("Success"));
            if !status.is_empty() {
                out.insert("status_detail".into(), json!(status));
            }
            if opts.include_original {
                out.insert("raw_data".into(), json!(Value::Object(raw.clone()).to_string()));
            }
            out
        }
    };
    vec![Doc { event_id: id, value }]
}

/// The user's identity in ECS (`id`, `email`, `full_name`, `roles`) or OCSF (`uid`,
/// `email_addr`, `full_name`, `type`) names.
fn user_identity(raw: &Map<String, Value>, ocsf: bool) -> Map<String, Value> {
    let mut u = Map::new();
    let (id, email) = if ocsf { ("uid", "email_addr") } else { ("id", "email") };
    u.extend(text(raw, "id").map(|v| (id.to_owned(), json!(v))));
    u.extend(text(raw, "email").map(|v| (email.to_owned(), json!(v))));
    let full: Vec<&str> = [text(raw, "first_name"), text(raw, "last_name")].into_iter().flatten().collect();
    if !full.is_empty() {
        u.insert("full_name".into(), json!(full.join(" ")));
    }
    if let Some(role) = text(raw, "role") {
        if ocsf {
            let (type_id, ty) = if matches!(role, "owner" | "admin") { (2, "Admin") } else { (1, "User") };
            u.insert("type_id".into(), json!(type_id));
            u.insert("type".into(), json!(ty));
        } else {
            u.insert("roles".into(), json!([role]));
        }
    }
    u
}

/// A user record in `format`: its state and, when it changed, a change event (`chg:` + id).
pub(super) fn user(format: Format, raw: &Map<String, Value>, opts: FormatOptions) -> Vec<Doc> {
    let id = event_id(raw);
    let change = raw.get(fields::CHANGE).and_then(Value::as_object);
    let updated = change.and_then(|c| c.get("updated")).and_then(Value::as_bool).unwrap_or(false);
    let (state, changed) = match format {
        Format::Raw => (raw.clone(), None),
        Format::Ecs => {
            let mut out = ecs_head(raw, "state", "iam", &["user", "info"], &id);
            out.insert("user".into(), Value::Object(user_identity(raw, false)));
            out.insert("yousign".into(), json!({"user": own(raw)}));
            if opts.include_original
                && let Some(Value::Object(ev)) = out.get_mut("event")
            {
                ev.insert("original".into(), json!(Value::Object(raw.clone()).to_string()));
            }
            let chg = updated.then(|| {
                let mut c = ecs_head(raw, "event", "iam", &["user", "change"], &format!("chg:{id}"));
                if let Some(Value::Object(ev)) = c.get_mut("event") {
                    ev.insert("action".into(), json!("user-changed"));
                }
                c.insert("user".into(), Value::Object(user_identity(raw, false)));
                c.insert("yousign".into(), json!({"change": change.cloned().unwrap_or_default()}));
                c
            });
            (out, chg)
        }
        Format::Ocsf => {
            let mut out = ocsf_head(raw, USER_INVENTORY, DISCOVERY, (2, "Collect"), (1, "Informational"), &id);
            out.insert("user".into(), Value::Object(user_identity(raw, true)));
            out.insert("unmapped".into(), Value::Object(own(raw)));
            if opts.include_original {
                out.insert("raw_data".into(), json!(Value::Object(raw.clone()).to_string()));
            }
            let chg = updated.then(|| {
                let mut c =
                    ocsf_head(raw, ACCOUNT_CHANGE, IAM, (99, "Other"), (1, "Informational"), &format!("chg:{id}"));
                c.insert("user".into(), Value::Object(user_identity(raw, true)));
                c.insert("unmapped".into(), json!({"changes": change.cloned().unwrap_or_default()}));
                c
            });
            (out, chg)
        }
    };
    let mut docs = vec![Doc { event_id: id.clone(), value: state }];
    if let Some(c) = changed {
        docs.push(Doc { event_id: format!("chg:{id}"), value: c });
    }
    docs
}

/// A webhook event in `format`: one document (an entity change of its signature request).
pub(super) fn webhook(format: Format, raw: &Map<String, Value>, opts: FormatOptions) -> Vec<Doc> {
    let id = event_id(raw);
    let name = text(raw, "event_name").unwrap_or_default();
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => {
            let mut out = ecs_head(raw, "event", "file", &["change"], &id);
            if let Some(Value::Object(ev)) = out.get_mut("event") {
                ev.insert("action".into(), json!(name.replace(['.', '_'], "-")));
                if opts.include_original {
                    ev.insert("original".into(), json!(Value::Object(raw.clone()).to_string()));
                }
            }
            out.insert("yousign".into(), json!({"webhook": own(raw)}));
            out
        }
        Format::Ocsf => {
            let mut out = ocsf_head(raw, ENTITY_MANAGEMENT, IAM, (3, "Update"), (1, "Informational"), &id);
            out.insert("entity".into(), json!({"type": "Webhook Event", "name": name, "data": own(raw)}));
            if opts.include_original {
                out.insert("raw_data".into(), json!(Value::Object(raw.clone()).to_string()));
            }
            out
        }
    };
    vec![Doc { event_id: id, value }]
}

/// A signer's audit trail in `format`: the signature's evidence, an authentication of the
/// signer (OCSF Authentication, logon; ECS `authentication`) with their IP and OTP mode.
pub(super) fn audit_trail(format: Format, raw: &Map<String, Value>, opts: FormatOptions) -> Vec<Doc> {
    let id = event_id(raw);
    let signer = raw.get("signer").and_then(Value::as_object);
    let auth = raw.get("authentication").and_then(Value::as_object);
    let ip = signer.and_then(|s| text(s, "ip_address")).filter(|v| v.parse::<std::net::IpAddr>().is_ok());
    let email = signer.and_then(|s| text(s, "email_address"));
    let mode = auth.and_then(|a| text(a, "mode"));
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => {
            let mut out = ecs_head(raw, "event", "authentication", &["start"], &id);
            if let Some(Value::Object(ev)) = out.get_mut("event") {
                ev.insert("action".into(), json!("signer-signed"));
                ev.insert("outcome".into(), json!("success"));
                if opts.include_original {
                    ev.insert("original".into(), json!(Value::Object(raw.clone()).to_string()));
                }
            }
            if let Some(ip) = ip {
                out.insert("source".into(), json!({"ip": ip}));
                out.insert("related".into(), json!({"ip": [ip]}));
            }
            if let Some(e) = email {
                out.insert("user".into(), json!({"email": e}));
            }
            out.insert("yousign".into(), json!({"audit_trail": own(raw)}));
            out
        }
        Format::Ocsf => {
            const AUTHENTICATION: (u32, &str) = (3002, "Authentication");
            let mut out = ocsf_head(raw, AUTHENTICATION, IAM, (1, "Logon"), (1, "Informational"), &id);
            let mut user = Map::new();
            user.extend(signer.and_then(|s| text(s, "id")).map(|v| ("uid".to_owned(), json!(v))));
            user.extend(email.map(|v| ("email_addr".to_owned(), json!(v))));
            out.insert("user".into(), Value::Object(user));
            if let Some(ip) = ip {
                out.insert("src_endpoint".into(), json!({"ip": ip}));
            }
            if let Some(m) = mode {
                out.insert("auth_protocol".into(), json!(m));
                out.insert("auth_protocol_id".into(), json!(99));
            }
            out.insert("status_id".into(), json!(1));
            out.insert("status".into(), json!("Success"));
            out.insert("unmapped".into(), Value::Object(own(raw)));
            if opts.include_original {
                out.insert("raw_data".into(), json!(Value::Object(raw.clone()).to_string()));
            }
            out
        }
    };
    vec![Doc { event_id: id, value }]
}

/// A webhook subscription in `format`: its state (OCSF Entity Management; ECS
/// `configuration`), and when it is new or changed, the change as its own document.
pub(super) fn subscription(format: Format, raw: &Map<String, Value>, opts: FormatOptions) -> Vec<Doc> {
    let id = event_id(raw);
    let change = raw.get(fields::CHANGE).and_then(Value::as_object);
    let updated = change.and_then(|c| c.get("updated")).and_then(Value::as_bool).unwrap_or(false);
    let value = match format {
        Format::Raw => raw.clone(),
        Format::Ecs => {
            let ty = if updated { "change" } else { "info" };
            let mut out = ecs_head(raw, "event", "configuration", &[ty], &id);
            if let Some(Value::Object(ev)) = out.get_mut("event") {
                ev.insert(
                    "action".into(),
                    json!(if updated { "webhook-subscription-changed" } else { "webhook-subscription-observed" }),
                );
                if opts.include_original {
                    ev.insert("original".into(), json!(Value::Object(raw.clone()).to_string()));
                }
            }
            if let Some(e) = text(raw, "endpoint") {
                out.insert("url".into(), json!({"full": e}));
            }
            out.insert("yousign".into(), json!({"webhook_subscription": own(raw)}));
            out
        }
        Format::Ocsf => {
            let activity = if updated { (3, "Update") } else { (2, "Read") };
            let mut out = ocsf_head(raw, ENTITY_MANAGEMENT, IAM, activity, (1, "Informational"), &id);
            let mut entity = Map::new();
            entity.insert("type".into(), json!("Webhook Subscription"));
            entity.insert("uid".into(), json!(text(raw, "id").unwrap_or("unknown")));
            entity.extend(text(raw, "endpoint").map(|n| ("name".to_owned(), json!(n))));
            entity.insert("data".into(), Value::Object(own(raw)));
            out.insert("entity".into(), Value::Object(entity));
            if opts.include_original {
                out.insert("raw_data".into(), json!(Value::Object(raw.clone()).to_string()));
            }
            out
        }
    };
    vec![Doc { event_id: id, value }]
}
