//! The http sink against a real HTTP receiver on 127.0.0.1: NDJSON, Splunk HEC and
//! Elasticsearch `_bulk`, their failure modes, TLS, and throughput. The sink is built the way
//! the collector builds it: a TOML `[[sinks]]` body parsed into `HttpSinkConfig`, then `build`.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/receiver.rs"]
mod receiver;

use std::collections::HashSet;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::batch::{events, users};
use esign_collector::sinks::http::{HttpSinkConfig, HttpSinkError, build};
use esign_collector::sinks::{Batch, Line, Sink, SinkError};
use receiver::{Receiver, Reply, black_hole};
use serde_json::{Value, json};

/// No test may take longer (a hang guard, generous for a loaded 2-core machine in debug builds).
const LIMIT: Duration = Duration::from_secs(120);

/// Fast retries for tests.
const FAST: &str = "initial_backoff = \"10ms\"\nmax_backoff = \"40ms\"\n";

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("the test ran past its time bound")
}

fn sink(toml_text: &str) -> Box<dyn Sink> {
    let cfg: HttpSinkConfig = toml::from_str(toml_text).unwrap();
    build("http[0]", &cfg).unwrap()
}

/// A path as a TOML string.
fn q(p: &std::path::Path) -> String {
    toml::Value::String(p.display().to_string()).to_string()
}

/// A private file holding `text` (kept alive by the caller).
fn secret_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    f
}

fn pem_file(text: &str) -> tempfile::NamedTempFile {
    secret_file(text)
}

/// A pseudo-random 64-bit value for `i`, so that events differ like real ones and gzip
/// ratios are realistic.
fn mix(i: usize) -> u64 {
    let mut x = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Event `i` of a page: a Monitor-like record of about 700 bytes.
fn line(prefix: &str, i: usize) -> Line {
    let base = chrono::DateTime::parse_from_rfc3339("2024-04-05T19:21:18.123Z").unwrap();
    let time = (base + chrono::Duration::seconds(i64::try_from(i).unwrap())).to_utc();
    let time = time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let event_id = format!("{prefix}{i}");
    let (a, b, c) = (mix(i), mix(i + 1_000_000), mix(i + 2_000_000));
    let actions = ["Sent", "Viewed", "Signed", "Voided", "Login", "Downloaded", "PermissionChanged"];
    let json = json!({
        "_time": time,
        "event_id": event_id,
        "source_log_type": "customerevent",
        "vendor": "DocuSign",
        "product": "monitor",
        "object": "Envelope",
        "action": actions[usize::try_from(a % 7).unwrap()],
        "userId": format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", a >> 32, a & 0xffff, b & 0xfff, c & 0xfff, c >> 16),
        "userEmail": format!("user{}@example.com", b % 5000),
        "ipAddress": format!("{}.{}.{}.{}", 1 + a % 223, b % 256, c % 256, (a >> 8) % 256),
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0",
        "accountId": "a1b2c3d4-e5f6-4711-8899-aabbccddeeff",
        "data": {
            "EnvelopeId": format!("{:016x}{:016x}", b, c),
            "Recipients": a % 9,
            "Subject": format!("Please sign: contract \"Q{}-{}\" ✓", a % 4 + 1, c % 100_000),
        },
    })
    .to_string();
    Line { event_id, time, json }
}

fn lines(prefix: &str, n: usize) -> Vec<Line> {
    (0..n).map(|i| line(prefix, i)).collect()
}

fn batch(prefix: &str, n: usize) -> Batch {
    events(lines(prefix, n))
}

/// The http sink's own error inside a `SinkError`.
fn detail(e: &SinkError) -> &HttpSinkError {
    let io = std::error::Error::source(e).and_then(|s| s.downcast_ref::<std::io::Error>()).expect("an I/O source");
    io.get_ref().and_then(|inner| inner.downcast_ref::<HttpSinkError>()).expect("an HttpSinkError")
}

fn ids(events: &[Value], pointer: &str) -> Vec<String> {
    events.iter().map(|e| e.pointer(pointer).and_then(Value::as_str).unwrap().to_owned()).collect()
}

fn expected_ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test]
async fn ndjson_gzip_headers_auth_and_every_event_once() {
    bounded(async {
        let rx = Receiver::start().await;
        // A variable cargo sets for every test process: no `set_var` (unsafe with threads).
        rx.script(|s| s.expect_auth = Some("Bearer esign-collector".into()));
        let mut s = sink(&format!(
            "url = \"{}\"\nmax_batch_events = 300\nheaders = {{ X-Tenant = \"acme\" }}\n\
             auth = {{ strategy = \"bearer\", token_env = \"CARGO_PKG_NAME\" }}\n{FAST}",
            rx.url("/ingest?tag=1")
        ));
        s.send(&batch("n", 2000)).await.unwrap();
        let reqs = rx.requests();
        assert_eq!(reqs.len(), 7, "2000 events in requests of at most 300");
        for r in &reqs {
            assert_eq!((r.path.as_str(), r.query.as_str(), r.status), ("/ingest", "tag=1", 200));
            assert!(r.gzip && r.wire_bytes * 4 < r.body.len(), "gzip body: {} of {}", r.wire_bytes, r.body.len());
            assert_eq!(r.header("content-type").as_deref(), Some("application/x-ndjson"));
            assert_eq!(r.header("x-tenant").as_deref(), Some("acme"));
            assert!(r.header("user-agent").unwrap().starts_with("esign-collector/"));
        }
        let events = rx.seen(|s| s.events.clone());
        assert_eq!(ids(&events, "/event_id"), expected_ids("n", 2000), "every event once, in order");
        assert_eq!(events[5].to_string(), batch("n", 6).lines[5].json, "lines arrive unchanged");
        // An empty page sends nothing.
        s.send(&users(vec![])).await.unwrap();
        assert_eq!(rx.requests().len(), 7);
    })
    .await;
}

