//! The v3 reply bodies, field for field in the 2026 spec's order and names:
//! `SignatureRequest` (list and single forms), `User`, `WebhookSubscription`,
//! `SignerAuditTrail`, and the webhook message's `data`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::model::{Org, Request, Signer, SignerStatus, Subscription, User};
use super::seed::hex;

/// Yousign's date-time form: seconds, explicit `+00:00`.
pub(super) fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn opt_ts(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |t| json!(ts(t)))
}

/// The subscribed events of seeded subscriptions: the signature-request and signer events.
pub(super) const SUBSCRIBED: [&str; 11] = [
    "signature_request.activated",
    "signature_request.done",
    "signature_request.declined",
    "signature_request.expired",
    "signature_request.canceled",
    "signer.notified",
    "signer.link_opened",
    "signer.identification_failed",
    "signer.identification_blocked",
    "signer.done",
    "signer.declined",
];

/// A request as `GET /signature_requests` lists it (`full` adds the single-object fields).
pub(super) fn request(org: &Org, r: &Request, full: bool) -> Value {
    let sender = org.users.get(r.sender).map_or(Value::Null, |u| json!({"id": u.id, "email": u.email}));
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("id", json!(r.id));
    put("status", json!(r.status));
    put("name", json!(r.name));
    put("delivery_mode", json!("email"));
    put("created_at", json!(ts(r.created_at)));
    put("activated_at", opt_ts(r.activated_at));
    put("completed_at", opt_ts(r.completed_at));
    put("approved_at", Value::Null);
    put("ordered_signers", json!(false));
    put("ordered_approvers", json!(false));
    put(
        "reminder_settings",
        if r.seq.is_multiple_of(3) { json!({"interval_in_days": 2, "max_occurrences": 5}) } else { Value::Null },
    );
    put("timezone", json!("Europe/Paris"));
    put("email_custom_note", Value::Null);
    put("expiration_date", json!(ts(r.expiration_date)));
    put("source", json!(r.source));
    put("signers", r.signers.iter().map(|s| json!({"id": s.id, "status": s.status.as_str()})).collect());
    put("approvers", json!([]));
    put("labels", json!([]));
    put("documents", r.documents.iter().map(|(id, _)| json!({"id": id, "nature": "signable_document"})).collect());
    put("sender", sender);
    put("external_id", r.external_id.as_ref().map_or(Value::Null, |e| json!(e)));
    put("branding_id", Value::Null);
    put("custom_experience_id", Value::Null);
    put("signers_allowed_to_decline", json!(true));
    put("workspace_id", json!(r.workspace_id));
    put("audit_trail_locale", json!("fr"));
    if full {
        put(
            "email_notification",
            json!({"sender": {"type": "organization", "custom_name": null}, "custom_note": null}),
        );
    }
    put("bulk_send_batch_id", Value::Null);
    if full {
        let decline = match (r.decline, r.declined_at) {
            (Some((k, reason)), Some(at)) => json!({
                "signer_id": r.signers.get(k).map(|s| s.id.clone()).unwrap_or_default(),
                "reason": reason,
                "declined_at": ts(at),
            }),
            _ => Value::Null,
        };
        put("decline_information", decline);
        put("rejection_information", Value::Null);
    }
    put("workflow_session_id", Value::Null);
    put("previous_attempt_id", Value::Null);
    put("custom_recipient_order", json!(false));
    put("custom_properties", json!([]));
    Value::Object(m)
}

/// A `User`.
pub(super) fn user(org: &Org, u: &User) -> Value {
    json!({
        "id": u.id,
        "first_name": u.first_name,
        "last_name": u.last_name,
        "email": u.email,
        "phone_number": null,
        "locale": "fr",
        "avatar": null,
        "job_title": null,
        "is_active": u.is_active,
        "created_at": ts(u.created_at),
        "role": u.role,
        "workspaces": org.workspaces.iter().take(if u.role == "member" { 1 } else { 2 }).map(|w| json!({"id": w})).collect::<Vec<_>>(),
        "status": u.status,
        "source": u.source,
    })
}

