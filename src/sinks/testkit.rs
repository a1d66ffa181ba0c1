//! Test pages for the sinks' unit tests: the one place they build a [`Batch`], so the source
//! of a test page is named here and nowhere else.

use super::{Batch, Line};
use crate::stream::TEST;

/// A line without a time whose JSON is `json` as given.
pub(crate) fn line(id: &str, json: &str) -> Line {
    timed(id, "", json)
}

/// A line at `time` (RFC 3339) whose JSON is `json` as given.
pub(crate) fn timed(id: &str, time: &str, json: &str) -> Line {
    Line { event_id: id.into(), time: time.into(), json: json.into() }
}

/// A page of customer events.
pub(crate) fn events(lines: Vec<Line>) -> Batch {
    Batch { source: &TEST, lines }
}

/// A page of customer events, one `{"id":"…"}` line per id.
pub(crate) fn ids(ids: &[&str]) -> Batch {
    events(ids.iter().map(|i| line(i, &format!("{{\"id\":\"{i}\"}}"))).collect())
}
