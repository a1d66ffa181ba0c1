//! Drives the simulator's eSignature endpoints and its Connect sender over real HTTP on
//! 127.0.0.1: status-change paging and window semantics, the per-envelope polling rule,
//! audit events consistent with the transitions, the go-live read-only endpoints, and
//! Connect delivery to a small test receiver (retries, duplicates, forged signatures, keys).

#![allow(clippy::unwrap_used, reason = "tests may unwrap: a panic is a failed test")]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use esign_sim::docusign::{QuotaConfig, SimConfig, Simulator, Transition};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Every test finishes well within this, or fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

#[path = "support/sim_http.rs"]
mod sim_http;

struct Harness {
    sim: Simulator,
    cfg: SimConfig,
    base: String,
    http: reqwest::Client,
    token: String,
    _stop: oneshot::Sender<()>,
}

async fn start(tune: impl FnOnce(&mut SimConfig)) -> Harness {
    let s = sim_http::start(tune).await;
    let assertion = s.assertion("signature impersonation");
    let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
    let body: Value =
        s.http.post(format!("{}/oauth/token", s.base)).form(&form).send().await.unwrap().json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    Harness { sim: s.sim, cfg: s.cfg, base: s.base, http: s.http, token, _stop: s.stop }
}

impl Harness {
    fn account(&self) -> String {
        format!("/restapi/v2.1/accounts/{}", self.cfg.account_id)
    }

    async fn get(&self, path_and_query: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let resp =
            self.http.get(format!("{}{path_and_query}", self.base)).bearer_auth(&self.token).send().await.unwrap();
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        (status, headers, resp.json().await.unwrap_or(Value::Null))
    }

    /// Pages a status-change list by `nextUri`; returns the envelopes and the page count.
    async fn list_all(&self, query: &str) -> (Vec<Value>, usize) {
        let mut url = format!("{}/envelopes?{query}", self.account());
        let (mut all, mut pages) = (Vec::new(), 0);
        loop {
            let (status, headers, body) = self.get(&url).await;
            assert_eq!(status, 200, "{body}");
            assert!(headers.contains_key("x-docusign-tracetoken"));
            pages += 1;
            let page = body["envelopes"].as_array().cloned().unwrap_or_default();
            assert_eq!(body["resultSetSize"], json!(page.len().to_string()), "numbers are strings");
            assert_eq!(body["startPosition"], json!(all.len().to_string()));
            all.extend(page);
            assert!(body["totalSetSize"].as_str().unwrap().parse::<usize>().unwrap() >= all.len());
            match body["nextUri"].as_str() {
                Some(next) => next.clone_into(&mut url),
                None => return (all, pages),
            }
            assert!(pages < 1000, "paging never ended");
        }
    }
}

fn ds_time_like(s: &str) -> bool {
    // 2026-01-15T10:07:12.1230000Z
    s.len() == 28 && s.ends_with('Z') && s.as_bytes()[19] == b'.' && s[20..27].bytes().all(|b| b.is_ascii_digit())
}

async fn timed<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_TIMEOUT, f).await.expect("test timed out");
}

