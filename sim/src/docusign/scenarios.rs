//! Attack scenarios beside a benign baseline: named, scripted Monitor rows (and Admin directory
//! changes) that the detection rules in `detections/` must fire on, or stay silent on.
//!
//! Each scenario writes complete `StreamingEventRow`s (the same [`Row`] shape the seeded feed
//! uses, so every SDK attribute is present) with `timestamp`s spread over the minutes or hours
//! before now, ingested now. Event names are the ones DocuSign's samples and the seeded feed
//! use (`Login`/`Login` with `result`, `Account`/`UserClosed`, `Alert`/…, `PermissionSet`/
//! `Updated`, `AccountSettings`/`Updated`, `IntegratorKey`/`SecretKeyAdded`); DocuSign does not
//! document the list, which `docs/detections.md` says for each rule.
//!
//! Injection: [`super::Simulator::run_scenario`] and `POST /_sim/scenarios/{name}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::data::format_timestamp;
use super::row::{Browser, ClientInfo, Device, Location, Os, Row, Version};
use super::seed::guid;
use super::{ApiError, Simulator};

/// Every scenario, benign baseline first.
pub const SCENARIOS: &[&str] = &[
    "benign",
    "password_spray",
    "brute_force",
    "new_country_login",
    "tor_login",
    "mass_download",
    "bulk_void",
    "admin_permission_granted",
    "integration_key_added",
    "two_factor_disabled",
    "high_alert",
    "mass_user_closure",
    "closed_user_reactivated",
    "admin_group_added",
];

/// Connect scenarios for [`connect_scenario`], benign baseline first.
pub const CONNECT_SCENARIOS: &[&str] = &["benign", "recipient_authentication_failed"];

/// The Connect messages (JSON SIM, as DocuSign POSTs them) of scenario `name` for `account_id`,
/// for a test or tool to sign and POST to a receiver: `benign` is an envelope sent, viewed and
/// signed; `recipient_authentication_failed` an envelope whose recipient failed every identity
/// check (the `recipient-authenticationfailed` event DocuSign sends after the last failure).
/// `None` for an unknown name.
pub fn connect_scenario(name: &str, account_id: &str) -> Option<Vec<Vec<u8>>> {
    let events: &[(&str, Option<&str>)] = match name {
        "benign" => &[
            ("envelope-sent", None),
            ("recipient-delivered", Some("1")),
            ("recipient-completed", Some("1")),
            ("envelope-completed", None),
        ],
        "recipient_authentication_failed" => &[("envelope-sent", None), ("recipient-authenticationfailed", Some("1"))],
        _ => return None,
    };
    let now = Utc::now();
    let envelope = guid(now.timestamp_millis().cast_unsigned(), "connect-scenario", &[name.len() as u64]);
    let sender = "11111111-2222-3333-4444-555555555555";
    Some(
        events
            .iter()
            .enumerate()
            .filter_map(|(n, (event, recipient))| {
                let at = format_timestamp(
                    (now + Duration::seconds(i64::try_from(n).unwrap_or(0))).timestamp_nanos_opt().unwrap_or_default(),
                    true,
                );
                let status = if event.starts_with("recipient-") { "sent" } else { event.trim_start_matches("envelope-") };
                let mut data = json!({"accountId": account_id, "userId": sender, "envelopeId": envelope,
                    "envelopeSummary": {"status": status, "emailSubject": "Please sign: supplier contract", "statusChangedDateTime": at,
                        "sender": {"userName": "Sam Sender", "userId": sender, "email": "sam@example.com", "ipAddress": "192.0.2.10"},
                        "recipients": {"signers": [{"recipientId": "1", "email": "rita@example.org", "name": "Rita Recipient", "status": "sent"}]}}});
                if let Some(r) = recipient {
                    data["recipientId"] = json!(r);
                }
                serde_json::to_vec(&json!({"event": event, "apiVersion": "v2.1",
                    "uri": format!("/restapi/v2.1/accounts/{account_id}/envelopes/{envelope}"), "retryCount": 0,
                    "configurationId": 10_501, "generatedDateTime": at, "data": data}))
                .ok()
            })
            .collect(),
    )
}

/// (ip, latitude, longitude, country, state, city, behind TOR).
type Place = (&'static str, f64, f64, &'static str, &'static str, &'static str, bool);
const OFFICE: Place = ("162.248.186.11", 47.6, -122.33, "united states", "washington", "seattle", false);
const OFFICE2: Place = ("216.160.83.56", 47.91, -122.31, "united states", "washington", "milton", false);
const SPRAYER: Place = ("45.155.205.233", 55.75, 37.62, "russia", "moscow", "moscow", false);
const ABROAD: Place = ("102.89.32.7", 6.45, 3.39, "nigeria", "lagos", "lagos", false);
const TOR_EXIT: Place = ("185.220.101.4", 52.52, 13.4, "germany", "berlin", "berlin", true);
const AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.130 Safari/537.36";

