//! `/_sim/*`: HTTP knobs for people driving `esign-collector simulate` with curl.
//!
//! No authentication: the gate in `faults.rs` answers loopback clients only. Every endpoint
//! mirrors one [`Simulator`] method and replies with a small JSON status.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{
    ApiError, Chaos, ConnectKnobs, ConnectStats, ConnectTarget, Fault, LoginMode, RefreshRotation, Simulator, Stats,
};

/// Upper bound for `count`, so a typo cannot make the simulator allocate forever.
const MAX_COUNT: usize = 1_000_000;
/// Upper bound for one envelope advance (each step builds an audit history entry).
const MAX_ADVANCE: usize = 100_000;

/// `?count=N` (default 1).
#[derive(Debug, Deserialize)]
pub(super) struct Count {
    count: Option<usize>,
}

impl Count {
    fn get(&self) -> usize {
        self.count.unwrap_or(1).min(MAX_COUNT)
    }
}

/// `POST /_sim/events?count=N`: ingest N events now.
pub(super) async fn append_events(State(sim): State<Simulator>, Query(c): Query<Count>) -> Response {
    sim.append_events(c.get());
    tracing::info!(count = c.get(), "Simulator appended events.");
    Json(json!({ "appended": c.get(), "total": sim.event_count() })).into_response()
}

/// `POST /_sim/envelopes/advance?count=N`: move N envelopes one step now; replies with the
/// transitions.
pub(super) async fn advance_envelopes(State(sim): State<Simulator>, Query(c): Query<Count>) -> Response {
    let transitions = sim.advance_envelopes(c.get().min(MAX_ADVANCE));
    tracing::info!(count = transitions.len(), "Simulator advanced envelopes.");
    Json(json!({ "transitions": transitions })).into_response()
}

/// `POST /_sim/users/modify?count=N`: change N users now.
pub(super) async fn modify_users(State(sim): State<Simulator>, Query(c): Query<Count>) -> Response {
    sim.modify_users(c.get());
    tracing::info!(count = c.get(), "Simulator modified users.");
    Json(json!({ "modified": c.get(), "total": sim.user_count() })).into_response()
}

/// `POST /_sim/users/add?count=N`: add N users now.
pub(super) async fn add_users(State(sim): State<Simulator>, Query(c): Query<Count>) -> Response {
    sim.add_users(c.get());
    tracing::info!(count = c.get(), "Simulator added users.");
    Json(json!({ "added": c.get(), "total": sim.user_count() })).into_response()
}

/// `POST /_sim/faults` with a [`Fault`] as JSON, e.g.
/// `{"route":"monitor","kind":{"status":{"code":429,"retry_after":2}},"times":3}`.
pub(super) async fn push_fault(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            tracing::info!(?fault, "Simulator queued a fault.");
            sim.push_fault(fault.clone());
            (StatusCode::CREATED, Json(json!({ "queued": fault }))).into_response()
        }
        Err(err) => ApiError::bad_request("invalid_fault", &err.to_string()).into_response(),
    }
}

/// `DELETE /_sim/faults`: drop all queued faults.
pub(super) async fn clear_faults(State(sim): State<Simulator>) -> Response {
    sim.clear_faults();
    Json(json!({ "cleared": true })).into_response()
}

/// `POST /_sim/consent/revoke`.
pub(super) async fn revoke_consent(State(sim): State<Simulator>) -> Response {
    sim.revoke_consent();
    tracing::info!("Simulator revoked consent.");
    Json(json!({ "consent": "revoked" })).into_response()
}

/// `POST /_sim/consent/grant`.
pub(super) async fn grant_consent(State(sim): State<Simulator>) -> Response {
    sim.grant_consent();
    tracing::info!("Simulator granted consent.");
    Json(json!({ "consent": "granted" })).into_response()
}