#[tokio::test]
async fn paging_by_next_uri_returns_every_changed_envelope_once_with_its_current_status() {
    timed(async {
        let h = start(|c| c.envelopes = 120).await;
        let (all, pages) = h.list_all("from_date=2020-01-01T00:00:00Z&count=25&include=recipients").await;
        assert_eq!(all.len(), 120, "every seeded envelope changed since 2020");
        assert_eq!(pages, 5);
        let ids: BTreeSet<&str> = all.iter().map(|e| e["envelopeId"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 120, "no envelope twice");
        let truth = h.sim.envelope_transitions();
        let mut current: BTreeMap<&str, &Transition> = BTreeMap::new();
        for t in &truth {
            current.insert(t.envelope_id.as_str(), t);
        }
        let changed: Vec<&str> = all.iter().map(|e| e["statusChangedDateTime"].as_str().unwrap()).collect();
        assert!(changed.windows(2).all(|w| w[0] <= w[1]), "sorted by statusChangedDateTime");
        for e in &all {
            let t = current[e["envelopeId"].as_str().unwrap()];
            assert_eq!(e["status"], json!(t.status));
            assert_eq!(e["statusChangedDateTime"], json!(t.status_changed));
            assert!(ds_time_like(e["createdDateTime"].as_str().unwrap()), "{}", e["createdDateTime"]);
            assert!(e["sender"]["email"].as_str().unwrap().contains('@'));
            let signers = e["recipients"]["signers"].as_array().unwrap();
            assert!(!signers.is_empty() && signers[0]["recipientId"] == json!("1"));
        }
        // start_position paging gives the same pages.
        let (_, _, page) =
            h.get(&format!("{}/envelopes?from_date=2020-01-01&count=25&start_position=100", h.account())).await;
        assert_eq!(page["envelopes"].as_array().unwrap().len(), 20);
        assert_eq!((page["endPosition"].as_str(), page["nextUri"].as_str()), (Some("119"), None));
        assert!(page["previousUri"].as_str().unwrap().contains("start_position=75"));
    })
    .await;
}

#[tokio::test]
async fn a_window_lists_envelopes_whose_status_changed_inside_it() {
    timed(async {
        let h = start(|c| c.envelopes = 30).await;
        let from = Utc::now();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let moved = h.sim.advance_envelopes(7);
        assert_eq!(moved.len(), 7);
        let to = Utc::now();
        let q = format!(
            "from_date={}&to_date={}&from_to_status=changed",
            from.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            to.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        );
        let (all, _) = h.list_all(&urlencoding(&q)).await;
        let listed: BTreeSet<(String, String)> = all
            .iter()
            .map(|e| (e["envelopeId"].as_str().unwrap().to_owned(), e["status"].as_str().unwrap().to_owned()))
            .collect();
        let expected: BTreeSet<(String, String)> =
            moved.iter().map(|t| (t.envelope_id.clone(), t.status.clone())).collect();
        assert_eq!(listed, expected);
        // Moving one again later: it stays listed once in the old window, with its new status.
        let again = h.sim.advance_envelopes(30);
        let (all2, _) = h.list_all(&urlencoding(&q)).await;
        assert_eq!(all2.len(), 7);
        for e in &all2 {
            let id = e["envelopeId"].as_str().unwrap();
            if let Some(t) = again.iter().find(|t| t.envelope_id == id) {
                assert_eq!(e["status"], json!(t.status), "the current status");
            }
        }
        // The rules of the list.
        let (status, headers, body) = h.get(&format!("{}/envelopes?count=10", h.account())).await;
        assert_eq!((status, body["errorCode"].as_str()), (400, Some("INVALID_REQUEST_PARAMETER")), "{body}");
        assert!(headers.contains_key("x-docusign-tracetoken"));
        let (status, _, body) = h.get(&format!("{}/envelopes?from_date=2026-01-01&count=1001", h.account())).await;
        assert_eq!((status, body["errorCode"].as_str()), (400, Some("INVALID_REQUEST_PARAMETER")));
        let (status, _, body) =
            h.get("/restapi/v2.1/accounts/00000000-0000-0000-0000-000000000000/envelopes?from_date=2026-01-01").await;
        assert_eq!((status, body["errorCode"].as_str()), (404, Some("ACCOUNT_LACKS_PERMISSIONS")));
        let (status, _, body) = h.get(&format!("{}/envelopes?from_date=2100-01-01", h.account())).await;
        assert_eq!((status, body["resultSetSize"].as_str(), body.get("envelopes")), (200, Some("0"), None));
        // Every authenticated list call is recorded, refused ones too; the wrong account's is not.
        assert_eq!(h.sim.envelope_list_calls().len(), 5);
    })
    .await;
}

fn urlencoding(q: &str) -> String {
    q.replace('+', "%2B")
}

#[tokio::test]
async fn an_envelope_polled_twice_within_fifteen_minutes_is_refused() {
    timed(async {
        // At 3600× the quota clock's 15 minutes last a quarter of a real second.
        let h = start(|c| c.quota = QuotaConfig { time_scale: 3600, ..QuotaConfig::default() }).await;
        let id = h.sim.envelope_transitions()[0].envelope_id.clone();
        let path = format!("{}/envelopes/{id}/audit_events", h.account());
        let (status, _, _) = h.get(&path).await;
        assert_eq!(status, 200);
        let (status, headers, body) = h.get(&format!("{}/envelopes/{id}", h.account())).await;
        assert_eq!(status, 429, "the envelope and its audit events are one resource");
        assert_eq!(body["errorCode"], "HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED");
        assert!(headers.contains_key("x-docusign-tracetoken") && headers.contains_key("x-ratelimit-remaining"));
        assert_eq!(h.sim.envelope_polling_violations(), 1);
        let other = h.sim.envelope_transitions().iter().find(|t| t.envelope_id != id).unwrap().envelope_id.clone();
        assert_eq!(h.get(&format!("{}/envelopes/{other}", h.account())).await.0, 200, "another envelope");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(h.get(&path).await.0, 200, "15 simulated minutes later");
        assert_eq!(h.sim.envelope_polling_violations(), 1);
        let (status, _, body) = h.get(&format!("{}/envelopes/not-an-envelope/audit_events", h.account())).await;
        assert_eq!((status, body["errorCode"].as_str()), (400, Some("ENVELOPE_DOES_NOT_EXIST")));
    })
    .await;
}

#[tokio::test]
async fn audit_events_follow_the_envelope_history() {
    timed(async {
        let h = start(|c| c.envelopes = 25).await;
        let truth = h.sim.envelope_transitions();
        let (all, _) = h.list_all("from_date=2020-01-01&status=completed,declined,voided").await;
        assert!(!all.is_empty());
        for e in &all {
            let id = e["envelopeId"].as_str().unwrap();
            let (status, _, body) = h.get(&format!("{}/envelopes/{id}/audit_events", h.account())).await;
            assert_eq!(status, 200, "{body}");
            let events: Vec<BTreeMap<String, String>> = body["auditEvents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|ev| {
                    ev["eventFields"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| (f["name"].as_str().unwrap().to_owned(), f["value"].as_str().unwrap().to_owned()))
                        .collect()
                })
                .collect();
            let times: Vec<&str> = events.iter().map(|f| f["logTime"].as_str()).collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
            for f in &events {
                for name in [
                    "logTime",
                    "Source",
                    "UserName",
                    "UserId",
                    "Action",
                    "Message",
                    "EnvelopeStatus",
                    "ClientIPAddress",
                ] {
                    assert!(f.contains_key(name), "{name} missing in {f:?}");
                }
            }
            let mine: Vec<&Transition> = truth.iter().filter(|t| t.envelope_id == id).collect();
            assert_eq!(events[0]["Action"], "Registered");
            assert_eq!(events[0]["logTime"], mine[0].status_changed);
            let last = events.last().unwrap();
            assert_eq!(last["logTime"], mine.last().unwrap().status_changed);
            assert_eq!(last["EnvelopeStatus"].to_lowercase(), e["status"].as_str().unwrap());
            let want = match e["status"].as_str().unwrap() {
                "completed" => "Signed",
                "declined" => "Declined",
                _ => "Voided",
            };
            assert_eq!(last["Action"], want);
        }
        assert_eq!(h.sim.envelope_polling_violations(), 0);
    })
    .await;
}

