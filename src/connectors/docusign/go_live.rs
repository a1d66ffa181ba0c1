//! The calls `go-live-check` makes: DocuSign's Go-Live review counts the integration key's 20
//! most recent API calls (token and userinfo calls aside), which must all succeed without
//! breaking the polling rules. These 20 are distinct, read-only, and touch no envelope
//! resource (the list is account-level).

use chrono::{Duration, Utc};

use crate::core::source::iso;

/// The calls DocuSign counts.
pub const GO_LIVE_CALLS: usize = 20;

/// The 20 read-only calls, as paths below the account's eSignature root
/// (`{base_uri}/restapi/v2.1/accounts/{accountId}`), relative to `now`.
pub fn go_live_calls(now: chrono::DateTime<Utc>) -> Vec<String> {
    let mut v: Vec<String> =
        ["", "/settings", "/groups", "/permission_profiles", "/brands"].iter().map(|p| (*p).to_owned()).collect();
    v.extend((0..5).map(|k| format!("/users?count=1&start_position={k}")));
    let day = now - Duration::minutes(1);
    v.extend((0..10).map(|k| {
        let to = day - Duration::days(k);
        let from = to - Duration::days(1);
        format!("/envelopes?from_date={}&to_date={}&from_to_status=changed&count=1", iso(from), iso(to))
    }));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_distinct_read_only_calls_without_an_envelope_resource() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z").map(|t| t.with_timezone(&Utc));
        let v = go_live_calls(now.unwrap_or_else(|_| Utc::now()));
        assert_eq!(v.len(), GO_LIVE_CALLS);
        let distinct: std::collections::HashSet<&String> = v.iter().collect();
        assert_eq!(distinct.len(), GO_LIVE_CALLS, "{v:?}");
        // The envelope list is account-level; `/envelopes/{id}` would be an envelope resource.
        assert!(v.iter().all(|p| !p.starts_with("/envelopes/")));
        assert!(v.iter().filter(|p| p.starts_with("/envelopes?")).count() == 10);
        assert!(v[19].contains("from_date=2026-11-22T09:59:00Z&to_date=2026-11-23T09:59:00Z"), "{}", v[19]);
    }
}
