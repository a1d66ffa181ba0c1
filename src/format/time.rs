//! Event times: parsing what sources write and writing RFC 3339 UTC with the source's
//! precision.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// Parses source timestamps: RFC 3339 with any number of fractional digits, or without an
/// offset (then UTC). Returns the UTC time and how many fractional digits were written.
pub fn parse_time(s: &str) -> Option<(DateTime<Utc>, usize)> {
    let s = s.trim();
    let t = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc()))
        .ok()?;
    let digits = s.split_once('.').map_or(0, |(_, frac)| frac.chars().take_while(char::is_ascii_digit).count());
    Some((t, digits))
}

/// RFC 3339 UTC keeping the precision the source wrote (up to nanoseconds).
pub fn format_time(t: DateTime<Utc>, digits: usize) -> String {
    if digits == 0 {
        return t.to_rfc3339_opts(SecondsFormat::Secs, true);
    }
    let nanos = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ": keep `digits` of the nine.
    match nanos.find('.') {
        Some(dot) => format!("{}Z", &nanos[..=dot + digits.min(9)]),
        None => nanos,
    }
}