// ---- Connect -------------------------------------------------------------------------------

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use esign_sim::docusign::{ConnectKnobs, ConnectTarget};
use hmac::{Hmac, Mac as _};

/// One POST the test receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: HeaderMap,
    body: Bytes,
    json: Value,
}

/// A Connect listener: records every POST, answers from `plan` (then 200), and with `key`
/// answers 401 to a body whose signatures do not verify.
#[derive(Clone, Default)]
struct Inbox {
    got: Arc<Mutex<Vec<Got>>>,
    plan: Arc<Mutex<VecDeque<u16>>>,
    key: Option<String>,
    first_delay: Arc<Mutex<Option<Duration>>>,
}

fn hmac_b64(key: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn verifies(headers: &HeaderMap, body: &[u8], key: &str) -> bool {
    let want = hmac_b64(key, body);
    (1..=5).any(|i| headers.get(format!("x-docusign-signature-{i}")).is_some_and(|v| v.as_bytes() == want.as_bytes()))
}

/// What makes a message itself across redeliveries.
fn key_of(json: &Value) -> (Value, Value, Value) {
    (json["event"].clone(), json["data"]["recipientId"].clone(), json["generatedDateTime"].clone())
}

async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let verified = inbox.key.as_deref().is_none_or(|k| verifies(&headers, &body, k));
    let first = {
        let mut got = inbox.got.lock().unwrap();
        got.push(Got { headers, body, json: json.clone() });
        key_of(&got[0].json) == key_of(&json)
    };
    // The delay and the plan apply to the first message only (and its redeliveries).
    let delay = if first { inbox.first_delay.lock().unwrap().take() } else { None };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
        return StatusCode::OK;
    }
    let planned = if first { inbox.plan.lock().unwrap().pop_front() } else { None };
    match planned {
        Some(code) => StatusCode::from_u16(code).unwrap(),
        None if verified => StatusCode::OK,
        None => StatusCode::UNAUTHORIZED,
    }
}