/// `POST /_sim/tokens/expire`: every issued token stops working.
pub(super) async fn expire_tokens(State(sim): State<Simulator>) -> Response {
    sim.expire_tokens();
    tracing::info!("Simulator expired all tokens.");
    Json(json!({ "tokens": "expired" })).into_response()
}

/// `GET /_sim/stats`: the [`Stats`] counters.
pub(super) async fn stats(State(sim): State<Simulator>) -> Json<Stats> {
    Json(sim.stats())
}

/// `GET /_sim/accounts`: `[{"account_id", "organization_id"}, …]`, the configured account first.
pub(super) async fn accounts(State(sim): State<Simulator>) -> Json<serde_json::Value> {
    let list: Vec<serde_json::Value> = sim
        .accounts()
        .into_iter()
        .map(|(account_id, organization_id)| serde_json::json!({ "account_id": account_id, "organization_id": organization_id }))
        .collect();
    Json(serde_json::Value::Array(list))
}

/// `POST /_sim/chaos` with a [`Chaos`] as JSON, e.g.
/// `{"throttle_percent":20,"retry_after":1,"server_error_percent":5,"truncated_percent":5}`.
pub(super) async fn set_chaos(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<Chaos>(&body) {
        Ok(c)
            if u16::from(c.throttle_percent) + u16::from(c.server_error_percent) + u16::from(c.truncated_percent)
                <= 100 =>
        {
            tracing::info!(?c, "Simulator chaos set.");
            sim.set_chaos(Some(c));
            Json(json!({ "chaos": c })).into_response()
        }
        Ok(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_chaos", "The shares add up to more than 100.")
            .into_response(),
        Err(e) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_chaos", &e.to_string()).into_response(),
    }
}

/// `DELETE /_sim/chaos`: no more random faults.
pub(super) async fn clear_chaos(State(sim): State<Simulator>) -> Response {
    sim.set_chaos(None);
    Json(json!({ "chaos": null })).into_response()
}

/// Basic auth credentials of a [`TargetBody`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BasicAuth {
    username: String,
    password: String,
}

/// `POST /_sim/connect`'s body: a [`ConnectTarget`] with durations in milliseconds, e.g.
/// `{"url":"http://127.0.0.1:9000/connect","hmac_keys":["k1"],"retry_delays_ms":[100,200]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetBody {
    url: String,
    #[serde(default)]
    hmac_keys: Vec<String>,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default)]
    include_data: Option<bool>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    retry_delays_ms: Option<Vec<u64>>,
    #[serde(default)]
    max_retries: Option<u32>,
}

impl From<TargetBody> for ConnectTarget {
    fn from(b: TargetBody) -> Self {
        let mut t = ConnectTarget::new(b.url);
        t.hmac_keys = b.hmac_keys;
        t.basic_auth = b.basic_auth.map(|a| (a.username, a.password));
        t.include_data = b.include_data.unwrap_or(t.include_data);
        t.timeout = b.timeout_ms.map_or(t.timeout, std::time::Duration::from_millis);
        if let Some(d) = b.retry_delays_ms {
            t.retry_delays = d.into_iter().map(std::time::Duration::from_millis).collect();
        }
        t.max_retries = b.max_retries.unwrap_or(t.max_retries);
        t
    }
}

/// `POST /_sim/connect`: start (or restart) the Connect sender.
pub(super) async fn connect_start(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<TargetBody>(&body) {
        Ok(b) if b.hmac_keys.len() > 2 => {
            ApiError::bad_request("invalid_connect", "At most two HMAC keys.").into_response()
        }
        Ok(b) => {
            let target = ConnectTarget::from(b);
            tracing::info!(?target, "Simulator starts the Connect sender.");
            let url = target.url.clone();
            sim.connect_start(target);
            (StatusCode::CREATED, Json(json!({ "connect": url }))).into_response()
        }
        // serde's message names the field, never its value.
        Err(e) => ApiError::bad_request("invalid_connect", &e.to_string()).into_response(),
    }
}

