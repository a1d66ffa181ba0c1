//! JSON renderings of envelopes, in the names of the `docusign-esign` SDK models: `Envelope`,
//! `Recipients`, `Signer`, `CarbonCopy`, `UserInfo` (the sender), `EnvelopeAuditEventResponse`.
//! Numbers and booleans are strings, as the eSignature API writes them; absent dates are left
//! out rather than sent as null. The Connect summary (`envelopeSummary`) keeps only the names
//! DocuSign's Connect JSON sample declares.

use serde_json::{Map, Value, json};

use super::envelopes::{AuditEntry, Envelope, Recipient, ds_time};

/// `envelopeSummary` names the Connect sample (`connect.schema-v2.json`) declares.
const CONNECT_SUMMARY_KEYS: &[&str] = &[
    "status",
    "documentsUri",
    "recipientsUri",
    "attachmentsUri",
    "envelopeUri",
    "emailSubject",
    "envelopeId",
    "signingLocation",
    "customFieldsUri",
    "notificationUri",
    "enableWetSign",
    "allowMarkup",
    "allowReassign",
    "createdDateTime",
    "lastModifiedDateTime",
    "deliveredDateTime",
    "initialSentDateTime",
    "sentDateTime",
    "completedDateTime",
    "voidedDateTime",
    "voidedReason",
    "declinedDateTime",
    "statusChangedDateTime",
    "documentsCombinedUri",
    "certificateUri",
    "templatesUri",
    "messageLock",
    "recipientsLock",
    "sender",
    "recipients",
    "autoNavigation",
    "envelopeIdStamping",
    "brandLock",
    "purgeState",
    "is21CFRPart11",
    "signerCanSignOnMobile",
    "isSignatureProviderEnvelope",
    "allowViewHistory",
    "envelopeLocation",
    "isDynamicEnvelope",
    "burnDefaultTabData",
];
/// Recipient names the Connect sample declares (for signers and carbon copies alike).
const CONNECT_RECIPIENT_KEYS: &[&str] = &[
    "creationReason",
    "isBulkRecipient",
    "name",
    "email",
    "recipientId",
    "recipientIdGuid",
    "requireIdLookup",
    "userId",
    "routingOrder",
    "roleName",
    "status",
    "signedDateTime",
    "deliveredDateTime",
    "declinedDateTime",
    "sentDateTime",
    "declinedReason",
    "deliveryMethod",
    "totalTabCount",
];

fn put_time(m: &mut Map<String, Value>, key: &str, t: Option<chrono::DateTime<chrono::Utc>>) {
    if let Some(t) = t {
        m.insert(key.to_owned(), Value::String(ds_time(t)));
    }
}

fn recipient(r: &Recipient) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: &str| {
        m.insert(k.to_owned(), Value::String(v.to_owned()));
    };
    put("creationReason", "sender");
    put("isBulkRecipient", "false");
    put("name", &r.name);
    put("email", &r.email);
    put("recipientId", &r.id);
    put("recipientIdGuid", &r.guid);
    put("requireIdLookup", "false");
    put("userId", &r.user_id);
    put("routingOrder", "1");
    put("roleName", if r.signer { "Signer" } else { "Observer" });
    put("status", r.status);
    put("completedCount", if r.status == "completed" { "1" } else { "0" });
    put("deliveryMethod", "email");
    put("recipientType", if r.signer { "signer" } else { "carboncopy" });
    if r.signer {
        put("totalTabCount", "2");
    }
    if let Some(reason) = r.declined_reason {
        put("declinedReason", reason);
    }
    put_time(&mut m, "sentDateTime", r.sent);
    put_time(&mut m, "deliveredDateTime", r.delivered);
    put_time(&mut m, "signedDateTime", r.signed);
    put_time(&mut m, "declinedDateTime", r.declined);
    Value::Object(m)
}

/// The `Recipients` object.
pub(super) fn recipients(env: &Envelope) -> Value {
    let signers: Vec<Value> = env.recipients.iter().filter(|r| r.signer).map(recipient).collect();
    let cc: Vec<Value> = env.recipients.iter().filter(|r| !r.signer).map(recipient).collect();
    json!({
        "signers": signers,
        "agents": [],
        "editors": [],
        "intermediaries": [],
        "carbonCopies": cc,
        "certifiedDeliveries": [],
        "inPersonSigners": [],
        "seals": [],
        "witnesses": [],
        "notaries": [],
        "recipientCount": env.recipients.len().to_string(),
        "currentRoutingOrder": "1",
    })
}

