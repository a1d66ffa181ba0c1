//! Sinks through the real binary: fan-out to stdout and a file, and a failing sink leaving
//! the checkpoint where it was even when another sink accepted the page.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, Opts, backlog, checkpoint, code, ids, stderr};

fn with_sinks(h: &Harness, sinks: &str) {
    h.write_config(&Opts { extra: sinks.to_owned(), ..Opts::default() });
}

fn file_ids(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn stdout_and_file_receive_the_same_pages() {
    let h = Harness::start(backlog(120), 0);
    let out_file = h.dir.path().join("out/events.jsonl");
    with_sinks(
        &h,
        &format!("[[sinks]]\ntype = \"stdout\"\n\n[[sinks]]\ntype = \"file\"\npath = \"{}\"\n", out_file.display()),
    );
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ids(&out), h.sim.event_ids());
    assert_eq!(file_ids(&out_file), h.sim.event_ids());
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&out_file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    h.sim.append_events(3);
    assert_eq!(code(&h.run(&["fetch"])), 0);
    assert_eq!(file_ids(&out_file).len(), 123, "appended, not overwritten");
}

#[test]
fn one_failing_sink_keeps_the_checkpoint() {
    let h = Harness::start(backlog(60), 0);
    let blocker = h.dir.path().join("blocker");
    std::fs::write(&blocker, b"not a folder").unwrap();
    with_sinks(
        &h,
        &format!(
            "[[sinks]]\ntype = \"stdout\"\n\n[[sinks]]\ntype = \"file\"\npath = \"{}\"\n",
            blocker.join("events.jsonl").display()
        ),
    );
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(stderr(&out).contains("file[1]"), "{}", stderr(&out));
    assert_eq!(checkpoint(&h.state(), "customer_events"), None, "stdout accepted, the file did not: no commit");
    // The receiver is fixed: the next run delivers everything to both.
    std::fs::remove_file(&blocker).unwrap();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(file_ids(&blocker.join("events.jsonl")), h.sim.event_ids());
}

#[test]
fn unknown_sink_type_and_key_are_config_errors() {
    let h = Harness::start(backlog(1), 0);
    with_sinks(&h, "[[sinks]]\ntype = \"kafka\"\n");
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("kafka"), "{}", stderr(&out));
    with_sinks(&h, "[[sinks]]\ntype = \"file\"\npath = \"x\"\npaht = \"y\"\n");
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("paht"), "{}", stderr(&out));
}

#[test]
fn full_disk_fails_cleanly_and_loses_nothing() {
    use std::os::unix::process::CommandExt;
    let h = Harness::start(backlog(3000), 0);
    let out_file = h.dir.path().join("events.jsonl");
    with_sinks(&h, &format!("[[sinks]]\ntype = \"file\"\npath = \"{}\"\n", out_file.display()));
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("esign-collector"));
    cmd.arg("--config").arg(&h.config).args(["fetch", "--all"]);
    // Every file the process writes may grow to 600 KiB: the sink's file fills up first.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: 600 * 1024, rlim_max: 600 * 1024 };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &raw const lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = cmd.output().unwrap();
    assert!(matches!(code(&out), 7 | 9), "exit {}: {}", code(&out), stderr(&out));
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "no half-written line");
    let delivered_before = file_ids(&out_file).len();
    assert!(delivered_before < 3000);
    // Space again: the next run delivers the rest; nothing lost, repeats only of the failed page.
    let out = h.run(&["fetch", "--all"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = file_ids(&out_file);
    let unique: std::collections::HashSet<_> = got.iter().collect();
    assert_eq!(unique.len(), 3000, "every event present");
    assert!(got.len() - 3000 <= 2000, "duplicates only from the page in flight: {}", got.len() - 3000);
}
