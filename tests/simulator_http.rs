//! Drives the in-process simulator over real HTTP: both Monitor generations paged to the end,
//! cursors and limits, Admin paging and change filters, every fault kind, OAuth edge cases
//! and the `/_sim/*` control endpoints.

#![allow(clippy::unwrap_used, reason = "tests may unwrap: a panic is a failed test")]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use esign_sim::docusign::{EventFeed, Fault, FaultKind, QuotaConfig, Route, SimConfig};
use serde_json::{Value, json};

/// Every test finishes well within this, or fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);
const ALL_SCOPES: &str = "signature impersonation organization_read user_read";

#[path = "support/sim_http.rs"]
mod sim_http;

use sim_http::{Served as Harness, start};

impl Harness {
    async fn token_reply(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = self.http.post(format!("{}/oauth/token", self.base)).form(form).send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn token_with(&self, scope: &str) -> String {
        let assertion = self.assertion(scope);
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)];
        let (status, body) = self.token_reply(&form).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn token(&self) -> String {
        self.token_with(ALL_SCOPES).await
    }

    async fn get(&self, token: &str, path_and_query: &str) -> reqwest::Response {
        self.http.get(format!("{}{path_and_query}", self.base)).bearer_auth(token).send().await.unwrap()
    }

    async fn get_json(&self, token: &str, path_and_query: &str) -> (u16, Value) {
        let resp = self.get(token, path_and_query).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Pages a Monitor stream from `cursor` until `endCursor == cursor`; returns rows and the
    /// final cursor.
    async fn drain(
        &self,
        token: &str,
        path: &str,
        array: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> (Vec<Value>, String) {
        let mut rows = Vec::new();
        let mut cursor = cursor;
        for _ in 0..1000 {
            let mut url = format!("{path}?limit={limit}");
            if let Some(c) = &cursor {
                url.push_str("&cursor=");
                url.push_str(&urlencode(c));
            }
            let (status, body) = self.get_json(token, &url).await;
            assert_eq!(status, 200, "{body}");
            let page = body[array].as_array().unwrap().clone();
            let end = body["endCursor"].as_str().unwrap().to_owned();
            if cursor.as_deref() == Some(end.as_str()) {
                assert!(page.is_empty(), "an end page must be empty");
                return (rows, end);
            }
            assert!(page.len() <= limit);
            rows.extend(page);
            cursor = Some(end);
        }
        panic!("stream never ended");
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter().map(|r| r["eventId"].as_str().unwrap().to_owned()).collect()
}

async fn timed<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_TIMEOUT, f).await.expect("test timed out");
}

fn backlog(count: usize, days: u64) -> impl FnOnce(&mut SimConfig) {
    move |c| c.feed = EventFeed::Backlog { count, span: Duration::from_secs(days * 86_400) }
}

#[tokio::test]
async fn legacy_stream_pages_every_event_once_then_resumes() {
    timed(async {
        let h = start(backlog(5000, 2)).await;
        let t = h.token().await;
        let path = "/api/v2.0/datasets/monitor/stream";
        let (rows, end) = h.drain(&t, path, "data", None, 2000).await;
        assert_eq!(ids(&rows), h.sim.event_ids(), "every event once, in ingestion order");
        let stamps: Vec<&str> = rows.iter().map(|r| r["timestamp"].as_str().unwrap()).collect();
        let parsed: Vec<_> = stamps.iter().map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap()).collect();
        assert!(parsed.windows(2).all(|w| w[0] <= w[1]), "legacy rows are sorted by timestamp");
        assert!(stamps.iter().any(|s| s.len() == 28), "7 fractional digits");
        assert!(stamps.iter().any(|s| s.len() == 20), "some without fraction");
        assert!(rows.iter().all(|r| r.as_object().unwrap().len() == 34));
        assert!(rows.iter().any(|r| r["object"] == "Alert" && r["accountId"] == ""));
        assert!(rows.iter().any(|r| r["userAgent"].as_str().unwrap().contains('\n')));
        assert!(rows.iter().any(|r| r["data"].to_string().contains("契約書")));

        h.sim.append_events(7);
        let (more, end2) = h.drain(&t, path, "data", Some(end.clone()), 2000).await;
        assert_eq!(more.len(), 7);
        assert_eq!(ids(&more), h.sim.event_ids()[5000..].to_vec());
        assert_ne!(end, end2);
        // The short form of the version and an unknown dataset.
        let (status, body) =
            h.get_json(&t, &format!("/api/v2/datasets/monitor/stream?cursor={}", urlencode(&end2))).await;
        assert_eq!((status, body["data"].as_array().unwrap().len()), (200, 0));
        assert_eq!(body["endCursor"], end2.as_str());
        assert_eq!(h.get_json(&t, "/api/v2.0/datasets/other/stream").await.0, 404);
    })
    .await;
}