/// A `WebhookSubscription` (the spec's list schema includes `secret_key`).
pub(super) fn subscription(org: &Org, s: &Subscription) -> Value {
    json!({
        "id": s.id,
        "endpoint": s.endpoint,
        "description": s.description,
        "sandbox": org.sandbox,
        "subscribed_events": SUBSCRIBED,
        "secret_key": s.secret_key,
        "scopes": ["*"],
        "workspaces": org.workspaces,
        "auto_retry": true,
        "enabled": true,
        "created_at": ts(s.created_at),
        "updated_at": null,
    })
}

/// The sender's office address, stable per user.
fn sender_ip(u: Option<&User>) -> String {
    let n = u.map_or(0, |u| u.email.len());
    format!("185.31.{}.{}", 40 + n % 20, 10 + n % 200)
}

/// The `SignerAuditTrail` of a signed signer (the shape of the spec's example).
pub(super) fn audit_trail(org: &Org, r: &Request, s: &Signer) -> Value {
    let sender = org.users.get(r.sender);
    let signed = s.signed_at.unwrap_or(r.updated_at);
    let consent = s.link_opened_at.unwrap_or(signed);
    let mode = match s.auth_mode {
        "otp_sms" => "sms",
        "otp_email" => "email",
        _ => "none",
    };
    let documents: Vec<Value> = r
        .documents
        .iter()
        .enumerate()
        .map(|(i, (id, initial))| {
            json!({
                "id": id,
                "name": format!("{}.pdf", r.name.split(" #").next().unwrap_or("document").to_lowercase().replace(' ', "_")),
                "mime_type": "application/pdf",
                "signatures": [{
                    "hash": hex(org.seed, "signature-hash", &[r.seq, i as u64, s.id.len() as u64]),
                    "reason": format!("Signed by {} {}", s.first_name, s.last_name),
                    "certificate": {
                        "dn": format!("CN={} {}, C=FR, O=Yousign, OU=794513986", s.first_name, s.last_name),
                        "oid": "1.2.250.1.302.1.7.1.0",
                        "hash": hex(org.seed, "certificate-hash", &[r.seq, i as u64]),
                        "content": "-----BEGIN CERTIFICATE-----\nMIIBsimulated\n-----END CERTIFICATE-----\n",
                        "generated_at": ts(signed),
                    },
                }],
                "initial_hash": initial,
                "initial_storage_id": super::seed::uuid(org.seed, "storage", &[r.seq, i as u64]),
            })
        })
        .collect();
    json!({
        "sender": {
            "id": sender.map(|u| u.id.clone()).unwrap_or_default(),
            "type": "User",
            "email": sender.map(|u| u.email.clone()).unwrap_or_default(),
            "last_name": sender.map(|u| u.last_name).unwrap_or_default(),
            "first_name": sender.map(|u| u.first_name).unwrap_or_default(),
            "ip_address": sender_ip(sender),
            "phone_number": null,
        },
        "signer": {
            "id": s.id,
            "last_name": s.last_name,
            "first_name": s.first_name,
            "ip_address": s.ip,
            "phone_number": s.phone,
            "email_address": s.email,
            "consent_given_at": ts(consent),
            "signature_process_completed_at": ts(signed),
        },
        "version": 5,
        "documents": documents,
        "organization": {"id": org.organization_id, "name": "Acme SAS"},
        "authentication": {
            "mode": mode,
            "message": if mode == "sms" { json!("eSIGNATURE: 123456 is your security code to confirm the signature of your documents.") } else { Value::Null },
            "validated_at": ts(signed),
        },
        "signature_request": {
            "id": r.id,
            "name": r.name,
            "sent_at": opt_ts(r.activated_at),
            "expired_at": ts(r.expiration_date),
        },
        "electronic_signature_level": {"level": "Simple electronic signature"},
    })
}

/// A signer as webhook messages carry it.
pub(super) fn webhook_signer(s: &Signer) -> Value {
    json!({
        "id": s.id,
        "info": {
            "first_name": s.first_name,
            "last_name": s.last_name,
            "email": s.email,
            "phone_number": s.phone,
            "locale": "fr",
        },
        "status": s.status.as_str(),
        "signature_level": "electronic_signature",
        "signature_authentication_mode": s.auth_mode,
        "signed_at": if s.status == SignerStatus::Signed { opt_ts(s.signed_at) } else { Value::Null },
    })
}