#[tokio::test]
async fn uncompressed_basic_auth_and_byte_limit() {
    bounded(async {
        let rx = Receiver::start().await;
        let pw = secret_file("pa55word\n");
        rx.script(|s| s.expect_auth = Some("Basic ZWxhc3RpYzpwYTU1d29yZA==".into()));
        let mut s = sink(&format!(
            "url = \"{}\"\ncompression = \"none\"\nmax_batch_bytes = 20000\n\
             auth = {{ strategy = \"basic\", user = \"elastic\", password_file = {} }}",
            rx.url("/"),
            q(pw.path())
        ));
        s.send(&batch("b", 200)).await.unwrap();
        let reqs = rx.requests();
        assert!(reqs.len() > 5, "{} requests", reqs.len());
        for r in &reqs {
            assert!(!r.gzip && r.header("content-encoding").is_none());
            assert!(r.body.len() <= 20000, "{}", r.body.len());
        }
        assert_eq!(ids(&rx.seen(|s| s.events.clone()), "/event_id"), expected_ids("b", 200));
    })
    .await;
}

#[tokio::test]
async fn retries_429_and_503_honouring_retry_after() {
    bounded(async {
        let rx = Receiver::start().await;
        rx.script(|s| {
            s.replies.push_back(Reply::status(429, "slow down").header("retry-after", "1"));
            s.replies.push_back(Reply::status(503, "unavailable"));
        });
        let mut s = sink(&format!("url = \"{}\"\n{FAST}", rx.url("/in")));
        let start = Instant::now();
        s.send(&batch("r", 50)).await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was not honoured");
        let statuses: Vec<u16> = rx.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [429, 503, 200]);
        assert_eq!(ids(&rx.seen(|s| s.events.clone()), "/event_id"), expected_ids("r", 50));
    })
    .await;
}

