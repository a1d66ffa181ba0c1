//! Push and poll together: with `[receivers.connect]` and `[sources.envelopes]`, polling is
//! the safety net. Connect delivers every envelope's latest transition but two (as a Connect
//! outage would lose them); the next polling pass emits exactly those two, marked
//! `_connect_gap`, and `status` counts them; the transitions Connect delivered are not
//! emitted again.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)]

mod common;
#[path = "support/connect.rs"]
mod connect;

use std::collections::{BTreeMap, BTreeSet};

use common::{Harness, Opts, backlog, code, stderr};
use connect::{Daemon, file_lines, out_file, post, signed, tables};
use serde_json::{Value, json};

const KEY: &str = "reconcile-hmac-key=";

/// A Connect message for an envelope's transition, with the envelope summary Connect sends
/// with `includeData` (the change time spelled with an offset, as another writer may).
fn connect_message(account: &str, envelope: &str, event: &str, status: &str, changed: &str) -> Vec<u8> {
    let spelled = changed.replace('Z', "+00:00");
    serde_json::to_vec(&json!({"event": event, "apiVersion": "v2.1",
        "uri": format!("/restapi/v2.1/accounts/{account}/envelopes/{envelope}"), "retryCount": 0,
        "configurationId": 10_501, "generatedDateTime": changed,
        "data": {"accountId": account, "userId": "11111111-2222-3333-4444-555555555555", "envelopeId": envelope,
                 "envelopeSummary": {"status": status, "statusChangedDateTime": spelled, "emailSubject": "Please sign"}}}))
    .unwrap()
}

#[test]
fn polling_emits_exactly_the_transitions_connect_never_delivered() {
    let h = Harness::start(backlog(0), 0);
    let account = h.sc.account_id.clone();
    let receiver = format!("{}hmac_keys_env = [\"DS_HMAC\"]\n", tables(&out_file(h.dir.path()), ""));
    let envelopes = "\n[sources.envelopes]\nenabled = true\nfirst_fetch = \"30d\"\nconnect_grace = \"1m\"\n";

    // Each envelope's latest transition (what the list shows), in time order.
    let mut latest: BTreeMap<String, esign_sim::docusign::Transition> = BTreeMap::new();
    for t in h.sim.envelope_transitions() {
        latest.insert(t.envelope_id.clone(), t);
    }
    let listed: Vec<_> = latest.values().cloned().collect();
    assert!(listed.len() >= 10, "the simulator seeds envelopes with histories: {}", listed.len());
    let lost: BTreeSet<String> = listed.iter().take(2).map(|t| t.envelope_id.clone()).collect();

    // Connect delivers the others while only the receiver runs.
    h.write_config(&Opts { events: false, users: false, extra: receiver.clone(), ..Opts::default() });
    let d = Daemon::start(&h.config, &[("DS_HMAC", KEY)], false);
    for t in listed.iter().filter(|t| !lost.contains(&t.envelope_id)) {
        let event = format!("envelope-{}", t.status);
        let body = connect_message(&account, &t.envelope_id, &event, &t.status, &t.status_changed);
        assert_eq!(post(d.addr, "/connect", &signed(&[KEY], &body), &body), 200);
    }
    let (exit, logs) = d.stop();
    assert!(exit.success(), "{logs:?}");
    let pushed = file_lines(&out_file(h.dir.path())).len();
    assert_eq!(pushed, listed.len() - 2);

    // Polling reconciles: only the two lost transitions come out of it, marked.
    h.write_config(&Opts { events: false, users: false, extra: format!("{receiver}{envelopes}"), ..Opts::default() });
    let out = h.cmd(&["fetch"]).env("DS_HMAC", KEY).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = file_lines(&out_file(h.dir.path()));
    let polled: Vec<&Value> = lines.iter().filter(|l| l["source_log_type"] == "envelopes").collect();
    let got: BTreeSet<String> = polled.iter().map(|l| l["envelopeId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(got, lost, "exactly the transitions Connect never delivered");
    assert!(polled.iter().all(|l| l["_connect_gap"] == json!(true)), "{polled:?}");
    for l in &polled {
        let t = &latest[l["envelopeId"].as_str().unwrap()];
        assert_eq!(
            (l["status"].as_str().unwrap(), l["statusChangedDateTime"].as_str().unwrap()),
            (t.status.as_str(), t.status_changed.as_str())
        );
    }
    assert!(stderr(&out).contains("Connect never delivered"), "{}", stderr(&out));

    // `status` counts the gaps (once each).
    let st = h.cmd(&["status", "--output", "json"]).env("DS_HMAC", KEY).output().unwrap();
    let doc: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(doc["connect_gaps"][0]["total"], 2, "{doc}");
    assert_eq!(doc["connect_gaps"][0]["account_id"], account.as_str());
}

#[test]
fn without_a_receiver_polling_emits_every_transition_unmarked() {
    let h = Harness::start(backlog(0), 0);
    let extra = format!(
        "[[sinks]]\ntype = \"file\"\npath = \"{}\"\n\n[sources.envelopes]\nenabled = true\nfirst_fetch = \"30d\"\n",
        out_file(h.dir.path()).display()
    );
    h.write_config(&Opts { events: false, users: false, extra, ..Opts::default() });
    let out = h.run(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = file_lines(&out_file(h.dir.path()));
    assert!(lines.len() >= 10);
    assert!(lines.iter().all(|l| l.get("_connect_gap").is_none()));
}
