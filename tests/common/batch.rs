//! Pages of output lines for the sink tests: the one place a test builds a [`Batch`], so the
//! source of a page is named here and nowhere else.

use esign_collector::connectors::docusign::{ADMIN_USERS, MONITOR_EVENTS};
use esign_collector::sinks::{Batch, Line};
use esign_collector::stream::Stream;
use serde_json::{Value, json};

/// The time of the lines built here (`_time` and [`Line::time`]).
pub const TIME: &str = "2024-05-01T10:00:00.1234567Z";

/// A page of customer events.
pub fn events(lines: Vec<Line>) -> Batch {
    page(&MONITOR_EVENTS, lines)
}

/// A page of user records.
pub fn users(lines: Vec<Line>) -> Batch {
    page(&ADMIN_USERS, lines)
}

fn page(source: &'static Stream, lines: Vec<Line>) -> Batch {
    Batch { source, lines }
}

/// A line at [`TIME`] whose JSON is `json` as given (framing tests pass pretty-printed JSON).
pub fn line(id: &str, json: impl Into<String>) -> Line {
    Line { event_id: id.into(), time: TIME.into(), json: json.into() }
}

/// A line whose JSON is `{"event_id": id, "_time": TIME}` plus `fields`.
pub fn event(id: &str, fields: &Value) -> Line {
    let mut v = json!({"event_id": id, "_time": TIME});
    for (k, f) in fields.as_object().expect("fields are a JSON object") {
        v[k] = f.clone();
    }
    line(id, v.to_string())
}

/// A realistic customer event of about 500 bytes.
pub fn typical(id: &str) -> Line {
    event(
        id,
        &json!({"eventId": id, "timestamp": TIME, "object": "Envelope", "action": "Sent", "source": "web",
                "userId": "5b5c4c8a-1d2e-4f3a-9b8c-7d6e5f4a3b2c", "accountId": "a1b2c3d4-e5f6-7a8b-9c0d-e1f2a3b4c5d6",
                "ipAddress": "203.0.113.7", "geoLocation": {"country": "DE", "city": "München"},
                "data": {"EnvelopeId": "0f9e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f", "Subject": "Please sign: NDA"},
                "source_log_type": "customerevent", "vendor": "docusign", "product": "monitor"}),
    )
}
