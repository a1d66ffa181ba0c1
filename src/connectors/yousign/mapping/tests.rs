//! The webhook mapping against the schemas: every event the Yousign simulator sends, wrapped
//! as the collector wraps a line, through a local `yousign_webhook` stream (the same
//! descriptor the receiver's stream will have). The polled streams are proven the same way by
//! `tests/formats_yousign.rs` through their public descriptors.

use std::collections::BTreeSet;

use esign_sim::yousign::{YousignConfig, YousignSim};
use serde_json::{Map, Value, json};

use super::schema_check::{check_ecs, check_ocsf};
use crate::core::normalize::{normalize, obj};
use crate::format::{Format, FormatOptions};
use crate::stream::{Identity, Stream};

static WEBHOOK: Stream = Stream {
    key: "yousign_webhook",
    log_type: "yousign_webhook",
    vendor: super::super::NAME,
    product: "esignature",
    identity: Identity::Field("event_id"),
    time_field: None,
    actor: None,
    columns: &["event_name", "event_time"],
    render: super::webhook,
    render_text: None,
    newest_event: |_| None,
};

const COLLECTED_AT: &str = "2026-11-23T12:00:00.123Z";

/// The simulator's webhook messages as lines, with every lifecycle step played.
fn lines() -> Vec<Map<String, Value>> {
    let sim = YousignSim::new(YousignConfig { signature_requests: 12, ..YousignConfig::new() });
    sim.advance(600).into_iter().map(|e| normalize(&WEBHOOK, obj(e.body), COLLECTED_AT).value).collect()
}

#[test]
fn every_simulated_webhook_maps_to_valid_ecs_and_ocsf() {
    let mut seen = BTreeSet::new();
    for (i, line) in lines().iter().enumerate() {
        let opts = FormatOptions { include_original: i % 4 == 0 };
        let e = WEBHOOK.render(Format::Ecs, line, &opts);
        let o = WEBHOOK.render(Format::Ocsf, line, &opts);
        assert_eq!((e.len(), o.len()), (1, 1));
        check_ecs(&e[0].event_id, &e[0].value);
        let (class, activity) = check_ocsf(&o[0].event_id, &o[0].value);
        let (ev, ov) = (Value::Object(e[0].value.clone()), Value::Object(o[0].value.clone()));
        let name = line["event_name"].as_str().unwrap_or_default();
        seen.insert((name.to_owned(), class, activity, ov["status_id"].as_u64().unwrap_or(0)));
        let secs: i64 = line["event_time"].as_str().unwrap_or_default().parse().unwrap_or_default();
        assert_eq!(ov["time"], json!(secs * 1000), "the time is event_time");
        assert_eq!(
            ev["@timestamp"].as_str().and_then(crate::format::time::parse_time).map(|t| t.0.timestamp()),
            Some(secs)
        );
        assert_eq!(ev["event"]["action"], name);
        assert_eq!(ov["metadata"]["event_code"], name);
        assert_eq!(ev["tags"], json!(["sandbox"]));
        assert_eq!(ov["metadata"]["labels"], json!(["sandbox"]));
        assert_eq!(ov["metadata"]["correlation_uid"], line["data"]["signature_request"]["id"]);
        let signer = &line["data"]["signer"];
        if signer.is_object() {
            assert_eq!(ev["user"]["email"], signer["info"]["email"], "the signer acts: {ev:#}");
            assert_eq!(ev["yousign"]["signer"]["id"], signer["id"]);
            let actor = if class == 3002 { &ov["user"] } else { &ov["actor"]["user"] };
            assert_eq!(actor["uid"], signer["id"]);
            assert_eq!(actor["email_addr"], signer["info"]["email"]);
        } else {
            assert_eq!(ev["user"]["id"], line["data"]["signature_request"]["sender"]["id"], "the sender acts");
        }
        let failed = matches!(
            name,
            "signer.identification_failed"
                | "signer.identification_blocked"
                | "signer.declined"
                | "signature_request.declined"
        );
        assert_eq!(ev["event"]["outcome"], if failed { "failure" } else { "success" }, "{name}");
        if class == 3004 {
            assert_eq!(ov["entity"]["uid"], line["data"]["signature_request"]["id"]);
            assert_eq!(ov["entity"]["data"]["status"], line["data"]["signature_request"]["status"]);
        }
        if opts.include_original {
            assert_eq!(ov["raw_data"], ev["event"]["original"]);
        }
    }
    let has =
        |name: &str, class: u64, activity: u64, status: u64| seen.contains(&(name.to_owned(), class, activity, status));
    assert!(has("signer.identification_failed", 3002, 1, 2), "{seen:#?}");
    assert!(has("signer.identification_blocked", 3002, 1, 2), "{seen:#?}");
    assert!(has("signer.declined", 3004, 3, 2), "{seen:#?}");
    assert!(has("signature_request.declined", 3004, 3, 2), "{seen:#?}");
    assert!(has("signature_request.activated", 3004, 10, 1), "{seen:#?}");
    assert!(has("signer.link_opened", 3004, 2, 1), "{seen:#?}");
    assert!(has("signature_request.done", 3004, 3, 1), "{seen:#?}");
}

