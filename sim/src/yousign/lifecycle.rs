//! One lifecycle step of a signature request: the state change and the webhook events it
//! causes (names from the 2026 spec's `WebhookSubscription.subscribed_events` enum).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::YousignEvent;
use super::model::{DECLINE_REASONS, Org, Request, SignerStatus, Step};
use super::seed::Prng;

/// An event a step caused: its name and, for `signer.*` events, the signer's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Caused {
    pub(super) name: &'static str,
    pub(super) signer: Option<usize>,
}

fn sr(name: &'static str) -> Caused {
    Caused { name, signer: None }
}

fn signer(name: &'static str, k: usize) -> Caused {
    Caused { name, signer: Some(k) }
}

/// Plays the request's next step at `at`; nothing when its script is over.
pub(super) fn apply(r: &mut Request, at: DateTime<Utc>) -> Vec<Caused> {
    let Some(step) = r.script.get(r.next).copied() else { return Vec::new() };
    r.next += 1;
    r.updated_at = at;
    match step {
        Step::Activate => {
            r.status = "ongoing";
            r.activated_at = Some(at);
            vec![sr("signature_request.activated")]
        }
        Step::Notify => {
            for s in &mut r.signers {
                s.status = SignerStatus::Notified;
            }
            (0..r.signers.len()).map(|k| signer("signer.notified", k)).collect()
        }
        Step::LinkOpened(k) => {
            if let Some(s) = r.signers.get_mut(k) {
                s.link_opened_at = Some(at);
            }
            vec![signer("signer.link_opened", k)]
        }
        Step::IdentificationFailed(k) => vec![signer("signer.identification_failed", k)],
        Step::IdentificationBlocked(k) => vec![signer("signer.identification_blocked", k)],
        Step::SignerDone(k) => {
            if let Some(s) = r.signers.get_mut(k) {
                s.status = SignerStatus::Signed;
                s.signed_at = Some(at);
            }
            vec![signer("signer.done", k)]
        }
        Step::Done => {
            r.status = "done";
            r.completed_at = Some(at);
            vec![sr("signature_request.done")]
        }
        Step::SignerDeclined(k) => {
            if let Some(s) = r.signers.get_mut(k) {
                s.status = SignerStatus::Declined;
            }
            let mut rng = Prng::new(r.seq, "decline", &[]);
            r.decline = Some((k, rng.pick(&DECLINE_REASONS)));
            vec![signer("signer.declined", k)]
        }
        Step::Declined => {
            r.status = "declined";
            r.declined_at = Some(at);
            abort_pending(r);
            vec![sr("signature_request.declined")]
        }
        Step::Expire => {
            r.status = "expired";
            r.expiration_date = at;
            vec![sr("signature_request.expired")]
        }
        Step::Cancel => {
            r.status = "canceled";
            abort_pending(r);
            vec![sr("signature_request.canceled")]
        }
    }
}

/// The webhook message for event `c` of request `i`, as of `now`.
pub(super) fn message(org: &Org, i: usize, c: Caused, event_id: String, now: DateTime<Utc>) -> YousignEvent {
    let r = &org.requests[i];
    let mut data = serde_json::Map::new();
    data.insert("signature_request".to_owned(), super::json::request(org, r, true));
    if let Some(s) = c.signer.and_then(|k| r.signers.get(k)) {
        data.insert("signer".to_owned(), super::json::webhook_signer(s));
    }
    let sub = org.subscriptions.first();
    let event_time = now.timestamp().to_string();
    let body = json!({
        "event_id": event_id,
        "event_name": c.name,
        "event_time": event_time,
        "subscription_id": sub.map(|s| s.id.clone()).unwrap_or_default(),
        "subscription_description": sub.map(|s| s.description.clone()).unwrap_or_default(),
        "sandbox": org.sandbox,
        "data": Value::Object(data),
    });
    YousignEvent { event_id, event_name: c.name.to_owned(), event_time, body }
}

/// Signers who had not signed when the request ended can no longer act.
fn abort_pending(r: &mut Request) {
    for s in &mut r.signers {
        if matches!(s.status, SignerStatus::Initiated | SignerStatus::Notified) {
            s.status = SignerStatus::Aborted;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yousign::YousignConfig;
    use crate::yousign::model::Org;

    #[test]
    fn a_script_plays_to_a_final_status() {
        let now = Utc::now();
        let mut org = Org::seeded(&YousignConfig { signature_requests: 0, ..YousignConfig::new() }, now);
        for _ in 0..30 {
            let mut r = org.new_request(now);
            let mut names = Vec::new();
            while !r.finished() {
                names.extend(apply(&mut r, now).into_iter().map(|c| c.name));
            }
            assert_eq!(names[0], "signature_request.activated");
            assert!(["done", "declined", "expired", "canceled"].contains(&r.status), "{}", r.status);
            if r.status == "done" {
                assert!(r.signers.iter().all(|s| s.status == SignerStatus::Signed));
                assert_eq!(names.last(), Some(&"signature_request.done"));
            }
            if r.status == "declined" {
                assert!(r.decline.is_some() && r.declined_at.is_some());
            }
            assert!(apply(&mut r, now).is_empty());
            org.requests.push(r);
        }
    }
}
