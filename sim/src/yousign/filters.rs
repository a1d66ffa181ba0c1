//! Query parsing for the v3 lists: `after` / `limit` cursor pagination and the deepObject
//! filters of `GET /signature_requests` (`status[in]=a,b`, `source[eq]=app`,
//! `created_at[between]=2025-03-02,2025-03-04`, …), with the spec's 400 for bad values.
//!
//! The 2026 spec: without any `source` filter only `source = public_api` requests are listed.

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};

use super::model::{Request, SOURCES};

/// Every `SignatureRequest.status` value of the 2026 spec.
const STATUSES: [&str; 10] =
    ["draft", "ongoing", "done", "deleted", "expired", "canceled", "approval", "rejected", "declined", "paused"];

/// The day-filtered timestamps of the 2026 spec.
const DAY_FIELDS: [&str; 6] =
    ["created_at", "activated_at", "completed_at", "approved_at", "rejected_at", "declined_at"];

/// A 400 reason (the `detail` of a `BadRequestResponse`).
pub(super) type Bad = String;

/// `after` and `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Page {
    /// Only items with a larger position follow.
    pub(super) after: Option<u64>,
    pub(super) limit: usize,
}

/// An opaque cursor for a position.
pub(super) fn cursor(position: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("ys:{position}"))
}

fn decode_cursor(s: &str) -> Option<u64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()?;
    String::from_utf8(raw).ok()?.strip_prefix("ys:")?.parse().ok()
}

/// Parses `after` and `limit` (1..=100, default 100).
pub(super) fn page(query: &[(String, String)]) -> Result<Page, Bad> {
    let mut p = Page { after: None, limit: 100 };
    for (k, v) in query {
        match k.as_str() {
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => p.limit = n,
                _ => return Err(format!("limit: This value should be between 1 and 100 (got \"{v}\").")),
            },
            "after" => p.after = Some(decode_cursor(v).ok_or_else(|| format!("after: Invalid cursor \"{v}\"."))?),
            _ => {}
        }
    }
    Ok(p)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Day {
    Eq(NaiveDate),
    Between(NaiveDate, NaiveDate),
    Before(NaiveDate),
    After(NaiveDate),
}

impl Day {
    fn matches(&self, at: Option<DateTime<Utc>>) -> bool {
        let Some(d) = at.map(|t| t.date_naive()) else { return false };
        match *self {
            Self::Eq(x) => d == x,
            Self::Between(a, b) => a <= d && d <= b,
            Self::Before(x) => d < x,
            Self::After(x) => d > x,
        }
    }
}

/// The filters of one `GET /signature_requests`, all of which must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RequestFilter {
    statuses: Vec<Vec<String>>,
    sources: Vec<Vec<String>>,
    days: Vec<(&'static str, Day)>,
    workspace: Option<String>,
    external_id: Option<String>,
    q: Option<String>,
    /// `label.name[eq|in]`: seeded requests carry no labels, so any label filter matches none.
    labels: bool,
}

fn split(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

fn date(field: &str, v: &str) -> Result<NaiveDate, Bad> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .filter(|_| v.len() == 10)
        .ok_or_else(|| format!("{field}: The date format required is yyyy-mm-dd (got \"{v}\")."))
}

/// `name[op]` → (`name`, `op`).
fn deep(key: &str) -> Option<(&str, &str)> {
    let (name, rest) = key.split_once('[')?;
    Some((name, rest.strip_suffix(']')?))
}

fn one_of(field: &str, values: Vec<String>, allowed: &[&str]) -> Result<Vec<String>, Bad> {
    if values.is_empty() {
        return Err(format!("{field}: This value should not be blank."));
    }
    match values.iter().find(|v| !allowed.contains(&v.as_str())) {
        Some(v) => Err(format!("{field}: The value \"{v}\" is not a valid choice.")),
        None => Ok(values),
    }
}

