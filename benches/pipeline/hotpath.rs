//! The hot path alone, through the library's public API: one org-stream reply from bytes to
//! output lines (parse → dedup → normalize → serialize), its commit, rendering for a sink
//! with another format, and the floor it is compared with (`serde_json` parse and serialize
//! of the same bytes, nothing else).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use esign_collector::config::{MonitorApi, SinkConfig};
use esign_collector::connectors::docusign::{MONITOR_EVENTS, parse_monitor_reply};
use esign_collector::core::collector::{PageContext, Prepared, prepare};
use esign_collector::core::fanout::Fanout;
use esign_collector::format::Format;
use esign_collector::sinks::{Batch, Sink, SinkError, StdoutSinkConfig};
use esign_collector::state::Store;
use esign_collector::stream::Stream;

/// The stream every page here comes from.
static KIND: &Stream = &MONITOR_EVENTS;

/// Runs one org-stream reply `body` through the hot path against the ledger of `tenant`.
pub fn page(store: &Mutex<Store>, tenant: &str, body: &[u8]) -> Prepared {
    let page = parse_monitor_reply(body, MonitorApi::OrgStream, "bench").unwrap();
    let pc = PageContext {
        tenant,
        tag: None,
        kind: KIND,
        collected_at: "2026-01-01T00:00:00.000Z",
        dedup: true,
        enrich: false,
    };
    prepare(store, &pc, page.records).unwrap()
}

/// Commits a prepared page as the collector does after the sinks confirmed it.
pub fn commit(store: &Mutex<Store>, tenant: &str, cursor: &str, p: &Prepared, ledger_size: u32) {
    store.lock().unwrap().commit(tenant, KIND.key, cursor, &p.ids, &p.users, ledger_size).unwrap();
}

/// The floor: parse `body` into a `serde_json::Value` and serialize it again.
pub fn floor(body: &[u8]) -> usize {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    serde_json::to_string(&v).unwrap().len()
}

/// A sink that only counts the lines it is given, so rendering is all that is measured.
#[derive(Debug)]
struct Count(Arc<AtomicUsize>);

#[async_trait]
impl Sink for Count {
    fn name(&self) -> &'static str {
        "count"
    }

    async fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        self.0.store(batch.lines.len(), Ordering::Relaxed);
        Ok(())
    }
}

/// Prepared pages rendered as the collector's fan-out renders them for one sink in `format`.
pub struct Render {
    fanout: Fanout,
    lines: Arc<AtomicUsize>,
}

impl Render {
    pub fn new(format: Format) -> Self {
        let lines = Arc::new(AtomicUsize::new(0));
        let cfg = SinkConfig::Stdout(StdoutSinkConfig { format, include_original: false });
        Self { fanout: Fanout::configured(vec![Box::new(Count(Arc::clone(&lines)))], &[cfg]), lines }
    }

    /// Renders `p`'s lines and hands them to the counting sink; returns how many it got.
    pub fn page(&self, rt: &tokio::runtime::Runtime, p: &Prepared) -> usize {
        let batch = Batch { source: KIND, lines: p.lines.clone() };
        rt.block_on(self.fanout.send(&batch)).unwrap();
        self.lines.load(Ordering::Relaxed)
    }
}
