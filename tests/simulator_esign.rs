//! Drives the simulator's eSignature endpoints and its Connect sender over real HTTP on
//! 127.0.0.1: status-change paging and window semantics, the per-envelope polling rule,
//! audit events consistent with the transitions, the go-live read-only endpoints, and
//! Connect delivery to a small test receiver (retries, duplicates, forged signatures, keys).

#![allow(clippy::unwrap_used, reason = "tests may unwrap: a panic is a failed test")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::Duration;

use chrono::Utc;
use esign_sim::docusign::{QuotaConfig, SimConfig, Simulator, Transition};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Every test finishes well within this, or fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// (private PKCS#8 PEM, public SPKI PEM), generated once per test binary.
fn keys() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public = key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        (private, public)
    })
}

struct Harness {
    sim: Simulator,
    cfg: SimConfig,
    base: String,
    http: reqwest::Client,
    token: String,
    _stop: oneshot::Sender<()>,
}

async fn start(tune: impl FnOnce(&mut SimConfig)) -> Harness {
    let mut cfg = SimConfig::new(keys().1.clone());
    tune(&mut cfg);
    let sim = Simulator::new(cfg.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
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
    let now = Utc::now().timestamp();
    let claims = json!({
        "iss": cfg.integration_key, "sub": cfg.user_id, "aud": host,
        "iat": now - 30, "exp": now + 3570, "scope": "signature impersonation",
    });
    let key = EncodingKey::from_rsa_pem(keys().0.as_bytes()).unwrap();
    let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
    let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
    let base = format!("http://{host}");
    let body: Value = http.post(format!("{base}/oauth/token")).form(&form).send().await.unwrap().json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    Harness { sim, cfg, base, http, token, _stop: stop }
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
                Some(next) => url = next.to_owned(),
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