/// One scripted Monitor event.
struct Ev {
    /// Seconds before now.
    ago: i64,
    actor: String,
    place: Place,
    object: &'static str,
    action: &'static str,
    property: &'static str,
    field: &'static str,
    result: &'static str,
    affected: Option<String>,
    data: Map<String, Value>,
}

impl Ev {
    fn new(ago: i64, actor: &str, place: Place, object: &'static str, action: &'static str) -> Self {
        Self {
            ago,
            actor: actor.to_owned(),
            place,
            object,
            action,
            property: "",
            field: "",
            result: "",
            affected: None,
            data: Map::new(),
        }
    }

    fn login(ago: i64, actor: &str, place: Place, ok: bool) -> Self {
        let mut e = Self::new(ago, actor, place, "Login", "Login");
        e.result = if ok { "Success" } else { "Failure" };
        e.data.insert("LoginType".into(), json!("Password"));
        if !ok {
            e.data.insert("FailureReason".into(), json!("InvalidPassword"));
        }
        e
    }

    fn with(mut self, key: &str, value: Value) -> Self {
        self.data.insert(key.to_owned(), value);
        self
    }
}

/// What a scenario changes: Monitor rows and, for the Admin ones, directory edits.
#[derive(Default)]
struct Script {
    events: Vec<Ev>,
    reactivate: usize,
    grant_admin: usize,
}

/// The benign baseline: a working morning. Logins from the office (one country), one user
/// mistyping three times, a shared office IP with a few failures, routine envelopes, a
/// setting made stricter, a non-admin permission tweak, a key removed, low alerts.
fn benign<'a>(ev: &mut Vec<Ev>, user: &impl Fn(usize) -> &'a str, sub: &impl Fn(u64) -> String) {
    // A working morning: logins from the office (one country), one user mistyping
    // three times, a shared office IP with a few failures, routine envelopes, a setting
    // made stricter, a non-admin permission tweak, a key removed, low alerts.
    for i in 0..8 {
        let at = 3 * 3600 - 600 * i64::try_from(i).unwrap_or(0);
        ev.push(Ev::login(at, user(i), if i % 2 == 0 { OFFICE } else { OFFICE2 }, true));
    }
    for k in 0..3 {
        ev.push(Ev::login(2 * 3600 + k * 20, user(1), OFFICE, false));
    }
    ev.push(Ev::login(2 * 3600 - 90, user(1), OFFICE, true));
    ev.push(Ev::login(5 * 3600, user(1), OFFICE2, true));
    for i in 2..5 {
        ev.push(Ev::login(3000, user(i), OFFICE2, false));
    }
    for n in 0..5_i64 {
        let id = sub(n.cast_unsigned());
        ev.push(Ev::new(2400 - n * 60, user(2), OFFICE, "Envelope", "Sent").with("EnvelopeId", json!(id)));
        ev.push(Ev::new(1200 - n * 60, user(3), OFFICE2, "Envelope", "Signed").with("EnvelopeId", json!(id)));
    }
    for n in 0..4_u64 {
        let id = sub(10 + n);
        ev.push(Ev::new(900, user(4), OFFICE, "Envelope", "Downloaded").with("EnvelopeId", json!(id)));
    }
    for n in 0..2_u64 {
        ev.push(
            Ev::new(800, user(2), OFFICE, "Envelope", "Voided")
                .with("EnvelopeId", json!(sub(20 + n)))
                .with("VoidedReason", json!("Sent to the wrong recipient")),
        );
    }
    let mut e = Ev::new(700, user(0), OFFICE, "AccountSettings", "Updated");
    (e.property, e.field) = ("Security", "RequireTwoFactor");
    ev.push(e.with("OldValue", json!("false")).with("NewValue", json!("true")));
    let mut e = Ev::new(650, user(0), OFFICE, "PermissionSet", "Updated");
    (e.property, e.field) = ("PermissionProfile", "CanManageTemplates");
    ev.push(
        e.with("PermissionProfileId", json!("14414471"))
            .with("PermissionProfileName", json!("DS Sender"))
            .with("OldValue", json!("false"))
            .with("NewValue", json!("true")),
    );
    ev.push(
        Ev::new(600, user(0), OFFICE, "IntegratorKey", "SecretKeyDeleted")
            .with("KeyId", json!(sub(30)))
            .with("AppName", json!("Contoso HR Sync")),
    );
    for sev in ["Low", "Medium"] {
        ev.push(
            Ev::new(500, user(0), OFFICE, "Alert", "IpAddressOutsideAllowedRanges")
                .with("Severity", json!(sev))
                .with("Count", json!("1"))
                .with("EventIds", json!([sub(40)])),
        );
    }
    let mut e = Ev::new(400, user(0), OFFICE, "Account", "UserClosed");
    e.affected = Some(user(7).to_owned());
    ev.push(e.with("AffectedUserId", json!(user(7))));
    for i in 0..8 {
        ev.push(Ev::new(60, user(i), OFFICE, "Login", "Logoff").with("SessionDurationMinutes", json!("95")));
    }
}