#[tokio::test]
async fn retry_after_beyond_max_wait_fails_at_once() {
    bounded(async {
        let rx = Receiver::start().await;
        rx.script(|s| s.replies.push_back(Reply::status(429, "").header("retry-after", "3600")));
        let mut s = sink(&format!("url = \"{}\"\nmax_wait = \"10s\"\n{FAST}", rx.url("/in")));
        let start = Instant::now();
        let e = s.send(&batch("w", 3)).await.unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(matches!(detail(&e), HttpSinkError::WaitTooLong { wait, .. } if wait.as_secs() == 3600), "{e}");
        assert!(e.to_string().starts_with("sink http[0]: "), "{e}");
    })
    .await;
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_max_retries() {
    bounded(async {
        let rx = Receiver::start().await;
        rx.script(|s| (0..10).for_each(|_| s.replies.push_back(Reply::status(502, "bad gateway"))));
        let mut s = sink(&format!("url = \"{}\"\nmax_retries = 3\n{FAST}", rx.url("/in")));
        let e = s.send(&batch("p", 10)).await.unwrap_err();
        let HttpSinkError::Exhausted { attempts, pending, first_event, last, .. } = detail(&e) else { panic!("{e}") };
        assert_eq!((*attempts, *pending, first_event.as_str()), (4, 10, "p0"));
        assert!(last.contains("502") && last.contains("bad gateway"), "{last}");
        assert_eq!(rx.requests().len(), 4);
    })
    .await;
}

#[tokio::test]
async fn request_too_large_is_split_until_it_fits() {
    bounded(async {
        let rx = Receiver::start().await;
        rx.script(|s| s.max_body = Some(8_000));
        let mut s = sink(&format!("url = \"{}\"\n{FAST}", rx.url("/in")));
        s.send(&batch("s", 100)).await.unwrap();
        let reqs = rx.requests();
        assert!(reqs.iter().any(|r| r.status == 413));
        assert!(reqs.iter().filter(|r| r.status == 200).all(|r| r.body.len() <= 8_000));
        assert_eq!(ids(&rx.seen(|s| s.events.clone()), "/event_id"), expected_ids("s", 100), "all once, in order");
    })
    .await;
}

#[tokio::test]
async fn a_single_event_over_the_receivers_limit_fails_naming_it() {
    bounded(async {
        let rx = Receiver::start().await;
        rx.script(|s| s.max_body = Some(2_000));
        let mut b = batch("big", 6);
        b.lines[3].json = json!({ "event_id": "big3", "blob": "x".repeat(5_000) }).to_string();
        let mut s = sink(&format!("url = \"{}\"\n{FAST}", rx.url("/in")));
        let e = s.send(&b).await.unwrap_err();
        assert!(matches!(detail(&e), HttpSinkError::TooLarge { event_id, bytes, .. } if event_id == "big3" && *bytes > 5_000), "{e}");
        assert!(e.to_string().contains("413 to event big3"), "{e}");
        // Nothing after the too-large event was sent; the page is replayed from its start.
        assert_eq!(ids(&rx.seen(|s| s.events.clone()), "/event_id"), ["big0", "big1", "big2"]);
    })
    .await;
}

#[tokio::test]
async fn hung_connection_times_out_retries_and_fails_in_bounded_time() {
    bounded(async {
        let (addr, accepted) = black_hole().await;
        let mut s = sink(&format!("url = \"http://{addr}/in\"\ntimeout = \"300ms\"\nmax_retries = 2\n{FAST}"));
        let start = Instant::now();
        let e = s.send(&batch("h", 5)).await.unwrap_err();
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "{took:?}");
        let HttpSinkError::Exhausted { attempts, last, .. } = detail(&e) else { panic!("{e}") };
        assert_eq!(*attempts, 3);
        assert!(last.contains("timed out") || last.contains("timeout"), "{last}");
        assert_eq!(accepted.load(Ordering::SeqCst), 3, "each try on a fresh connection");
    })
    .await;
}

#[tokio::test]
async fn a_hung_reply_is_retried_and_the_retry_delivers() {
    bounded(async {
        let rx = Receiver::start().await;
        rx.script(|s| s.replies.push_back(Reply::Hang));
        let mut s = sink(&format!("url = \"{}\"\ntimeout = \"300ms\"\n{FAST}", rx.url("/in")));
        s.send(&batch("g", 20)).await.unwrap();
        let statuses: Vec<u16> = rx.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [0, 200]);
        assert_eq!(ids(&rx.seen(|s| s.events.clone()), "/event_id"), expected_ids("g", 20));
    })
    .await;
}

