//! The whole push path over real sockets on 127.0.0.1, with a test-only receiver that checks
//! an HMAC-SHA256 of the body (as webhook senders sign) and a sink that collects lines.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;
use crate::sinks::{Batch, Line, Sink, SinkError};

const SECRET: &[u8] = b"test-shared-secret";
const PATH: &str = "/hooks/test";
const SIGNATURE: &str = "x-test-signature";

/// Signs with `X-Test-Signature: base64(HMAC-SHA256(secret, body))`; the body is
/// `{"events": [{"id", "time", "account", ...}]}`.
struct TestReceiver;

impl Receiver for TestReceiver {
    fn name(&self) -> &'static str {
        "test"
    }
    fn path(&self) -> &'static str {
        PATH
    }
    fn kind(&self) -> &'static Stream {
        &crate::stream::TEST
    }
    fn dedup(&self) -> Dedup {
        Dedup::Id
    }
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
        let sig = headers.get(SIGNATURE).ok_or(Rejection::new("no signature header"))?;
        let sig = B64.decode(sig.as_bytes()).map_err(|_| Rejection::new("signature is not base64"))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).map_err(|_| Rejection::new("unusable secret"))?;
        mac.update(body);
        mac.verify_slice(&sig).map_err(|_| Rejection::new("no signature matches"))
    }
    fn parse(&self, body: &[u8]) -> Result<Vec<Message>, Malformed> {
        let v: Value = serde_json::from_slice(body).map_err(|e| Malformed::new(format!("not JSON: {e}")))?;
        let events = v.get("events").and_then(Value::as_array).ok_or_else(|| Malformed::new("no events array"))?;
        events
            .iter()
            .map(|e| {
                let event = e.as_object().ok_or_else(|| Malformed::new("an event is not an object"))?.clone();
                let time = e
                    .get("time")
                    .and_then(Value::as_str)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .ok_or_else(|| Malformed::new("an event has no time"))?
                    .with_timezone(&Utc);
                let source = e.get("account").and_then(Value::as_str).unwrap_or("acct").to_owned();
                let id = e.get("id").and_then(Value::as_str).map(str::to_owned);
                Ok(Message { id, time, source, event, transition: None })
            })
            .collect()
    }
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(body);
    B64.encode(mac.finalize().into_bytes())
}

fn body(ids: &[&str]) -> Vec<u8> {
    let events: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "time": "2026-03-01T10:00:00.123Z", "account": "a1", "what": "x"}))
        .collect();
    serde_json::to_vec(&json!({ "events": events })).unwrap()
}

/// A sink keeping what it confirmed; `fail` makes it refuse.
#[derive(Clone, Default)]
struct Collect {
    lines: Arc<Mutex<Vec<Line>>>,
    fail: Arc<AtomicBool>,
}

#[async_trait]
impl Sink for Collect {
    fn name(&self) -> &'static str {
        "collect"
    }
    async fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(SinkError::Io { sink: "collect".into(), source: std::io::Error::other("refusing, as told") });
        }
        self.lines.lock().unwrap().extend(batch.lines.iter().cloned());
        Ok(())
    }
}

impl Collect {
    fn ids(&self) -> Vec<String> {
        self.lines.lock().unwrap().iter().map(|l| l.event_id.clone()).collect()
    }
    fn failing(self) -> Self {
        self.fail.store(true, Ordering::SeqCst);
        self
    }
}

/// A running pipeline on 127.0.0.1:0.
struct Running {
    url: String,
    push: Arc<Push>,
    store: Arc<Mutex<Store>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), PushError>>,
}

fn options() -> PushOptions {
    PushOptions {
        max_body: 64 * 1024,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        retry_after: Duration::from_secs(7),
        ..PushOptions::default()
    }
}