/// The script of `name`, over the directory's user ids (`actors`, at least one).
fn script(name: &str, actors: &[String], seed: u64) -> Option<Script> {
    let user = |i: usize| actors[i % actors.len()].as_str();
    let sub = |n: u64| guid(seed, "scenario", &[n]);
    let mut s = Script::default();
    let ev = &mut s.events;
    match name {
        "benign" => benign(ev, &user, &sub),
        "password_spray" => {
            // One address tries one password against twelve accounts within four minutes.
            for i in 0..12 {
                ev.push(Ev::login(240 - 20 * i64::try_from(i).unwrap_or(0), user(i), SPRAYER, false));
            }
        }
        "brute_force" => {
            // Fifteen failures for one account within five minutes, then the right password.
            for k in 0..15 {
                ev.push(Ev::login(330 - 20 * k, user(3), SPRAYER, false));
            }
            ev.push(Ev::login(20, user(3), SPRAYER, true));
        }
        "new_country_login" => {
            // A user who works from the United States logs in from Nigeria.
            ev.push(Ev::login(6 * 3600, user(2), OFFICE, true));
            ev.push(Ev::login(3 * 3600, user(2), OFFICE2, true));
            ev.push(Ev::login(120, user(2), ABROAD, true));
        }
        "tor_login" => ev.push(Ev::login(90, user(5), TOR_EXIT, true)),
        "mass_download" => {
            for n in 0..25_i64 {
                let id = sub(100 + n.cast_unsigned());
                ev.push(Ev::new(300 - n * 10, user(4), OFFICE, "Envelope", "Downloaded").with("EnvelopeId", json!(id)));
            }
        }
        "bulk_void" => {
            for n in 0..12_i64 {
                ev.push(
                    Ev::new(600 - n * 40, user(2), OFFICE, "Envelope", "Voided")
                        .with("EnvelopeId", json!(sub(200 + n.cast_unsigned())))
                        .with("VoidedReason", json!("cancel")),
                );
            }
        }
        "admin_permission_granted" => {
            let mut e = Ev::new(120, user(6), OFFICE, "PermissionSet", "Updated");
            (e.property, e.field) = ("PermissionProfile", "CanManageAccount");
            ev.push(
                e.with("PermissionProfileId", json!("14414471"))
                    .with("PermissionProfileName", json!("DS Sender"))
                    .with("OldValue", json!("false"))
                    .with("NewValue", json!("true")),
            );
        }
        "integration_key_added" => {
            for action in ["SecretKeyAdded", "RsaKeypairAdded"] {
                ev.push(
                    Ev::new(100, user(6), ABROAD, "IntegratorKey", action)
                        .with("KeyId", json!(sub(300)))
                        .with("AppName", json!("Sync Helper")),
                );
            }
        }
        "two_factor_disabled" => {
            let mut e = Ev::new(80, user(0), OFFICE, "AccountSettings", "Updated");
            (e.property, e.field) = ("Security", "RequireTwoFactor");
            ev.push(e.with("OldValue", json!("true")).with("NewValue", json!("false")));
        }
        "high_alert" => ev.push(
            Ev::new(60, user(4), OFFICE, "Alert", "BulkEnvelopeDownload")
                .with("Severity", json!("High"))
                .with("Count", json!("25"))
                .with("EventIds", json!([sub(400), sub(401)])),
        ),
        "mass_user_closure" => {
            for i in 1..7 {
                let mut e = Ev::new(900 - 60 * i64::try_from(i).unwrap_or(0), user(0), OFFICE, "Account", "UserClosed");
                e.affected = Some(user(i).to_owned());
                ev.push(e.with("AffectedUserId", json!(user(i))));
            }
        }
        "closed_user_reactivated" => s.reactivate = 1,
        "admin_group_added" => s.grant_admin = 1,
        _ => return None,
    }
    Some(s)
}

