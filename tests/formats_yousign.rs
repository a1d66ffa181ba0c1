//! Yousign's ECS and OCSF mappings, validated offline against the checked-in schemas (OCSF
//! 1.4.0 JSON Schemas, the ECS 9.4.0 field reference): real records from the Yousign
//! simulator, fetched over HTTP as the collector fetches them (every `source`, every page),
//! wrapped with the collector's fields by `normalize`, rendered through the public streams'
//! `render`. Signature requests in every status the simulator reaches; users first observed,
//! then changed (roles raised and lowered, deactivations); the webhook messages of every step
//! the simulator takes, and v2 webhook bodies (its v2 procedures, as the v2 receiver writes
//! them); the signed signers' audit trails; the webhook subscriptions. The v2 pull lines
//! (procedures, v2 users) are checked in `tests/yousign_v2.rs`. The checks themselves
//! are shared with the mapping's unit tests (`src/connectors/yousign/mapping/tests.rs`).
#![allow(clippy::unwrap_used, reason = "tests may unwrap: a panic is a failed test")]

#[path = "../src/connectors/yousign/mapping/schema_check.rs"]
mod schema_check;

use std::collections::{BTreeSet, HashMap};

use esign_collector::connectors::yousign::{AUDIT_TRAILS, SIGNATURE_REQUESTS, USERS, WEBHOOK, WEBHOOK_SUBSCRIPTIONS};
use esign_collector::core::normalize::normalize;
use esign_collector::format::{Doc, ECS_VERSION, Format, FormatOptions, OCSF_VERSION};
use esign_collector::stream::Stream;
use esign_sim::yousign::{RateLimits, YousignConfig, YousignSim};
use schema_check::{check_ecs, check_ocsf, ocsf_validator};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

const COLLECTED_AT: &str = "2026-11-23T12:00:00.123Z";
const ALL_SOURCES: &str =
    "app,public_api,hubspot_integration,connector_salesforce_api,connector_google_api,connector_zapier_api";