#[tokio::test]
async fn org_stream_pages_in_ingestion_order() {
    timed(async {
        let h = start(backlog(3000, 2)).await;
        let t = h.token().await;
        let path = format!("/v1/organizations/{}/stream", h.cfg.organization_id);
        let (rows, _) = h.drain(&t, &path, "resultData", None, 1000).await;
        assert_eq!(ids(&rows), h.sim.event_ids());
        let parsed: Vec<_> = rows
            .iter()
            .map(|r| chrono::DateTime::parse_from_rfc3339(r["timestamp"].as_str().unwrap()).unwrap())
            .collect();
        assert!(parsed.windows(2).any(|w| w[0] > w[1]), "current rows are not sorted by timestamp");
        let resp = h.get(&t, &path).await;
        for name in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "x-burstlimit-limit",
            "x-burstlimit-remaining",
            "x-docusign-tracetoken",
        ] {
            assert!(resp.headers().contains_key(name), "{name}");
        }
        assert_eq!(resp.headers()["x-ratelimit-limit"], "3000");
        let (status, body) = h.get_json(&t, "/v1/organizations/00000000-0000-0000-0000-000000000000/stream").await;
        assert_eq!(status, 403);
        assert_eq!(body["error"], "Organization does not have Monitor entitlement");
    })
    .await;
}

#[tokio::test]
async fn iso_cursor_garbage_cursor_and_limit_bounds() {
    timed(async {
        let h = start(backlog(2000, 2)).await;
        let t = h.token().await;
        let path = "/api/v2.0/datasets/monitor/stream";
        let since = (Utc::now() - chrono::Duration::hours(24)).to_rfc3339_opts(SecondsFormat::Secs, true);
        let (rows, _) = h.drain(&t, path, "data", Some(since.clone()), 2000).await;
        let all = h.sim.event_ids();
        assert!((900..=1100).contains(&rows.len()), "{}", rows.len());
        assert_eq!(ids(&rows), all[all.len() - rows.len()..].to_vec(), "an ISO cursor selects a suffix");
        let since_t = chrono::DateTime::parse_from_rfc3339(&since).unwrap();
        assert!(
            rows.iter()
                .all(|r| chrono::DateTime::parse_from_rfc3339(r["timestamp"].as_str().unwrap()).unwrap() >= since_t)
        );

        let future = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
        let (status, body) = h.get_json(&t, &format!("{path}?cursor={}", urlencode(&future))).await;
        assert_eq!((status, body["data"].as_array().unwrap().len()), (200, 0));
        assert_eq!(body["endCursor"], future.as_str(), "end page echoes the cursor sent");

        for (query, error) in
            [("limit=0", "invalid_limit"), ("limit=2001", "invalid_limit"), ("cursor=bm9wZQ", "invalid_cursor")]
        {
            let (status, body) = h.get_json(&t, &format!("{path}?{query}")).await;
            assert_eq!((status, body["error"].as_str()), (400, Some(error)), "{query}");
        }
        let (status, body) = h.get_json(&t, &format!("{path}?limit=2000")).await;
        assert_eq!((status, body["data"].as_array().unwrap().len()), (200, 2000));
        let (_, body) = h.get_json(&t, path).await;
        assert_eq!(body["data"].as_array().unwrap().len(), 1000, "default limit");
    })
    .await;
}