impl RequestFilter {
    /// Parses the query; unknown parameters are ignored, bad filter values are a 400.
    pub(super) fn parse(query: &[(String, String)]) -> Result<Self, Bad> {
        let mut f = Self::default();
        for (k, v) in query {
            if k == "q" {
                f.q = Some(v.to_lowercase());
                continue;
            }
            let Some((name, op)) = deep(k) else { continue };
            match (name, op) {
                ("status", "eq" | "in") => {
                    let vals = if op == "eq" { vec![v.clone()] } else { split(v) };
                    f.statuses.push(one_of(k, vals, &STATUSES)?);
                }
                ("source", "eq" | "in") => {
                    let vals = if op == "eq" { vec![v.clone()] } else { split(v) };
                    f.sources.push(one_of(k, vals, &SOURCES)?);
                }
                ("label.name", "eq" | "in") => f.labels = true,
                ("workspace_id", "eq") => f.workspace = Some(v.clone()),
                ("external_id", "eq") => f.external_id = Some(v.clone()),
                ("status" | "source" | "workspace_id" | "external_id" | "label.name", _) => {
                    return Err(format!("{name}: Operator \"{op}\" is not allowed."));
                }
                _ => {
                    let Some(field) = DAY_FIELDS.iter().copied().find(|d| *d == name) else { continue };
                    let day = match op {
                        "eq" => Day::Eq(date(k, v)?),
                        "before" => Day::Before(date(k, v)?),
                        "after" => Day::After(date(k, v)?),
                        "between" => match v.split_once(',') {
                            Some((a, b)) => Day::Between(date(k, a.trim())?, date(k, b.trim())?),
                            None => return Err(format!("{k}: Two dates separated by a comma are required.")),
                        },
                        _ => return Err(format!("{field}: Operator \"{op}\" is not allowed.")),
                    };
                    f.days.push((field, day));
                }
            }
        }
        Ok(f)
    }

    /// True when `r` passes every filter; no `source` filter means `public_api` only.
    pub(super) fn matches(&self, r: &Request) -> bool {
        let source_ok = if self.sources.is_empty() {
            r.source == "public_api"
        } else {
            self.sources.iter().all(|set| set.iter().any(|s| s == r.source))
        };
        source_ok
            && !self.labels
            && self.statuses.iter().all(|set| set.iter().any(|s| s == r.status))
            && self.days.iter().all(|(field, day)| day.matches(stamp(r, field)))
            && self.workspace.as_ref().is_none_or(|w| *w == r.workspace_id)
            && self.external_id.as_ref().is_none_or(|e| r.external_id.as_ref() == Some(e))
            && self.q.as_ref().is_none_or(|q| r.name.to_lowercase().contains(q))
    }
}

fn stamp(r: &Request, field: &str) -> Option<DateTime<Utc>> {
    match field {
        "created_at" => Some(r.created_at),
        "activated_at" => r.activated_at,
        "completed_at" => r.completed_at,
        "declined_at" => r.declined_at,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yousign::YousignConfig;
    use crate::yousign::model::Org;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        assert_eq!(page(&q(&[("after", &cursor(17)), ("limit", "5")])), Ok(Page { after: Some(17), limit: 5 }));
        assert_eq!(page(&[]), Ok(Page { after: None, limit: 100 }));
        for bad in [("limit", "0"), ("limit", "101"), ("limit", "x"), ("after", "nope"), ("after", "")] {
            assert!(page(&q(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn day_filters_take_dates_only() {
        assert!(RequestFilter::parse(&q(&[("created_at[after]", "2025-03-01")])).is_ok());
        assert!(RequestFilter::parse(&q(&[("created_at[between]", "2025-03-01,2025-03-04")])).is_ok());
        for bad in [
            ("created_at[after]", "2025-03-01T00:00:00+00:00"),
            ("created_at[between]", "2025-03-01"),
            ("created_at[around]", "2025-03-01"),
            ("declined_at[eq]", "2025-3-1"),
        ] {
            assert!(RequestFilter::parse(&q(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn source_defaults_to_public_api() {
        let now = Utc::now();
        let org = Org::seeded(&YousignConfig::new(), now);
        let all = RequestFilter::parse(&q(&[("source[in]", &SOURCES.join(","))])).unwrap();
        let none = RequestFilter::parse(&[]).unwrap();
        let n_all = org.requests.iter().filter(|r| all.matches(r)).count();
        let n_default = org.requests.iter().filter(|r| none.matches(r)).count();
        assert_eq!(n_all, org.requests.len());
        assert_eq!(n_default, org.requests.iter().filter(|r| r.source == "public_api").count());
        assert!(n_default < n_all);
        assert!(RequestFilter::parse(&q(&[("source[eq]", "fax")])).is_err());
        assert!(RequestFilter::parse(&q(&[("status[in]", "ongoing,nope")])).is_err());
    }

    #[test]
    fn day_semantics() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let at = Some(d("2025-03-02").and_hms_opt(23, 59, 0).unwrap().and_utc());
        assert!(Day::Eq(d("2025-03-02")).matches(at));
        assert!(Day::Between(d("2025-03-02"), d("2025-03-02")).matches(at));
        assert!(Day::After(d("2025-03-01")).matches(at) && !Day::After(d("2025-03-02")).matches(at));
        assert!(Day::Before(d("2025-03-03")).matches(at) && !Day::Before(d("2025-03-02")).matches(at));
        assert!(!Day::Eq(d("2025-03-02")).matches(None));
    }
}