async fn receiver(inbox: Inbox) -> (String, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/connect", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/connect", axum::routing::post(receive)).with_state(inbox);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                stopped.await.ok();
            })
            .await
            .unwrap();
    });
    (url, stop)
}

/// A JSON Schema from DocuSign's Connect JSON sample: every object closed to the names the
/// sample shows, every value of the sample's type, array items the union of the sample's.
fn schema_of(sample: &Value) -> Value {
    match sample {
        Value::Object(m) => {
            let props: serde_json::Map<String, Value> = m.iter().map(|(k, v)| (k.clone(), schema_of(v))).collect();
            json!({ "type": "object", "properties": props, "additionalProperties": false })
        }
        Value::Array(items) => {
            let mut merged = Value::Null;
            for item in items {
                merged = merge(merged, item);
            }
            if merged.is_null() {
                json!({ "type": "array" })
            } else {
                json!({ "type": "array", "items": schema_of(&merged) })
            }
        }
        Value::String(_) => json!({ "type": "string" }),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "type": "integer" }),
        Value::Number(_) => json!({ "type": "number" }),
        Value::Bool(_) => json!({ "type": "boolean" }),
        Value::Null => json!({}),
    }
}

fn merge(a: Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(mut x), Value::Object(y)) => {
            for (k, v) in y {
                let old = x.remove(k).unwrap_or(Value::Null);
                x.insert(k.clone(), merge(old, v));
            }
            Value::Object(x)
        }
        (Value::Null, b) => b.clone(),
        (a, _) => a,
    }
}

fn connect_validator() -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docusign-connect.schema-v2.json");
    let sample: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema_of(&sample)).unwrap()
}

fn target(url: &str, keys: &[&str]) -> ConnectTarget {
    let mut t = ConnectTarget::new(url);
    t.hmac_keys = keys.iter().map(|k| (*k).to_owned()).collect();
    t.retry_delays = vec![Duration::from_millis(20), Duration::from_millis(40)];
    t
}

#[test]
fn the_schema_from_the_sample_refuses_unknown_names_and_wrong_types() {
    let v = connect_validator();
    let ok = json!({"event":"envelope-sent","apiVersion":"v2.1","uri":"/x","retryCount":0,"configurationId":1,
        "generatedDateTime":"2026-01-15T10:00:00.0000000Z","data":{"accountId":"a","userId":"u","envelopeId":"e"}});
    assert!(v.is_valid(&ok));
    let mut bad = ok.clone();
    bad["data"]["envelopeSummary"] = json!({"statusChangedDateTimes": "x"});
    assert!(!v.is_valid(&bad), "unknown name");
    let mut bad = ok;
    bad["configurationId"] = json!("1");
    assert!(!v.is_valid(&bad), "configurationId is an integer");
}