#[tokio::test]
async fn oauth_errors_tokens_and_userinfo() {
    timed(async {
        let h = start(|_| {}).await;
        let jwt = "urn:ietf:params:oauth:grant-type:jwt-bearer";
        let (status, body) = h.token_reply(&[("grant_type", "password"), ("assertion", "x")]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")));
        let (status, body) = h.token_reply(&[("grant_type", jwt)]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
        let (_, body) = h.token_reply(&[("grant_type", jwt), ("assertion", "garbage")]).await;
        assert_eq!(body, json!({"error": "invalid_grant", "error_description": "no_valid_keys_or_signatures"}));
        let extra = h.assertion("signature impersonation extended");
        assert_eq!(
            h.token_reply(&[("grant_type", jwt), ("assertion", &extra)]).await.1,
            json!({"error": "consent_required"})
        );

        let t = h.token().await;
        let (status, info) = h.get_json(&t, "/oauth/userinfo").await;
        assert_eq!(status, 200);
        assert_eq!(info["sub"], h.cfg.user_id.as_str());
        let default = info["accounts"].as_array().unwrap().iter().find(|a| a["is_default"] == true).unwrap();
        assert_eq!(default["account_id"], h.cfg.account_id.as_str());
        assert_eq!(default["organization"]["organization_id"], h.cfg.organization_id.as_str());
        assert_eq!(h.get_json("nope", "/oauth/userinfo").await.0, 401);

        let path = "/api/v2.0/datasets/monitor/stream?limit=1";
        let resp = h.http.get(format!("{}{path}", h.base)).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(resp.headers().contains_key("x-ratelimit-remaining"), "API errors carry rate headers too");
        assert_eq!(h.get_json("unknown", path).await.0, 401);

        // A token without `user_read` reads Monitor but not Admin.
        let narrow = h.token_with("signature impersonation").await;
        assert_eq!(h.get_json(&narrow, path).await.0, 200);
        let users =
            format!("/management/v2/organizations/{}/users?account_id={}", h.cfg.organization_id, h.cfg.account_id);
        assert_eq!(h.get_json(&narrow, &users).await.0, 403);

        // Revoking consent stops new tokens, not issued ones; expiring kills issued ones.
        h.sim.revoke_consent();
        let fresh = h.assertion(ALL_SCOPES);
        assert_eq!(h.token_reply(&[("grant_type", jwt), ("assertion", &fresh)]).await.1["error"], "consent_required");
        assert_eq!(h.get_json(&t, path).await.0, 200);
        h.sim.grant_consent();
        assert_eq!(h.sim.issued_tokens().len(), 2);
        assert!(h.sim.issued_tokens().contains(&t));
        h.sim.expire_tokens();
        assert!(h.sim.issued_tokens().is_empty());
        assert_eq!(h.get_json(&t, path).await.0, 401);
        let t2 = h.token().await;
        assert_eq!(h.get_json(&t2, path).await.0, 200);
        let counters = h.sim.stats();
        assert_eq!(counters.tokens_issued, 3);
        assert!(counters.token_errors >= 5 && counters.status_401 >= 4, "{counters:?}");
    })
    .await;
}

#[tokio::test]
async fn admin_pages_by_next_and_filters_by_modification() {
    timed(async {
        let h = start(|c| c.users = 60).await;
        let t = h.token().await;
        let org = h.cfg.organization_id.clone();
        let acc = h.cfg.account_id.clone();
        let first = format!("/Management/v2/organizations/{org}/users?account_id={acc}&take=25");
        let mut url = format!("{}{first}", h.base);
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let resp = h.http.get(&url).bearer_auth(&t).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            assert!(resp.headers().contains_key("x-docusign-tracetoken"));
            let body: Value = resp.json().await.unwrap();
            let paging = &body["paging"];
            assert_eq!(paging["total_set_size"], 60);
            assert_eq!(paging["result_set_size"], body["users"].as_array().unwrap().len());
            seen.extend(body["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()));
            pages += 1;
            match paging["next"].as_str() {
                Some(next) => {
                    assert!(next.starts_with(&format!("{}/Management/", h.base)), "{next}");
                    assert!(next.contains("account_id=") && next.contains("take=25"), "{next}");
                    url = next.to_owned();
                }
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 60);
        assert!(seen.contains(&h.cfg.user_id));

        let base = format!("/management/v2/organizations/{org}/users");
        let (status, body) = h.get_json(&t, &base).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "an anchor filter is required");
        let (_, body) = h.get_json(&t, &format!("{base}?account_id={acc}&take=1000")).await;
        assert_eq!(body["users"].as_array().unwrap().len(), 60);
        let (_, body) = h.get_json(&t, &format!("{base}?account_id={acc}")).await;
        assert_eq!(body["users"].as_array().unwrap().len(), 20, "default take");
        assert_eq!(body["paging"]["previous"], Value::Null);

        let before = Utc::now();
        tokio::time::sleep(Duration::from_millis(5)).await;
        h.sim.modify_users(5);
        h.sim.add_users(3);
        let since = urlencode(&before.to_rfc3339_opts(SecondsFormat::Micros, true));
        let (_, body) = h.get_json(&t, &format!("{base}?account_id={acc}&last_modified_since={since}&take=100")).await;
        assert_eq!(body["users"].as_array().unwrap().len(), 8, "5 modified + 3 added");
        let today = Utc::now().format("%Y-%m-%d").to_string();
        let (_, body) = h.get_json(&t, &format!("{base}?account_id={acc}&last_modified_since={today}&take=100")).await;
        assert!(body["users"].as_array().unwrap().len() >= 8);
        let (status, _) = h.get_json(&t, &format!("{base}?email=x@y.z&last_modified_since={today}")).await;
        assert_eq!(status, 400, "last_modified_since needs account_id or a domain");
        let (_, body) = h.get_json(&t, &format!("{base}?account_id={acc}&take=100&membership_status=closed")).await;
        assert!(body["users"].as_array().unwrap().iter().all(|u| u["membership_status"] == "closed"));
        assert_eq!(h.sim.user_count(), 63);
    })
    .await;
}

#[tokio::test]
async fn every_fault_kind() {
    timed(async {
        let h = start(backlog(50, 1)).await;
        let t = h.token().await;
        let path = "/api/v2.0/datasets/monitor/stream?limit=10";
        let fault = |route, kind, times| Fault { route, kind, times };

        h.sim.push_fault(fault(Route::Monitor, FaultKind::Status { code: 429, retry_after: Some(2) }, 2));
        for _ in 0..2 {
            let resp = h.get(&t, path).await;
            assert_eq!(resp.status(), 429);
            assert_eq!(resp.headers()["retry-after"], "2");
            assert_ne!(resp.headers()["x-ratelimit-remaining"], "0", "Retry-After is the only wait hint");
            let body: Value = resp.json().await.unwrap();
            assert!(body["error"].is_string());
        }
        assert_eq!(h.get(&t, path).await.status(), 200, "the fault ran out");

        h.sim.push_fault(fault(Route::Admin, FaultKind::Status { code: 503, retry_after: None }, 1));
        let users =
            format!("/management/v2/organizations/{}/users?account_id={}", h.cfg.organization_id, h.cfg.account_id);
        let resp = h.get(&t, &users).await;
        assert_eq!(resp.status(), 503);
        assert!(!resp.headers().contains_key("retry-after"));

        h.sim.push_fault(fault(Route::Monitor, FaultKind::Slow { millis: 300 }, 1));
        let started = Instant::now();
        assert_eq!(h.get(&t, path).await.status(), 200);
        assert!(started.elapsed() >= Duration::from_millis(300));

        h.sim.push_fault(fault(Route::Monitor, FaultKind::Truncated, 1));
        let resp = h.get(&t, path).await;
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        assert!(text.starts_with("{\"endCursor\""), "{text}");
        assert!(serde_json::from_str::<Value>(&text).is_err());

        h.sim.push_fault(fault(Route::Any, FaultKind::NotJson, 1));
        let resp = h.get(&t, "/oauth/userinfo").await;
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(resp.text().await.unwrap().contains("<html>"));

        h.sim.push_fault(fault(Route::Token, FaultKind::Status { code: 500, retry_after: None }, 5));
        h.sim.clear_faults();
        h.token().await;

        let counters = h.sim.stats();
        assert_eq!((counters.status_429, counters.faults_applied), (2, 6), "{counters:?}");
    })
    .await;
}

#[tokio::test]
async fn control_endpoints() {
    timed(async {
        let h = start(backlog(10, 1)).await;
        let t = h.token().await;
        let post = |p: &str| h.http.post(format!("{}{p}", h.base)).send();
        assert_eq!(post("/_sim/events?count=3").await.unwrap().status(), 200);
        assert_eq!(h.sim.event_ids().len(), 13);
        post("/_sim/users/add?count=2").await.unwrap();
        assert_eq!(h.sim.user_count(), 52);
        let modified: Value = post("/_sim/users/modify?count=4").await.unwrap().json().await.unwrap();
        assert_eq!(modified["modified"], 4);

        let fault = json!({"route": "monitor", "kind": {"status": {"code": 429, "retry_after": 2}}, "times": 3});
        let resp = h.http.post(format!("{}/_sim/faults", h.base)).json(&fault).send().await.unwrap();
        assert_eq!(resp.status(), 201);
        let bad = h.http.post(format!("{}/_sim/faults", h.base)).body("{\"route\":\"moon\"}").send().await.unwrap();
        assert_eq!(bad.status(), 400);
        let path = "/api/v2.0/datasets/monitor/stream";
        assert_eq!(h.get(&t, path).await.status(), 429);
        h.http.delete(format!("{}/_sim/faults", h.base)).send().await.unwrap();
        assert_eq!(h.get(&t, path).await.status(), 200);

        post("/_sim/consent/revoke").await.unwrap();
        let assertion = h.assertion(ALL_SCOPES);
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
        assert_eq!(h.token_reply(&form).await.1["error"], "consent_required");
        post("/_sim/consent/grant").await.unwrap();
        post("/_sim/tokens/expire").await.unwrap();
        assert_eq!(h.get(&t, path).await.status(), 401);
        h.token().await;

        let stats: Value = h.http.get(format!("{}/_sim/stats", h.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(stats["monitor_requests"], 3);
        assert_eq!(stats["status_429"], 1);
        assert_eq!(stats["tokens_issued"], 2);
        assert!(stats["control_requests"].as_u64().unwrap() >= 9);
    })
    .await;
}

#[tokio::test]
async fn clock_feed_resumes_in_a_new_process() {
    timed(async {
        let clock = |c: &mut SimConfig| c.feed = EventFeed::Clock { period: Duration::from_secs(120) };
        let a = start(clock).await;
        let ta = a.token().await;
        let path = format!("/v1/organizations/{}/stream", a.cfg.organization_id);
        let (rows, end) = a.drain(&ta, &path, "resultData", None, 2000).await;
        assert!(rows.len().abs_diff(7 * 24 * 30) <= 1, "{}", rows.len());
        // The seven-day window slides while the test runs, so allow one tick at either end.
        let (got, want) = (ids(&rows), a.sim.event_ids());
        let common: Vec<&String> = got.iter().filter(|id| want.contains(id)).collect();
        assert!(common.len() + 2 >= want.len() && common.len() + 2 >= got.len());
        assert_eq!(common, want.iter().filter(|id| got.contains(id)).collect::<Vec<_>>());
        let (_, first) = a.get_json(&ta, &format!("{path}?limit=100")).await;
        let mid = first["endCursor"].as_str().unwrap().to_owned();
        let last_of_first = ids(first["resultData"].as_array().unwrap()).pop().unwrap();
        let at = got.iter().position(|id| *id == last_of_first).unwrap();
        drop(a);

        // A second "process": same seed, fresh state.
        let b = start(clock).await;
        let tb = b.token().await;
        let (after_end, _) = b.drain(&tb, &path, "resultData", Some(end), 2000).await;
        assert!(after_end.len() <= 1, "only ticks that came due in between");
        let (_, body) = b.get_json(&tb, &format!("{path}?limit=5&cursor={}", urlencode(&mid))).await;
        assert_eq!(ids(body["resultData"].as_array().unwrap()), got[at + 1..at + 6].to_vec());
    })
    .await;
}

#[tokio::test]
async fn enforced_quota_answers_429_with_docusign_headers() {
    timed(async {
        let h = start(|c| {
            backlog(50, 1)(c);
            c.quota = QuotaConfig { per_hour: 5, burst: 3, enforce: true, ..QuotaConfig::default() };
        })
        .await;
        let t = h.token().await;
        let path = "/api/v2.0/datasets/monitor/stream?limit=10";
        // Three requests fit the burst (unless a 30 s window ends between them: then more do).
        let mut last = h.get(&t, path).await;
        let mut admitted = 1;
        while last.status() == 200 {
            assert!(admitted <= 5, "the hourly limit of 5 must refuse at the latest");
            last = h.get(&t, path).await;
            admitted += 1;
        }
        assert_eq!(last.status(), 429);
        let header = |name: &str| last.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("x-ratelimit-limit"), "5");
        assert_eq!(header("x-burstlimit-limit"), "3");
        let retry: u64 = header("retry-after").parse().unwrap();
        let body: Value = last.json().await.unwrap();
        let code = body["error"].as_str().unwrap();
        if code == "BURST_APIINVOCATION_LIMIT_EXCEEDED" {
            assert!((1..=30).contains(&retry), "until the burst window ends: {retry}");
        } else {
            assert_eq!(code, "HOURLY_APIINVOCATION_LIMIT_EXCEEDED");
            assert!((1..=3600).contains(&retry), "until the top of the hour: {retry}");
        }
        assert!(body["error_description"].as_str().unwrap().contains("maximum number of hourly API invocations"));
        // Token requests do not count against the account's quota.
        h.token().await;
        let stats = h.sim.stats();
        assert_eq!(stats.status_429, 1);
        assert_eq!(stats.events_served, 10 * (admitted - 1));
    })
    .await;
}

#[tokio::test]
async fn quota_is_only_counted_by_default() {
    timed(async {
        let h = start(|c| {
            backlog(50, 1)(c);
            c.quota.per_hour = 2;
        })
        .await;
        let t = h.token().await;
        for _ in 0..4 {
            let resp = h.get(&t, "/api/v2.0/datasets/monitor/stream?limit=1").await;
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["x-ratelimit-limit"], "2");
        }
        assert_eq!(h.sim.stats().status_429, 0);
    })
    .await;
}