async fn start(state: &Path, sink: &Collect, opts: PushOptions) -> Running {
    let store = Arc::new(Mutex::new(Store::open(state).unwrap()));
    let sinks = Arc::new(Fanout::new(vec![Box::new(sink.clone())]));
    let push = Arc::new(Push::new(vec![Arc::new(TestReceiver)], store.clone(), sinks, opts).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{PATH}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let p = push.clone();
    let task = tokio::spawn(async move { p.run(listener, async move { rx.await.unwrap_or_default() }).await });
    Running { url, push, store, stop: Some(tx), task }
}

impl Running {
    async fn stop(mut self) -> Arc<Push> {
        if let Some(tx) = self.stop.take() {
            tx.send(()).unwrap();
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task).await.expect("stops in time").unwrap().unwrap();
        self.push
    }

    fn waiting(&self) -> u64 {
        lock(&self.store).inbox_len().unwrap()
    }
}

/// Declares a body over the limit and sends none: the answer must come before any byte is
/// read (a server closing with unread bytes would reset the connection under the answer).
async fn too_large(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://").split('/').next().unwrap().to_owned();
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n");
    c.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).await.unwrap();
    answer
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap()
}

async fn post(url: &str, body: Vec<u8>, signature: Option<String>) -> reqwest::Response {
    let mut req = client().post(url).header("content-type", "application/json").body(body);
    if let Some(sig) = signature {
        req = req.header(SIGNATURE, sig);
    }
    req.send().await.unwrap()
}

async fn post_signed(url: &str, ids: &[&str]) -> reqwest::StatusCode {
    let b = body(ids);
    let sig = sign(&b);
    post(url, b, Some(sig)).await.status()
}

/// Waits (bounded) until `cond` holds.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs a test body with a bound on its time.
/// A pipeline over a fresh state file with `sink`, started with the default options.
async fn started(sink: Collect) -> (tempfile::TempDir, Collect, Running) {
    started_with(sink, options()).await
}

/// [`started`] with other options.
async fn started_with(sink: Collect, opts: PushOptions) -> (tempfile::TempDir, Collect, Running) {
    let (dir, state) = crate::testkit::scratch("s.db");
    let run = start(&state, &sink, opts).await;
    (dir, sink, run)
}

async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(60), test).await.expect("the test took over 60 s");
}

#[tokio::test]
async fn a_signed_post_is_delivered_once_even_when_sent_again() {
    bounded(async {
        let (_dir, sink, run) = started(Collect::default()).await;
        assert_eq!(post_signed(&run.url, &["e1", "e2"]).await, 200);
        until("both lines reach the sink", || sink.ids().len() == 2).await;
        assert_eq!(sink.ids(), ["e1", "e2"]);
        let first = sink.lines.lock().unwrap()[0].clone();
        assert_eq!(first.time, "2026-03-01T10:00:00.123Z");
        assert_eq!(serde_json::from_str::<Value>(&first.json).unwrap()["what"], "x");
        // The sender retries (it never saw our answer): absorbed, answered 2xx again.
        assert_eq!(post_signed(&run.url, &["e1"]).await, 200);
        assert_eq!(post_signed(&run.url, &["e2", "e3"]).await, 200);
        until("the new line reaches the sink", || sink.ids().len() == 3).await;
        assert_eq!(sink.ids(), ["e1", "e2", "e3"]);
        let push = run.stop().await;
        let c = push.counts();
        assert_eq!((c.accepted, c.stored, c.duplicates, c.delivered), (3, 3, 2, 3), "{c:?}");
    })
    .await;
}

#[tokio::test]
async fn a_bad_signature_is_401_without_detail_and_stores_nothing() {
    bounded(async {
        let (_dir, sink, run) = started(Collect::default()).await;
        let b = body(&["e1"]);
        let wrong = post(&run.url, b.clone(), Some(sign(b"another body"))).await;
        assert_eq!(wrong.status(), 401);
        assert_eq!(wrong.text().await.unwrap(), "unauthorized\n");
        assert_eq!(post(&run.url, b.clone(), None).await.status(), 401);
        assert_eq!(post(&run.url, b, Some("not base64!".into())).await.status(), 401);
        assert_eq!(run.waiting(), 0);
        let push = run.stop().await;
        assert!(sink.ids().is_empty());
        assert_eq!(push.counts().unauthorized, 3);
        assert_eq!(push.counts().stored, 0);
    })
    .await;
}

