//! The pull loop fetches page n+1 while page n is delivered and committed: the overlap is
//! real, commits stay in order (each page is sent only once the one before it committed), a
//! sink failure commits nothing of page n nor of the page fetched ahead and the next run
//! resumes at n, shutdown drops the page fetched ahead, and no request is made that the
//! sequential loop would not make (past the end, past `--max`, for a source that forbids it).
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use esign_collector::connectors::docusign::MONITOR_EVENTS;
use esign_collector::core::collector::{Collector, Commit, Options, Report};
use esign_collector::core::fanout::Fanout;
use esign_collector::core::normalize::Fast;
use esign_collector::core::source::{Page, Paging, Record, SinceStart, Source, Stream};
use esign_collector::error::Error;
use esign_collector::http::ApiError;
use esign_collector::sinks::{Batch, Sink, SinkError};
use esign_collector::state::Store;
use serde_json::json;
use serde_json::value::RawValue;

const TENANT: &str = "default";
const PAGE: u32 = 5;

/// What happened, in order: `fetch <cursor>` when a fetch starts, `sent <first id>` when a
/// sink starts a batch, `confirmed <first id>` when it confirmed it.
type Log = Arc<Mutex<Vec<String>>>;

/// What the fake API does when asked for a cursor.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fail {
    None,
    /// The request for this cursor fails after retries.
    Unavailable(usize),
    /// A retry wait for this cursor would pass the run-time budget.
    OutOfTime(usize),
}

struct Api {
    len: usize,
    prefetch: bool,
    fail: Fail,
    log: Log,
}

#[async_trait]
impl Source for Api {
    fn kind(&self) -> &'static Stream {
        &MONITOR_EVENTS
    }
    fn start_cursor(&self, _: Option<DateTime<Utc>>) -> Result<String, Error> {
        Ok("0".into())
    }
    fn since_start(&self, _: Option<&str>, _: DateTime<Utc>) -> Result<SinceStart, Error> {
        Ok(SinceStart::From("0".into()))
    }
    fn paging(&self) -> Paging {
        Paging { page_size: PAGE, max_per_run: None, prefetch: self.prefetch }
    }
    async fn fetch_page(&self, cursor: &str, limit: u32) -> Result<Page, Error> {
        let at: usize = cursor.parse().unwrap();
        self.log.lock().unwrap().push(format!("fetch {at}"));
        // The network: the delivery beside it runs meanwhile.
        tokio::time::sleep(Duration::from_millis(20)).await;
        match self.fail {
            Fail::Unavailable(c) if c == at => {
                return Err(ApiError::Unavailable { what: "fake".into(), attempts: 1, last: "503".into() }.into());
            }
            Fail::OutOfTime(c) if c == at => return Err(ApiError::OutOfTime { what: "fake".into() }.into()),
            _ => {}
        }
        let end = (at + limit as usize).min(self.len);
        let records = (at..end)
            .map(|i| {
                let text = json!({"eventId": format!("e{i}"), "timestamp": "2026-01-01T00:00:00Z"}).to_string();
                Record::Fast(Fast::probe(&MONITOR_EVENTS, RawValue::from_string(text).unwrap()).unwrap())
            })
            .collect();
        Ok(Page { records, next: end.to_string(), at_end: end == self.len })
    }
}

/// A slow sink that checks, for every batch, that the page before it is committed.
struct SlowSink {
    store: Arc<Mutex<Store>>,
    log: Log,
    delivered: Arc<Mutex<Vec<String>>>,
    /// Refuses the batch that starts with this id.
    refuse: Option<&'static str>,
    /// Asks for shutdown while sending the batch that starts with this id.
    shutdown_at: Option<(&'static str, tokio::sync::watch::Sender<bool>)>,
}

#[async_trait]
impl Sink for SlowSink {
    fn name(&self) -> &'static str {
        "slow"
    }
    async fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let first = batch.lines[0].event_id.clone();
        let at: usize = first.trim_start_matches('e').parse().unwrap();
        // The page before this one committed before this one was prepared and sent.
        assert_eq!(checkpoint(&self.store), at, "batch {first} sent before the page before it committed");
        self.log.lock().unwrap().push(format!("sent {first}"));
        if let Some((id, tx)) = &self.shutdown_at
            && *id == first
        {
            tx.send(true).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        if self.refuse == Some(first.as_str()) {
            return Err(SinkError::Io { sink: "slow".into(), source: std::io::Error::other("refused") });
        }
        self.delivered.lock().unwrap().extend(batch.lines.iter().map(|l| l.event_id.clone()));
        self.log.lock().unwrap().push(format!("confirmed {first}"));
        Ok(())
    }
}

