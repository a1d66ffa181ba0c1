//! Prometheus metrics: one process-wide registry and the instrumentation points (the
//! `/metrics` and `/healthz` listener that `run` starts is `health::server`).
//!
//! # Architecture
//! - this file: [`Metrics`], its families and names, the recording functions.
//! - `sink.rs`: [`Metered`], a wrapper that times and counts every sink's sends.
//! - `push.rs`: the push path's requests and messages.
//! - `credentials.rs`: each tenant's refresh-token expiry and JWT key in use (set at scrape).
//!
//! # Why a process-wide registry
//! A process serves at most one `/metrics`, and the counters live where the work happens
//! (the API client, the collector loop, each sink). A `static` spares every constructor a
//! handle; recording costs a few atomic operations, so commands that serve no metrics pay
//! nothing that matters. Per-run figures (events of the last run, retries of one source) are
//! taken as differences of these counters, so the run records and the metrics always agree.

mod credentials;
mod push;
mod sink;

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::http::Counters;

pub use credentials::{CredentialGauges, credentials};
pub use push::{connect_gaps, push_messages, push_redelivery, push_request, push_requests, push_unrouted};
pub use sink::{Metered, instrument};

/// `tenant` and `source` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// State namespace.
    pub tenant: String,
    /// Source key.
    pub source: String,
}

impl SourceLabels {
    /// Labels for one source of one tenant.
    pub fn new(tenant: &str, source: &str) -> Self {
        Self { tenant: tenant.to_owned(), source: source.to_owned() }
    }
}

/// `tenant`, `source` and HTTP status `class` (`1xx`…`5xx`, `error` for no reply).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    tenant: String,
    source: String,
    class: &'static str,
}

/// `tenant`, `source` and `result` (`ok`, `failed`) of a source's run.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    tenant: String,
    source: String,
    result: &'static str,
}

/// `sink` label (the sink's name, e.g. `http[1]`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: String,
}

/// `tenant` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

type Seconds = Family<SourceLabels, Gauge<f64, AtomicU64>>;
type Timings<L> = Family<L, Histogram, fn() -> Histogram>;

fn run_buckets() -> Histogram {
    // 10 ms … ~11 min: an empty poll to a 2000-event page behind a long Retry-After.
    Histogram::new(exponential_buckets(0.01, 2.0, 17))
}

fn send_buckets() -> Histogram {
    // 1 ms … ~65 s: a local file fsync to a slow acknowledging SIEM.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Every metric of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<ClassLabels, Counter>,
    retries: Family<SourceLabels, Counter>,
    throttled: Family<SourceLabels, Counter>,
    tokens: Family<TenantLabels, Counter>,
    events: Family<SourceLabels, Counter>,
    duplicates: Family<SourceLabels, Counter>,
    pages: Family<SourceLabels, Counter>,
    runs: Family<RunLabels, Counter>,
    run_seconds: Timings<SourceLabels>,
    sink_bytes: Family<SinkLabels, Counter>,
    sink_events: Family<SinkLabels, Counter>,
    sink_errors: Family<SinkLabels, Counter>,
    sink_seconds: Timings<SinkLabels>,
    pub(crate) last_success: Seconds,
    pub(crate) checkpoint_lag: Seconds,
    pub(crate) failures: Family<SourceLabels, Gauge>,
    pub(crate) healthy: Family<SourceLabels, Gauge>,
}