/// The simulator served on 127.0.0.1:0 until dropped.
struct Served {
    sim: YousignSim,
    key: String,
    base: String,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

async fn start() -> Served {
    let mut cfg = YousignConfig::new();
    cfg.limits = RateLimits { per_minute: 10_000, per_hour: 100_000, enforce: true };
    let sim = YousignSim::new(cfg.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = sim.clone();
    tokio::spawn(async move {
        server
            .serve(listener, async move {
                stopped.await.ok();
            })
            .await
            .unwrap();
    });
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    Served { sim, key: cfg.api_key, base, http, _stop: stop }
}

impl Served {
    /// Every item of a v3 listing, page after page (`meta.next_cursor`).
    async fn all(&self, path: &str) -> Vec<Map<String, Value>> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (mut all, mut after) = (Vec::new(), None::<String>);
        loop {
            let cursor = after.as_ref().map(|c| format!("&after={c}")).unwrap_or_default();
            let url = format!("{}{path}{sep}limit=100{cursor}", self.base);
            let resp = self.http.get(url).bearer_auth(&self.key).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let body: Value = resp.json().await.unwrap();
            all.extend(body["data"].as_array().unwrap().iter().map(|v| v.as_object().unwrap().clone()));
            match body["meta"]["next_cursor"].as_str() {
                Some(c) => after = Some(c.to_owned()),
                None => return all,
            }
        }
    }

    async fn requests(&self) -> Vec<Map<String, Value>> {
        let lines = self.all(&format!("/v3/signature_requests?source[in]={ALL_SOURCES}")).await;
        lines.into_iter().map(|r| normalize(&SIGNATURE_REQUESTS, r, COLLECTED_AT).value).collect()
    }
}

fn both(kind: &Stream, line: &Map<String, Value>, opts: FormatOptions) -> (Vec<Doc>, Vec<Doc>) {
    (kind.render(Format::Ecs, line, &opts), kind.render(Format::Ocsf, line, &opts))
}

fn checked(ecs: &[Doc], ocsf: &[Doc]) -> Vec<(u64, u64)> {
    for d in ecs {
        check_ecs(&d.event_id, &d.value);
    }
    ocsf.iter().map(|d| check_ocsf(&d.event_id, &d.value)).collect()
}

#[test]
fn the_checks_follow_the_crate_versions() {
    assert_eq!((schema_check::ECS_VERSION, schema_check::OCSF_VERSION), (ECS_VERSION, OCSF_VERSION));
}

/// The date a status's own lifecycle step gives, as the list shows it.
fn lifecycle_date(line: &Map<String, Value>) -> Option<&Value> {
    let key = match line["status"].as_str().unwrap() {
        "done" => "completed_at",
        "ongoing" | "approval" => "activated_at",
        "draft" => "created_at",
        "expired" => "expiration_date",
        _ => return None,
    };
    line.get(key).filter(|v| v.is_string())
}

#[tokio::test]
async fn signature_requests_map_to_valid_ecs_and_ocsf() {
    let s = start().await;
    // Play steps so the list holds every final status next to requests still in flight.
    s.sim.advance(150);
    let lines = s.requests().await;
    assert!(lines.len() >= 40, "{}", lines.len());
    let mut seen = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let opts = FormatOptions { include_original: i % 3 == 0 };
        let (e, o) = both(&SIGNATURE_REQUESTS, line, opts);
        assert_eq!((e.len(), o.len()), (1, 1));
        let (class, activity) = checked(&e, &o)[0];
        let (ev, ov) = (Value::Object(e[0].value.clone()), Value::Object(o[0].value.clone()));
        let status = line["status"].as_str().unwrap();
        seen.insert(status.to_owned());
        let (want_activity, want_type) = match status {
            "draft" => (1, "creation"),
            "ongoing" => (10, "change"),
            "deleted" => (4, "deletion"),
            _ => (3, "change"),
        };
        assert_eq!((class, activity), (3004, want_activity), "{status}");
        assert_eq!(ev["event"]["type"], json!([want_type]));
        assert_eq!(ev["event"]["category"], json!(["file"]));
        assert_eq!(ev["event"]["action"], format!("signature-request-{status}"));
        assert_eq!(ev["event"]["dataset"], "yousign.yousign_signature_request");
        let failed = matches!(status, "declined" | "rejected");
        assert_eq!(ev["event"]["outcome"], if failed { "failure" } else { "success" });
        assert_eq!(ov["status_id"], if failed { 2 } else { 1 });
        // The status's own date where the record has one, else when the status was seen.
        let when = lifecycle_date(line).unwrap_or(&line["_time"]);
        assert_eq!(&ev["@timestamp"], when, "{status}");
        let ms = chrono::DateTime::parse_from_rfc3339(when.as_str().unwrap()).unwrap().timestamp_millis();
        assert_eq!(ov["time"], ms);
        // The sender acts.
        assert_eq!(ev["user"]["id"], line["sender"]["id"]);
        assert_eq!(ev["user"]["email"], line["sender"]["email"]);
        assert_eq!(ev["related"]["user"], json!([line["sender"]["email"], line["sender"]["id"]]));
        assert_eq!(ov["actor"]["user"]["uid"], line["sender"]["id"]);
        assert_eq!(ov["actor"]["user"]["email_addr"], line["sender"]["email"]);
        // The request is the entity; its own fields stay in the vendor namespace.
        assert_eq!(ov["entity"]["uid"], line["id"]);
        assert_eq!(ov["entity"]["name"], line["name"]);
        assert_eq!(ov["entity"]["type"], "Signature Request");
        assert_eq!(ov["entity"]["data"]["source"], line["source"]);
        assert_eq!(ev["yousign"]["signature_request"]["signers"], line["signers"]);
        assert!(ev["yousign"]["signature_request"].get("event_id").is_none(), "our fields are not Yousign's");
        assert!(ev["yousign"]["signature_request"].get("approved_at").is_none(), "nulls are left out");
        if opts.include_original {
            let back: Value = serde_json::from_str(ev["event"]["original"].as_str().unwrap()).unwrap();
            assert_eq!(back, Value::Object(line.clone()));
            assert_eq!(ov["raw_data"], ev["event"]["original"]);
        } else {
            assert!(ev["event"].get("original").is_none() && ov.get("raw_data").is_none());
        }
    }
    for status in ["ongoing", "done", "declined"] {
        assert!(seen.contains(status), "{status} not reached: {seen:?}");
    }
}