fn checkpoint(store: &Mutex<Store>) -> usize {
    store.lock().unwrap().checkpoint(TENANT, "customer_events").unwrap().map_or(0, |c| c.cursor.parse().unwrap())
}

struct World {
    _dir: tempfile::TempDir,
    store: Arc<Mutex<Store>>,
    log: Log,
    delivered: Arc<Mutex<Vec<String>>>,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Mutex::new(Store::open(&dir.path().join("s.db")).unwrap()));
        Self { _dir: dir, store, log: Log::default(), delivered: Arc::default() }
    }

    fn api(&self, len: usize, prefetch: bool, fail: Fail) -> Api {
        Api { len, prefetch, fail, log: self.log.clone() }
    }

    fn sink(&self) -> SlowSink {
        SlowSink {
            store: self.store.clone(),
            log: self.log.clone(),
            delivered: self.delivered.clone(),
            refuse: None,
            shutdown_at: None,
        }
    }

    /// One run of `source` into `sink`, bounded in time.
    fn run(
        &self,
        source: &Api,
        sink: SlowSink,
        max: Option<u32>,
        shutdown: &tokio::sync::watch::Receiver<bool>,
    ) -> Result<Report, Error> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let sinks = Fanout::new(vec![Box::new(sink)]);
        let mut c = Collector {
            store: self.store.clone(),
            sinks: &sinks,
            tenant: TENANT,
            tag: None,
            ledger_size: 1000,
            progress: None,
            enrich: false,
        };
        let opts = Options {
            since: None,
            from_checkpoint: true,
            max,
            deadline: None,
            skip_backlog: false,
            commit: Commit::Yes,
        };
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), c.collect(source, &opts, shutdown)).await.unwrap()
        })
    }

    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    fn seen(&self, ids: &[&str]) -> usize {
        self.store.lock().unwrap().seen(TENANT, "customer_events", ids.iter().copied()).unwrap().len()
    }
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("e{i}")).collect()
}

fn no_shutdown() -> (tokio::sync::watch::Sender<bool>, tokio::sync::watch::Receiver<bool>) {
    tokio::sync::watch::channel(false)
}

#[test]
fn the_next_page_is_fetched_while_this_one_is_delivered_and_commits_stay_in_order() {
    let w = World::new();
    let (_tx, rx) = no_shutdown();
    let r = w.run(&w.api(15, true, Fail::None), w.sink(), Some(0), &rx).unwrap();
    assert!(r.at_end);
    assert_eq!((r.pages, r.delivered), (3, 15));
    assert_eq!(checkpoint(&w.store), 15);
    assert_eq!(*w.delivered.lock().unwrap(), ids(0..15));
    // The fetch of each next page starts after its page was sent and before it was confirmed;
    // nothing is fetched past the end.
    assert_eq!(
        w.take_log(),
        [
            "fetch 0",
            "fetch 5",
            "sent e0",
            "confirmed e0",
            "fetch 10",
            "sent e5",
            "confirmed e5",
            "sent e10",
            "confirmed e10"
        ]
    );
}

#[test]
fn a_source_that_forbids_it_is_fetched_one_page_after_the_other() {
    let w = World::new();
    let (_tx, rx) = no_shutdown();
    let r = w.run(&w.api(10, false, Fail::None), w.sink(), Some(0), &rx).unwrap();
    assert_eq!((r.pages, r.delivered, r.at_end), (2, 10, true));
    assert_eq!(w.take_log(), ["fetch 0", "sent e0", "confirmed e0", "fetch 5", "sent e5", "confirmed e5"]);
}

