//! The unauthenticated control endpoints under `/_sim/yousign/` (loopback clients only, see
//! `gate.rs`), JSON in and out, one per [`YousignSim`] knob:
//!
//! - `POST /_sim/yousign/advance` `{"n": 5}` → the events produced
//! - `POST /_sim/yousign/users` `{"add": 2, "change_roles": 1, "deactivate": 1}`
//! - `POST /_sim/yousign/webhooks` `{"endpoint": "https://…"}` → `{"id": …}`
//! - `POST /_sim/yousign/webhook/start` `{"url": …, "secret": …}`, `POST …/webhook/stop`,
//!   `POST …/webhook/knobs` ([`WebhookKnobs`]), `GET …/webhook/stats`
//! - `POST /_sim/yousign/faults` ([`Fault`]), `DELETE /_sim/yousign/faults`
//! - `POST /_sim/yousign/limits` ([`RateLimits`]), `GET /_sim/yousign/stats`

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Fault, RateLimits, WebhookKnobs, WebhookTarget, YousignSim};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default = "one")]
    n: usize,
}

fn one() -> usize {
    1
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Users {
    add: usize,
    change_roles: usize,
    deactivate: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSubscription {
    endpoint: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {
    url: String,
    secret: String,
}

pub(super) fn routes() -> Router<YousignSim> {
    Router::new()
        .route("/_sim/yousign/advance", post(advance))
        .route("/_sim/yousign/users", post(users))
        .route("/_sim/yousign/webhooks", post(subscription))
        .route("/_sim/yousign/webhook/start", post(start))
        .route("/_sim/yousign/webhook/stop", post(stop))
        .route("/_sim/yousign/webhook/knobs", post(knobs))
        .route("/_sim/yousign/webhook/stats", get(webhook_stats))
        .route("/_sim/yousign/faults", post(fault).delete(clear))
        .route("/_sim/yousign/limits", post(limits))
        .route("/_sim/yousign/stats", get(stats))
}

async fn advance(State(sim): State<YousignSim>, Json(a): Json<Advance>) -> Response {
    Json(sim.advance(a.n)).into_response()
}

async fn users(State(sim): State<YousignSim>, Json(u): Json<Users>) -> Response {
    sim.add_users(u.add);
    sim.change_user_roles(u.change_roles);
    sim.deactivate_users(u.deactivate);
    Json(json!({"users": sim.user_ids().len()})).into_response()
}

async fn subscription(State(sim): State<YousignSim>, Json(s): Json<NewSubscription>) -> Response {
    Json(json!({"id": sim.add_webhook_subscription(&s.endpoint)})).into_response()
}

async fn start(State(sim): State<YousignSim>, Json(s): Json<Start>) -> Response {
    sim.webhook_start(WebhookTarget { url: s.url, secret: s.secret });
    Json(json!({"started": true})).into_response()
}

async fn stop(State(sim): State<YousignSim>) -> Response {
    sim.webhook_stop();
    Json(json!({"stopped": true})).into_response()
}

async fn knobs(State(sim): State<YousignSim>, Json(k): Json<WebhookKnobs>) -> Response {
    sim.webhook_knobs(k);
    Json(k).into_response()
}

async fn webhook_stats(State(sim): State<YousignSim>) -> Response {
    Json(json!({"idle": sim.webhook_idle(), "stats": sim.webhook_stats()})).into_response()
}

async fn fault(State(sim): State<YousignSim>, Json(f): Json<Fault>) -> Response {
    sim.push_fault(f);
    Json(json!({"queued": true})).into_response()
}

async fn clear(State(sim): State<YousignSim>) -> Response {
    sim.clear_faults();
    Json(json!({"cleared": true})).into_response()
}

async fn limits(State(sim): State<YousignSim>, Json(l): Json<RateLimits>) -> Response {
    sim.set_limits(l);
    Json(l).into_response()
}

async fn stats(State(sim): State<YousignSim>) -> Response {
    Json(sim.stats()).into_response()
}
