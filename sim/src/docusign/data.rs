//! Seeded, realistic Monitor rows: every field of the SDK's `StreamingEventRow`, a mix of
//! logins, envelope, template, user, permission, settings, API-key and alert events.
//!
//! Content is a pure function of (seed, origin), so the same event looks the same in both
//! stream generations and in every process; only `timestamp` differs between generations.

use chrono::DateTime;
use serde_json::{Map, Value, json};

use super::events::Origin;
use super::row::{Browser, ClientInfo, Device, Location, Os, Row, RowContext, Version};
use super::seed::{Prng, guid};

/// The two Monitor generations, which differ in how `timestamp` relates to ingestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Generation {
    /// Lens `datasets/monitor/stream`: `timestamp` is the ingestion time (rows sorted by it).
    Legacy,
    /// v1 org stream: `timestamp` is up to 5 minutes before ingestion (rows not sorted by it).
    Current,
}

/// The `eventId` of the event at `origin`.
pub(super) fn event_id(seed: u64, origin: Origin) -> String {
    let (label, parts) = origin.seed_parts();
    guid(seed, label, &parts)
}

/// `2023-03-03T09:10:06.0512813Z` (7 fractional digits, as Docusign sends) or, without
/// fraction, `2023-03-03T09:10:06Z`.
pub(super) fn format_timestamp(unix_nanos: i64, fraction: bool) -> String {
    let dt = DateTime::from_timestamp_nanos(unix_nanos);
    let base = dt.format("%Y-%m-%dT%H:%M:%S");
    if fraction { format!("{base}.{:07}Z", dt.timestamp_subsec_nanos() / 100) } else { format!("{base}Z") }
}

/// (ip, latitude, longitude, country, state, city, is TOR exit).
type Place = (&'static str, f64, f64, &'static str, &'static str, &'static str, bool);
const PLACES: &[Place] = &[
    ("162.248.186.11", 47.6, -122.33, "united states", "washington", "seattle", false),
    ("216.160.83.56", 47.91, -122.31, "united states", "washington", "milton", false),
    ("81.2.69.160", 51.51, -0.09, "united kingdom", "england", "london", false),
    ("89.160.20.112", 59.33, 18.06, "sweden", "stockholm", "stockholm", false),
    ("2a02:8108:1f40::1", 50.11, 8.68, "germany", "hesse", "frankfurt am main", false),
    ("103.108.207.58", 23.02, 72.57, "india", "gujarat", "ahmedabad", false),
    ("200.160.2.3", -23.55, -46.63, "brazil", "são paulo", "são paulo", false),
    ("185.220.101.4", 52.52, 13.4, "germany", "berlin", "berlin", true),
];

