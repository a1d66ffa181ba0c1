//! The measured items. Each returns the rows of its markdown table.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use esign_collector::format::Format;
use esign_collector::state::Store;
use esign_sim::docusign::{QuotaConfig, Stats};

use super::harness::{
    HttpCounter, Keys, Measure, RawApi, Rsyslog, Sim, count_lines, file_sink, own_cpu, run, thread_cpu,
};
use super::hotpath::{self, Render};

const LEDGER: u32 = 100_000;

fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

fn per_million(cpu: Duration, events: usize) -> f64 {
    cpu.as_secs_f64() * 1e6 / events.max(1) as f64
}

fn delta(after: &Stats, before: &Stats) -> (u64, u64, u64) {
    (
        after.monitor_requests - before.monitor_requests,
        after.token_requests - before.token_requests,
        after.userinfo_requests - before.userinfo_requests,
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn e2e_row(label: &str, sink: &str, events: usize, m: &Measure, requests: u64) -> String {
    format!(
        "| {label} | {sink} | {:.0} | {:.2} | {:.1} | {:.2} | {requests} | {:.1} |",
        events as f64 / m.wall.as_secs_f64(),
        per_million(m.cpu, events),
        mib(m.max_rss_kib),
        m.wall.as_secs_f64(),
        requests as f64 * 100_000.0 / events.max(1) as f64,
    )
}

/// Three `fetch` runs (what a timer starts) with nothing new: medians of wall and CPU.
fn idle_rows(label: &str, sim: &Sim, cfg: &Path) -> String {
    let before = sim.sim.stats();
    let runs: Vec<Measure> = (0..3).map(|_| run(cfg, &["fetch"], None, None)).collect();
    let (monitor, token, userinfo) = delta(&sim.sim.stats(), &before);
    format!(
        "| {label} | {:.1} | {:.1} | {:.1} | {:.1} | {token}/{userinfo}/{monitor} |",
        median(runs.iter().map(|m| m.wall).collect()).as_secs_f64() * 1e3,
        median(runs.iter().map(|m| m.cpu).collect()).as_secs_f64() * 1e3,
        runs.iter().map(|m| m.cpu).min().unwrap_or_default().as_secs_f64() * 1e3,
        mib(runs.iter().map(|m| m.max_rss_kib).max().unwrap_or_default()),
    )
}

/// Items 1, 4, 5 (requests) and 6: `fetch --all` of `events` into the file sink, then idle
/// timer runs; at 100k also 10k more events against the full ledger. Returns (e2e, idle) rows.
pub fn scaling(keys: &Keys, events: usize) -> (Vec<String>, Vec<String>) {
    let sim = Sim::start(keys.sim_config(events));
    let out = keys.path(&format!("scale-{events}.jsonl"));
    let cfg = sim.config(keys, &format!("scale-{events}"), "", &file_sink(&out));
    let before = sim.sim.stats();
    let m = run(&cfg, &["fetch", "--all"], None, None);
    let (requests, ..) = delta(&sim.sim.stats(), &before);
    let delivered = count_lines(&out);
    assert_eq!(delivered, events, "file sink: {delivered} of {events} delivered");
    std::fs::remove_file(&out).ok();
    let full = if events as u64 >= u64::from(LEDGER) { " (full)" } else { "" };
    let label = format!("{events}");
    let mut e2e = vec![e2e_row(&label, "file", events, &m, requests)];
    let mut idle =
        vec![idle_rows(&format!("{events} events, ledger {} ids{full}", events.min(LEDGER as usize)), &sim, &cfg)];
    if events == LEDGER as usize {
        let more = 10_000;
        sim.sim.append_events(more);
        let before = sim.sim.stats();
        let m = run(&cfg, &["fetch", "--all"], None, None);
        let (requests, ..) = delta(&sim.sim.stats(), &before);
        assert_eq!(count_lines(&out), more);
        std::fs::remove_file(&out).ok();
        e2e.push(e2e_row("10000 new, ledger full (100000 ids)", "file", more, &m, requests));
        idle.push(idle_rows("110000 events, ledger 100000 ids (full, pruning)", &sim, &cfg));
    }
    (e2e, idle)
}

/// Item 2: the same backlog to syslog TCP (rsyslogd) and to the HTTP sink (NDJSON, gzip).
pub fn sinks(keys: &Keys, events: usize) -> Vec<String> {
    let sim = Sim::start(keys.sim_config(events));
    let syslog = Rsyslog::start();
    let http = HttpCounter::start();
    let runs = [
        (
            "syslog tcp → rsyslogd",
            format!(
                "[[sinks]]\ntype = \"syslog\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:{}\"\nmax_message_size = 65536\n",
                syslog.port
            ),
        ),
        ("http ndjson (gzip)", format!("[[sinks]]\ntype = \"http\"\nurl = \"{}\"\n", http.url)),
    ];
    let mut rows = Vec::new();
    for (i, (name, sink)) in runs.iter().enumerate() {
        let cfg = sim.config(keys, &format!("sink-{i}-{events}"), "", sink);
        let before = sim.sim.stats();
        let m = run(&cfg, &["fetch", "--all"], None, None);
        let (requests, ..) = delta(&sim.sim.stats(), &before);
        let delivered = if i == 0 {
            syslog.wait_for(events, Duration::from_secs(300))
        } else {
            http.lines.swap(0, std::sync::atomic::Ordering::SeqCst)
        };
        assert!(delivered >= events, "{name}: {delivered} of {events} delivered");
        rows.push(e2e_row(&events.to_string(), name, events, &m, requests));
    }
    rows
}

/// The simulator's serving rate alone: a raw client pages the whole backlog (pages of 2000),
/// rows rendered on demand or at start.
pub fn simulator(keys: &Keys, rt: &tokio::runtime::Runtime, events: usize, prerender: bool) -> Vec<String> {
    let mut sc = keys.sim_config(events);
    sc.prerender = prerender;
    let started = Instant::now();
    let sim = Sim::start(sc);
    let setup = started.elapsed();
    let (served, wall, cpu) = rt.block_on(async {
        let api = RawApi::connect(&sim, keys).await;
        let (cpu, started) = (own_cpu(), Instant::now());
        let mut cursor: Option<String> = None;
        loop {
            let (_, end) = api.page(cursor.as_deref(), 2000).await;
            if cursor.as_deref() == Some(end.as_str()) {
                break;
            }
            cursor = Some(end);
        }
        (sim.sim.stats().events_served as usize, started.elapsed(), own_cpu() - cpu)
    });
    assert_eq!(served, events);
    vec![format!(
        "| {events} | {} | {:.1} | {:.0} | {:.2} | {:.2} |",
        if prerender { "pre-rendered" } else { "on demand" },
        setup.as_secs_f64(),
        events as f64 / wall.as_secs_f64(),
        per_million(cpu, events),
        wall.as_secs_f64()
    )]
}

/// Item 3: the hot path alone against its floor, and the checkpoint commit per page.
/// Returns (hot path rows, commit rows).
pub fn hotpath(keys: &Keys, rt: &tokio::runtime::Runtime, reps: usize, pages: usize) -> (Vec<String>, Vec<String>) {
    let sim = Sim::start(keys.sim_config(pages * 2000));
    let bodies: Vec<(bytes::Bytes, String)> = rt.block_on(async {
        let api = RawApi::connect(&sim, keys).await;
        let mut out: Vec<(bytes::Bytes, String)> = Vec::new();
        for _ in 0..pages {
            let page = api.page(out.last().map(|p| p.1.as_str()), 2000).await;
            out.push(page);
        }
        out
    });
    let store = Mutex::new(Store::open(&keys.path("hotpath.db")).unwrap());
    let tenant = "bench";
    let probe = &bodies[pages - 1].0;
    let time = |f: &dyn Fn()| {
        let samples: Vec<Duration> = (0..reps)
            .map(|_| {
                let t = thread_cpu();
                f();
                thread_cpu() - t
            })
            .collect();
        median(samples)
    };
    let floor = time(&|| {
        hotpath::floor(probe);
    });
    let hot_row = |label: &str, format: Option<Format>| {
        let render = format.map(Render::new);
        let hot = time(&|| {
            let p = hotpath::page(&store, tenant, probe);
            assert_eq!(p.lines.len(), 2000);
            if let Some(r) = &render {
                assert_eq!(r.page(rt, &p), 2000);
            }
        });
        format!(
            "| {label} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} |",
            hot.as_secs_f64() * 1e6,
            hot.as_secs_f64() * 1e9 / 2000.0,
            floor.as_secs_f64() * 1e6,
            floor.as_secs_f64() * 1e9 / 2000.0,
            hot.as_secs_f64() / floor.as_secs_f64()
        )
    };
    let mut hot = vec![
        hot_row("empty", None),
        hot_row("empty, format = ecs", Some(Format::Ecs)),
        hot_row("empty, format = ocsf", Some(Format::Ocsf)),
    ];
    let commit_ms = |range: std::ops::Range<usize>| {
        let (walls, cpus): (Vec<Duration>, Vec<Duration>) = bodies[range]
            .iter()
            .map(|(body, cursor)| {
                let p = hotpath::page(&store, tenant, body);
                let (t, c) = (Instant::now(), thread_cpu());
                hotpath::commit(&store, tenant, cursor, &p, LEDGER);
                (t.elapsed(), thread_cpu() - c)
            })
            .unzip();
        let mut sorted = walls.clone();
        sorted.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        (ms(median(walls)), ms(sorted[sorted.len() * 9 / 10]), ms(sorted[sorted.len() - 1]), ms(median(cpus)))
    };
    // The ledger holds 100000 ids after 50 pages; later commits prune 2000 each.
    let filled = (pages - 1).min(LEDGER as usize / 2000);
    let mut commits = vec![("filling (0 → 100000 ids)", commit_ms(0..filled))];
    if filled < pages - 1 {
        commits.push(("full, pruning 2000 per commit", commit_ms(filled..pages - 1)));
        hot.push(hot_row("full (100000 ids)", None));
    }
    let commits = commits
        .iter()
        .map(|(label, (med, p90, max, cpu))| format!("| {label} | {med:.2} | {p90:.2} | {max:.2} | {cpu:.2} |"))
        .collect();
    (hot, commits)
}

/// Item 5b: `run` mode for `secs` with access tokens living `lifetime` seconds, new events
/// arriving all the time; counts the tokens the collector asked for.
pub fn tokens(keys: &Keys, lifetime: u64, secs: u64) -> Vec<String> {
    // A backlog the run cannot finish in `secs` at one event a request (the release build
    // drains 200,000 at 20 a request in under 7 s, inside one token lifetime), so `run` polls
    // without pause all along: a caught-up stream is polled once a minute (DocuSign's
    // guidance), which would leave nothing to measure.
    let mut sc = keys.sim_config(200_000);
    sc.token_lifetime_secs = lifetime;
    sc.prerender = false;
    let sim = Sim::start(sc);
    let out = keys.path("tokens.jsonl");
    let extra = format!("[sources.customer_events]\npage_size = 1\n\n{}", file_sink(&out));
    let cfg = sim.config(keys, "tokens", "interval = \"60s\"", &extra);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let appender = {
        let (sim, stop) = (sim.sim.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                sim.append_events(50);
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let m = run(&cfg, &["run"], Some(Duration::from_secs(secs)), None);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    appender.join().unwrap();
    let s = sim.sim.stats();
    let lifetimes = m.wall.as_secs_f64() / lifetime as f64;
    std::fs::remove_file(&out).ok();
    vec![format!(
        "| {lifetime} s | {:.1} s | {} | {} | {lifetimes:.2} | {:.2} | {:.0} | {} |",
        m.wall.as_secs_f64(),
        s.token_requests,
        s.tokens_issued,
        s.tokens_issued as f64 / lifetimes,
        s.tokens_issued as f64 * 3600.0 / m.wall.as_secs_f64(),
        s.monitor_requests,
    )]
}

/// Drain settings for item 7.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    pub per_hour: u64,
    pub time_scale: u32,
    pub hours: u32,
    pub page: usize,
    pub burst: u64,
}

/// Item 7: draining a backlog under an enforced quota, in scaled time, for whole scaled hours.
pub fn drain(keys: &Keys, d: Drain) -> Vec<String> {
    let quota = QuotaConfig {
        per_hour: d.per_hour,
        burst: d.burst,
        enforce: true,
        time_scale: d.time_scale,
        ..QuotaConfig::default()
    };
    let ceiling_requests = quota.per_hour * u64::from(d.hours);
    // Enough events that the stream never ends inside the measured hours.
    let events = usize::try_from(ceiling_requests).unwrap() * d.page * 5 / 4 + d.page;
    let mut sc = keys.sim_config(events);
    sc.quota = quota;
    sc.prerender = false;
    let sim = Sim::start(sc);
    let started = Instant::now();
    let scale = u64::from(d.time_scale);
    let out = keys.path("drain.jsonl");
    let extra = format!(
        "[sources.customer_events]\npage_size = {}\n\n[rate_limit]\nrequests_per_hour = {}\nburst = {}\nburst_window = \"{}ms\"\n\n{}",
        d.page,
        quota.per_hour * scale,
        d.burst,
        30_000 / scale,
        file_sink(&out)
    );
    let cfg = sim.config(keys, "drain", "", &extra);
    let length = Duration::from_millis(u64::from(d.hours) * 3_600_000 / scale);
    // The quota's hours start with the simulator: stop the run, and read the counters, there.
    let snapshot = {
        let sim = sim.sim.clone();
        std::thread::spawn(move || {
            std::thread::sleep(length.saturating_sub(started.elapsed()));
            sim.stats()
        })
    };
    let log = keys.path("drain.log");
    let m = run(&cfg, &["fetch", "--all"], Some(length.saturating_sub(started.elapsed())), Some(("debug", &log)));
    let s = snapshot.join().unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let pauses = text.lines().filter(|l| l.contains("Server budget exhausted")).count();
    let retries = text.lines().filter(|l| l.contains("retrying")).count();
    std::fs::remove_file(&out).ok();
    let ok = s.monitor_requests - s.status_429;
    let per_hour = s.events_served as f64 / f64::from(d.hours);
    let ceiling = quota.per_hour as f64 * d.page as f64;
    vec![format!(
        "| {} | {}× | {} | {} | {} | {:.0} | {:.0} | {:.1} % | {ok} / {ceiling_requests} | {} | {pauses} | {retries} | {:.2} | {:.1} |",
        d.per_hour,
        d.time_scale,
        d.hours,
        d.burst,
        d.page,
        per_hour,
        ceiling,
        per_hour * 100.0 / ceiling,
        s.status_429,
        m.cpu.as_secs_f64(),
        m.wall.as_secs_f64(),
    )]
}