#[tokio::test]
async fn wrong_token_fails_clearly_and_never_shows_the_token() {
    bounded(async {
        let rx = Receiver::start().await;
        rx.script(|s| s.expect_auth = Some("Bearer right-token".into()));
        let tok = secret_file("wrong-token-4711\n");
        let mut s = sink(&format!(
            "url = \"{}\"\nauth = {{ strategy = \"bearer\", token_file = {} }}\n{FAST}",
            rx.url("/in"),
            q(tok.path())
        ));
        let e = s.send(&batch("t", 3)).await.unwrap_err();
        assert_eq!(rx.requests().len(), 1, "a refused credential is not retried");
        // The receiver echoed the header it got; the error quotes it with the token cut out.
        let text = format!("{e} {e:?} {:?}", detail(&e));
        assert!(!text.contains("wrong-token-4711"), "{text}");
        assert!(
            e.to_string().contains("refused the credentials (HTTP 401: bad credentials: Bearer <redacted>)"),
            "{e}"
        );

        // HEC answers 403 with code 4.
        rx.script(|s| s.expect_auth = Some("Splunk right-token".into()));
        let mut s = sink(&format!(
            "url = \"http://{}\"\npreset = \"splunk_hec\"\nauth = {{ strategy = \"splunk\", token_file = {} }}\n{FAST}",
            rx.addr,
            q(tok.path())
        ));
        let e = s.send(&batch("t", 3)).await.unwrap_err();
        assert!(matches!(detail(&e), HttpSinkError::Auth { status: 403, .. }), "{e}");
        assert!(e.to_string().contains("HEC code 4: Invalid token (got Splunk <redacted>)"), "{e}");
        assert!(!format!("{e:?}").contains("wrong-token-4711"));
    })
    .await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    bounded(async {
        let rx = Receiver::start().await;
        rx.script(|s| s.replies.push_back(Reply::status(301, "").header("location", "https://elsewhere.example/in")));
        let mut s = sink(&format!("url = \"{}\"\n{FAST}", rx.url("/in")));
        let e = s.send(&batch("x", 2)).await.unwrap_err();
        assert!(e.to_string().contains("redirected to https://elsewhere.example/in"), "{e}");
        assert_eq!(rx.requests().len(), 1);
    })
    .await;
}

fn hec_sink(rx: &Receiver, tok: &tempfile::NamedTempFile, extra: &str) -> Box<dyn Sink> {
    sink(&format!(
        "url = \"http://{}\"\npreset = \"splunk_hec\"\nauth = {{ strategy = \"splunk\", token_file = {} }}\n{FAST}{extra}",
        rx.addr,
        q(tok.path())
    ))
}

#[tokio::test]
async fn hec_envelope_time_metadata_and_headers() {
    bounded(async {
        let rx = Receiver::start().await;
        let tok = secret_file("hec-token-1\n");
        rx.script(|s| s.expect_auth = Some("Splunk hec-token-1".into()));
        let mut s = hec_sink(&rx, &tok, "index = \"docusign\"\nsource = \"esign\"\nhost = \"collector-1\"\n");
        let b = batch("h", 30);
        s.send(&b).await.unwrap();
        let reqs = rx.requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].path, "/services/collector/event");
        assert!(reqs[0].gzip);
        assert_eq!(reqs[0].header("content-type").as_deref(), Some("application/json"));
        assert_eq!(reqs[0].header("x-splunk-request-channel").map(|c| c.len()), Some(36));
        let events = rx.seen(|s| s.events.clone());
        assert_eq!(ids(&events, "/event/event_id"), expected_ids("h", 30));
        // 2024-04-05T19:21:18.123Z plus i seconds, as epoch seconds with milliseconds.
        let e7 = &events[7];
        assert_eq!(e7["time"].to_string(), "1712344885.123");
        assert_eq!(
            (e7["index"].as_str(), e7["source"].as_str(), e7["host"].as_str(), e7["sourcetype"].as_str()),
            (Some("docusign"), Some("esign"), Some("collector-1"), Some("docusign:customer_events"))
        );
        assert_eq!(e7["event"].to_string(), b.lines[7].json);
    })
    .await;
}