#[test]
fn a_declined_request_says_why_and_when() {
    let line = normalize(
        &SIGNATURE_REQUESTS,
        json!({"id": "sr-1", "status": "declined", "name": "NDA", "created_at": "2026-11-20T08:00:00+00:00",
               "activated_at": "2026-11-20T08:05:00+00:00", "sender": {"id": "u-1", "email": "sam@example.com"},
               "decline_information": {"signer_id": "sg-1", "reason": "Wrong amount",
                                       "declined_at": "2026-11-21T10:00:00+00:00"}})
        .as_object()
        .unwrap()
        .clone(),
        COLLECTED_AT,
    )
    .value;
    let (e, o) = both(&SIGNATURE_REQUESTS, &line, FormatOptions::default());
    assert_eq!(checked(&e, &o), vec![(3004, 3)]);
    assert_eq!(e[0].value["@timestamp"], "2026-11-21T10:00:00+00:00");
    assert_eq!(e[0].value["event"]["reason"], "Wrong amount");
    assert_eq!(o[0].value["status_detail"], "Wrong amount");
    assert_eq!((o[0].value["status"].as_str(), o[0].value["severity_id"].as_u64()), (Some("Failure"), Some(2)));
    assert_eq!(o[0].value["metadata"]["original_time"], "2026-11-21T10:00:00+00:00");
}