#[tokio::test]
async fn connect_delivers_every_transition_signed_with_each_key() {
    timed(async {
        let h = start(|c| c.envelopes = 10).await;
        let inbox = Inbox { key: Some("key-two".to_owned()), ..Inbox::default() };
        let (url, _stop) = receiver(inbox.clone()).await;
        h.sim.connect_start(target(&url, &["key-one", "key-two"]));
        let moved: Vec<Transition> = (0..4).flat_map(|_| h.sim.advance_envelopes(3)).collect();
        assert!(h.sim.connect_idle(Duration::from_secs(20)).await);
        let got = inbox.got.lock().unwrap().clone();
        let validator = connect_validator();
        for g in &got {
            assert_eq!(g.headers["content-type"], "application/json");
            assert_eq!(g.headers["x-authorization-digest"], "HMACSHA256");
            assert_eq!(g.headers["x-docusign-signature-1"].to_str().unwrap(), hmac_b64("key-one", &g.body));
            assert_eq!(g.headers["x-docusign-signature-2"].to_str().unwrap(), hmac_b64("key-two", &g.body));
            assert!(!g.headers.contains_key("x-docusign-signature-3"));
            assert_eq!(g.json["retryCount"], 0);
            let errors: Vec<String> = validator.iter_errors(&g.json).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(g.json["data"]["accountId"], json!(h.cfg.account_id));
            assert_eq!(g.json["data"]["envelopeSummary"]["envelopeId"], g.json["data"]["envelopeId"]);
        }
        let envelope_level: BTreeSet<(String, String, String)> = got
            .iter()
            .filter(|g| g.json["data"].get("recipientId").is_none())
            .map(|g| {
                let s = |v: &Value| v.as_str().unwrap().to_owned();
                (s(&g.json["data"]["envelopeId"]), s(&g.json["event"]), s(&g.json["generatedDateTime"]))
            })
            .collect();
        let expected: BTreeSet<(String, String, String)> =
            moved.iter().map(|t| (t.envelope_id.clone(), t.event.clone(), t.status_changed.clone())).collect();
        assert_eq!(envelope_level, expected);
        let recipient_level: Vec<&Got> = got.iter().filter(|g| g.json["data"].get("recipientId").is_some()).collect();
        assert!(!recipient_level.is_empty());
        assert!(recipient_level.iter().all(|g| g.json["event"].as_str().unwrap().starts_with("recipient-")));
        let stats = h.sim.connect_stats();
        assert_eq!(
            (stats.sent, stats.delivered, stats.pending, stats.retries),
            (got.len() as u64, got.len() as u64, 0, 0)
        );
        assert_eq!(stats.statuses.get(&200), Some(&(got.len() as u64)));
        h.sim.connect_stop();
    })
    .await;
}

#[tokio::test]
async fn connect_redelivers_after_refusals_and_timeouts_with_the_same_generated_time() {
    timed(async {
        let h = start(|c| c.envelopes = 10).await;
        let inbox = Inbox::default();
        inbox.plan.lock().unwrap().extend([500, 503]);
        *inbox.first_delay.lock().unwrap() = Some(Duration::from_millis(600));
        let (url, _stop) = receiver(inbox.clone()).await;
        let mut t = target(&url, &["k"]);
        t.timeout = Duration::from_millis(300);
        h.sim.connect_start(t);
        h.sim.advance_envelopes(1);
        assert!(h.sim.connect_idle(Duration::from_secs(20)).await);
        let got = inbox.got.lock().unwrap().clone();
        let first = &got[0].json;
        let same: Vec<&Got> = got.iter().filter(|g| key_of(&g.json) == key_of(first)).collect();
        // Attempt 0 timed out (the receiver saw it late), 1 got 500, 2 got 503, 3 delivered.
        let counts: Vec<u64> = same.iter().map(|g| g.json["retryCount"].as_u64().unwrap()).collect();
        assert_eq!(counts, [0, 1, 2, 3], "{counts:?}");
        assert!(same.iter().all(|g| g.json["generatedDateTime"] == first["generatedDateTime"]));
        let mut a = same[0].json.clone();
        a["retryCount"] = json!(3);
        assert_eq!(a, same[3].json, "a redelivery is the same message");
        assert!(verifies(&same[3].headers, &same[3].body, "k"), "each attempt is signed over its own body");
        let stats = h.sim.connect_stats();
        assert_eq!((stats.timeouts, stats.refused, stats.retries, stats.pending), (1, 2, 3, 0));
        assert_eq!((stats.statuses.get(&500), stats.statuses.get(&503)), (Some(&1), Some(&1)));
    })
    .await;
}

