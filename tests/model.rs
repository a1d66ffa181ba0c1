//! A model-based property test of the fetch-and-commit core, in-process: random streams,
//! API faults, duplicated and reordered records, sink refusals, and crashes (a sink that
//! wrote the page and then died), checked against a simple oracle with the invariants of the
//! crash test: nothing lost, the checkpoint never moves backwards, duplicates only from
//! pages in flight, and a healthy run reaches the end.
#![allow(clippy::unwrap_used)]

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use esign_collector::connectors::docusign::MONITOR_EVENTS;
use esign_collector::core::collector::{Collector, Commit, Options};
use esign_collector::core::fanout::Fanout;
use esign_collector::core::normalize::Fast;
use esign_collector::core::source::{Page, Paging, Record, SinceStart, Source, Stream};
use esign_collector::error::Error;
use esign_collector::http::ApiError;
use esign_collector::sinks::{Batch, Sink, SinkError};
use esign_collector::state::Store;
use proptest::prelude::*;
use serde_json::json;
use serde_json::value::RawValue;

/// What the fake API does on one request.
#[derive(Debug, Clone, Copy)]
enum Api_ {
    Ok,
    /// Retries exhausted.
    Unavailable,
    /// The page repeats a record of the previous page and swaps two records.
    Messy,
}

/// What the fake sink does with one batch.
#[derive(Debug, Clone, Copy)]
enum SinkDo {
    Accept,
    Refuse,
    /// Writes the page, then the process "dies" before the commit.
    WriteThenDie,
}

struct FakeSource {
    stream: Vec<String>,
    script: Mutex<VecDeque<Api_>>,
}

#[async_trait]
impl Source for FakeSource {
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
        Paging { page_size: 7, max_per_run: None, prefetch: true }
    }
    async fn fetch_page(&self, cursor: &str, limit: u32) -> Result<Page, Error> {
        let at: usize = cursor.parse().unwrap();
        let step = self.script.lock().unwrap().pop_front().unwrap_or(Api_::Ok);
        if matches!(step, Api_::Unavailable) {
            return Err(ApiError::Unavailable { what: "fake".into(), attempts: 1, last: "503".into() }.into());
        }
        let end = (at + limit as usize).min(self.stream.len());
        let mut ids: Vec<String> = self.stream[at..end].to_vec();
        if matches!(step, Api_::Messy) && ids.len() >= 2 {
            ids.swap(0, 1);
            if at > 0 {
                ids.push(self.stream[at - 1].clone());
            }
        }
        let records = ids
            .into_iter()
            .map(|id| {
                // As the Monitor source reads them: the bytes kept, on the fast path.
                let text = json!({"eventId": id, "timestamp": "2026-01-01T00:00:00Z"}).to_string();
                match Fast::probe(&MONITOR_EVENTS, RawValue::from_string(text).unwrap()) {
                    Ok(f) => Record::Fast(f),
                    Err(raw) => Record::Object(serde_json::from_str(raw.get()).unwrap()),
                }
            })
            .collect();
        Ok(Page { records, next: end.to_string(), at_end: end == self.stream.len() })
    }
}

struct FakeSink {
    script: Arc<Mutex<VecDeque<SinkDo>>>,
    delivered: Arc<Mutex<Vec<String>>>,
    died: Arc<Mutex<bool>>,
}

#[async_trait]
impl Sink for FakeSink {
    fn name(&self) -> &'static str {
        "fake"
    }
    async fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let err = || SinkError::Io { sink: "fake".into(), source: std::io::Error::other("refused") };
        let step = self.script.lock().unwrap().pop_front().unwrap_or(SinkDo::Accept);
        match step {
            SinkDo::Accept => {
                self.delivered.lock().unwrap().extend(batch.lines.iter().map(|l| l.event_id.clone()));
                Ok(())
            }
            SinkDo::Refuse => Err(err()),
            SinkDo::WriteThenDie => {
                self.delivered.lock().unwrap().extend(batch.lines.iter().map(|l| l.event_id.clone()));
                *self.died.lock().unwrap() = true;
                Err(err())
            }
        }
    }
}

fn checkpoint(store: &Arc<Mutex<Store>>) -> usize {
    store.lock().unwrap().checkpoint("default", "customer_events").unwrap().map_or(0, |c| c.cursor.parse().unwrap())
}

fn run_model(len: usize, api: Vec<Api_>, sink: Vec<SinkDo>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Mutex::new(Store::open(&dir.path().join("s.db")).unwrap()));
    let stream: Vec<String> = (0..len).map(|i| format!("e{i}")).collect();
    let source = FakeSource { stream: stream.clone(), script: Mutex::new(api.into()) };
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let died = Arc::new(Mutex::new(false));
    let sink_script: Arc<Mutex<VecDeque<SinkDo>>> = Arc::new(Mutex::new(sink.into()));
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let opts = Options {
        since: None,
        from_checkpoint: true,
        max: Some(0),
        deadline: None,
        skip_backlog: false,
        commit: Commit::Yes,
    };
    let (mut last, mut risky) = (0usize, 0usize);
    // Restart after every failure, as a timer would, until a run reaches the end.
    for _ in 0..200 {
        let sinks = Fanout::new(vec![Box::new(FakeSink {
            script: sink_script.clone(),
            delivered: delivered.clone(),
            died: died.clone(),
        })]);
        let mut c = Collector {
            store: store.clone(),
            sinks: &sinks,
            tenant: "default",
            tag: None,
            ledger_size: 1000,
            progress: None,
            enrich: false,
        };
        let result = rt.block_on(c.collect(&source, &opts, &rx));
        if std::mem::take(&mut *died.lock().unwrap()) {
            risky += 1;
        }
        let now = checkpoint(&store);
        prop_assert!(now >= last, "checkpoint moved backwards: {last} -> {now}");
        last = now;
        drop(sinks);
        if result.is_ok() {
            break;
        }
    }
    prop_assert_eq!(last, len, "a healthy run reaches the end");
    let got = delivered.lock().unwrap().clone();
    let unique: HashSet<&String> = got.iter().collect();
    for id in &stream {
        prop_assert!(unique.contains(id), "lost {}", id);
    }
    prop_assert!(
        got.len() - unique.len() <= risky * 8,
        "{} duplicates for {} pages in flight",
        got.len() - unique.len(),
        risky
    );
    Ok(())
}

fn api_step() -> impl Strategy<Value = Api_> {
    prop_oneof![6 => Just(Api_::Ok), 1 => Just(Api_::Unavailable), 1 => Just(Api_::Messy)]
}

fn sink_step() -> impl Strategy<Value = SinkDo> {
    prop_oneof![6 => Just(SinkDo::Accept), 1 => Just(SinkDo::Refuse), 1 => Just(SinkDo::WriteThenDie)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn fetch_and_commit_never_loses(len in 0usize..120, api in proptest::collection::vec(api_step(), 0..40),
                                    sink in proptest::collection::vec(sink_step(), 0..40)) {
        run_model(len, api, sink)?;
    }
}