/// (userAgent, browser, version major/minor/patch, os, os major/minor, device, brand, model).
type Agent = (
    &'static str,
    &'static str,
    [&'static str; 3],
    &'static str,
    [&'static str; 2],
    &'static str,
    &'static str,
    &'static str,
);
const WEB_AGENTS: &[Agent] = &[
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.130 Safari/537.36",
        "Chrome",
        ["120", "0", "6099"],
        "Windows",
        ["10", ""],
        "Other",
        "",
        "",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
        "Safari",
        ["17", "2", ""],
        "Mac OS X",
        ["14", "2"],
        "Mac",
        "Apple",
        "Mac",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        "Mobile Safari",
        ["17", "1", ""],
        "iOS",
        ["17", "1"],
        "iPhone",
        "Apple",
        "iPhone",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Firefox",
        ["121", "0", ""],
        "Linux",
        ["", ""],
        "Other",
        "",
        "",
    ),
    // A hostile-but-real-world agent: non-ASCII text and an embedded newline.
    (
        "Mozilla/5.0 (Windows NT 10.0) Edg/120.0.2210.91 Bürokratie-Client/2.1 «Zoë»\nX-Forwarded-For: 10.0.0.1",
        "Edge",
        ["120", "0", "2210"],
        "Windows",
        ["10", ""],
        "Other",
        "",
        "",
    ),
];
const API_AGENTS: &[&str] = &[
    "Swagger-Codegen/6.1.0/python",
    "docusign-esign-node/8.1.0 (Node.js v20.10.0)",
    "Java/17.0.9 DocuSign-Java-SDK/4.6.0",
    "python-requests/2.31.0",
];
const SUBJECTS: &[&str] = &[
    "Please DocuSign: Master Services Agreement",
    "Mutual NDA - Contoso / Fabrikam",
    "Offer letter for Zoë Müller",
    "Vertrag für Ñandú GmbH — 契約書\nBitte bis Freitag unterschreiben",
    "Q3 purchase order #4471",
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    LoginOk,
    LoginFail,
    Logoff,
    Envelope(&'static str),
    Template(&'static str),
    UserAdded,
    UserClosed,
    PermissionProfile,
    AccountSettings,
    ApiKey,
    Alert,
}

const KINDS: &[(Kind, u64)] = &[
    (Kind::LoginOk, 26),
    (Kind::LoginFail, 7),
    (Kind::Logoff, 8),
    (Kind::Envelope("Sent"), 12),
    (Kind::Envelope("Viewed"), 10),
    (Kind::Envelope("Signed"), 10),
    (Kind::Envelope("Voided"), 3),
    (Kind::Template("Created"), 4),
    (Kind::Template("Deleted"), 2),
    (Kind::UserAdded, 3),
    (Kind::UserClosed, 2),
    (Kind::PermissionProfile, 3),
    (Kind::AccountSettings, 3),
    (Kind::ApiKey, 2),
    (Kind::Alert, 5),
];

/// A user id from the directory, or a seeded GUID when the directory is empty (`users = 0`).
fn pick_user(rng: &mut Prng, ctx: &RowContext<'_>) -> String {
    let i = usize::try_from(rng.below(ctx.actors.len() as u64)).unwrap_or(0);
    let fallback = rng.below(16);
    ctx.actors.get(i).cloned().unwrap_or_else(|| guid(ctx.seed, "actor", &[fallback]))
}

fn pick_kind(rng: &mut Prng) -> Kind {
    let total: u64 = KINDS.iter().map(|(_, w)| w).sum();
    let mut roll = rng.below(total);
    for (kind, weight) in KINDS {
        if roll < *weight {
            return *kind;
        }
        roll -= weight;
    }
    Kind::LoginOk
}

/// What differs between kinds: `object`, `action`, `property`, `field`, `result`, `source`,
/// the affected user and `data`.
struct What {
    object: &'static str,
    action: &'static str,
    property: &'static str,
    field: &'static str,
    result: &'static str,
    source: &'static str,
    affected: Option<String>,
    data: Map<String, Value>,
}

fn what(kind: Kind, rng: &mut Prng, ctx: &RowContext<'_>, (label, parts): (&str, [u64; 2])) -> What {
    let sub = |n: u64| guid(ctx.seed, label, &[parts[0], parts[1], n]);
    let web_or_api = if rng.chance(75) { "Web" } else { "API" };
    let mut w = What {
        object: "",
        action: "",
        property: "",
        field: "",
        result: "",
        source: web_or_api,
        affected: None,
        data: Map::new(),
    };
    match kind {
        Kind::LoginOk | Kind::LoginFail => {
            (w.object, w.action) = ("Login", "Login");
            w.result = if matches!(kind, Kind::LoginOk) { "Success" } else { "Failure" };
            let method = if w.source == "API" { "JWT" } else { *rng.pick(&["Password", "SSO"]) };
            put(&mut w, "LoginType", json!(method));
            if matches!(kind, Kind::LoginFail) {
                let reason = rng.pick(&["InvalidPassword", "AccountLocked", "TwoFactorFailed"]);
                put(&mut w, "FailureReason", json!(reason));
            }
        }
        Kind::Logoff => {
            (w.object, w.action, w.result, w.source) = ("Login", "Logoff", "Success", "Web");
            put(&mut w, "SessionDurationMinutes", json!((5 + rng.below(240)).to_string()));
        }
        Kind::Envelope(action) => {
            (w.object, w.action) = ("Envelope", action);
            put(&mut w, "EnvelopeId", json!(sub(1)));
            put(&mut w, "EnvelopeSubject", json!(rng.pick(SUBJECTS)));
            if action == "Voided" {
                put(&mut w, "VoidedReason", json!("Sent to the wrong recipient"));
            }
        }
        Kind::Template(action) => {
            (w.object, w.action) = ("Template", action);
            put(&mut w, "TemplateId", json!(sub(2)));
            put(&mut w, "TemplateName", json!(rng.pick(&["NDA v3", "Sales order", "HR onboarding"])));
        }
        Kind::UserAdded | Kind::UserClosed => {
            w.object = "Account";
            w.action = if matches!(kind, Kind::UserAdded) { "UserAdded" } else { "UserClosed" };
            let affected = pick_user(rng, ctx);
            put(&mut w, "AffectedUserId", json!(affected));
            put(&mut w, "AffectedMembershipId", json!(sub(3)));
            put(&mut w, "PermissionProfileId", json!((14_414_470 + rng.below(9)).to_string()));
            w.affected = Some(affected);
        }
        Kind::PermissionProfile => {
            (w.object, w.action, w.property, w.source) = ("PermissionSet", "Updated", "PermissionProfile", "Web");
            w.field = *rng.pick(&["CanSendEnvelope", "CanManageAccount", "AllowBulkSending", "CanManageTemplates"]);
            put(&mut w, "PermissionProfileId", json!((14_414_470 + rng.below(9)).to_string()));
            put(&mut w, "PermissionProfileName", json!(rng.pick(&["DS Admin", "DS Sender", "Legal"])));
            let on = rng.chance(50);
            put(&mut w, "OldValue", json!((!on).to_string()));
            put(&mut w, "NewValue", json!(on.to_string()));
        }
        Kind::AccountSettings => {
            (w.object, w.action, w.property, w.source) = ("AccountSettings", "Updated", "Security", "Web");
            w.field = *rng.pick(&["RequireTwoFactor", "SessionTimeout", "AllowedIpRanges", "EnableSignerAttachments"]);
            put(&mut w, "OldValue", json!("false"));
            put(&mut w, "NewValue", json!("true"));
        }
        Kind::ApiKey => {
            w.object = "IntegratorKey";
            w.action = *rng.pick(&["SecretKeyAdded", "SecretKeyDeleted", "RsaKeypairAdded", "RsaKeypairDeleted"]);
            w.source = "Web";
            put(&mut w, "IntegratorKey", json!(ctx.integration_key));
            put(&mut w, "KeyId", json!(sub(4)));
            put(&mut w, "AppName", json!("Contoso HR Sync"));
        }
        Kind::Alert => {
            (w.object, w.source) = ("Alert", "Other");
            w.action = *rng.pick(&[
                "IpAddressOutsideAllowedRanges",
                "MultipleFailedLogins",
                "BulkEnvelopeDownload",
                "LoginFromNewCountry",
            ]);
            let count = 1 + rng.below(18);
            let ids: Vec<Value> = (0..count).map(|n| json!(sub(100 + n))).collect();
            put(&mut w, "EventIds", Value::Array(ids));
            put(&mut w, "Count", json!(count.to_string()));
            put(&mut w, "Severity", json!(rng.pick(&["High", "Medium", "Low"])));
        }
    }
    w
}

fn put(w: &mut What, key: &str, value: Value) {
    w.data.insert(key.to_owned(), value);
}

/// One complete `StreamingEventRow` as JSON, with every attribute the SDK model declares.
#[cfg(test)]
pub(super) fn event_row(ctx: &RowContext<'_>, origin: Origin, ingested_nanos: i64, generation: Generation) -> Value {
    with_row(ctx, origin, ingested_nanos, generation, |row| serde_json::to_value(row).unwrap_or_default())
}

/// Appends the row [`event_row`] describes to `out` as JSON, without building a `Value`.
pub(super) fn write_row(
    ctx: &RowContext<'_>,
    origin: Origin,
    ingested_nanos: i64,
    generation: Generation,
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    with_row(ctx, origin, ingested_nanos, generation, |row| serde_json::to_writer(out, row))
}

/// Builds the row of the event at `origin` and hands it to `f`.
fn with_row<R>(
    ctx: &RowContext<'_>,
    origin: Origin,
    ingested_nanos: i64,
    generation: Generation,
    f: impl FnOnce(&Row<'_>) -> R,
) -> R {
    let parts = origin.seed_parts();
    let mut rng = Prng::new(ctx.seed, parts.0, &parts.1);
    // Draw the lateness and fraction choice for both generations so content stays identical.
    let lateness_100ns = i64::try_from(rng.below(3_000_000_000)).unwrap_or(0);
    let fraction = !rng.chance(12);
    let ts = match generation {
        Generation::Legacy => ingested_nanos,
        Generation::Current => ingested_nanos - lateness_100ns * 100,
    };
    let kind = pick_kind(&mut rng);
    let w = what(kind, &mut rng, ctx, parts);
    let actor = pick_user(&mut rng, ctx);
    let org_level = matches!(kind, Kind::Alert) && rng.chance(60);
    let place = rng.pick(PLACES);
    let (user_agent, browser, bver, os, over, device, brand, model) = match w.source {
        "Web" => *rng.pick(WEB_AGENTS),
        "API" => (*rng.pick(API_AGENTS), "Other", ["", "", ""], "Other", ["", ""], "Other", "", ""),
        _ => ("", "Other", ["", "", ""], "Other", ["", ""], "Other", "", ""),
    };
    let integrator_key = match w.source {
        "API" => ctx.integration_key,
        "Web" => "##DOCUSIGN_INTERNAL_NOT_USED##",
        _ => "",
    };
    let (proxy_status, proxy_type, proxy_level) = if place.6 { ("Proxy", "TOR", "High") } else { ("", "", "") };
    let affected = w.affected.as_deref().unwrap_or_default();
    let version = |v: [&'static str; 3]| Version { major: v[0], minor: v[1], patch: v[2] };
    f(&Row {
        timestamp: format_timestamp(ts, fraction),
        event_id: event_id(ctx.seed, origin),
        site: "DEMO",
        account_id: if org_level { "" } else { ctx.account_id },
        organization_id: ctx.organization_id,
        user_id: &actor,
        integrator_key,
        user_agent,
        user_agent_client_info: ClientInfo {
            browser: Browser { family: browser, version: version(bver) },
            device: Device { family: device, brand, model },
            os: Os { family: os, version: version([over[0], over[1], ""]) },
        },
        ip_address: place.0,
        ip_address_location: Location {
            latitude: place.1,
            longitude: place.2,
            country: place.3,
            state: place.4,
            city: place.5,
        },
        object: w.object,
        action: w.action,
        property: w.property,
        field: w.field,
        result: w.result,
        source: w.source,
        is_user_member_of_domain: !rng.chance(10),
        referenced_user_is_member_of_domain: w.affected.is_some(),
        referenced_user_id: affected,
        proxy_status,
        proxy_type,
        proxy_level,
        latitude: place.1,
        longitude: place.2,
        city: place.5,
        state: place.4,
        country: place.3,
        device,
        browser,
        os,
        affected_user_id: affected,
        affected_user_is_member_of_domain: w.affected.is_some(),
        data: &w.data,
    })
}

#[cfg(test)]
mod tests;
