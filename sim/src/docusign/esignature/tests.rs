use chrono::{Duration, TimeZone as _};

use super::*;
use crate::docusign::SimConfig;
use crate::docusign::envelopes::EnvelopeStore;
use crate::docusign::users::Directory;

fn store(n: usize) -> (EnvelopeStore, DateTime<Utc>) {
    let mut cfg = SimConfig::new(String::new());
    cfg.envelopes = n;
    let started = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
    let dir = Directory::seeded(&cfg, started);
    (EnvelopeStore::seeded(&cfg, &dir, started, Duration::days(1)), started)
}

#[test]
fn docusign_time_has_seven_decimals() {
    let t = Utc.with_ymd_and_hms(2026, 1, 15, 10, 7, 12).unwrap() + Duration::nanoseconds(123_456_789);
    assert_eq!(ds_time(t), "2026-01-15T10:07:12.1234567Z");
    assert_eq!(ds_time(t - Duration::nanoseconds(123_456_789)), "2026-01-15T10:07:12.0000000Z");
}

#[test]
fn seeded_histories_lie_before_the_start_in_time_order() {
    let (s, started) = store(40);
    assert_eq!(s.envelopes().len(), 40);
    let ts = s.transitions();
    assert!(ts.len() > 40, "{} transitions", ts.len());
    assert!(ts.windows(2).all(|w| w[0].status_changed < w[1].status_changed), "strictly ordered");
    assert!(ts.iter().all(|t| t.status_changed < ds_time(started)));
    let terminal = s.envelopes().iter().filter(|e| e.status.is_terminal()).count();
    assert!((5..40).contains(&terminal), "{terminal} terminal: some done, some in flight");
    for e in s.envelopes() {
        let mine: Vec<_> = ts.iter().filter(|t| t.envelope_id == e.id).collect();
        assert_eq!(mine.len(), e.changes.len());
        assert_eq!(mine.last().map(|t| t.status.as_str()), Some(e.status.as_str()));
        assert!(e.history.len() >= e.changes.len(), "every change has an audit entry");
        assert!(!e.recipients.is_empty() && e.recipients[0].signer);
    }
    let free_mail = s.envelopes().iter().flat_map(|e| &e.recipients).filter(|r| r.email.ends_with("@gmail.com"));
    assert!(free_mail.count() > 0, "some signers use free mail");
}

#[test]
fn advance_moves_in_flight_envelopes_then_creates_new_ones() {
    let (mut s, started) = store(6);
    let before = s.transitions().len();
    let now = started + Duration::minutes(5);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10 {
        for step in s.advance(3, now) {
            assert!(seen.insert((step.envelope.envelope_id.clone(), step.envelope.status.clone())));
            assert!(step.envelope.event.starts_with("envelope-"));
            assert!(step.recipients.iter().all(|r| r.recipient_id.is_some() && r.event.starts_with("recipient-")));
        }
    }
    assert_eq!(s.transitions().len(), before + 30);
    assert!(s.envelopes().len() > 6, "new envelopes once the seeded ones were done");
    let ts = s.transitions();
    assert!(ts.windows(2).all(|w| w[0].status_changed < w[1].status_changed), "still strictly ordered");
    // A step right after another one at the same instant still gets a later time.
    let a = s.advance(1, now);
    let b = s.advance(1, now);
    assert!(a[0].envelope.status_changed < b[0].envelope.status_changed);
}

#[test]
fn list_query_rules() {
    let now = Utc::now();
    let err = parse_list(Some("to_date=2026-01-01"), now).unwrap_err();
    assert_eq!((err.status, err.code), (StatusCode::BAD_REQUEST, "INVALID_REQUEST_PARAMETER"));
    assert!(parse_list(Some("envelope_ids=a,b"), now).is_ok(), "envelope_ids stand in for from_date");
    let err = parse_list(Some("from_date=2026-01-01&count=1001"), now).unwrap_err();
    assert_eq!(err.code, "INVALID_REQUEST_PARAMETER");
    assert!(parse_list(Some("from_date=yesterday"), now).is_err());
    let q = parse_list(Some("from_date=2026-01-01T00:00:00Z&include=recipients,documents&count=1000"), now).unwrap();
    assert!(q.recipients);
    assert_eq!((q.count, q.start, q.to, q.from_to_status.as_str()), (1000, 0, now, "changed"));
}

#[test]
fn window_semantics_one_row_per_envelope_with_the_current_status() {
    let (s, started) = store(40);
    let from = started - Duration::hours(6);
    let raw = format!("from_date={}&to_date={}", ds_time(from), ds_time(started));
    let q = parse_list(Some(&raw), Utc::now()).unwrap();
    let listed: Vec<&Envelope> = s.envelopes().iter().filter(|e| q.matches(e)).collect();
    let expected: std::collections::BTreeSet<&str> = s
        .transitions()
        .iter()
        .filter(|t| t.status_changed >= ds_time(from) && t.status_changed <= ds_time(started))
        .map(|t| t.envelope_id.as_str())
        .collect();
    assert_eq!(listed.iter().map(|e| e.id.as_str()).collect::<std::collections::BTreeSet<_>>(), expected);
    assert!(!expected.is_empty());
    // A qualifier names the status reached inside the window.
    let raw = format!("from_date={}&to_date={}&from_to_status=completed", ds_time(from), ds_time(started));
    let q = parse_list(Some(&raw), Utc::now()).unwrap();
    for e in s.envelopes().iter().filter(|e| q.matches(e)) {
        assert!(e.completed.is_some_and(|c| c >= from && c <= started));
    }
    // `status=any` excludes drafts.
    let raw = format!("from_date={}&status=any", ds_time(started - Duration::days(2)));
    let q = parse_list(Some(&raw), Utc::now()).unwrap();
    assert!(s.envelopes().iter().filter(|e| q.matches(e)).all(|e| e.status != Status::Created));
}

#[test]
fn polling_rule_is_per_envelope_and_fifteen_minutes() {
    let mut p = Polling::default();
    let t = 1_000_000;
    assert!(p.admit("A", t).is_ok());
    assert!(p.admit("b", t + 1).is_ok(), "another envelope");
    assert_eq!(p.admit("a", t + 60_000), Err(POLL_INTERVAL_MS - 60_000), "same envelope, any case");
    assert_eq!(p.violations, 1);
    assert!(p.admit("a", t + POLL_INTERVAL_MS).is_ok(), "15 minutes later");
    assert_eq!(p.violations, 1);
}