#[tokio::test]
async fn connect_knobs_drop_duplicate_forge_unsign_and_oversize() {
    timed(async {
        let h = start(|c| c.envelopes = 10).await;
        let inbox = Inbox { key: Some("right-key".to_owned()), ..Inbox::default() };
        let (url, _stop) = receiver(inbox.clone()).await;
        h.sim.connect_start(target(&url, &["right-key"]));
        h.sim.connect_knobs(ConnectKnobs { duplicate_next: 1, ..ConnectKnobs::default() });
        h.sim.advance_envelopes(1);
        assert!(h.sim.connect_idle(Duration::from_secs(10)).await);
        {
            let got = inbox.got.lock().unwrap();
            assert!(got.len() >= 2);
            assert_eq!(got[0].body, got[1].body, "a duplicate is byte-identical");
        }
        inbox.got.lock().unwrap().clear();
        h.sim.connect_knobs(ConnectKnobs { forge_next: 1, unsigned_next: 1, ..ConnectKnobs::default() });
        // Two steps make at least two messages: the first POST forged, the second unsigned.
        h.sim.advance_envelopes(2);
        assert!(h.sim.connect_idle(Duration::from_secs(10)).await);
        {
            let got = inbox.got.lock().unwrap();
            let g = &got[0];
            assert!(g.headers.contains_key("x-docusign-signature-1"), "forged, not missing");
            assert!(!verifies(&g.headers, &g.body, "right-key"), "a forged signature fails with the right key");
            assert!(!got[1].headers.contains_key("x-docusign-signature-1"), "the next POST is unsigned");
            let redelivered = got.iter().filter(|x| x.json["retryCount"] == 1).count();
            assert_eq!(redelivered, 2, "both were refused with 401 and redelivered signed");
            assert!(got.iter().filter(|x| x.json["retryCount"] == 1).all(|x| verifies(
                &x.headers,
                &x.body,
                "right-key"
            )));
        }
        let before = h.sim.connect_stats();
        assert_eq!(before.statuses.get(&401), Some(&2));
        inbox.got.lock().unwrap().clear();
        h.sim.connect_knobs(ConnectKnobs { drop_next: 1, oversize_next: 1, ..ConnectKnobs::default() });
        h.sim.advance_envelopes(2);
        assert!(h.sim.connect_idle(Duration::from_secs(10)).await);
        let stats = h.sim.connect_stats();
        assert_eq!(stats.dropped, 1);
        assert_eq!(stats.statuses.get(&413), Some(&1), "axum's 2 MB limit refuses the 5 MiB body");
        let got = inbox.got.lock().unwrap();
        assert!(got.iter().all(|g| g.body.len() < 1024 * 1024), "the receiver never stored the oversize body");
        assert_eq!(got.iter().filter(|g| g.json["retryCount"] == 1).count(), 1, "the oversize message came again");
    })
    .await;
}

