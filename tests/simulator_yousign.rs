//! Drives the Yousign simulator over real HTTP on 127.0.0.1: every reply is validated against
//! the JSON Schemas extracted from the Yousign specs (`tests/fixtures/yousign/`, with
//! `additionalProperties: false`, so an unknown field fails too); cursor pagination to the
//! end, the `source` default, day filters, 401, 429 and the rate-limit headers, audit trails
//! only once signed, faults, v2 page-number pagination, and the webhook sender (signatures,
//! retries with the same event, forged and unsigned knobs, the 1 s first-attempt timeout).

#![allow(clippy::unwrap_used, reason = "tests may unwrap: a panic is a failed test")]

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use esign_sim::yousign::{
    Fault, FaultKind, RateLimits, Route, WebhookKnobs, WebhookTarget, YousignConfig, YousignSim, sign,
};
use serde_json::Value;
use tokio::sync::oneshot;

const ALL_SOURCES: &str =
    "app,public_api,hubspot_integration,connector_salesforce_api,connector_google_api,connector_zapier_api";

struct Served {
    sim: YousignSim,
    cfg: YousignConfig,
    base: String,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

async fn start(tune: impl FnOnce(&mut YousignConfig)) -> Served {
    let mut cfg = YousignConfig::new();
    cfg.limits = RateLimits { per_minute: 10_000, per_hour: 100_000, enforce: true };
    tune(&mut cfg);
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
    Served { sim, cfg, base, http, _stop: stop }
}

struct Reply {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Served {
    async fn get_with(&self, path: &str, key: Option<&str>) -> Reply {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        Reply { status, headers, text: resp.text().await.unwrap_or_default() }
    }

    async fn get(&self, path: &str) -> Reply {
        self.get_with(path, Some(&self.cfg.api_key)).await
    }