#[tokio::test]
async fn hec_busy_is_retried_then_succeeds() {
    bounded(async {
        let rx = Receiver::start().await;
        let tok = secret_file("t0k3n");
        rx.script(|s| {
            for _ in 0..2 {
                s.replies.push_back(Reply::status(503, r#"{"text":"Server is busy","code":9}"#));
            }
        });
        let mut s = hec_sink(&rx, &tok, "");
        s.send(&batch("busy", 10)).await.unwrap();
        let statuses: Vec<u16> = rx.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [503, 503, 200]);
        assert_eq!(ids(&rx.seen(|s| s.events.clone()), "/event/event_id"), expected_ids("busy", 10));
    })
    .await;
}

#[tokio::test]
async fn hec_invalid_event_fails_the_page_naming_the_event() {
    bounded(async {
        let rx = Receiver::start().await;
        let tok = secret_file("t0k3n");
        rx.script(|s| s.hec_invalid = Some(("inv107".into(), 6)));
        // Three requests of 50; the bad event is the 8th of the third.
        let mut s = hec_sink(&rx, &tok, "max_batch_events = 50\n");
        let e = s.send(&batch("inv", 150)).await.unwrap_err();
        assert!(matches!(detail(&e), HttpSinkError::Rejected { event_id, .. } if event_id == "inv107"), "{e}");
        assert!(e.to_string().contains("HEC code 6: Invalid data format"), "{e}");
        assert_eq!(rx.requests().len(), 3, "invalid data is not retried");
    })
    .await;
}

#[tokio::test]
async fn hec_acknowledgement_confirms_only_indexed_requests() {
    bounded(async {
        let rx = Receiver::start().await;
        let tok = secret_file("t0k3n");
        rx.script(|s| {
            s.hec_ack = true;
            s.ack_after_polls = 2;
        });
        let mut s = hec_sink(&rx, &tok, "max_batch_events = 40\n");
        s.send(&batch("ack", 100)).await.unwrap();
        let polls = rx.seen(|s| s.ack_polls.clone());
        assert_eq!(polls.len(), 3, "{polls:?}");
        assert_eq!(polls[2].1, json!({ "acks": [0, 1, 2] }));
        let channel = rx.requests()[0].header("x-splunk-request-channel").unwrap();
        assert_eq!(polls[0].0, format!("channel={channel}"));

        // Never acknowledged: the page fails after ack_timeout.
        rx.script(|s| s.ack_after_polls = u32::MAX);
        let mut s = hec_sink(&rx, &tok, "ack_timeout = \"700ms\"\n");
        let start = Instant::now();
        let e = s.send(&batch("nack", 5)).await.unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(3));
        assert!(matches!(detail(&e), HttpSinkError::AckTimeout { unacked: 1, total: 1, .. }), "{e}");

        // acknowledgements = false: an ackId is not waited for.
        let polls_before = rx.seen(|s| s.ack_polls.len());
        let mut s = hec_sink(&rx, &tok, "acknowledgements = false\n");
        s.send(&batch("noack", 5)).await.unwrap();
        assert_eq!(rx.seen(|s| s.ack_polls.len()), polls_before);
    })
    .await;
}

fn es_sink(rx: &Receiver, extra: &str) -> Box<dyn Sink> {
    sink(&format!("url = \"http://{}/\"\npreset = \"elasticsearch\"\n{FAST}{extra}", rx.addr))
}

