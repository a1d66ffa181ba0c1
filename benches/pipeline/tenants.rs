//! Item `tenants`: many tenants in one `fetch` process, each on its own simulated account
//! (own organization, own quota), Monitor customer events (org stream) to one file sink.
//! Measures a first cycle against the same per-tenant data in one tenant, then cycles with
//! nothing new, and the state file's size per tenant.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::harness::{Keys, Measure, Sim, count_lines, file_sink, run};

/// What to run.
pub struct Tenants {
    /// Tenants (and simulated accounts) in the large run.
    pub tenants: usize,
    /// Monitor events each account holds.
    pub events: usize,
}

/// One `[[tenants]]` entry per simulated account.
fn tenant_entries(sim: &Sim) -> String {
    let mut out = String::new();
    for (i, (acc, org)) in sim.sim.accounts().iter().enumerate() {
        write!(
            out,
            "[[tenants]]\nname = \"t{i:04}\"\nuser_id = \"{}\"\naccount_id = \"{acc}\"\norganization_id = \"{org}\"\n\n",
            sim.sc.user_id
        )
        .unwrap();
    }
    out
}

/// Bytes of the state file with its WAL and shared-memory files.
fn state_bytes(db: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", db.display())).ok())
        .map(|m| m.len())
        .sum()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One run's numbers for `tenants` tenants: (first cycle, idle cycles, state bytes after the
/// first cycle, state bytes after the idle cycles, Monitor/token/userinfo requests).
struct Outcome {
    first: Measure,
    events: usize,
    idle: Vec<Measure>,
    state_first: u64,
    state_idle: u64,
    requests_first: (u64, u64, u64),
}

fn measure(keys: &Keys, tenants: usize, events: usize, idle_runs: usize) -> Outcome {
    let mut sc = keys.sim_config(events);
    sc.accounts = tenants;
    let sim = Sim::start(sc);
    let name = format!("tenants-{tenants}");
    let out = keys.path(&format!("{name}.jsonl"));
    let extra = format!("{}\n{}", file_sink(&out), tenant_entries(&sim));
    let cfg = sim.config(keys, &name, "", &extra);
    let db = keys.path(&format!("{name}.db"));
    let before = sim.sim.stats();
    let first = run(&cfg, &["fetch"], None, None);
    let after = sim.sim.stats();
    let delivered = count_lines(&out);
    assert_eq!(delivered, tenants * events, "file sink: {delivered} of {} delivered", tenants * events);
    let requests_first = (
        after.monitor_requests - before.monitor_requests,
        after.token_requests - before.token_requests,
        after.userinfo_requests - before.userinfo_requests,
    );
    let state_first = state_bytes(&db);
    let idle: Vec<Measure> = (0..idle_runs).map(|_| run(&cfg, &["fetch"], None, None)).collect();
    assert_eq!(count_lines(&out), delivered, "a cycle with nothing new delivers nothing");
    std::fs::remove_file(&out).ok();
    Outcome { first, events: delivered, idle, state_first, state_idle: state_bytes(&db), requests_first }
}

fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

/// The rows of the table: one tenant, then `t.tenants`, first cycle and nothing-new cycles.
pub fn tenants(keys: &Keys, t: &Tenants) -> Vec<String> {
    let one = measure(keys, 1, t.events, 3);
    let many = measure(keys, t.tenants, t.events, 3);
    let per_event = |o: &Outcome| o.first.cpu.as_secs_f64() * 1e6 / o.events.max(1) as f64;
    let base = per_event(&one);
    let mut rows = Vec::new();
    for (n, o) in [(1, &one), (t.tenants, &many)] {
        let (monitor, token, userinfo) = o.requests_first;
        let idle_cpu = median(o.idle.iter().map(|m| m.cpu).collect());
        let idle_rss = o.idle.iter().map(|m| m.max_rss_kib).max().unwrap_or_default();
        rows.push(format!(
            "| {n} | {} | first | {} | {:.3} | {:.1} | {:+.1} % | {:.1} | {:.1} | {token}/{userinfo}/{monitor} | {:.1} |",
            t.events,
            o.events,
            o.first.cpu.as_secs_f64(),
            per_event(o),
            (per_event(o) / base - 1.0) * 100.0,
            mib(o.first.max_rss_kib),
            o.first.wall.as_secs_f64(),
            o.state_first as f64 / 1024.0 / n as f64,
        ));
        rows.push(format!(
            "| {n} | {} | nothing new (median of {}) | 0 | {:.3} | | | {:.1} | {:.1} | | {:.1} |",
            t.events,
            o.idle.len(),
            idle_cpu.as_secs_f64(),
            mib(idle_rss),
            median(o.idle.iter().map(|m| m.wall).collect()).as_secs_f64(),
            o.state_idle as f64 / 1024.0 / n as f64,
        ));
    }
    rows
}
