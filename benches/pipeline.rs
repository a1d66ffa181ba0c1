//! The performance benchmark: every measurement of the "Performance" issue, printed as
//! markdown tables. The collector is the release binary run as a child process against an
//! in-thread simulator on loopback (no artificial latency), so its CPU (wait4) and peak RSS
//! (`VmHWM`) are its own. Nothing here asserts timings.
//!
//! ```text
//! cargo bench --bench pipeline                       # everything (about 15 minutes)
//! cargo bench --bench pipeline -- --quick            # sizes 10k and 100k, shorter token/drain runs
//! cargo bench --bench pipeline -- --items e2e,hotpath --sizes 100000
//! ```
//!
//! Items: `sim` (simulator serving rate), `e2e` (fetch --all to the file sink and idle timer
//! runs at each size; with 100000 also 10k more against the full ledger), `sinks` (syslog TCP
//! and HTTP at the largest size), `hotpath` (hot path vs serde_json floor, commit per page),
//! `tokens` (token requests in `run` mode), `drain` (drain rate under DocuSign's quota),
//! `connect` (Connect messages per second with durable acknowledgement, time to acknowledge),
//! `yousign` (a Yousign pull pass: signature requests, audit trails and users, then a pass with
//! nothing new), `yousign-webhook` (Yousign webhook messages with durable acknowledgement),
//! `tenants` (1,000 tenants on 1,000 simulated accounts in one `fetch`: first cycle against one
//! tenant with the same data, nothing-new cycles, state file per tenant).
//! Options: `--sizes a,b,c`, `--reps N`, `--token-lifetime S`, `--token-secs S`,
//! `--drain-per-hour N`, `--drain-scale N`, `--drain-hours N`, `--drain-page N`, `--drain-burst N`,
//! `--connect-messages N`, `--yousign-requests N`, `--yousign-users N`, `--yousign-messages N`,
//! `--yousign-reps N` (runs per measurement, median reported), `--tenants N`, `--tenant-events N`.
//!
//! Under `cargo test` (no `--bench`) it is a smoke test of every item at toy sizes.
#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::zombie_processes,
    clippy::missing_panics_doc,
    clippy::naive_bytecount,
    clippy::struct_field_names,
    clippy::too_many_lines,
    clippy::unchecked_time_subtraction,
    unreachable_pub
)]

#[path = "../tests/support/rsyslog.rs"]
#[allow(dead_code, unreachable_pub, clippy::all, clippy::pedantic)]
mod rsyslog;

#[path = "pipeline/connect.rs"]
mod connect;
#[path = "pipeline/harness.rs"]
mod harness;
#[path = "pipeline/hotpath.rs"]
mod hotpath;
#[path = "pipeline/items.rs"]
mod items;
#[path = "pipeline/tenants.rs"]
mod tenants;
#[path = "pipeline/timer.rs"]
mod timer;
#[path = "pipeline/yousign.rs"]
mod yousign;

use std::collections::HashMap;

/// Parsed command line: `--key value` pairs, plus `--quick` and `--bench` flags.
struct Args {
    map: HashMap<String, String>,
    benching: bool,
    quick: bool,
}

impl Args {
    fn parse() -> Self {
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let mut map = HashMap::new();
        let mut it = argv.iter().peekable();
        while let Some(a) = it.next() {
            if let Some(key) = a.strip_prefix("--")
                && let Some(v) = it.next_if(|v| !v.starts_with("--"))
            {
                map.insert(key.to_owned(), v.clone());
            }
        }
        let benching = argv.iter().any(|a| a == "--bench");
        let quick = argv.iter().any(|a| a == "--quick");
        Self { map, benching, quick }
    }

    fn num<T: std::str::FromStr>(&self, key: &str, bench: T, quick: T, smoke: T) -> T {
        self.map.get(key).and_then(|v| v.parse().ok()).unwrap_or(if !self.benching {
            smoke
        } else if self.quick {
            quick
        } else {
            bench
        })
    }

    fn list(&self, key: &str, default: &str) -> Vec<String> {
        self.map.get(key).map_or(default, String::as_str).split(',').map(str::to_owned).collect()
    }
}

fn table(title: &str, note: &str, header: &str, rows: &[String]) {
    let cols = header.matches('|').count() - 1;
    println!("\n### {title}\n\n{note}\n\n{header}\n|{}", "---|".repeat(cols));
    for r in rows {
        println!("{r}");
    }
}