#[tokio::test]
async fn bulk_creates_with_event_ids_and_a_replay_is_idempotent() {
    bounded(async {
        let rx = Receiver::start().await;
        let mut s = es_sink(&rx, "pipeline = \"docusign\"\nmax_batch_events = 120\n");
        let b = batch("es", 300);
        s.send(&b).await.unwrap();
        s.send(&b).await.unwrap();
        let reqs = rx.requests();
        assert_eq!(reqs.len(), 6);
        assert!(reqs.iter().all(|r| r.path == "/_bulk" && r.query == "pipeline=docusign" && r.gzip));
        let actions = rx.seen(|s| s.actions.clone());
        assert_eq!(actions[0], json!({ "create": { "_index": "docusign-customer_events", "_id": "es0" } }));
        assert_eq!(actions.len(), 600);
        let docs = rx.seen(|s| s.docs.clone());
        assert_eq!(docs.iter().map(|d| d.0.clone()).collect::<Vec<_>>(), expected_ids("es", 300), "indexed once each");
        assert_eq!(docs[9].1.to_string(), b.lines[9].json);
    })
    .await;
}

#[tokio::test]
async fn bulk_throttled_items_are_resent_alone() {
    bounded(async {
        let rx = Receiver::start().await;
        rx.script(|s| {
            s.item_faults.insert("q3".into(), [(429, "es_rejected_execution_exception"); 2].into());
            s.item_faults.insert("q5".into(), [(503, "unavailable_shards_exception")].into());
        });
        let mut s = es_sink(&rx, "index = \"sec-{source}\"\ndata_stream = true\n");
        s.send(&users(lines("q", 8))).await.unwrap();
        let sent: Vec<Vec<String>> = rx
            .requests()
            .iter()
            .map(|r| {
                String::from_utf8_lossy(&r.body)
                    .lines()
                    .step_by(2)
                    .map(|a| serde_json::from_str::<Value>(a).unwrap()["create"]["_id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .collect();
        assert_eq!(sent, [expected_ids("q", 8), vec!["q3".into(), "q5".into()], vec!["q3".into()]]);
        let docs = rx.seen(|s| s.docs.clone());
        let mut got: Vec<String> = docs.iter().map(|d| d.0.clone()).collect();
        got.sort();
        let mut want = expected_ids("q", 8);
        want.sort();
        assert_eq!(got, want, "every event indexed exactly once");
        assert_eq!(rx.seen(|s| s.actions[0]["create"]["_index"].clone()), "sec-user_data");
        assert_eq!(docs[0].1["@timestamp"], docs[0].1["_time"], "data streams get @timestamp");
    })
    .await;
}

#[tokio::test]
async fn bulk_item_errors_fail_the_page_naming_event_status_and_reason() {
    bounded(async {
        let rx = Receiver::start().await;
        let mut s = es_sink(&rx, "");
        s.send(&batch("m", 2)).await.unwrap(); // m0, m1 exist: 409 next time
        rx.script(|s| {
            s.item_faults.insert("m4".into(), [(400, "mapper_parsing_exception")].into());
            s.item_faults.insert("m6".into(), [(429, "es_rejected_execution_exception")].into());
        });
        let e = s.send(&batch("m", 8)).await.unwrap_err();
        let HttpSinkError::Rejected { event_id, reason, more, .. } = detail(&e) else { panic!("{e}") };
        assert_eq!((event_id.as_str(), *more), ("m4", 0));
        assert!(reason.contains("item status 400, mapper_parsing_exception: [m4]: scripted"), "{reason}");
        assert_eq!(rx.requests().len(), 2, "a page with a refused item is not retried");
    })
    .await;
}

#[tokio::test]
async fn bulk_whole_request_429_waits_retry_after() {
    bounded(async {
        let rx = Receiver::start().await;
        rx.script(|s| s.replies.push_back(Reply::status(429, r#"{"error":"too many"}"#).header("retry-after", "1")));
        let mut s = es_sink(&rx, "");
        let start = Instant::now();
        s.send(&batch("w", 4)).await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(1));
        assert_eq!(rx.seen(|s| s.docs.len()), 4);
    })
    .await;
}

fn tls_config(rx: &Receiver, extra: &str) -> String {
    format!("url = \"https://{}/in\"\nmax_retries = 0\n{FAST}{extra}", rx.addr)
}

#[tokio::test]
async fn tls_with_private_ca_and_client_certificate() {
    bounded(async {
        let rx = Receiver::start_tls(true).await;
        let (ca, cert, key) =
            (pem_file(receiver::CA_PEM), pem_file(receiver::CLIENT_PEM), pem_file(receiver::CLIENT_KEY));
        let mut s = sink(&tls_config(
            &rx,
            &format!("ca_file = {}\ncert_file = {}\nkey_file = {}\n", q(ca.path()), q(cert.path()), q(key.path())),
        ));
        s.send(&batch("tls", 10)).await.unwrap();
        assert_eq!(rx.seen(|s| s.events.len()), 10);

        // Without the client certificate the handshake is refused.
        let mut s = sink(&tls_config(&rx, &format!("ca_file = {}\n", q(ca.path()))));
        let e = s.send(&batch("tls", 1)).await.unwrap_err();
        assert!(matches!(detail(&e), HttpSinkError::Exhausted { .. }), "{e}");
        // Without the CA the server is not trusted.
        let failures = rx.tls_failures.load(Ordering::SeqCst);
        let mut s = sink(&tls_config(&rx, &format!("cert_file = {}\nkey_file = {}\n", q(cert.path()), q(key.path()))));
        let e = s.send(&batch("tls", 1)).await.unwrap_err();
        assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
        // The server notices the aborted handshake when its task next runs.
        let deadline = Instant::now() + Duration::from_secs(2);
        while rx.tls_failures.load(Ordering::SeqCst) == failures {
            assert!(Instant::now() < deadline, "the server saw no failed handshake");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(rx.seen(|s| s.events.len()), 10);
    })
    .await;
}

#[tokio::test]
async fn tls_insecure_skip_verify_accepts_an_unknown_server() {
    bounded(async {
        let rx = Receiver::start_tls(false).await;
        let mut s = sink(&tls_config(&rx, "insecure_skip_verify = true\n"));
        s.send(&batch("insecure", 3)).await.unwrap();
        assert_eq!(rx.seen(|s| s.events.len()), 3);
    })
    .await;
}

/// 20,000 events in pages of 2,000, gzip, through the NDJSON and bulk presets; the receiver
/// (decoding and parsing every event) runs in the same single-threaded runtime.
#[tokio::test]
async fn throughput_20k_events_with_gzip() {
    bounded(async {
        for preset in ["ndjson", "elasticsearch"] {
            let rx = Receiver::start().await;
            let mut s = sink(&format!("url = \"{}\"\npreset = \"{preset}\"\n", rx.url("/")));
            let pages: Vec<Batch> = (0..10).map(|p| batch(&format!("p{p}-"), 2000)).collect();
            let bytes: usize = pages.iter().flat_map(|b| &b.lines).map(|l| l.json.len() + 1).sum();
            let start = Instant::now();
            for p in &pages {
                s.send(p).await.unwrap();
            }
            let took = start.elapsed();
            let reqs = rx.requests();
            let wire: usize = reqs.iter().map(|r| r.wire_bytes).sum();
            let got: HashSet<String> = if preset == "ndjson" {
                ids(&rx.seen(|s| s.events.clone()), "/event_id").into_iter().collect()
            } else {
                rx.seen(|s| s.docs.iter().map(|d| d.0.clone()).collect())
            };
            let count = rx.seen(|s| s.events.len() + s.docs.len());
            assert_eq!((got.len(), count), (20_000, 20_000), "every event exactly once");
            #[allow(clippy::cast_precision_loss)]
            let rate = 20_000.0 / took.as_secs_f64();
            eprintln!(
                "{preset}: 20000 events ({} MB of JSON, {} KB gzipped on the wire, {} requests) in {took:.2?}: {rate:.0} events/s",
                bytes / 1_000_000,
                wire / 1000,
                reqs.len()
            );
        }
    })
    .await;
}
