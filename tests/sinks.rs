//! Sinks through the real binary: fan-out to stdout and a file, and a failing sink leaving
//! the checkpoint where it was even when another sink accepted the page.

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
