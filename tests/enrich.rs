//! User data joined into events (`_user`, from the state file, no extra request) and user
//! changes visible as changes (`_change`), through the real binary.

mod common;

use common::{Harness, Opts, backlog, code, lines, stderr};
use serde_json::Value;

#[test]
fn events_carry_their_users_record_and_user_changes_name_their_fields() {
    let h = Harness::start(backlog(400), 60);
    // A tenant's sources run concurrently, and an event joins the user records stored when its
    // page is prepared: in one first run that may be before the users' page committed. So the
    // users come in a run of their own first, then the events join every one of them.
    h.write_config(&Opts { users: true, events: false, ..Opts::default() });
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let seeded = lines(&out);
    let users: Vec<&Value> = seeded.iter().filter(|l| l["source_log_type"] == "auditusers").collect();
    assert_eq!((users.len(), seeded.len()), (60, 60));
    assert!(users.iter().all(|u| u["_change"]["type"] == "observed"), "first sight of each user");
    let by_id: std::collections::HashMap<&str, &Value> =
        users.iter().map(|u| (u["id"].as_str().unwrap(), *u)).collect();
    h.write_config(&Opts { users: true, ..Opts::default() });
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let all = lines(&out);
    let events: Vec<&Value> = all.iter().filter(|l| l["source_log_type"] == "customerevent").collect();
    assert_eq!(events.len(), 400);
    assert!(all.iter().all(|l| l["source_log_type"] != "auditusers"), "no user changed");
    let mut joined = 0;
    for e in &events {
        let Some(u) = e["userId"].as_str().and_then(|id| by_id.get(id)) else {
            assert!(e.get("_user").is_none(), "an unknown user leaves the event as it was: {e}");
            continue;
        };
        joined += 1;
        let j = &e["_user"];
        assert_eq!(j["email"], u["email"]);
        assert_eq!(j["user_status"], u["user_status"]);
        assert_eq!(j["groups"].as_array().unwrap().len(), u["ds_groups"].as_array().unwrap().len());
    }
    assert!(joined > 300, "most simulated events are by directory users: {joined}");
    let requests = h.sim.stats().admin_requests;

    h.sim.modify_users(4);
    h.sim.append_events(50);
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let all = lines(&out);
    let changed: Vec<&Value> = all.iter().filter(|l| l["source_log_type"] == "auditusers").collect();
    assert_eq!(changed.len(), 4);
    for c in &changed {
        let ch = &c["_change"];
        assert_eq!(ch["type"], "updated", "{c}");
        let before = by_id[c["id"].as_str().unwrap()];
        assert_eq!(ch["previous_event_id"], before["event_id"]);
        let fields = ch["fields"].as_object().unwrap();
        assert!(!fields.is_empty(), "{c}");
        for (k, d) in fields {
            assert_eq!(d["from"], *before.get(k).unwrap_or(&Value::Null), "{k}");
            assert_eq!(d["to"], *c.get(k).unwrap_or(&Value::Null), "{k}");
        }
    }
    // Joining costs no request: only the user pass's own pages were asked for.
    assert!(h.sim.stats().admin_requests - requests <= 2);
}

#[test]
fn enrichment_can_be_turned_off() {
    let h = Harness::start(backlog(50), 20);
    h.write_config(&Opts { users: true, ..Opts::default() });
    let text = std::fs::read_to_string(&h.config).unwrap();
    let text = text.replace("api = \"org-stream\"", "api = \"org-stream\"\nenrich_users = false");
    std::fs::write(&h.config, text).unwrap();
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let all = lines(&out);
    assert_eq!(all.len(), 70);
    assert!(all.iter().all(|l| l.get("_user").is_none()));
}