impl Metrics {
    fn new() -> Self {
        let mut r = Registry::default();
        let m = Self {
            requests: Family::default(),
            retries: Family::default(),
            throttled: Family::default(),
            tokens: Family::default(),
            events: Family::default(),
            duplicates: Family::default(),
            pages: Family::default(),
            runs: Family::default(),
            run_seconds: Family::new_with_constructor(run_buckets),
            sink_bytes: Family::default(),
            sink_events: Family::default(),
            sink_errors: Family::default(),
            sink_seconds: Family::new_with_constructor(send_buckets),
            last_success: Family::default(),
            checkpoint_lag: Family::default(),
            failures: Family::default(),
            healthy: Family::default(),
            registry: Registry::default(),
        };
        r.register("esign_api_requests", "DocuSign API replies by status class (error: no reply)", m.requests.clone());
        r.register("esign_api_retries", "DocuSign API requests retried", m.retries.clone());
        r.register("esign_api_throttled", "DocuSign API replies that were rate limits (429)", m.throttled.clone());
        r.register("esign_token_requests", "OAuth token requests", m.tokens.clone());
        r.register(
            "esign_events_delivered",
            "Events every sink confirmed and the checkpoint committed",
            m.events.clone(),
        );
        r.register("esign_duplicates_dropped", "Records dropped as already delivered", m.duplicates.clone());
        r.register("esign_pages", "Pages delivered and committed", m.pages.clone());
        r.register("esign_source_runs", "Source runs by result (ok, failed)", m.runs.clone());
        r.register(
            "esign_source_run_duration_seconds",
            "Duration of one source's run in a cycle",
            m.run_seconds.clone(),
        );
        r.register("esign_sink_bytes", "Bytes of lines a sink confirmed", m.sink_bytes.clone());
        r.register("esign_sink_events", "Lines a sink confirmed", m.sink_events.clone());
        r.register("esign_sink_errors", "Pages a sink failed to confirm", m.sink_errors.clone());
        r.register("esign_sink_send_duration_seconds", "Time a sink took to confirm a page", m.sink_seconds.clone());
        r.register_collector(Box::new(UdpDatagrams));
        push::register(&mut r);
        credentials::register(&mut r);
        r.register(
            "esign_last_success_timestamp_seconds",
            "End of the last successful run of a source (Unix time)",
            m.last_success.clone(),
        );
        r.register(
            "esign_checkpoint_lag_seconds",
            "Now minus the newest event time committed (sources whose checkpoints record one)",
            m.checkpoint_lag.clone(),
        );
        r.register("esign_consecutive_failures", "Failed runs of a source since its last success", m.failures.clone());
        r.register("esign_source_healthy", "1 when the source is ok (as `status` judges), else 0", m.healthy.clone());
        Self { registry: r, ..m }
    }

    /// The registry, for encoding.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn global() -> &'static Metrics {
    &METRICS
}

/// What the collector counted for one source so far (events, pages, duplicates).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Events delivered.
    pub events: u64,
    /// Pages delivered.
    pub pages: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
}

impl Tally {
    /// What happened between `earlier` and `self`.
    #[must_use]
    pub fn since(&self, earlier: &Tally) -> Tally {
        Tally {
            events: self.events.saturating_sub(earlier.events),
            pages: self.pages.saturating_sub(earlier.pages),
            duplicates: self.duplicates.saturating_sub(earlier.duplicates),
        }
    }
}

/// The counts so far of one source.
pub fn tally(tenant: &str, source: &str) -> Tally {
    let l = SourceLabels::new(tenant, source);
    let m = global();
    Tally {
        events: m.events.get_or_create(&l).get(),
        pages: m.pages.get_or_create(&l).get(),
        duplicates: m.duplicates.get_or_create(&l).get(),
    }
}

/// The collector delivered and committed one page: `delivered` lines, `duplicates` dropped.
pub fn page_committed(tenant: &str, source: &str, delivered: usize, duplicates: u64) {
    let l = SourceLabels::new(tenant, source);
    let m = global();
    m.pages.get_or_create(&l).inc();
    m.events.get_or_create(&l).inc_by(delivered as u64);
    m.duplicates.get_or_create(&l).inc_by(duplicates);
}