#[tokio::test]
async fn each_refusal_has_its_answer_and_its_count() {
    bounded(async {
        let (_dir, _sink, run) = started(Collect::default()).await;
        let get = client().get(&run.url).send().await.unwrap();
        assert_eq!(get.status(), 405);
        assert_eq!(get.headers()["allow"], "POST");
        let other = run.url.replace(PATH, "/hooks/nobody");
        assert_eq!(post(&other, body(&["e1"]), None).await.status(), 404);
        assert!(too_large(&run.url).await.starts_with("HTTP/1.1 413 "));
        let garbage = b"{not json".to_vec();
        let sig = sign(&garbage);
        let bad = post(&run.url, garbage, Some(sig)).await;
        assert_eq!(bad.status(), 400);
        assert_eq!(bad.text().await.unwrap(), "malformed body\n");
        // Dedup on ids: an event without one is malformed, and nothing of its request is kept.
        let no_id = serde_json::to_vec(&json!({"events": [
            {"id": "e1", "time": "2026-03-01T10:00:00Z"}, {"time": "2026-03-01T10:00:00Z"}
        ]}))
        .unwrap();
        let sig = sign(&no_id);
        assert_eq!(post(&run.url, no_id, Some(sig)).await.status(), 400);
        // An empty batch (a sender's ping) is fine.
        assert_eq!(post_signed(&run.url, &[]).await, 200);
        assert_eq!(run.waiting(), 0);
        let c = run.stop().await.counts();
        assert_eq!(
            (c.method_not_allowed, c.not_found, c.too_large, c.malformed, c.accepted, c.stored),
            (1, 1, 1, 2, 1, 0),
            "{c:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_failing_sink_keeps_messages_until_it_recovers() {
    bounded(async {
        let (_dir, sink, run) = started(Collect::default().failing()).await;
        assert_eq!(post_signed(&run.url, &["e1"]).await, 200);
        assert_eq!(post_signed(&run.url, &["e2"]).await, 200);
        until("the sink refused a few times", || run.push.counts().sink_failures >= 3).await;
        assert_eq!(run.waiting(), 2, "refused messages stay in the inbox");
        // A re-send while waiting is absorbed by the inbox, not queued twice.
        assert_eq!(post_signed(&run.url, &["e1"]).await, 200);
        assert_eq!(run.waiting(), 2);
        sink.fail.store(false, Ordering::SeqCst);
        until("the sink holds both", || sink.ids().len() == 2).await;
        until("the inbox is empty", || run.waiting() == 0).await;
        assert_eq!(sink.ids(), ["e1", "e2"], "in arrival order");
        let c = run.stop().await.counts();
        assert_eq!((c.delivered, c.duplicates), (2, 1), "{c:?}");
    })
    .await;
}

#[tokio::test]
async fn a_restart_delivers_what_was_acknowledged_but_not_delivered() {
    bounded(async {
        let (dir, _down, run) = started(Collect::default().failing()).await;
        let state = dir.path().join("s.db");
        assert_eq!(post_signed(&run.url, &["e1", "e2"]).await, 200);
        until("the sink refused", || run.push.counts().sink_failures >= 1).await;
        let push = run.stop().await;
        drop(push);
        // The next process: the same state file, a working sink.
        let sink = Collect::default();
        let run = start(&state, &sink, options()).await;
        until("the acknowledged lines reach the sink", || sink.ids().len() == 2).await;
        until("the inbox is empty", || run.waiting() == 0).await;
        // Delivered before the restart is remembered after it.
        assert_eq!(post_signed(&run.url, &["e2"]).await, 200);
        run.stop().await;
        let after = Store::open(&state).unwrap();
        assert_eq!(after.inbox_len().unwrap(), 0);
        assert_eq!(sink.ids(), ["e1", "e2"]);
    })
    .await;
}

#[tokio::test]
async fn deliver_pending_drains_the_inbox_without_serving() {
    bounded(async {
        let (_dir, state) = crate::testkit::scratch("s.db");
        let sink = Collect::default().failing();
        let store = Arc::new(Mutex::new(Store::open(&state).unwrap()));
        let entry = crate::state::InboxEntry {
            source: "a1".into(),
            key: "k".into(),
            time: "t".into(),
            line: "{}".into(),
            transition: None,
        };
        lock(&store).inbox_put("test", &[entry], 10).unwrap();
        let fanout = Arc::new(Fanout::new(vec![Box::new(sink.clone())]));
        let push = Push::new(vec![Arc::new(TestReceiver)], store.clone(), fanout, options()).unwrap();
        assert!(matches!(push.deliver_pending().await, Err(PushError::Sink(_))));
        assert_eq!(lock(&store).inbox_len().unwrap(), 1);
        sink.fail.store(false, Ordering::SeqCst);
        assert_eq!(push.deliver_pending().await.unwrap(), 1);
        assert_eq!(sink.ids(), ["k"]);
    })
    .await;
}

#[tokio::test]
async fn a_failing_inbox_write_is_5xx_and_a_full_one_503_with_retry_after() {
    bounded(async {
        let (dir, _sink, run) =
            started_with(Collect::default().failing(), PushOptions { inbox_capacity: 1, ..options() }).await;
        let state = dir.path().join("s.db");
        // Another connection makes every insert fail, as a broken file would.
        let other = rusqlite::Connection::open(&state).unwrap();
        other
            .execute_batch("CREATE TRIGGER refuse BEFORE INSERT ON inbox BEGIN SELECT RAISE(ABORT, 'injected'); END;")
            .unwrap();
        assert_eq!(post_signed(&run.url, &["e1"]).await, 500);
        other.execute_batch("DROP TRIGGER refuse;").unwrap();
        assert_eq!(post_signed(&run.url, &["e1"]).await, 200);
        // Full: the sink is down and the one slot taken.
        let b = body(&["e2"]);
        let sig = sign(&b);
        let full = post(&run.url, b, Some(sig)).await;
        assert_eq!(full.status(), 503);
        assert_eq!(full.headers()["retry-after"], "7");
        // Already stored is still answered 2xx.
        assert_eq!(post_signed(&run.url, &["e1"]).await, 200);
        // A full disk is refused the same way.
        lock(&run.store).fill_disk_for_test();
        let pad = "p".repeat(48 * 1024);
        let b =
            serde_json::to_vec(&json!({"events": [{"id": "e3", "time": "2026-03-01T10:00:00Z", "pad": pad}]})).unwrap();
        let sig = sign(&b);
        let disk = post(&run.url, b, Some(sig)).await;
        assert_eq!(disk.status(), 503);
        assert_eq!(disk.headers()["retry-after"], "7");
        assert_eq!(run.waiting(), 1);
        let c = run.stop().await.counts();
        assert_eq!((c.failed, c.unavailable, c.accepted, c.stored), (1, 2, 2, 1), "{c:?}");
    })
    .await;
}

#[test]
fn receivers_must_have_distinct_literal_paths_and_names() {
    struct Named(&'static str, &'static str);
    impl Receiver for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn path(&self) -> &str {
            self.1
        }
        fn kind(&self) -> &'static Stream {
            &crate::stream::TEST
        }
        fn dedup(&self) -> Dedup {
            Dedup::Id
        }
        fn verify(&self, _: &HeaderMap, _: &[u8]) -> Result<(), Rejection> {
            Err(Rejection::new("never"))
        }
        fn parse(&self, _: &[u8]) -> Result<Vec<Message>, Malformed> {
            Ok(Vec::new())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Mutex::new(Store::open(&dir.path().join("s.db")).unwrap()));
    let build = |rs: Vec<Arc<dyn Receiver>>| {
        Push::new(rs, store.clone(), Arc::new(Fanout::new(Vec::new())), PushOptions::default()).map(drop)
    };
    assert!(build(vec![Arc::new(Named("a", "/a")), Arc::new(Named("b", "/hooks/b-1.x"))]).is_ok());
    assert!(build(vec![Arc::new(Named("a", "/a")), Arc::new(Named("a", "/b"))]).is_err());
    assert!(build(vec![Arc::new(Named("a", "/a")), Arc::new(Named("b", "/a"))]).is_err());
    for bad in ["a", "/", "/a/", "//a", "/{id}", "/a/*rest", "/:x", "/a b"] {
        let e = build(vec![Arc::new(Named("a", bad))]).unwrap_err();
        assert!(e.to_string().contains("must start with '/'"), "{bad}: {e}");
    }
}
