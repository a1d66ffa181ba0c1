//! Item `timer2000`: what one timer-started `fetch` costs when exactly 2,000 new Monitor events
//! wait. The release binary as a child against the in-thread simulator; the state file is warm
//! (an earlier `fetch --all` read the backlog and cached the token, sealed, in it); then each
//! run finds 2,000 events appended just before it (one page of 2,000), and writes them to a
//! file sink, raw or `format = "ecs"`. CPU is the child alone (user + system, from wait4).
//! With `TIMER2000_WRAP=<profiler command>`, one more run of each case goes under it.

use super::harness::{Keys, Measure, Sim, count_lines, file_sink, run};

/// The new events each run finds.
const NEW: usize = 2000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `runs` measured runs per case: raw and ECS after a backlog of 2,000 (a ledger of 2,000 ids
/// and growing), and raw after a backlog of `full` (a ledger at its default bound of 100,000
/// ids, pruned each run: a long-running deployment).
pub fn timer2000(keys: &Keys, runs: usize, full: usize) -> Vec<String> {
    let mut rows = Vec::new();
    let cases = [("raw", NEW, ""), ("ecs", NEW, "format = \"ecs\"\n"), ("raw, ledger full", full, "")];
    for (case, (label, backlog, format)) in cases.into_iter().enumerate() {
        let sim = Sim::start(keys.sim_config(backlog));
        let name = format!("timer2000-{case}");
        let out = keys.path(&format!("{name}.jsonl"));
        let cfg = sim.config(keys, &name, "", &format!("{}{format}", file_sink(&out)));
        // Warm: the backlog read, the token cached in the state file.
        run(&cfg, &["fetch", "--all"], None, None);
        std::fs::remove_file(&out).ok();
        let mut measured: Vec<Measure> = Vec::new();
        let mut requests = Vec::new();
        for _ in 0..runs {
            sim.sim.append_events(NEW);
            let before = sim.sim.stats();
            measured.push(run(&cfg, &["fetch"], None, None));
            let after = sim.sim.stats();
            requests.push(format!(
                "{}/{}/{}",
                after.token_requests - before.token_requests,
                after.userinfo_requests - before.userinfo_requests,
                after.monitor_requests - before.monitor_requests
            ));
            let delivered = count_lines(&out);
            assert_eq!(delivered, NEW, "timer run ({label}): {delivered} of {NEW} delivered");
            std::fs::remove_file(&out).ok();
        }
        if let Ok(wrap) = std::env::var("TIMER2000_WRAP") {
            // One more run under a profiler, e.g. `valgrind --tool=callgrind
            // --callgrind-out-file=cg.{case}` (instruction counts do not depend on the load)
            // or `perf record -g -o perf.{case}`; `{case}` becomes the case's number.
            sim.sim.append_events(NEW);
            let mut words = wrap.split_whitespace().map(|w| w.replace("{case}", &case.to_string()));
            let status = std::process::Command::new(words.next().unwrap())
                .args(words)
                .arg(env!("CARGO_BIN_EXE_esign-collector"))
                .arg("--config")
                .arg(&cfg)
                .args(["--log-level", "warn", "fetch"])
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "the profiled run failed");
            assert_eq!(count_lines(&out), NEW);
            std::fs::remove_file(&out).ok();
        }
        let cpu: Vec<f64> = measured.iter().map(|m| m.cpu.as_secs_f64() * 1e3).collect();
        requests.dedup();
        rows.push(format!(
            "| {label} | {backlog} | {runs} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            median(cpu.clone()),
            cpu.iter().copied().fold(f64::INFINITY, f64::min),
            cpu.iter().copied().fold(0.0, f64::max),
            median(measured.iter().map(|m| m.wall.as_secs_f64() * 1e3).collect()),
            measured.iter().map(|m| m.max_rss_kib).max().unwrap_or_default() as f64 / 1024.0,
            requests.join(", "),
        ));
    }
    rows
}
