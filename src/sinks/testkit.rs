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

/// Checks that each case's config text is refused with an error saying every one of its
/// words. `refuse` gives the error a text is refused with (and panics if it is accepted).
pub(crate) fn assert_refused<T: AsRef<str>>(refuse: impl Fn(&str) -> String, cases: &[(T, &[&str])]) {
    for (text, says) in cases {
        let e = refuse(text.as_ref());
        for word in *says {
            assert!(e.contains(word), "{:?} was refused with {e:?}, which does not say {word:?}", text.as_ref());
        }
    }
}
