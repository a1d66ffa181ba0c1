//! The Yousign pull under trouble, end to end against the Yousign simulator on 127.0.0.1:
//! rate limits enforced by the simulator and kept by the collector from Yousign's
//! `X-RateLimit-Remaining-*` headers (no 429); a reply slower than the client's timeout and a
//! truncated reply, both retried with nothing lost; a 401 mid-run (exit 3, the pages before it
//! committed, the next run resuming after them); a persistent outage (exit 5, the checkpoint
//! kept); and random SIGKILLs and crash points over the pull, none of which loses an
//! `(id, status)` or an audit trail.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)]

mod common;
#[path = "support/connect.rs"]
mod connect;
#[path = "support/yousign.rs"]
mod ys;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{RUN_TIMEOUT, code, stderr};
use connect::file_lines;
use esign_sim::yousign::{DEFAULT_API_KEY, Fault, FaultKind, RateLimits, Route};
use serde_json::Value;
use ys::serve;

const KEY_VAR: &str = "YOUSIGN_API_KEY";

/// The pull's settings for one test.
struct Pull {
    /// `[sources.yousign_signature_requests] page_size`.
    page: u32,
    /// Audit trails on, with the requests.
    trails: bool,
    /// Users pulled too.
    users: bool,
    /// `[yousign] requests_per_minute` (the collector's own pacing).
    per_minute: u32,
    /// `[yousign] timeout`.
    timeout: &'static str,
    /// `[rate_limit] max_retries`.
    retries: u32,
}

impl Default for Pull {
    fn default() -> Self {
        Self { page: 3, trails: false, users: false, per_minute: 100_000, timeout: "5s", retries: 4 }
    }
}

impl ys::Served {
    /// A v3 configuration pulling as `p` says into a file sink.
    fn write(&self, p: &Pull) {
        let text = format!(
            "[yousign]\nenvironment = \"sandbox\"\napi_key_env = \"{KEY_VAR}\"\nbase_url = \"{root}/v3\"\ntimeout = \"{timeout}\"\n\
             requests_per_minute = {rpm}\nrequests_per_hour = 1000000\n\n\
             [sources.yousign_signature_requests]\nenabled = true\npage_size = {page}\naudit_trails = {trails}\n\n\
             [sources.yousign_users]\nenabled = {users}\npage_size = 4\n\n\
             [sources.yousign_webhook_subscriptions]\nenabled = false\n\n\
             [state]\npath = \"{state}\"\n\n[rate_limit]\ninitial_backoff = \"100ms\"\nmax_backoff = \"500ms\"\nmax_retries = {retries}\n\n\
             [[sinks]]\ntype = \"file\"\npath = \"{out}\"\n",
            root = self.root,
            timeout = p.timeout,
            rpm = p.per_minute,
            page = p.page,
            trails = p.trails,
            users = p.users,
            state = self.state().display(),
            retries = p.retries,
            out = self.out().display(),
        );
        std::fs::write(self.config(), text).unwrap();
    }

    fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("esign-collector"));
        c.arg("--config").arg(self.config()).arg("fetch").env_remove("ESIGN_COLLECTOR_CONFIG");
        c.env(KEY_VAR, DEFAULT_API_KEY);
        c
    }

    fn fetch(&self) -> std::process::Output {
        self.fetch_within(RUN_TIMEOUT)
    }

    /// `fetch`, killed after `limit`.
    fn fetch_within(&self, limit: Duration) -> std::process::Output {
        let mut c = assert_cmd::Command::from_std(self.command());
        c.timeout(limit).output().unwrap()
    }

    /// The `(id, status)` of every signature request line in the sink.
    fn delivered(&self) -> Vec<(String, String)> {
        of_type(&file_lines(&self.out()), "yousign_signature_request")
            .iter()
            .map(|v| (v["id"].as_str().unwrap().to_owned(), v["status"].as_str().unwrap().to_owned()))
            .collect()
    }

    /// The `(signature request, signer)` of every audit trail line in the sink.
    #[cfg(feature = "failpoints")]
    fn trails(&self) -> BTreeSet<(String, String)> {
        of_type(&file_lines(&self.out()), "yousign_audit_trail")
            .iter()
            .map(|t| {
                (
                    t["signature_request"]["id"].as_str().unwrap().to_owned(),
                    t["signer"]["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn list_calls(&self) -> usize {
        self.sim.stats().list_calls.len()
    }
}

fn of_type(l: &[Value], t: &str) -> Vec<Value> {
    l.iter().filter(|v| v["source_log_type"] == t).cloned().collect()
}

fn statuses(s: &ys::Served) -> BTreeSet<(String, String)> {
    s.sim.signature_request_statuses().into_iter().collect()
}

/// The simulator enforces a per-minute limit below what the collector was told it may use
/// (a shared key, or production limits configured against the sandbox): the collector stops
/// when `X-RateLimit-Remaining-Minute` reaches 0 and waits for the window, so not one request
/// is refused. About a minute: Yousign's window is a minute long. One source, so one request
/// in flight: with several sources sharing the key, a request already on its way when another's
/// reply reads 0 can still meet a 429, which is then waited out as its `Retry-After` says.
#[test]
fn enforced_limits_are_kept_from_the_headers_without_a_429() {
    let pull = Pull::default();
    // How many requests a pass takes (the seed makes it the same on every simulator).
    let probe = serve(|c| c.signature_requests = 12);
    probe.write(&pull);
    let out = probe.fetch();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let needed: u64 = probe.sim.stats().requests.values().sum();
    let want = statuses(&probe);
    drop(probe);
    assert!(needed >= 4, "{needed}");
    // More than one window's worth, less than two: one wait.
    let per_minute = u32::try_from(needed.div_ceil(2)).unwrap();

    let s = serve(|c| {
        c.signature_requests = 12;
        c.limits = RateLimits { per_minute, per_hour: 10_000, enforce: true };
    });
    s.write(&pull);
    let started = Instant::now();
    let out = s.fetch_within(Duration::from_secs(100));
    let took = started.elapsed();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stats = s.sim.stats();
    assert_eq!(stats.throttled, 0, "the collector went over the enforced limit: {stats:?}");
    assert_eq!(stats.requests.values().sum::<u64>(), needed, "no request refused or repeated");
    assert!(took >= Duration::from_secs(55), "it waited for the window to reopen: {took:?}");
    assert!(took < Duration::from_secs(90), "{took:?}");
    let got: BTreeSet<_> = s.delivered().into_iter().collect();
    assert_eq!(got, want, "every request's status, nothing lost");
}

#[test]
fn slow_and_truncated_replies_are_retried_and_nothing_is_lost() {
    let s = serve(|c| c.signature_requests = 15);
    s.write(&Pull { timeout: "1s", ..Pull::default() });
    // Page 2 comes after 2.5 s, past the 1 s client timeout; page 4 comes cut in half, twice.
    s.sim.push_fault(Fault { route: Route::SignatureRequests, kind: FaultKind::Slow { millis: 0 }, times: 1 });
    s.sim.push_fault(Fault { route: Route::SignatureRequests, kind: FaultKind::Slow { millis: 2500 }, times: 1 });
    s.sim.push_fault(Fault { route: Route::SignatureRequests, kind: FaultKind::Slow { millis: 0 }, times: 1 });
    s.sim.push_fault(Fault { route: Route::SignatureRequests, kind: FaultKind::Truncated, times: 2 });
    let out = s.fetch();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stats = s.sim.stats();
    assert_eq!(stats.faults, 5, "every fault met a request: {stats:?}");
    let got = s.delivered();
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(unique.len(), got.len(), "once each");
    assert_eq!(unique, statuses(&s), "nothing lost to the faults");
    // The same pass without faults asks the same lists three times fewer.
    let clean = serve(|c| c.signature_requests = 15);
    clean.write(&Pull::default());
    assert_eq!(code(&clean.fetch()), 0);
    assert_eq!(s.list_calls(), clean.list_calls() + 3, "the slow page once more, the truncated one twice more");
    let err = stderr(&out);
    assert!(err.contains("timed out") || err.contains("timeout") || err.contains("retry"), "{err}");
}

#[test]
fn a_401_mid_run_is_exit_3_and_the_next_run_resumes_after_the_committed_pages() {
    let s = serve(|c| c.signature_requests = 20);
    s.write(&Pull { page: 2, ..Pull::default() });
    // Three pages pass, then the key is refused.
    s.sim.push_fault(Fault { route: Route::SignatureRequests, kind: FaultKind::Slow { millis: 0 }, times: 3 });
    s.sim.push_fault(Fault {
        route: Route::SignatureRequests,
        kind: FaultKind::Status { code: 401, retry_after: None },
        times: 1,
    });
    let out = s.fetch();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("API key"), "{}", stderr(&out));
    assert_eq!(s.list_calls(), 4, "no retry of a refused key");
    let first = s.delivered();
    assert!(!first.is_empty() && first.len() <= 3 * 2, "at most the three pages before the 401: {first:?}");
    let cursor = common::checkpoint(&s.state(), "yousign_signature_requests").expect("the three pages committed");
    assert!(cursor.contains("after") || cursor.contains("cursor"), "mid-pass: {cursor}");

    s.sim.clear_faults();
    let before = s.list_calls();
    let out = s.fetch();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let calls = s.sim.stats().list_calls;
    assert!(calls[before].contains("after="), "the next run resumes on the fourth page: {}", calls[before]);
    let got = s.delivered();
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(unique.len(), got.len(), "nothing delivered twice");
    assert_eq!(unique, statuses(&s), "nothing lost");
}

#[test]
fn a_persistent_outage_is_exit_5_and_keeps_the_checkpoint() {
    let s = serve(|c| c.signature_requests = 20);
    s.write(&Pull { page: 2, retries: 2, ..Pull::default() });
    s.sim.push_fault(Fault { route: Route::SignatureRequests, kind: FaultKind::Slow { millis: 0 }, times: 2 });
    s.sim.push_fault(Fault {
        route: Route::Any,
        kind: FaultKind::Status { code: 503, retry_after: None },
        times: 1000,
    });
    let out = s.fetch();
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains("503"), "{}", stderr(&out));
    assert_eq!(s.list_calls(), 2 + 3, "two pages, then the third tried 1 + max_retries times");
    let first = s.delivered();
    let kept = common::checkpoint(&s.state(), "yousign_signature_requests").expect("the two pages committed");

    // Still down: the next run fails the same way and moves nothing.
    let out = s.fetch();
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert_eq!(common::checkpoint(&s.state(), "yousign_signature_requests").unwrap(), kept);
    assert_eq!(s.delivered(), first);

    s.sim.clear_faults();
    let out = s.fetch();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = s.delivered();
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(unique.len(), got.len(), "nothing delivered twice");
    assert_eq!(unique, statuses(&s), "nothing lost");
}

/// Thirty deaths over the pull (SIGKILL at a random moment, or a crash point before the
/// sink, between the sink and the commit, or after the commit), with requests moving on
/// between runs: after a healthy run every request's current `(id, status)` and every signed
/// signer's audit trail is in the sink.
#[cfg(feature = "failpoints")]
#[test]
fn thirty_kills_lose_no_status_and_no_audit_trail() {
    use rand::{Rng, SeedableRng};

    const KILLS: usize = 30;
    let seed: u64 = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let s = serve(|c| c.signature_requests = 30);
    s.write(&Pull { page: 2, trails: true, users: true, ..Pull::default() });
    let started = Instant::now();
    let (mut kills, mut runs) = (0usize, 0usize);
    while kills < KILLS {
        assert!(started.elapsed() < Duration::from_secs(90), "too slow: {kills} kills in 90 s");
        // Requests move on in the first half; the rest settles what they became.
        if kills < KILLS / 2 && rng.gen_bool(0.5) {
            s.sim.advance(rng.gen_range(1..=6));
        }
        let point = ["before_send", "after_send", "after_commit", "sigkill", "sigkill"][rng.gen_range(0..5)];
        let mut c = s.command();
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        if point != "sigkill" {
            c.env("ESIGN_COLLECTOR_FAILPOINT", format!("{point}:{}", rng.gen_range(1..=4)));
        }
        let mut run = common::Spawned::from(c.spawn().unwrap());
        if point == "sigkill" {
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..200)));
            run.signal(libc::SIGKILL);
        }
        let status = run.wait(Duration::from_secs(30));
        runs += 1;
        let died = std::os::unix::process::ExitStatusExt::signal(&status).is_some();
        assert!(died || status.code() == Some(0), "run {runs} ({point}) failed: {status:?}");
        kills += usize::from(died);
    }
    // The deaths fell mid-pass, after some commits: the pass advanced through them.
    let (during, trails_during) = (s.delivered().len(), s.trails().len());
    assert!(during > 0 && trails_during > 0, "nothing delivered between the deaths (seed {seed})");
    let out = s.fetch();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got: BTreeSet<_> = s.delivered().into_iter().collect();
    let lost: Vec<_> = statuses(&s).into_iter().filter(|p| !got.contains(p)).collect();
    assert!(lost.is_empty(), "{} statuses lost, e.g. {:?} (seed {seed})", lost.len(), lost.first());
    let trails = s.trails();
    let missing: Vec<_> = s.sim.signed_signers().into_iter().filter(|t| !trails.contains(t)).collect();
    assert!(missing.is_empty(), "{} audit trails lost, e.g. {:?} (seed {seed})", missing.len(), missing.first());
    let users: BTreeSet<String> =
        of_type(&file_lines(&s.out()), "yousign_user").iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(users, s.sim.user_ids().into_iter().collect(), "every user");
    println!(
        "runs={runs} kills={kills} statuses={} (delivered between deaths {during}) trails={} ({trails_during}) elapsed={:?}",
        got.len(),
        trails.len(),
        started.elapsed()
    );
}