fn main() {
    let args = Args::parse();
    let all = "sim,e2e,sinks,hotpath,tokens,drain,connect,yousign,yousign-webhook,tenants,timer2000";
    let items = args.list("items", all);
    let wants = |i: &str| items.iter().any(|x| x == i);
    let sizes: Vec<usize> = if args.benching {
        let default = if args.quick { "10000,100000" } else { "10000,100000,1000000" };
        args.list("sizes", default).iter().map(|s| s.parse().unwrap()).collect()
    } else {
        vec![2000]
    };
    let largest = *sizes.iter().max().unwrap();
    let reps = args.num("reps", 20, 10, 1);
    let keys = harness::Keys::new();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "esign-collector benchmark: release binary as a child, simulator in-thread on loopback, {} CPUs, load average at start {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );

    if wants("sim") {
        let mut rows = items::simulator(&keys, &rt, largest, false);
        rows.extend(items::simulator(&keys, &rt, largest, true));
        table(
            "Simulator serving rate alone",
            "A raw client pages the org stream in pages of 2000; CPU is this whole process (simulator and client). The other items pre-render.",
            "| events | rows | setup s | events/s | CPU s per 1M events | wall s |",
            &rows,
        );
    }
    if wants("e2e") {
        let (mut e2e, mut idle) = (Vec::new(), Vec::new());
        for &n in &sizes {
            let (e, i) = items::scaling(&keys, n);
            e2e.extend(e);
            idle.extend(i);
        }
        if wants("sinks") {
            e2e.extend(items::sinks(&keys, largest));
        }
        table(
            "End to end: fetch --all",
            "Pages of 2000, org stream. CPU is the collector process alone (user + system). Requests are Monitor requests seen by the simulator.",
            "| events | sink | events/s | CPU s per 1M events | peak RSS MiB | wall s | requests | requests per 100k events |",
            &e2e,
        );
        table(
            "Timer run with nothing new: fetch",
            "Medians of three runs, each with a warm token cache (an earlier run cached the token). Requests are token/userinfo/Monitor over all three runs.",
            "| state | wall ms | CPU ms | CPU ms (min) | peak RSS MiB | requests |",
            &idle,
        );
    } else if wants("sinks") {
        table(
            "End to end: fetch --all",
            "",
            "| events | sink | events/s | CPU s per 1M events | peak RSS MiB | wall s | requests | requests per 100k events |",
            &items::sinks(&keys, largest),
        );
    }
    if wants("hotpath") {
        let (hot, commits) = items::hotpath(&keys, &rt, reps, args.num("hotpath-pages", 80, 80, 3));
        table(
            "Hot path alone (one page of 2000)",
            &format!(
                "hotpath::page (parse, dedup against the ledger, normalize, serialize) vs hotpath::floor (serde_json parse and serialize of the same bytes); the `format = ecs|ocsf` rows add rendering the page as those sinks would (hotpath::Render, through the sinks' fan-out); thread CPU time, medians of {reps}."
            ),
            "| ledger | hot path µs | ns per event | floor µs | floor ns per event | ratio |",
            &hot,
        );
        table(
            "Checkpoint commit per page (hotpath::commit, WAL, synchronous=FULL)",
            "One transaction: cursor plus 2000 ledger ids (and pruning once the ledger holds 100000). Wall time (fsync waits included) and thread CPU time.",
            "| ledger | median ms | p90 ms | max ms | CPU ms (median) |",
            &commits,
        );
    }
    if wants("timer2000") {
        table(
            "Timer run with 2,000 new events: fetch",
            "One `fetch` with a warm state file (an earlier `fetch --all` read the backlog and cached the token) and exactly 2,000 new Monitor events (one page), to a file sink. CPU is the collector process alone (wait4); medians, min and max over the runs. Requests: token/userinfo/Monitor per run.",
            "| format | backlog before | runs | CPU ms | CPU ms (min) | CPU ms (max) | wall ms | peak RSS MiB | requests |",
            &timer::timer2000(&keys, args.num("timer-runs", 9, 5, 1), args.num("timer-full", 100_000, 100_000, 2000)),
        );
    }
    if wants("tokens") {
        let lifetime = args.num("token-lifetime", 10, 10, 3);
        let secs = args.num("token-secs", 60, 30, 4);
        table(
            "Token economy in run mode",
            "a 200,000-event backlog read one event a request, so `run` polls without pause all along; the collector renews a token a tenth of its lifetime early.",
            "| token lifetime | run | token requests | tokens issued | run ÷ lifetime | tokens per lifetime | tokens per hour | Monitor requests |",
            &items::tokens(&keys, lifetime, secs),
        );
    }
    if wants("connect") {
        let n = args.num("connect-messages", 4000, 2000, 40);
        table(
            "DocuSign Connect: sustained messages with durable acknowledgement",
            "`run` with [receivers.connect] and a file sink; each client POSTs signed JSON SIM messages (about 900 bytes) one after another, a new connection each. A 200 is sent only after the inbox transaction committed (WAL, synchronous=FULL). Time to acknowledge: connect to status line. CPU is the collector process alone, over the whole run (delivery to the sink included).",
            "| clients | messages | messages/s | p50 ms | p99 ms | max ms | collector CPU ms per 1k messages |",
            &connect::connect(&keys, n, &[1, 4]),
        );
    }
    let yousign_reps = args.num("yousign-reps", 3, 3, 1);
    if wants("yousign") {
        let p = yousign::Pull {
            requests: args.num("yousign-requests", 5000, 5000, 60),
            users: args.num("yousign-users", 2000, 2000, 20),
            reps: yousign_reps,
        };
        table(
            "Yousign pull: fetch (signature requests with audit trails, users) → file",
            &format!(
                "The Yousign simulator on loopback with limits no run reaches (not enforced); `[sources.yousign_signature_requests] audit_trails = true` (one request per signed signer), `[sources.yousign_users]`, pages of 100. Three passes on a fresh state file: the trails source runs beside the requests source, so the trails the first pass queues are read by the second; the third has nothing new. Medians of {yousign_reps} (peak RSS: the largest). CPU is the collector process alone (wait4). Requests: every request the simulator answered in the pass; the last column is what they take at Yousign's production limits (60/min, 1,200/h), which bound a real pass far more than CPU does."
            ),
            "| organisation | pass | records (signature request statuses, audit trails, users) | wall s | records/s | collector CPU s | CPU ms per 1k records | peak RSS MiB | requests (by route) | at production limits |",
            &yousign::pull(&keys, p),
        );
    }
    if wants("yousign-webhook") {
        let n = args.num("yousign-messages", 4000, 2000, 40);
        table(
            "Yousign webhooks: sustained messages with durable acknowledgement",
            &format!(
                "`run` with [receivers.yousign] and a file sink, no source enabled; each client POSTs signed v3 `signer.done` messages (X-Yousign-Signature-256, about 300 bytes) one after another, a new connection each. A 200 is sent only after the inbox transaction committed (WAL, synchronous=FULL). Time to acknowledge: connect to reply read. Yousign's first attempt times out after 1 s: the last but one column counts answers slower than that over all runs. Medians of {yousign_reps} runs (max: each run's in brackets). CPU is the collector process alone, over the whole run (delivery to the sink included)."
            ),
            "| clients | messages | messages/s | p50 ms | p99 ms | max ms | answers ≥ 1 s | collector CPU ms per 1k messages |",
            &yousign::push(&keys, n, &[1, 4], yousign_reps),
        );
    }
    if wants("tenants") {
        let t = tenants::Tenants {
            tenants: args.num("tenants", 1000, 200, 3),
            events: args.num("tenant-events", 100, 100, 5),
        };
        table(
            "Many tenants in one process: fetch, one simulated account each",
            "Each tenant on its own simulated account and organization (own quota, counted, not enforced), Monitor customer events (org stream, the only source: it is what every tenant has; Admin and eSignature would add their own requests per tenant), all tenants to one file sink, `tenant_concurrency` 4 (default). First cycle: a fresh state file (a token per tenant). Nothing new: the next three `fetch` runs, medians of CPU and wall, the largest peak RSS. CPU is the collector process alone (wait4). vs 1: CPU per event against the one-tenant run with the same per-tenant data. State: file + WAL + SHM, per tenant. Requests: token/userinfo/Monitor in the first cycle.",
            "| tenants | events per tenant | cycle | events | CPU s | CPU µs per event | vs 1 | peak RSS MiB | wall s | requests | state KiB per tenant |",
            &tenants::tenants(&keys, &t),
        );
    }
    if wants("drain") {
        // The collector's requests_per_hour (quota × scale) must stay within its 1,000,000.
        let d = items::Drain {
            per_hour: args.num("drain-per-hour", 3000, 3000, 30),
            time_scale: args.num("drain-scale", 30, 60, 3600),
            hours: args.num("drain-hours", 1, 1, 1),
            page: args.num("drain-page", 100, 100, 1),
            burst: args.num("drain-burst", 500, 500, 500),
        };
        table(
            "Drain under DocuSign's quota (enforced by the simulator, scaled time)",
            "The collector is configured with the same limits scaled (requests_per_hour × scale, burst_window ÷ scale). Ceiling: quota × page events per hour. Pauses: the collector saw a budget of 0 and waited for the reset; retries: failed requests retried. Collector CPU over the run's wall time shows whether it, not the quota, was the limit.",
            "| quota per hour | time scale | hours | burst | page | events per hour | ceiling | of ceiling | ok requests / quota | 429s | pauses | retries | collector CPU s | run s |",
            &items::drain(&keys, d),
        );
    }
}