#[test]
fn a_sink_failure_commits_neither_its_page_nor_the_page_fetched_ahead_and_the_next_run_resumes_there() {
    let w = World::new();
    let (_tx, rx) = no_shutdown();
    let source = w.api(15, true, Fail::None);
    let mut sink = w.sink();
    sink.refuse = Some("e5");
    let err = w.run(&source, sink, Some(0), &rx).unwrap_err();
    assert!(matches!(err, Error::Sink(_)), "{err:?}");
    let log = w.take_log();
    // Page 3 was fetched ahead while page 2 was refused, and dropped.
    assert_eq!(log, ["fetch 0", "fetch 5", "sent e0", "confirmed e0", "fetch 10", "sent e5"]);
    assert_eq!(checkpoint(&w.store), 5);
    assert_eq!(w.seen(&["e0", "e4"]), 2);
    assert_eq!(w.seen(&["e5", "e9", "e10", "e14"]), 0, "nothing of page 2 or 3 is in the ledger");
    // The next run starts at page 2: nothing lost, nothing of page 1 again.
    let r = w.run(&source, w.sink(), Some(0), &rx).unwrap();
    assert_eq!((r.delivered, r.duplicates, r.at_end), (10, 0, true));
    assert_eq!(w.take_log()[0], "fetch 5");
    assert_eq!(*w.delivered.lock().unwrap(), ids(0..15));
}

#[test]
fn shutdown_drops_the_page_fetched_ahead_and_the_next_run_reads_it() {
    let w = World::new();
    let (tx, rx) = no_shutdown();
    let source = w.api(15, true, Fail::None);
    let mut sink = w.sink();
    sink.shutdown_at = Some(("e0", tx));
    let r = w.run(&source, sink, Some(0), &rx).unwrap();
    assert_eq!((r.pages, r.delivered, r.at_end), (1, 5, false));
    assert_eq!(w.take_log(), ["fetch 0", "fetch 5", "sent e0", "confirmed e0"]);
    assert_eq!(checkpoint(&w.store), 5, "the page in flight is finished and committed");
    assert_eq!(w.seen(&["e5", "e9"]), 0, "the page fetched ahead is not committed");
    let (_tx, rx) = no_shutdown();
    let r = w.run(&source, w.sink(), Some(0), &rx).unwrap();
    assert_eq!((r.delivered, r.duplicates), (10, 0));
    assert_eq!(w.take_log()[0], "fetch 5");
    assert_eq!(*w.delivered.lock().unwrap(), ids(0..15));
}

#[test]
fn no_page_is_fetched_ahead_past_the_per_run_maximum() {
    let w = World::new();
    let (_tx, rx) = no_shutdown();
    // 7 of 30: a page of 5, then one of 2, then nothing more.
    let r = w.run(&w.api(30, true, Fail::None), w.sink(), Some(7), &rx).unwrap();
    assert_eq!((r.fetched, r.delivered, r.at_end), (7, 7, false));
    assert_eq!(w.take_log(), ["fetch 0", "fetch 5", "sent e0", "confirmed e0", "sent e5", "confirmed e5"]);
    assert_eq!(checkpoint(&w.store), 7);
}

#[test]
fn a_failed_fetch_ahead_leaves_the_page_before_it_committed() {
    let w = World::new();
    let (_tx, rx) = no_shutdown();
    let source = w.api(15, true, Fail::Unavailable(5));
    let err = w.run(&source, w.sink(), Some(0), &rx).unwrap_err();
    assert!(matches!(err, Error::Api(ApiError::Unavailable { .. })), "{err:?}");
    assert_eq!(checkpoint(&w.store), 5);
    assert_eq!(*w.delivered.lock().unwrap(), ids(0..5));

    // A retry wait past the run-time budget ends the run as out of time, not as an error.
    let w = World::new();
    let r = w.run(&w.api(15, true, Fail::OutOfTime(10)), w.sink(), Some(0), &rx).unwrap();
    assert!(r.out_of_time && !r.at_end);
    assert_eq!((r.pages, r.delivered), (2, 10));
    assert_eq!(checkpoint(&w.store), 10);
}