#[test]
fn an_identification_failure_is_an_authentication_failure_of_the_signer() {
    let body = json!({
        "event_id": "0b4e1c9a-0000-4000-8000-000000000001", "event_name": "signer.identification_blocked",
        "event_time": "1764600000", "subscription_id": "s-1", "subscription_description": "SIEM",
        "sandbox": false,
        "data": {
            "signature_request": {"id": "sr-1", "status": "ongoing", "name": "NDA",
                                  "sender": {"id": "u-1", "email": "sam@example.com"}},
            "signer": {"id": "sg-1", "status": "notified", "ip_address": "203.0.113.7",
                       "info": {"first_name": "Rita", "last_name": "R", "email": "rita@example.org"}}
        }
    });
    let line = normalize(&WEBHOOK, obj(body), COLLECTED_AT).value;
    let opts = FormatOptions::default();
    let (e, o) = (WEBHOOK.render(Format::Ecs, &line, &opts), WEBHOOK.render(Format::Ocsf, &line, &opts));
    check_ecs(&e[0].event_id, &e[0].value);
    assert_eq!(check_ocsf(&o[0].event_id, &o[0].value), (3002, 1));
    let (ev, ov) = (Value::Object(e[0].value.clone()), Value::Object(o[0].value.clone()));
    assert_eq!(ev["event"]["category"], json!(["authentication"]));
    assert_eq!(ev["event"]["outcome"], "failure");
    assert_eq!(ev["user"]["full_name"], "Rita R");
    assert_eq!(ev["source"]["ip"], "203.0.113.7");
    assert_eq!(ev["related"]["ip"], json!(["203.0.113.7"]));
    assert_eq!(ev["related"]["user"], json!(["rita@example.org", "sg-1", "sam@example.com", "u-1"]));
    assert_eq!(ev["@timestamp"], "2025-12-01T14:40:00Z");
    assert!(ev.get("tags").is_none(), "production messages carry no sandbox tag");
    assert_eq!((ov["status"].as_str(), ov["severity_id"].as_u64()), (Some("Failure"), Some(3)));
    assert_eq!(ov["user"]["email_addr"], "rita@example.org");
    assert_eq!(ov["src_endpoint"]["ip"], "203.0.113.7");
    assert_eq!(ov["time"], 1_764_600_000_000_i64);
    assert_eq!(ov["unmapped"]["signature_request"]["id"], "sr-1");
    assert_eq!(ov["unmapped"]["webhook"]["subscription_id"], "s-1");
}

#[test]
fn another_family_still_maps() {
    let body = json!({"event_id": "e-2", "event_name": "contact.created", "event_time": "1764600000",
                      "sandbox": true, "data": {"contact": {"id": "c-1", "email": "x@example.org"}}});
    let line = normalize(&WEBHOOK, obj(body), COLLECTED_AT).value;
    let opts = FormatOptions::default();
    let (e, o) = (WEBHOOK.render(Format::Ecs, &line, &opts), WEBHOOK.render(Format::Ocsf, &line, &opts));
    check_ecs(&e[0].event_id, &e[0].value);
    assert_eq!(check_ocsf(&o[0].event_id, &o[0].value), (3004, 99));
    assert_eq!(o[0].value["activity_name"], "contact.created");
    assert_eq!(o[0].value["entity"], json!({"uid": "c-1", "type": "contact"}));
    assert_eq!(e[0].value["yousign"]["data"]["contact"]["id"], "c-1");
}