#[tokio::test]
async fn the_control_api_drives_connect() {
    timed(async {
        let h = start(|c| c.envelopes = 5).await;
        let inbox = Inbox::default();
        let (url, _stop) = receiver(inbox.clone()).await;
        let post = |path: &str, body: Value| h.http.post(format!("{}{path}", h.base)).json(&body).send();
        let resp =
            post("/_sim/connect", json!({ "url": url, "hmac_keys": [], "retry_delays_ms": [10] })).await.unwrap();
        assert_eq!(resp.status(), 201);
        let resp = post("/_sim/connect/knobs", json!({ "slow_ms": 30 })).await.unwrap();
        assert_eq!(resp.status(), 200);
        let resp = h.http.post(format!("{}/_sim/envelopes/advance?count=2", h.base)).send().await.unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["transitions"].as_array().unwrap().len(), 2);
        let began = std::time::Instant::now();
        assert!(h.sim.connect_idle(Duration::from_secs(20)).await);
        assert!(began.elapsed() >= Duration::from_millis(8 * 30), "slow bodies take their time");
        let stats: Value =
            h.http.get(format!("{}/_sim/connect/stats", h.base)).send().await.unwrap().json().await.unwrap();
        let n = inbox.got.lock().unwrap().len() as u64;
        assert_eq!((stats["delivered"].as_u64(), stats["pending"].as_u64()), (Some(n), Some(0)));
        assert!(
            inbox.got.lock().unwrap().iter().all(|g| !g.headers.contains_key("x-docusign-signature-1")),
            "no keys, no signature"
        );
        let resp = post("/_sim/connect", json!({ "url": url, "hmac_keys": ["a", "b", "c"] })).await.unwrap();
        assert_eq!(resp.status(), 400, "at most two keys");
        let resp = post("/_sim/connect/knobs", json!({ "drop_nxt": 1 })).await.unwrap();
        assert_eq!(resp.status(), 400);
        let resp = h.http.delete(format!("{}/_sim/connect", h.base)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        h.sim.advance_envelopes(2);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(inbox.got.lock().unwrap().len() as u64, n, "a stopped sender sends nothing");
    })
    .await;
}

// ---- Spec excerpt and go-live endpoints ------------------------------------------------------

/// A validator for `definition` of the eSignature excerpt, every object closed to the names
/// the spec's models declare.
fn esign_validator(definition: &str) -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/esignature-v2.1-excerpt.json");
    let excerpt: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut defs = excerpt["definitions"].clone();
    for def in defs.as_object_mut().unwrap().values_mut() {
        def["additionalProperties"] = json!(false);
    }
    // Swagger 2.0 has no `nullable`; the SDK reads null as an absent value (`nextUri` is null
    // on the last page).
    let text = serde_json::to_string(&defs).unwrap().replace(r#"{"type":"string"}"#, r#"{"type":["string","null"]}"#);
    let mut defs: Value = serde_json::from_str(&text).unwrap();
    // Models outside the excerpt are accepted as any object.
    let mut open = serde_json::Map::new();
    for (i, _) in text.match_indices("#/definitions/") {
        let name: String = text[i + 14..].chars().take_while(char::is_ascii_alphanumeric).collect();
        if defs.get(&name).is_none() {
            open.insert(name, json!({ "type": "object" }));
        }
    }
    defs.as_object_mut().unwrap().extend(open);
    let schema = json!({ "definitions": defs, "$ref": format!("#/definitions/{definition}") });
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(v: &jsonschema::Validator, body: &Value, what: &str) {
    let errors: Vec<String> = v.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what}: {errors:?}");
}