/// `DELETE /_sim/connect`: stop the Connect sender.
pub(super) async fn connect_stop(State(sim): State<Simulator>) -> Response {
    sim.connect_stop();
    Json(json!({ "connect": null })).into_response()
}

/// `POST /_sim/connect/knobs` with [`ConnectKnobs`] as JSON, e.g. `{"drop_next":2}`.
pub(super) async fn connect_knobs(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<ConnectKnobs>(&body) {
        Ok(k) => {
            sim.connect_knobs(k);
            Json(json!({ "knobs": k })).into_response()
        }
        Err(e) => ApiError::bad_request("invalid_knobs", &e.to_string()).into_response(),
    }
}

/// `GET /_sim/connect/stats`: the [`ConnectStats`].
pub(super) async fn connect_stats(State(sim): State<Simulator>) -> Json<ConnectStats> {
    Json(sim.connect_stats())
}

/// `PUT /_sim/oauth/keys`'s body: the integration key's public keys (PEM).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysBody {
    public_keys: Vec<String>,
}

/// `PUT /_sim/oauth/keys` with `{"public_keys": ["-----BEGIN PUBLIC KEY-----…", …]}`: replace the
/// registered JWT keys; replies with how many parsed.
pub(super) async fn set_public_keys(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<KeysBody>(&body) {
        Ok(b) => {
            let sent = b.public_keys.len();
            sim.set_public_keys(b.public_keys);
            let count = sim.public_keys_count();
            tracing::info!(sent, count, "Simulator replaced its public keys.");
            Json(json!({ "public_keys": count })).into_response()
        }
        Err(e) => ApiError::bad_request("invalid_keys", &e.to_string()).into_response(),
    }
}

/// `PUT /_sim/oauth/login-mode`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginModeBody {
    mode: LoginMode,
}

/// `PUT /_sim/oauth/login-mode` with `{"mode": "redirect" | "consent_page" | "deny"}`.
pub(super) async fn set_login_mode(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<LoginModeBody>(&body) {
        Ok(b) => {
            sim.set_login_mode(b.mode);
            tracing::info!(mode = ?b.mode, "Simulator login mode set.");
            Json(json!({ "mode": b.mode })).into_response()
        }
        Err(e) => ApiError::bad_request("invalid_login_mode", &e.to_string()).into_response(),
    }
}

/// `PUT /_sim/oauth/refresh-rotation`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotationBody {
    rotation: RefreshRotation,
}

/// `PUT /_sim/oauth/refresh-rotation` with `{"rotation": "keep_old" | "revoke_old"}`.
pub(super) async fn set_refresh_rotation(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<RotationBody>(&body) {
        Ok(b) => {
            sim.set_refresh_rotation(b.rotation);
            tracing::info!(rotation = ?b.rotation, "Simulator refresh rotation set.");
            Json(json!({ "rotation": b.rotation })).into_response()
        }
        Err(e) => ApiError::bad_request("invalid_rotation", &e.to_string()).into_response(),
    }
}

/// `POST /_sim/oauth/revoke-refresh`: every refresh token stops working.
pub(super) async fn revoke_refresh(State(sim): State<Simulator>) -> Response {
    sim.revoke_refresh_tokens();
    tracing::info!("Simulator revoked all refresh tokens.");
    Json(json!({ "refresh_tokens": "revoked" })).into_response()
}

/// `POST /_sim/oauth/age-refresh`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgeBody {
    seconds: i64,
}

/// `POST /_sim/oauth/age-refresh` with `{"seconds": N}`: every refresh token is N seconds older.
pub(super) async fn age_refresh(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<AgeBody>(&body) {
        Ok(b) => {
            sim.age_refresh_tokens(b.seconds);
            tracing::info!(seconds = b.seconds, "Simulator aged the refresh tokens.");
            Json(json!({ "aged_seconds": b.seconds })).into_response()
        }
        Err(e) => ApiError::bad_request("invalid_age", &e.to_string()).into_response(),
    }
}