    /// Every request of a listing, page by page; checks each page against the schema.
    async fn list_all(&self, query: &str, limit: usize) -> (Vec<Value>, usize) {
        let (mut all, mut pages, mut after) = (Vec::new(), 0, None::<String>);
        loop {
            let cursor = after.as_ref().map(|c| format!("&after={c}")).unwrap_or_default();
            let r = self.get(&format!("/v3/signature_requests?limit={limit}{cursor}&{query}")).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let body = r.json();
            check("v3_signature_request_list.json", &body);
            pages += 1;
            let data = body["data"].as_array().unwrap();
            assert!(data.len() <= limit);
            all.extend(data.iter().cloned());
            match body["meta"]["next_cursor"].as_str() {
                Some(c) => after = Some(c.to_owned()),
                None => return (all, pages),
            }
        }
    }
}

/// Validates `value` against a fixture schema, formats included; panics with every error.
fn check(fixture: &str, value: &Value) {
    let path = format!("{}/tests/fixtures/yousign/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{fixture}: {errors:#?}\n{value:#}");
}

/// Yousign writes date-times as `2024-05-02T09:12:00+00:00`.
fn check_dates(v: &Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if let (true, Some(s)) = (k.ends_with("_at") || k == "expiration_date", x.as_str()) {
                    assert!(s.len() == 25 && s.ends_with("+00:00") && s.as_bytes()[10] == b'T', "{k}: {s}");
                }
                check_dates(x);
            }
        }
        Value::Array(a) => a.iter().for_each(check_dates),
        _ => {}
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn every_v3_reply_matches_the_spec_schemas() {
    let s = start(|_| {}).await;
    s.sim.advance(60);
    let (all, _) = s.list_all(&format!("source[in]={ALL_SOURCES}"), 100).await;
    assert_eq!(all.len(), s.sim.signature_request_ids().len());
    check_dates(&Value::Array(all.clone()));
    let mut signed_one = None;
    for sr in &all {
        let id = sr["id"].as_str().unwrap();
        let r = s.get(&format!("/v3/signature_requests/{id}")).await;
        assert_eq!(r.status, 200);
        let full = r.json();
        check("v3_signature_request.json", &full);
        check_dates(&full);
        if full["status"] == "declined" {
            assert!(full["decline_information"]["reason"].is_string(), "{full}");
        }
        if let Some(sg) = full["signers"].as_array().unwrap().iter().find(|g| g["status"] == "signed") {
            signed_one = Some((id.to_owned(), sg["id"].as_str().unwrap().to_owned()));
        }
    }
    let (sr, signer) = signed_one.expect("some signer has signed");
    let r = s.get(&format!("/v3/signature_requests/{sr}/signers/{signer}/audit_trails")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let trail = r.json();
    check("v3_signer_audit_trail.json", &trail);
    assert!(trail["signer"]["ip_address"].is_string() && trail["sender"]["ip_address"].is_string());

    let users = s.get("/v3/users").await;
    assert_eq!(users.status, 200);
    check("v3_users_list.json", &users.json());
    let hooks = s.get("/v3/webhooks").await;
    assert_eq!(hooks.status, 200);
    check("v3_webhook_subscription_list.json", &hooks.json());
    assert_eq!(hooks.json()[0]["secret_key"], s.cfg.webhook_secret.as_str());

    let missing = s.get("/v3/signature_requests/00000000-0000-4000-8000-000000000000").await;
    assert_eq!(missing.status, 404);
    check("v3_error_404_not_found.json", &missing.json());
    let bad = s.get("/v3/signature_requests?limit=0").await;
    assert_eq!(bad.status, 400);
    check("v3_error_400_bad_request.json", &bad.json());
    let unauthorized = s.get_with("/v3/users", Some("wrong")).await;
    check("v3_error_401_unauthorized.json", &unauthorized.json());
    s.sim.push_fault(Fault { route: Route::Users, kind: FaultKind::Status { code: 500, retry_after: None }, times: 1 });
    let failed = s.get("/v3/users").await;
    assert_eq!(failed.status, 500);
    check("v3_error_500_internal_server_error.json", &failed.json());
}

#[tokio::test]
async fn pagination_reaches_the_end_without_duplicates_or_gaps() {
    let s = start(|c| c.signature_requests = 53).await;
    let (all, pages) = s.list_all(&format!("source[in]={ALL_SOURCES}"), 7).await;
    assert_eq!(pages, 8, "53 requests in pages of 7");
    let got = ids(&all);
    let unique: BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "no duplicates");
    assert_eq!(got, s.sim.signature_request_ids(), "no gaps, creation order");
    let users = s.get("/v3/users?limit=5").await.json();
    let next = users["meta"]["next_cursor"].as_str().unwrap().to_owned();
    let rest = s.get(&format!("/v3/users?limit=100&after={next}")).await.json();
    check("v3_users_list.json", &rest);
    assert_eq!(
        users["data"].as_array().unwrap().len() + rest["data"].as_array().unwrap().len(),
        s.sim.user_ids().len()
    );
    assert!(rest["meta"]["next_cursor"].is_null());
    assert_eq!(s.get("/v3/signature_requests?after=garbage").await.status, 400);
}

#[tokio::test]
async fn without_a_source_filter_only_public_api_requests_are_listed() {
    let s = start(|_| {}).await;
    let (default, _) = s.list_all("", 100).await;
    let (all, _) = s.list_all(&format!("source[in]={ALL_SOURCES}"), 100).await;
    assert!(!default.is_empty() && default.len() < all.len(), "{} of {}", default.len(), all.len());
    assert!(default.iter().all(|r| r["source"] == "public_api"));
    assert!(
        all.iter().any(|r| r["source"] == "app")
            && all.iter().any(|r| r["source"] != "app" && r["source"] != "public_api")
    );
    let (app, _) = s.list_all("source[eq]=app", 100).await;
    assert!(app.iter().all(|r| r["source"] == "app"));
    let calls = s.sim.stats().list_calls;
    assert!(calls.iter().any(|q| q.contains(&format!("source[in]={ALL_SOURCES}"))), "{calls:?}");
    assert!(calls.iter().any(|q| !q.contains("source")), "{calls:?}");
}

#[tokio::test]
async fn day_and_status_filters() {
    let s = start(|_| {}).await;
    let (all, _) = s.list_all(&format!("source[in]={ALL_SOURCES}"), 100).await;
    let day = |v: &Value| v.as_str().map(|t| t[..10].to_owned());
    let d = day(&all[all.len() / 2]["created_at"]).unwrap();
    let q = |f: &str| format!("source[in]={ALL_SOURCES}&{f}");
    let (eq, _) = s.list_all(&q(&format!("created_at[eq]={d}")), 100).await;
    assert_eq!(
        ids(&eq),
        ids(&all.iter().filter(|r| day(&r["created_at"]).as_deref() == Some(&d)).cloned().collect::<Vec<_>>())
    );
    assert!(!eq.is_empty());
    let (after, _) = s.list_all(&q(&format!("created_at[after]={d}")), 100).await;
    assert!(after.iter().all(|r| day(&r["created_at"]).unwrap() > d));
    let (before, _) = s.list_all(&q(&format!("created_at[before]={d}")), 100).await;
    assert_eq!(before.len() + eq.len() + after.len(), all.len());
    let (between, _) = s.list_all(&q(&format!("created_at[between]={d},{d}")), 100).await;
    assert_eq!(ids(&between), ids(&eq));
    let (activated, _) = s.list_all(&q("activated_at[after]=2000-01-01"), 100).await;
    assert!(activated.iter().all(|r| r["activated_at"].is_string()));
    assert_eq!(activated.len(), all.iter().filter(|r| r["activated_at"].is_string()).count());
    let (done, _) = s.list_all(&q("status[in]=done,declined"), 100).await;
    assert!(done.iter().all(|r| r["status"] == "done" || r["status"] == "declined"));
    for bad in
        ["created_at[after]=2025-03-01T00:00:00%2B00:00", "completed_at[eq]=yesterday", "status[eq]=nope", "limit=101"]
    {
        let r = s.get(&format!("/v3/signature_requests?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        check("v3_error_400_bad_request.json", &r.json());
    }
}

#[tokio::test]
async fn a_wrong_or_missing_key_gets_401() {
    let s = start(|_| {}).await;
    for key in [None, Some("ys-wrong")] {
        for path in ["/v3/signature_requests", "/v3/users", "/users", "/procedures"] {
            let r = s.get_with(path, key).await;
            assert_eq!(r.status, 401, "{path}");
        }
    }
    assert_eq!(s.sim.stats().unauthorized, 8);
}

#[tokio::test]
async fn over_the_minute_limit_is_429_with_retry_after() {
    let s = start(|c| c.limits = RateLimits { per_minute: 3, per_hour: 200, enforce: true }).await;
    for left in (0..3).rev() {
        let r = s.get("/v3/users").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-remaining-minute"), Some(left.to_string().as_str()));
        assert_eq!(r.header("x-ratelimit-limit-minute"), Some("3"));
        assert_eq!(r.header("x-ratelimit-limit-hour"), Some("200"));
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        assert!(r.header("ratelimit-reset").is_some() && r.header("ratelimit-remaining").is_some());
    }
    let r = s.get("/v3/signature_requests").await;
    assert_eq!(r.status, 429);
    check("v3_error_429_too_many_requests.json", &r.json());
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(r.header("x-ratelimit-remaining-minute"), Some("0"));
    assert_eq!(r.header("x-ratelimit-remaining-hour"), Some("197"));
    assert_eq!(s.sim.stats().throttled, 1);
    s.sim.set_limits(RateLimits { per_minute: 3, per_hour: 200, enforce: false });
    assert_eq!(s.get("/v3/users").await.status, 200);
}

#[tokio::test]
async fn audit_trail_only_once_signed() {
    let s = start(|c| c.signature_requests = 1).await;
    let id = s.sim.signature_request_ids()[0].clone();
    let signer_of = |v: &Value| v["signers"][0]["id"].as_str().unwrap().to_owned();
    let sr = s.get(&format!("/v3/signature_requests/{id}")).await.json();
    let signer = signer_of(&sr);
    let path = format!("/v3/signature_requests/{id}/signers/{signer}/audit_trails");
    let mut seen_refusal = false;
    for _ in 0..20 {
        let status = s.get(&format!("/v3/signature_requests/{id}")).await.json()["signers"][0]["status"].clone();
        let r = s.get(&path).await;
        if status == "signed" {
            assert_eq!(r.status, 200, "{}", r.text);
            check("v3_signer_audit_trail.json", &r.json());
            assert!(seen_refusal);
            return;
        }
        assert_eq!(r.status, 400, "{status}: {}", r.text);
        check("v3_error_400_bad_request.json", &r.json());
        seen_refusal = true;
        s.sim.advance(1);
    }
    // This request's script never got its first signer signed (declined, blocked, …).
    assert!(seen_refusal);
    let unknown = s.get(&format!("/v3/signature_requests/{id}/signers/{id}/audit_trails")).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn faults_malformed_truncated_slow_and_throttle() {
    let s = start(|_| {}).await;
    s.sim.push_fault(Fault { route: Route::SignatureRequests, kind: FaultKind::MalformedJson, times: 1 });
    s.sim.push_fault(Fault { route: Route::SignatureRequests, kind: FaultKind::Truncated, times: 1 });
    s.sim.push_fault(Fault { route: Route::Any, kind: FaultKind::Throttle { retry_after: 7 }, times: 1 });
    s.sim.push_fault(Fault { route: Route::Any, kind: FaultKind::Slow { millis: 300 }, times: 1 });
    for _ in 0..2 {
        let r = s.get("/v3/signature_requests").await;
        assert_eq!(r.status, 200);
        assert!(serde_json::from_str::<Value>(&r.text).is_err(), "{}", r.text);
    }
    let r = s.get("/v3/users").await;
    assert_eq!((r.status, r.header("retry-after")), (429, Some("7")));
    check("v3_error_429_too_many_requests.json", &r.json());
    let t = Instant::now();
    assert_eq!(s.get("/v3/webhooks").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(s.sim.stats().faults, 4);
}

#[tokio::test]
async fn v2_pages_by_number_with_the_pagination_headers() {
    let s = start(|c| c.signature_requests = 23).await;
    let users = s.get("/users").await;
    assert_eq!(users.status, 200);
    check("v2_users.json", &users.json());
    assert!(users.json()[0]["id"].as_str().unwrap().starts_with("/users/"));
    let first = s.get("/procedures?pagination=true&itemsPerPage=5&page=1&order[createdAt]=asc").await;
    assert_eq!(first.status, 200);
    let total: usize = first.header("x-yousign-pagination-totalitems").unwrap().parse().unwrap();
    let last: usize = first.header("x-yousign-pagination-page-last").unwrap().parse().unwrap();
    assert_eq!(last, total.div_ceil(5));
    let mut seen = Vec::new();
    for page in 1..=last {
        let r = s.get(&format!("/procedures?pagination=true&itemsPerPage=5&page={page}&order[createdAt]=asc")).await;
        assert_eq!(r.header("x-yousign-pagination-page-current"), Some(page.to_string().as_str()));
        let body = r.json();
        check("v2_procedures.json", &body);
        seen.extend(
            body.as_array().unwrap().iter().map(|p| (p["createdAt"].as_str().unwrap().to_owned(), p["id"].clone())),
        );
    }
    assert_eq!(seen.len(), total);
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "ascending createdAt");
    let proc_id = seen[0].1.as_str().unwrap().to_owned();
    let members = s.get(&format!("/members?procedure={proc_id}")).await;
    check("v2_members.json", &members.json());
    assert!(members.json().as_array().unwrap().iter().all(|m| m["procedure"] == proc_id.as_str()));
    let all = s.get("/procedures").await.json();
    let mid = all[all.as_array().unwrap().len() / 2]["updatedAt"].as_str().unwrap().to_owned();
    let by_day = s.get(&format!("/procedures?updatedAt[strictly_after]={}", &mid[..10])).await;
    assert_eq!(by_day.status, 200);
    let by_time = s.get(&format!("/procedures?updatedAt[strictly_after]={}", mid.replace('+', "%2B"))).await.json();
    let later: Vec<&str> = by_time.as_array().unwrap().iter().map(|p| p["updatedAt"].as_str().unwrap()).collect();
    assert!(!later.is_empty() && later.iter().all(|u| *u > mid.as_str()), "{mid}: {later:?}");
    assert_eq!(s.get("/procedures?updatedAt[strictly_after]=soon").await.status, 400);
}

#[tokio::test]
async fn control_api_over_http() {
    let s = start(|_| {}).await;
    let post = |path: &str, body: Value| s.http.post(format!("{}/_sim/yousign/{path}", s.base)).json(&body).send();
    let events: Value = post("advance", serde_json::json!({"n": 3})).await.unwrap().json().await.unwrap();
    assert!(events.as_array().unwrap().len() >= 3);
    post("users", serde_json::json!({"add": 2, "change_roles": 1, "deactivate": 1})).await.unwrap();
    assert_eq!(s.sim.user_ids().len(), 14);
    let id: Value = post("webhooks", serde_json::json!({"endpoint": "https://evil.example/hook"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hooks = s.get("/v3/webhooks").await.json();
    check("v3_webhook_subscription_list.json", &hooks);
    assert!(
        hooks.as_array().unwrap().iter().any(|h| h["id"] == id["id"] && h["endpoint"] == "https://evil.example/hook")
    );
    let fault = serde_json::json!({"route": "users", "kind": {"status": {"code": 502}}});
    post("faults", fault).await.unwrap();
    assert_eq!(s.get("/v3/users").await.status, 502);
    let stats: Value = s.http.get(format!("{}/_sim/yousign/stats", s.base)).send().await.unwrap().json().await.unwrap();
    assert!(stats["requests"]["v3 users"].as_u64().unwrap() >= 1);
}

// ---- The webhook sender ----

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

#[derive(Default)]
struct Receiver {
    got: Vec<Got>,
    /// Per POST of the `first` event: (status, delay before answering); then 200 at once.
    /// Other events are answered 200 at once.
    plan: VecDeque<(u16, u64)>,
    /// The body of the first event received (since reset to `None`).
    first: Option<Bytes>,
    /// Answer 401 when the signature does not verify with this secret.
    verify: Option<String>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn receive(State(r): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let (status, delay) = {
        let mut r = r.lock().unwrap();
        r.got.push(Got { headers: headers.clone(), body: body.clone(), at: Instant::now() });
        let first = r.first.get_or_insert_with(|| body.clone()).clone();
        let planned = if first == body { r.plan.pop_front().unwrap_or((200, 0)) } else { (200, 0) };
        let sig = headers.get("x-yousign-signature-256").and_then(|v| v.to_str().ok()).map(str::to_owned);
        match &r.verify {
            Some(secret) if sig.as_deref() != Some(sign(secret, &body).as_str()) => (401, 0),
            _ => planned,
        }
    };
    tokio::time::sleep(Duration::from_millis(delay)).await;
    StatusCode::from_u16(status).unwrap()
}

async fn receiver(rx: Receiver) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(rx));
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(Arc::clone(&shared));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, shared)
}

async fn wait_idle(sim: &YousignSim) {
    let until = Instant::now() + Duration::from_secs(20);
    while !sim.webhook_idle() {
        assert!(Instant::now() < until, "sender never went idle: {:?}", sim.webhook_stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn header<'a>(g: &'a Got, name: &str) -> &'a str {
    g.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

fn fast() -> WebhookKnobs {
    WebhookKnobs { retry_scale: 0.0005, ..WebhookKnobs::default() }
}

#[tokio::test]
async fn webhooks_are_signed_and_retried_with_the_same_event() {
    let s = start(|c| c.signature_requests = 1).await;
    let (url, rx) = receiver(Receiver { plan: VecDeque::from([(500, 0), (503, 0)]), ..Receiver::default() }).await;
    s.sim.webhook_knobs(fast());
    s.sim.webhook_start(WebhookTarget { url, secret: s.cfg.webhook_secret.clone() });
    let events = s.sim.advance(1);
    assert!(!events.is_empty());
    wait_idle(&s.sim).await;
    let got = rx.lock().unwrap().got.clone();
    let first: Vec<&Got> = got.iter().filter(|g| g.body == got[0].body).collect();
    assert_eq!(first.iter().map(|g| header(g, "x-yousign-retry")).collect::<Vec<_>>(), ["0", "1", "2"]);
    assert!(first[1].at.duration_since(first[0].at) >= Duration::from_millis(50), "2 min scaled");
    assert!(first[2].at.duration_since(first[1].at) > first[1].at.duration_since(first[0].at), "back-off grows");
    for g in &got {
        assert_eq!(header(g, "x-yousign-signature-256"), sign(&s.cfg.webhook_secret, &g.body));
        assert_eq!(header(g, "user-agent"), "Yousign Webhook Bot");
        assert_eq!(header(g, "content-type"), "application/json");
        assert!(header(g, "x-yousign-issued-at").parse::<i64>().is_ok());
        let body: Value = serde_json::from_slice(&g.body).unwrap();
        let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["event_id", "event_name", "event_time", "subscription_id", "subscription_description", "sandbox", "data"]
        );
        assert!(body["event_time"].as_str().unwrap().parse::<i64>().is_ok());
    }
    let e0: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(e0["event_id"], events[0].event_id.as_str());
    assert_eq!(e0["event_time"], events[0].event_time.as_str());
    let stats = s.sim.webhook_stats();
    assert_eq!(stats.by_event[&events[0].event_id].attempts, 3);
    assert_eq!(stats.by_event[&events[0].event_id].last_retry, 2);
    assert_eq!((stats.retries, stats.failed), (2, 2));
    assert_eq!(stats.delivered, events.len() as u64);
}

#[tokio::test]
async fn forged_and_unsigned_posts_are_refused_then_retried_correctly() {
    let s = start(|c| c.signature_requests = 1).await;
    let secret = s.cfg.webhook_secret.clone();
    let (url, rx) = receiver(Receiver { verify: Some(secret.clone()), ..Receiver::default() }).await;
    s.sim.webhook_knobs(WebhookKnobs { forge_next: 1, unsigned_next: 1, duplicate_next: 1, ..fast() });
    s.sim.webhook_start(WebhookTarget { url, secret: secret.clone() });
    let events = s.sim.advance(1);
    wait_idle(&s.sim).await;
    let all = rx.lock().unwrap().got.clone();
    let got: Vec<&Got> = all.iter().filter(|g| g.body == all[0].body).collect();
    // The duplicated first attempt (forged, then unsigned), then one good retry.
    assert_eq!(got.len(), 3);
    assert_ne!(header(got[0], "x-yousign-signature-256"), sign(&secret, &got[0].body));
    assert!(header(got[0], "x-yousign-signature-256").starts_with("sha256="));
    assert!(got[1].headers.get("x-yousign-signature-256").is_none());
    assert_eq!((header(got[0], "x-yousign-retry"), header(got[1], "x-yousign-retry")), ("0", "0"));
    assert_eq!(header(got[2], "x-yousign-retry"), "1");
    assert_eq!(header(got[2], "x-yousign-signature-256"), sign(&secret, &got[2].body));
    for g in all.iter().filter(|g| g.body != all[0].body) {
        assert_eq!(header(g, "x-yousign-signature-256"), sign(&secret, &g.body));
    }
    let stats = s.sim.webhook_stats();
    assert_eq!(stats.statuses.get(&401), Some(&2));
    assert_eq!(stats.delivered, events.len() as u64);
}

#[tokio::test]
async fn a_first_attempt_gets_one_second_then_is_retried() {
    let s = start(|c| c.signature_requests = 1).await;
    let (url, rx) = receiver(Receiver { plan: VecDeque::from([(200, 1500)]), ..Receiver::default() }).await;
    // Even without auto_retry a timed-out first attempt is retried once.
    s.sim.webhook_knobs(WebhookKnobs { auto_retry: false, ..fast() });
    s.sim.webhook_start(WebhookTarget { url, secret: "k".to_owned() });
    let t = Instant::now();
    let events = s.sim.advance(1);
    wait_idle(&s.sim).await;
    let all = rx.lock().unwrap().got.clone();
    let got: Vec<&Got> = all.iter().filter(|g| g.body == all[0].body).collect();
    assert_eq!(got.len(), 2);
    assert_eq!(header(got[1], "x-yousign-retry"), "1");
    let gap = got[1].at.duration_since(got[0].at);
    assert!(gap >= Duration::from_secs(1) && gap < Duration::from_millis(1450), "{gap:?}");
    let stats = s.sim.webhook_stats();
    assert_eq!(stats.timeouts, 1);
    assert_eq!(stats.delivered, events.len() as u64);
    assert!(t.elapsed() < Duration::from_secs(10));

    // Without auto_retry a refused delivery is not retried.
    {
        let mut r = rx.lock().unwrap();
        r.first = None;
        r.plan.push_back((500, 0));
    }
    let more = s.sim.advance(1);
    wait_idle(&s.sim).await;
    let stats = s.sim.webhook_stats();
    assert_eq!(stats.abandoned, 1);
    assert_eq!(stats.delivered, (events.len() + more.len() - 1) as u64);
}

async fn hop(axum::extract::Path(n): axum::extract::Path<u32>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if n == 0 {
        StatusCode::OK.into_response()
    } else {
        axum::response::Redirect::temporary(&format!("/r/{}", n - 1)).into_response()
    }
}

#[tokio::test]
async fn two_redirects_are_followed_and_a_third_fails_the_delivery() {
    let s = start(|c| c.signature_requests = 1).await;
    let app = axum::Router::new().route("/r/{n}", axum::routing::post(hop));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    s.sim.webhook_knobs(WebhookKnobs { auto_retry: false, ..fast() });
    s.sim.webhook_start(WebhookTarget { url: format!("{base}/r/2"), secret: "k".to_owned() });
    let events = s.sim.advance(1);
    wait_idle(&s.sim).await;
    assert_eq!(s.sim.webhook_stats().delivered, events.len() as u64);
    s.sim.webhook_start(WebhookTarget { url: format!("{base}/r/3"), secret: "k".to_owned() });
    let more = s.sim.advance(1);
    wait_idle(&s.sim).await;
    let stats = s.sim.webhook_stats();
    assert_eq!((stats.delivered, stats.abandoned), (events.len() as u64, more.len() as u64));
}

#[tokio::test]
async fn auto_retry_gives_up_after_eight_retries() {
    let s = start(|c| c.signature_requests = 1).await;
    let plan = VecDeque::from(vec![(500, 0); 20]);
    let (url, rx) = receiver(Receiver { plan, ..Receiver::default() }).await;
    // 2 min … 2 d scaled to about 0.7 s in all.
    s.sim.webhook_knobs(WebhookKnobs { retry_scale: 0.000_002, ..WebhookKnobs::default() });
    s.sim.webhook_start(WebhookTarget { url, secret: "k".to_owned() });
    let events = s.sim.advance(1);
    wait_idle(&s.sim).await;
    let all = rx.lock().unwrap().got.clone();
    let retries: Vec<&str> =
        all.iter().filter(|g| g.body == all[0].body).map(|g| header(g, "x-yousign-retry")).collect();
    assert_eq!(retries, ["0", "1", "2", "3", "4", "5", "6", "7", "8"]);
    let stats = s.sim.webhook_stats();
    assert_eq!(stats.abandoned, 1);
    assert_eq!(stats.by_event[&events[0].event_id].delivered, 0);
    assert_eq!(stats.delivered, events.len() as u64 - 1);
}