/// A source's run ended: its API traffic (`api`, the difference over the run), its duration
/// and whether it succeeded.
pub fn source_finished(tenant: &str, source: &str, api: &Counters, seconds: f64, ok: bool) {
    let m = global();
    let l = SourceLabels::new(tenant, source);
    let class = |class: &'static str| ClassLabels { tenant: tenant.to_owned(), source: source.to_owned(), class };
    for (n, name) in api.by_class.iter().zip(["1xx", "2xx", "3xx", "4xx", "5xx"]) {
        if *n > 0 {
            m.requests.get_or_create(&class(name)).inc_by(*n);
        }
    }
    if api.transport_errors > 0 {
        m.requests.get_or_create(&class("error")).inc_by(api.transport_errors);
    }
    m.retries.get_or_create(&l).inc_by(api.retries);
    m.throttled.get_or_create(&l).inc_by(api.throttled);
    m.tokens.get_or_create(&TenantLabels { tenant: tenant.to_owned() }).inc_by(api.token_requests);
    let result = if ok { "ok" } else { "failed" };
    m.runs.get_or_create(&RunLabels { tenant: tenant.to_owned(), source: source.to_owned(), result }).inc();
    m.run_seconds.get_or_create(&l).observe(seconds);
}

/// A sink's send ended: `lines` and `bytes` confirmed (when `ok`), in `seconds`.
pub(crate) fn sink_sent(sink: &str, lines: usize, bytes: usize, seconds: f64, ok: bool) {
    let m = global();
    let l = SinkLabels { sink: sink.to_owned() };
    m.sink_seconds.get_or_create(&l).observe(seconds);
    if ok {
        m.sink_events.get_or_create(&l).inc_by(lines as u64);
        m.sink_bytes.get_or_create(&l).inc_by(bytes as u64);
    } else {
        m.sink_errors.get_or_create(&l).inc();
    }
}

/// `esign_syslog_udp_datagrams_total`, read at scrape time from the counts the syslog sinks
/// keep themselves (so the sinks need not know this module).
#[derive(Debug)]
struct UdpDatagrams;

impl Collector for UdpDatagrams {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let counts = crate::sinks::syslog::udp_datagram_counts();
        // Like a family nothing was recorded in: no series, no header.
        if counts.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "esign_syslog_udp_datagrams",
            "Datagrams a UDP syslog sink handed to the kernel (paced by udp_rate; receipt unknown)",
            None,
            MetricType::Counter,
        )?;
        for (sink, n) in counts {
            let labels = SinkLabels { sink };
            ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Datagrams counted so far for `sink` (what `esign_syslog_udp_datagrams_total` shows).
pub fn udp_datagrams(sink: &str) -> u64 {
    crate::sinks::syslog::udp_datagrams(sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_was_recorded() {
        page_committed("t-enc", "test_events", 7, 2);
        let api = Counters { by_class: [0, 3, 0, 0, 1], retries: 1, throttled: 0, ..Counters::default() };
        source_finished("t-enc", "test_events", &api, 0.5, true);
        sink_sent("file[0]", 7, 700, 0.01, true);
        crate::sinks::syslog::count_udp_datagrams("syslog[9]", 3);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, global().registry()).unwrap();
        for want in [
            r#"esign_events_delivered_total{tenant="t-enc",source="test_events"} 7"#,
            r#"esign_api_requests_total{tenant="t-enc",source="test_events",class="2xx"} 3"#,
            r#"esign_api_requests_total{tenant="t-enc",source="test_events",class="5xx"} 1"#,
            r#"esign_source_runs_total{tenant="t-enc",source="test_events",result="ok"} 1"#,
            r#"esign_sink_send_duration_seconds_count{sink="file[0]"}"#,
            "# TYPE esign_syslog_udp_datagrams counter\n",
            r#"esign_syslog_udp_datagrams_total{sink="syslog[9]"} 3"#,
        ] {
            assert!(out.contains(want), "{want} missing from\n{out}");
        }
        assert_eq!(tally("t-enc", "test_events"), Tally { events: 7, pages: 1, duplicates: 2 });
    }
}
