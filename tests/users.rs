//! The Admin user source: paged snapshot, changed-only afterwards, the per-fetch maximum.

mod common;

use common::{Harness, Opts, backlog, code, lines, stderr};

fn users_only(h: &Harness) {
    h.write_config(&Opts { users: true, events: false, ..Opts::default() });
}

#[test]
fn snapshot_then_changed_only() {
    let h = Harness::start(backlog(0), 600);
    users_only(&h);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let first = lines(&out);
    assert_eq!(first.len(), 600, "every user once");
    let ids: std::collections::HashSet<_> = first.iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 600);
    for v in &first {
        assert_eq!(v["source_log_type"], "auditusers");
        assert_eq!(v["product"], "admin");
        assert!(v["email"].is_string());
    }
    let requests = h.sim.stats().admin_requests;
    assert_eq!(requests, 3, "600 users in pages of 250");

    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(lines(&out).is_empty(), "unchanged users are not sent again");

    h.sim.modify_users(5);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let changed = lines(&out);
    assert_eq!(changed.len(), 5, "only the changed users");
    let before: std::collections::HashSet<_> =
        first.iter().map(|v| v["event_id"].as_str().unwrap().to_owned()).collect();
    assert!(changed.iter().all(|v| !before.contains(v["event_id"].as_str().unwrap())), "a change is a new event");
}

#[test]
fn per_fetch_maximum_for_users() {
    let h = Harness::start(backlog(0), 600);
    users_only(&h);
    let cfg = std::fs::read_to_string(&h.config).unwrap().replace(
        "[sources.user_data]\nenabled = true",
        "[sources.user_data]\nenabled = true\nmax_users_per_fetch = 250",
    );
    std::fs::write(&h.config, cfg).unwrap();
    let mut seen = std::collections::HashSet::new();
    for expected in [250, 250, 100, 0] {
        let out = h.run(&["fetch"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let l = lines(&out);
        assert_eq!(l.len(), expected);
        for v in l {
            assert!(seen.insert(v["id"].as_str().unwrap().to_owned()), "no user twice");
        }
    }
    assert_eq!(seen.len(), 600);
}

#[test]
fn both_sources_in_one_run() {
    let h = Harness::start(backlog(50), 30);
    h.write_config(&Opts { users: true, ..Opts::default() });
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let l = lines(&out);
    assert_eq!(l.iter().filter(|v| v["source_log_type"] == "customerevent").count(), 50);
    assert_eq!(l.iter().filter(|v| v["source_log_type"] == "auditusers").count(), 30);
    assert_eq!(h.sim.stats().token_requests, 1, "one token for the whole run");
}

#[test]
fn a_user_changing_back_is_a_new_event() {
    let h = Harness::start(backlog(0), 3);
    users_only(&h);
    let strip = |v: &serde_json::Value| {
        let mut m = v.as_object().unwrap().clone();
        for k in ["_time", "_collected_at", "event_id", "source_log_type", "vendor", "product", "_change"] {
            m.remove(k);
        }
        serde_json::Value::Object(m)
    };
    let mut all = lines(&h.run(&["fetch"]));
    assert_eq!(all.len(), 3);
    for _ in 0..2 {
        h.sim.modify_users(3);
        all.extend(lines(&h.run(&["fetch"])));
    }
    // Some user went back to a state it had before (the simulator toggles closed/active).
    let states: Vec<(String, serde_json::Value)> =
        all.iter().map(|v| (v["id"].as_str().unwrap().to_owned(), strip(v))).collect();
    let repeated = states.iter().enumerate().any(|(i, s)| states[..i].contains(s));
    assert!(repeated, "the scenario needs a user returning to an earlier state: {states:#?}");
    // …and every delivered change still has its own event id.
    let ids: std::collections::HashSet<_> = all.iter().map(|v| v["event_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), all.len(), "an event id was reused for a different change");
}