fn render(e: &Ev, now: DateTime<Utc>, id: String, cfg: &super::SimConfig) -> serde_json::Result<Vec<u8>> {
    let at = now - Duration::seconds(e.ago);
    let v = |major, minor, patch| Version { major, minor, patch };
    let (proxy_status, proxy_type, proxy_level) = if e.place.6 { ("Proxy", "TOR", "High") } else { ("", "", "") };
    let affected = e.affected.as_deref().unwrap_or_default();
    let (source, integrator_key, user_agent) =
        if e.object == "Alert" { ("Other", "", "") } else { ("Web", "##DOCUSIGN_INTERNAL_NOT_USED##", AGENT) };
    let row = Row {
        timestamp: format_timestamp(at.timestamp_nanos_opt().unwrap_or_default(), true),
        event_id: id,
        site: "DEMO",
        account_id: &cfg.account_id,
        organization_id: &cfg.organization_id,
        user_id: &e.actor,
        integrator_key,
        user_agent,
        user_agent_client_info: ClientInfo {
            browser: Browser { family: "Chrome", version: v("120", "0", "6099") },
            device: Device { family: "Other", brand: "", model: "" },
            os: Os { family: "Windows", version: v("10", "", "") },
        },
        ip_address: e.place.0,
        ip_address_location: Location {
            latitude: e.place.1,
            longitude: e.place.2,
            country: e.place.3,
            state: e.place.4,
            city: e.place.5,
        },
        object: e.object,
        action: e.action,
        property: e.property,
        field: e.field,
        result: e.result,
        source,
        is_user_member_of_domain: true,
        referenced_user_is_member_of_domain: e.affected.is_some(),
        referenced_user_id: affected,
        proxy_status,
        proxy_type,
        proxy_level,
        latitude: e.place.1,
        longitude: e.place.2,
        city: e.place.5,
        state: e.place.4,
        country: e.place.3,
        device: "Other",
        browser: "Chrome",
        os: "Windows",
        affected_user_id: affected,
        affected_user_is_member_of_domain: e.affected.is_some(),
        data: &e.data,
    };
    serde_json::to_vec(&row)
}

/// Runs scenario `name`: its rows are ingested now, its directory changes stamped now.
/// Returns how many Monitor rows and directory changes it made; `None` for an unknown name.
pub(super) fn run(sim: &Simulator, name: &str) -> Option<usize> {
    let now = Utc::now();
    let fallback = [guid(sim.inner.cfg.seed, "actor", &[0])];
    let actors = if sim.inner.actors.is_empty() { &fallback[..] } else { &sim.inner.actors[..] };
    let s = script(name, actors, sim.inner.cfg.seed)?;
    let mut st = sim.state();
    let first = st.scripted.len();
    for (n, e) in s.events.iter().enumerate() {
        let id = guid(sim.inner.cfg.seed, "scripted", &[(first + n) as u64, now.timestamp_millis().cast_unsigned()]);
        match render(e, now, id, &sim.inner.cfg) {
            Ok(row) => st.scripted.push(row),
            Err(err) => tracing::warn!(%err, "A scenario row did not render; skipped."),
        }
    }
    let rows = st.scripted.len() - first;
    st.events.append_scripted(first, rows, now);
    let mut changed = 0;
    for _ in 0..s.reactivate {
        changed += usize::from(st.directory.reactivate_closed(now));
    }
    for _ in 0..s.grant_admin {
        changed += usize::from(st.directory.grant_admin(now));
    }
    drop(st);
    tracing::info!(scenario = name, rows, changed, "Simulator ran a scenario.");
    Some(rows + changed)
}

/// `POST /_sim/scenarios/{name}`: runs one scenario; 404 with the list for an unknown name.
pub(super) async fn run_route(State(sim): State<Simulator>, Path(name): Path<String>) -> Response {
    let Some(n) = run(&sim, &name) else {
        let msg = format!("Unknown scenario; one of: {}.", SCENARIOS.join(", "));
        return ApiError::new(StatusCode::NOT_FOUND, "unknown_scenario", &msg).into_response();
    };
    Json(json!({ "scenario": name, "changes": n })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_scenario_has_a_script_and_no_other_does() {
        let actors: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
        for name in SCENARIOS {
            let s = script(name, &actors, 1).unwrap();
            assert!(!s.events.is_empty() || s.reactivate + s.grant_admin > 0, "{name}");
        }
        assert!(script("nope", &actors, 1).is_none());
    }

    #[test]
    fn spray_is_one_address_over_many_users_within_ten_minutes() {
        let actors: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
        let s = script("password_spray", &actors, 1).unwrap();
        let users: std::collections::HashSet<&str> = s.events.iter().map(|e| e.actor.as_str()).collect();
        assert!(users.len() >= 10);
        assert!(s.events.iter().all(|e| e.place.0 == SPRAYER.0 && e.result == "Failure" && e.ago < 600));
    }
}