/// The `Envelope` object as `listStatusChanges` and `Envelopes:get` return it.
pub(super) fn envelope(env: &Envelope, account_id: &str, with_recipients: bool) -> Value {
    let uri = format!("/envelopes/{}", env.id);
    let mut m = Map::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_owned(), Value::String(v));
    };
    put("status", env.status.as_str().to_owned());
    put("documentsUri", format!("{uri}/documents"));
    put("recipientsUri", format!("{uri}/recipients"));
    put("attachmentsUri", format!("{uri}/attachments"));
    put("envelopeUri", uri.clone());
    put("emailSubject", env.subject.clone());
    put("envelopeId", env.id.clone());
    put("signingLocation", "online".to_owned());
    put("customFieldsUri", format!("{uri}/custom_fields"));
    put("notificationUri", format!("{uri}/notification"));
    put("enableWetSign", "true".to_owned());
    put("allowMarkup", "false".to_owned());
    put("allowReassign", "true".to_owned());
    put("createdDateTime", ds_time(env.created));
    put("lastModifiedDateTime", ds_time(env.status_changed));
    put_time(&mut m, "deliveredDateTime", env.delivered);
    put_time(&mut m, "initialSentDateTime", env.sent);
    put_time(&mut m, "sentDateTime", env.sent);
    put_time(&mut m, "completedDateTime", env.completed);
    put_time(&mut m, "voidedDateTime", env.voided);
    if let Some(reason) = env.voided_reason {
        m.insert("voidedReason".to_owned(), Value::String(reason.to_owned()));
    }
    put_time(&mut m, "declinedDateTime", env.declined);
    let mut put = |k: &str, v: String| {
        m.insert(k.to_owned(), Value::String(v));
    };
    put("statusChangedDateTime", ds_time(env.status_changed));
    put("documentsCombinedUri", format!("{uri}/documents/combined"));
    put("certificateUri", format!("{uri}/documents/certificate"));
    put("templatesUri", format!("{uri}/templates"));
    put("expireEnabled", "true".to_owned());
    put("expireDateTime", ds_time(env.created + chrono::Duration::days(120)));
    put("expireAfter", "120".to_owned());
    m.insert(
        "sender".to_owned(),
        json!({
            "userName": env.sender.name,
            "userId": env.sender.user_id,
            "accountId": account_id,
            "email": env.sender.email,
            "ipAddress": env.sender.ip,
        }),
    );
    if with_recipients {
        m.insert("recipients".to_owned(), recipients(env));
    }
    let mut put = |k: &str, v: &str| {
        m.insert(k.to_owned(), Value::String(v.to_owned()));
    };
    for (k, v) in [
        ("purgeState", "unpurged"),
        ("envelopeIdStamping", "true"),
        ("autoNavigation", "true"),
        ("isSignatureProviderEnvelope", "false"),
        ("hasFormDataChanged", "false"),
        ("allowComments", "true"),
        ("hasComments", "false"),
        ("allowViewHistory", "true"),
        ("envelopeLocation", "current_site"),
        ("isDynamicEnvelope", "false"),
        ("burnDefaultTabData", "false"),
        ("brandLock", "false"),
        ("messageLock", "false"),
        ("recipientsLock", "false"),
        ("is21CFRPart11", "false"),
        ("signerCanSignOnMobile", "true"),
        ("anySigner", "false"),
    ] {
        put(k, v);
    }
    Value::Object(m)
}

/// Connect's `envelopeSummary`: the envelope with recipients, in the Connect sample's names.
pub(super) fn connect_summary(env: &Envelope, account_id: &str) -> Value {
    let Value::Object(full) = envelope(env, account_id, true) else {
        return Value::Null;
    };
    let mut out = Map::new();
    for (k, v) in full {
        if !CONNECT_SUMMARY_KEYS.contains(&k.as_str()) {
            continue;
        }
        let v = if k == "recipients" { connect_recipients(v) } else { v };
        out.insert(k, v);
    }
    Value::Object(out)
}

fn connect_recipients(v: Value) -> Value {
    let Value::Object(mut m) = v else { return v };
    for list in ["signers", "carbonCopies"] {
        if let Some(Value::Array(items)) = m.get_mut(list) {
            for item in items.iter_mut() {
                if let Value::Object(r) = item {
                    r.retain(|k, _| CONNECT_RECIPIENT_KEYS.contains(&k.as_str()));
                    if list == "carbonCopies" {
                        // The sample's carbon copies have no such names.
                        r.remove("creationReason");
                        r.remove("isBulkRecipient");
                    }
                }
            }
        }
    }
    // The sample has no notaries list.
    m.remove("notaries");
    Value::Object(m)
}

fn audit_event(e: &AuditEntry) -> Value {
    let field = |name: &str, value: &str| json!({ "name": name, "value": value });
    json!({
        "eventFields": [
            field("logTime", &ds_time(e.at)),
            field("Source", e.source),
            field("UserName", &e.user_name),
            field("UserId", &e.user_id),
            field("Action", e.action),
            field("Message", &e.message),
            field("EnvelopeStatus", e.status.audit_name()),
            field("ClientIPAddress", &e.ip),
            field("Information", &e.information),
            field("GeoLocation", e.geo),
            field("Language", e.language),
        ]
    })
}

/// `EnvelopeAuditEventResponse`: the envelope's history, oldest first.
pub(super) fn audit_events(env: &Envelope) -> Value {
    json!({ "auditEvents": env.history.iter().map(audit_event).collect::<Vec<_>>() })
}