/// `_change` as the collector computes it for a snapshot record against the stored one.
fn change(now: &Map<String, Value>, before: Option<&Map<String, Value>>) -> Value {
    let Some(prev) = before else { return json!({"type": "observed"}) };
    let own = |m: &Map<String, Value>| {
        m.iter()
            .filter(|(k, _)| {
                !k.starts_with('_') && !matches!(k.as_str(), "event_id" | "source_log_type" | "vendor" | "product")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Map<String, Value>>()
    };
    let (now, prev_own) = (own(now), own(prev));
    let mut fields = Map::new();
    for (k, v) in &now {
        if prev_own.get(k) != Some(v) {
            fields.insert(k.clone(), json!({"from": prev_own.get(k), "to": v}));
        }
    }
    json!({"type": "updated", "previous_event_id": prev["event_id"], "fields": fields})
}

fn user_line(record: Map<String, Value>, before: Option<&Map<String, Value>>) -> Map<String, Value> {
    let mut line = normalize(&USERS, record, COLLECTED_AT).value;
    let c = change(&line, before);
    line.insert("_change".into(), c);
    line
}

#[tokio::test]
async fn users_and_their_changes_map_to_valid_ecs_and_ocsf() {
    let s = start().await;
    let first: Vec<_> = s.all("/v3/users").await.into_iter().map(|u| user_line(u, None)).collect();
    assert!(first.len() >= 10);
    for (i, line) in first.iter().enumerate() {
        let opts = FormatOptions { include_original: i % 2 == 0 };
        let (e, o) = both(&USERS, line, opts);
        assert_eq!((e.len(), o.len()), (1, 1), "a first observation is no change");
        assert_eq!(checked(&e, &o), vec![(5003, 2)]);
        let (ev, ov) = (&e[0].value, &o[0].value);
        assert_eq!(ev["event"]["kind"], "state");
        assert_eq!(ev["event"]["type"], json!(["user", "info"]));
        assert_eq!(ev["user"]["id"], line["id"]);
        assert_eq!(ev["user"]["email"], line["email"]);
        assert_eq!(ev["user"]["roles"], json!([line["role"]]));
        assert_eq!(
            ev["user"]["full_name"],
            format!("{} {}", line["first_name"].as_str().unwrap(), line["last_name"].as_str().unwrap())
        );
        assert_eq!(ev["related"]["user"], json!([line["email"], line["id"]]));
        assert_eq!(ev["yousign"]["user"]["is_active"], line["is_active"]);
        assert_eq!(ev["yousign"]["user"]["change_type"], "observed");
        assert_eq!(ov["user"]["uid"], line["id"]);
        assert_eq!(ov["user"]["email_addr"], line["email"]);
        let admin = matches!(line["role"].as_str().unwrap(), "owner" | "admin");
        assert_eq!(ov["user"]["type"], if admin { "Admin" } else { "User" });
        assert_eq!(ov["unmapped"]["role"], line["role"]);
        assert_eq!(ov["time"], chrono::DateTime::parse_from_rfc3339(COLLECTED_AT).unwrap().timestamp_millis());
    }
    s.sim.change_user_roles(4);
    s.sim.deactivate_users(2);
    let before: HashMap<String, Map<String, Value>> =
        first.into_iter().map(|l| (l["id"].as_str().unwrap().to_owned(), l)).collect();
    let mut kinds = BTreeSet::new();
    for record in s.all("/v3/users").await {
        let prev = &before[record["id"].as_str().unwrap()];
        let line = user_line(record, Some(prev));
        if line["_change"]["fields"].as_object().unwrap().is_empty() {
            continue;
        }
        let (e, o) = both(&USERS, &line, FormatOptions::default());
        assert_eq!((e.len(), o.len()), (2, 2), "a changed user is a state and a change");
        let classes = checked(&e, &o);
        kinds.insert(classes[1]);
        let (ev, ov) = (&e[1].value, &o[1].value);
        assert_eq!(e[1].event_id, format!("chg:{}", line["event_id"].as_str().unwrap()));
        assert_eq!(ev["event"]["kind"], "event");
        assert_eq!(ev["user"]["target"]["id"], line["id"]);
        assert_eq!(ov["user"]["uid"], line["id"]);
        assert_eq!(ev["yousign"]["user"]["changes"], line["_change"]["fields"]);
        assert_eq!(ev["yousign"]["user"]["previous_event_id"], prev["event_id"]);
        let f = &line["_change"]["fields"];
        if f.get("is_active").is_some() {
            assert_eq!(classes[1], (3001, 5), "a deactivation");
            assert_eq!(ev["event"]["action"], "user-deactivated");
        } else if let Some(role) = f.get("role") {
            assert_eq!(ev["user"]["changes"]["roles"], json!([role["to"]]));
            assert!(ev["event"]["type"].as_array().unwrap().contains(&json!("admin")));
            let raised = role["to"] == "admin";
            assert_eq!(classes[1], (3005, if raised { 1 } else { 2 }), "{role}");
            assert_eq!(ov["privileges"], json!([if raised { &role["to"] } else { &role["from"] }]));
        }
    }
    assert!(kinds.contains(&(3001, 5)), "{kinds:?}");
    assert!(kinds.iter().any(|k| k.0 == 3005), "{kinds:?}");
}

#[tokio::test]
async fn the_checks_reject_what_the_schemas_forbid() {
    let s = start().await;
    let line = &s.requests().await[0];
    let (e, o) = both(&SIGNATURE_REQUESTS, line, FormatOptions::default());
    let v = &o[0].value;
    let validator = ocsf_validator(v["class_uid"].as_u64().unwrap());
    assert!(validator.is_valid(&Value::Object(v.clone())));
    let mut stray = v.clone();
    stray.insert("bogus".into(), json!(1));
    assert!(!validator.is_valid(&Value::Object(stray)), "a stray key must fail");
    let mut missing = v.clone();
    missing.remove("entity");
    assert!(!validator.is_valid(&Value::Object(missing)), "a missing required key must fail");
    let mut bad = o[0].clone();
    bad.value.insert("type_uid".into(), json!(1));
    assert!(std::panic::catch_unwind(|| check_ocsf(&bad.event_id, &bad.value)).is_err(), "a wrong type_uid");
    let mut bad = o[0].clone();
    bad.value.insert("time".into(), json!(1_764_600_000));
    assert!(std::panic::catch_unwind(|| check_ocsf(&bad.event_id, &bad.value)).is_err(), "seconds, not ms");

    let mut bad = e[0].clone();
    bad.value.insert("made_up".into(), json!("x"));
    assert!(std::panic::catch_unwind(|| check_ecs(&bad.event_id, &bad.value)).is_err(), "a field outside ECS");
    let mut bad = e[0].clone();
    bad.value["event"]["type"] = json!(["installation"]);
    assert!(std::panic::catch_unwind(|| check_ecs(&bad.event_id, &bad.value)).is_err(), "file/installation");
    let mut bad = e[0].clone();
    bad.value["related"]["ip"] = json!(["not an ip"]);
    assert!(std::panic::catch_unwind(|| check_ecs(&bad.event_id, &bad.value)).is_err(), "a mistyped value");
    let mut bad = e[0].clone();
    bad.value["user"]["roles"] = json!("admin");
    assert!(std::panic::catch_unwind(|| check_ecs(&bad.event_id, &bad.value)).is_err(), "roles is an array");
}

#[tokio::test]
async fn webhooks_audit_trails_and_subscriptions_map_to_valid_ecs_and_ocsf() {
    let s = start().await;
    let opts = FormatOptions { include_original: true };
    // Webhook messages of every step the simulator takes, through the public stream.
    let events = s.sim.advance(120);
    assert!(!events.is_empty());
    let mut classes = BTreeSet::new();
    for e in &events {
        let mut line = e.body.as_object().unwrap().clone();
        line.insert("source_log_type".into(), json!(WEBHOOK.log_type));
        line.insert("vendor".into(), json!("yousign"));
        line.insert("product".into(), json!(WEBHOOK.product));
        line.insert("_collected_at".into(), json!(COLLECTED_AT));
        let (ecs, ocsf) = both(&WEBHOOK, &line, opts);
        classes.extend(checked(&ecs, &ocsf).into_iter().map(|(c, _)| c));
    }
    assert!(classes.contains(&3002), "a failed identification is an authentication: {classes:?}");
    // Audit trails of the signed signers, as the collector reads them.
    let mut trails = 0;
    for r in s.requests().await {
        let id = r["id"].as_str().unwrap();
        for signer in r["signers"].as_array().unwrap().iter().filter(|x| x["status"] == "signed") {
            let url = format!(
                "{}/v3/signature_requests/{id}/signers/{}/audit_trails",
                s.base,
                signer["id"].as_str().unwrap()
            );
            let body: Value = s.http.get(url).bearer_auth(&s.key).send().await.unwrap().json().await.unwrap();
            let line = normalize(&AUDIT_TRAILS, body.as_object().unwrap().clone(), COLLECTED_AT).value;
            let (ecs, ocsf) = both(&AUDIT_TRAILS, &line, opts);
            assert_eq!(checked(&ecs, &ocsf)[0].0, 3002);
            assert!(ecs[0].value["source"]["ip"].is_string(), "{:?}", ecs[0].value);
            assert!(ocsf[0].value["src_endpoint"]["ip"].is_string());
            trails += 1;
        }
    }
    assert!(trails > 0, "the seed has signed signers");
    // Webhook subscriptions (the list, with its secret removed by the source).
    s.sim.add_webhook_subscription("https://exfil.example/hook");
    let url = format!("{}/v3/webhooks", s.base);
    let list: Value = s.http.get(url).bearer_auth(&s.key).send().await.unwrap().json().await.unwrap();
    for sub in list.as_array().unwrap() {
        let mut m = sub.as_object().unwrap().clone();
        m.remove("secret_key");
        let mut line = normalize(&WEBHOOK_SUBSCRIPTIONS, m, COLLECTED_AT).value;
        line.insert("_change".into(), json!({"type": "updated"}));
        let (ecs, ocsf) = both(&WEBHOOK_SUBSCRIPTIONS, &line, opts);
        assert_eq!(checked(&ecs, &ocsf)[0].0, 3004);
        assert_eq!(ecs[0].value["event"]["action"], "webhook-subscription-changed");
    }
}

/// v2 webhook bodies (the procedure, wrapped with its `eventName` and member, or bare), as
/// the v2 receiver writes them, render to valid documents too.
#[tokio::test]
async fn v2_webhook_bodies_map_to_valid_ecs_and_ocsf() {
    let s = start().await;
    let opts = FormatOptions { include_original: true };
    let url = format!("{}/procedures", s.base);
    let list: Value = s.http.get(url).bearer_auth(&s.key).send().await.unwrap().json().await.unwrap();
    let procedures = list.as_array().unwrap();
    assert!(!procedures.is_empty());
    for (i, p) in procedures.iter().take(10).enumerate() {
        let body = match i % 3 {
            0 => json!({"eventName": "procedure.finished", "procedure": p}),
            1 => json!({"eventName": "member.finished", "procedure": p, "member": p["members"][0]}),
            _ => p.clone(),
        };
        let mut line = body.as_object().unwrap().clone();
        line.insert("event_id".into(), json!(format!("v2-{i:064x}")));
        if let Some(n) = body.get("eventName") {
            line.insert("event_name".into(), n.clone());
        }
        line.insert("_time".into(), json!("2026-11-23T11:59:00Z"));
        line.insert("source_log_type".into(), json!(WEBHOOK.log_type));
        line.insert("vendor".into(), json!("yousign"));
        line.insert("product".into(), json!(WEBHOOK.product));
        line.insert("_collected_at".into(), json!(COLLECTED_AT));
        let (ecs, ocsf) = both(&WEBHOOK, &line, opts);
        assert_eq!(checked(&ecs, &ocsf)[0].0, 3004, "{line:?}");
    }
}