#[tokio::test]
async fn replies_match_the_spec_models() {
    timed(async {
        let h = start(|c| c.envelopes = 30).await;
        let (_, _, list) = h.get(&format!("{}/envelopes?from_date=2020-01-01&include=recipients", h.account())).await;
        let v = esign_validator("EnvelopesInformation");
        assert_valid(&v, &list, "list");
        let mut wrong = list.clone();
        wrong["envelopes"][0]["recipients"]["signers"][0]["signerEmail"] = json!("x");
        assert!(!v.is_valid(&wrong), "a name the Signer model lacks is caught");
        wrong = list.clone();
        wrong["resultSetSize"] = json!(3);
        assert!(!v.is_valid(&wrong), "a number where the model has a string is caught");
        let done = list["envelopes"].as_array().unwrap().iter().find(|e| e["status"] == "completed").unwrap();
        let id = done["envelopeId"].as_str().unwrap();
        let (_, _, audit) = h.get(&format!("{}/envelopes/{id}/audit_events", h.account())).await;
        assert_valid(&esign_validator("EnvelopeAuditEventResponse"), &audit, "audit");
        let (_, _, err) = h.get(&format!("{}/envelopes?count=2", h.account())).await;
        assert_valid(&esign_validator("ErrorDetails"), &err, "error");
        for (path, model) in [
            ("", "AccountInformation"),
            ("/users?count=5", "UserInformationList"),
            ("/groups", "GroupInformation"),
            ("/permission_profiles", "PermissionProfileInformation"),
            ("/brands", "BrandsResponse"),
            ("/settings", "AccountSettingsInformation"),
        ] {
            let (status, _, body) = h.get(&format!("{}{path}", h.account())).await;
            assert_eq!(status, 200, "{path}: {body}");
            assert_valid(&esign_validator(model), &body, path);
        }
    })
    .await;
}

#[tokio::test]
async fn twenty_distinct_read_only_calls_succeed_with_their_own_trace_tokens() {
    timed(async {
        let h = start(|c| c.users = 12).await;
        let mut calls: Vec<String> = ["", "/groups", "/permission_profiles", "/brands", "/settings"]
            .iter()
            .map(|p| format!("{}{p}", h.account()))
            .collect();
        calls.extend((0..8).map(|k| format!("{}/users?count=1&start_position={k}", h.account())));
        calls.extend(
            (1..=7).map(|d| format!("{}/envelopes?from_date=2026-01-{d:02}&to_date=2026-01-{:02}", h.account(), d + 1)),
        );
        assert_eq!(calls.len(), 20);
        let mut tokens = BTreeSet::new();
        for c in &calls {
            let (status, headers, body) = h.get(c).await;
            assert_eq!(status, 200, "{c}: {body}");
            tokens.insert(headers["x-docusign-tracetoken"].to_str().unwrap().to_owned());
            assert!(headers.contains_key("x-ratelimit-remaining"));
        }
        assert_eq!(tokens.len(), 20, "a fresh trace token per reply");
        let (_, _, page) = h.get(&format!("{}/users?count=5&start_position=10", h.account())).await;
        assert_eq!((page["resultSetSize"].as_str(), page["totalSetSize"].as_str()), (Some("2"), Some("12")));
        assert_eq!(page["nextUri"], Value::Null);
        assert_eq!(h.sim.stats().esignature_requests, 21, "every eSignature call is counted");
        assert_eq!(h.sim.envelope_polling_violations(), 0);
    })
    .await;
}

#[tokio::test]
async fn esignature_routes_share_the_quota_and_faults() {
    timed(async {
        use esign_sim::docusign::{Fault, FaultKind, Route};
        let h = start(|c| c.quota = QuotaConfig { per_hour: 3, enforce: true, ..QuotaConfig::default() }).await;
        h.sim.push_fault(Fault {
            route: Route::Esignature,
            kind: FaultKind::Status { code: 503, retry_after: None },
            times: 1,
        });
        let (status, headers, body) = h.get(&format!("{}/brands", h.account())).await;
        assert_eq!((status, body["errorCode"].as_str()), (503, Some("service_unavailable")), "{body}");
        assert!(headers.contains_key("x-docusign-tracetoken"));
        assert_eq!(h.get(&format!("{}/brands", h.account())).await.0, 200);
        assert_eq!(h.get(&format!("{}/settings", h.account())).await.0, 200, "the third call of the hour");
        let (status, headers, body) = h.get(&format!("{}/groups", h.account())).await;
        assert_eq!((status, body["errorCode"].as_str()), (429, Some("HOURLY_APIINVOCATION_LIMIT_EXCEEDED")));
        assert!(headers.contains_key("retry-after") && headers.contains_key("x-docusign-tracetoken"));
    })
    .await;
}
