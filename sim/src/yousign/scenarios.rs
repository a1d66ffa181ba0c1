//! Attack scenarios beside a benign baseline for the Yousign webhooks: named sequences of
//! webhook events (names from the 2026 spec's `subscribed_events` enum) on a new signature
//! request, queued to the webhook sender like [`super::YousignSim::advance`]'s.
//!
//! Injection: [`super::YousignSim::run_scenario`] and `POST /_sim/yousign/scenarios/{name}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::lifecycle::{Caused, message};
use super::{YousignEvent, YousignSim};

/// Every scenario, benign baseline first.
pub const SCENARIOS: &[&str] = &["benign", "identification_blocked"];

fn sr(name: &'static str) -> Caused {
    Caused { name, signer: None }
}

fn signer(name: &'static str) -> Caused {
    Caused { name, signer: Some(0) }
}

/// The events of scenario `name`, in order.
fn script(name: &str) -> Option<Vec<Caused>> {
    Some(match name {
        // A signer mistypes the identification code once, then signs.
        "benign" => vec![
            sr("signature_request.activated"),
            signer("signer.notified"),
            signer("signer.link_opened"),
            signer("signer.identification_failed"),
            signer("signer.done"),
            sr("signature_request.done"),
        ],
        // Someone holding the signing link fails identification until Yousign blocks it.
        "identification_blocked" => vec![
            sr("signature_request.activated"),
            signer("signer.notified"),
            signer("signer.link_opened"),
            signer("signer.identification_failed"),
            signer("signer.identification_failed"),
            signer("signer.identification_failed"),
            signer("signer.identification_blocked"),
        ],
        _ => return None,
    })
}

/// Runs scenario `name` on a new signature request, now; its events are queued to the sender
/// (when it runs) and returned. `None` for an unknown name.
pub(super) fn run(sim: &YousignSim, name: &str) -> Option<Vec<YousignEvent>> {
    let steps = script(name)?;
    let now = super::now();
    let mut org = sim.org();
    let mut r = org.new_request(now);
    r.status = "ongoing";
    r.activated_at = Some(now);
    org.requests.push(r);
    let i = org.requests.len() - 1;
    let mut events = Vec::with_capacity(steps.len());
    for c in steps {
        let event_id = org.event_id();
        events.push(message(&org, i, c, event_id, now));
    }
    drop(org);
    sim.inner.sender.enqueue(events.iter().map(|e| (e.event_id.clone(), e.body.clone())).collect());
    tracing::info!(scenario = name, events = events.len(), "Yousign simulator ran a scenario.");
    Some(events)
}

/// `POST /_sim/yousign/scenarios/{name}`: runs one scenario; 404 with the list otherwise.
pub(super) async fn run_route(State(sim): State<YousignSim>, Path(name): Path<String>) -> Response {
    let Some(events) = run(&sim, &name) else {
        let msg = format!("Unknown scenario; one of: {}.", SCENARIOS.join(", "));
        return (StatusCode::NOT_FOUND, Json(json!({ "error": "unknown_scenario", "detail": msg }))).into_response();
    };
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    Json(json!({ "scenario": name, "event_ids": ids })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_are_scripted_and_only_the_attack_blocks() {
        for name in SCENARIOS {
            assert!(script(name).is_some(), "{name}");
        }
        assert!(script("nope").is_none());
        let blocked = |n| script(n).unwrap().iter().any(|c| c.name == "signer.identification_blocked");
        assert!(blocked("identification_blocked") && !blocked("benign"));
    }
}
