//! The Monitor event store and its positions (cursors).
//!
//! Every event has a [`Key`]: its ingestion time in Unix nanoseconds (always a multiple of
//! 100 ns, Docusign's tick) plus a sequence number that breaks ties. Both stream generations
//! page in key order, i.e. ingestion order. A cursor is an exclusive lower bound on the key;
//! the opaque form is base64url of a versioned, checksummed (time, sequence) pair, so a
//! cursor from an earlier process resumes correctly against a deterministic clock feed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};

use super::EventFeed;
use super::seed::digest;

/// Docusign timestamps carry 7 fractional digits: 100 ns.
const TICK_NANOS: i64 = 100;
/// Monitor keeps (and an absent cursor starts) seven days back.
pub(super) const WINDOW_NANOS: i64 = 7 * 86_400 * 1_000_000_000;
/// The clock feed's grid origin, 2026-01-01T00:00:00Z.
const CLOCK_EPOCH_NANOS: i64 = 1_767_225_600 * 1_000_000_000;
/// Sequence numbers of events appended to a clock feed start here, above every grid index.
const APPEND_SEQ_BASE: u64 = 1 << 62;
const CURSOR_VERSION: u8 = 1;

/// Position of an event in ingestion order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Key {
    /// Ingestion time, Unix nanoseconds.
    pub(super) at: i64,
    /// Tie-breaker for equal times.
    pub(super) seq: u64,
}

impl Key {
    /// The exclusive bound that admits everything ingested at or after `at`.
    pub(super) fn before(at: i64) -> Self {
        Self { at: at.saturating_sub(1), seq: u64::MAX }
    }
}

/// What an event's content is derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// Index in the initial backlog.
    Backlog(u64),
    /// Grid index of a clock feed.
    Tick(u64),
    /// Appended at runtime: sequence number and ingestion time (unique across processes).
    Appended { seq: u64, at: i64 },
    /// A row a scenario wrote (`scenarios.rs`): its index among the simulator's scripted rows.
    Scripted(usize),
}

impl Origin {
    /// Label and numbers for the seeded hash of this event.
    pub(super) fn seed_parts(self) -> (&'static str, [u64; 2]) {
        match self {
            Self::Backlog(i) => ("backlog", [i, 0]),
            Self::Tick(k) => ("tick", [k, 0]),
            Self::Appended { seq, at } => ("append", [seq, at.cast_unsigned()]),
            Self::Scripted(i) => ("scripted", [i as u64, 0]),
        }
    }
}

/// One stored event: its position and its content seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) key: Key,
    pub(super) origin: Origin,
}

/// All events of the tenant.
#[derive(Debug)]
pub(super) enum EventStore {
    /// A materialised list in key order (initial backlog plus appended events).
    Backlog(Vec<Entry>),
    /// A lazy grid of ticks, plus appended events.
    Clock { seed: u64, period: i64, appended: Vec<Entry> },
}

fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn round_tick(n: i64) -> i64 {
    n - n.rem_euclid(TICK_NANOS)
}

impl EventStore {
    /// Builds the store for `feed` as of `started`.
    pub(super) fn new(feed: &EventFeed, seed: u64, started: DateTime<Utc>) -> Self {
        match feed {
            EventFeed::Backlog { count, span } => {
                let end = i128::from(nanos(started));
                let span = i128::try_from(span.as_nanos()).unwrap_or(i128::MAX / 4);
                let n = i128::try_from(*count).unwrap_or(i128::MAX / 4).max(1);
                let entries = (0..*count as u64)
                    .map(|i| {
                        let at = end - span + span * (i128::from(i) + 1) / n;
                        let at = round_tick(i64::try_from(at).unwrap_or(0));
                        Entry { key: Key { at, seq: i }, origin: Origin::Backlog(i) }
                    })
                    .collect();
                Self::Backlog(entries)
            }
            EventFeed::Clock { period } => {
                let period = i64::try_from(period.as_nanos()).unwrap_or(i64::MAX).max(1_000_000);
                Self::Clock { seed, period: round_tick(period), appended: Vec::new() }
            }
        }
    }

    /// Adds `n` events ingested at `now` (or just after the newest event), after all others.
    pub(super) fn append(&mut self, n: usize, now: DateTime<Utc>) {
        let now = round_tick(nanos(now));
        let (list, base) = match self {
            Self::Backlog(list) => (list, 0),
            Self::Clock { appended, .. } => (appended, APPEND_SEQ_BASE),
        };
        for _ in 0..n {
            let at = list.last().map_or(now, |e| e.key.at.max(now));
            let seq = base + list.len() as u64;
            list.push(Entry { key: Key { at, seq }, origin: Origin::Appended { seq, at } });
        }
    }

    /// Adds scripted rows `first..first + n` ingested at `now` (or just after the newest event).
    pub(super) fn append_scripted(&mut self, first: usize, n: usize, now: DateTime<Utc>) {
        let now = round_tick(nanos(now));
        let (list, base) = match self {
            Self::Backlog(list) => (list, 0),
            Self::Clock { appended, .. } => (appended, APPEND_SEQ_BASE),
        };
        for i in first..first + n {
            let at = list.last().map_or(now, |e| e.key.at.max(now));
            let seq = base + list.len() as u64;
            list.push(Entry { key: Key { at, seq }, origin: Origin::Scripted(i) });
        }
    }

    /// Up to `limit` events with key > `after`, ingested at or before `now`, in key order.
    pub(super) fn page(&self, after: Key, limit: usize, now: DateTime<Utc>) -> Vec<Entry> {
        let now = nanos(now);
        match self {
            Self::Backlog(list) => after_in(list, after, limit, now),
            Self::Clock { seed, period, appended } => {
                // Only the last seven days exist on a clock feed.
                let after = after.max(Key::before(now - WINDOW_NANOS));
                let mut out = Vec::new();
                let mut k = first_tick_after(*seed, *period, after);
                while out.len() < limit {
                    let at = tick_at(*seed, *period, k);
                    if at > now {
                        break;
                    }
                    out.push(Entry { key: Key { at, seq: k }, origin: Origin::Tick(k) });
                    k += 1;
                }
                out.extend(after_in(appended, after, limit, now));
                out.sort_by_key(|e| e.key);
                out.truncate(limit);
                out
            }
        }
    }

    /// How many events are visible at `now` (cheap: the clock grid is counted, not built).
    pub(super) fn len(&self, now: DateTime<Utc>) -> usize {
        match self {
            Self::Backlog(list) => list.len(),
            Self::Clock { seed, period, appended } => {
                let now = nanos(now);
                let floor = Key::before(now - WINDOW_NANOS);
                let first = first_tick_after(*seed, *period, floor);
                let past_now = first_tick_after(*seed, *period, Key { at: now, seq: u64::MAX });
                let ticks = usize::try_from(past_now.saturating_sub(first)).unwrap_or(usize::MAX);
                ticks + after_in(appended, floor, usize::MAX, now).len()
            }
        }
    }

    /// The materialised list of a backlog feed (empty for a clock feed).
    pub(super) fn backlog(&self) -> &[Entry] {
        match self {
            Self::Backlog(list) => list,
            Self::Clock { .. } => &[],
        }
    }

    /// Every visible event, in key order.
    pub(super) fn all(&self, now: DateTime<Utc>) -> Vec<Entry> {
        self.page(Key { at: i64::MIN, seq: 0 }, usize::MAX, now)
    }
}

fn after_in(list: &[Entry], after: Key, limit: usize, now: i64) -> Vec<Entry> {
    let from = list.partition_point(|e| e.key <= after);
    list[from..].iter().take_while(|e| e.key.at <= now).take(limit).copied().collect()
}

/// Ingestion time of grid tick `k`: the grid point plus a seeded sub-second jitter that is
/// smaller than the period, so ticks stay strictly increasing.
fn tick_at(seed: u64, period: i64, k: u64) -> i64 {
    let d = digest(seed, "jitter", &[k]);
    let span = (period.min(1_000_000_000) / TICK_NANOS).max(1).cast_unsigned();
    let jitter = (u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]) % span).cast_signed();
    let base = i64::try_from(k).unwrap_or(i64::MAX).saturating_mul(period);
    CLOCK_EPOCH_NANOS.saturating_add(base).saturating_add(jitter * TICK_NANOS)
}

/// The first grid index whose key is greater than `after`.
fn first_tick_after(seed: u64, period: i64, after: Key) -> u64 {
    let offset = after.at.saturating_sub(CLOCK_EPOCH_NANOS).max(0);
    let mut k = (offset / period).cast_unsigned().saturating_sub(1);
    while (Key { at: tick_at(seed, period, k), seq: k }) <= after {
        k += 1;
    }
    k
}

/// Where a stream request starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// No cursor: seven days back.
    Default,
    /// An ISO date-time cursor: events ingested at or after it (Unix nanoseconds).
    Iso(i64),
    /// An opaque cursor this simulator issued: events after that key.
    After(Key),
}

impl Start {
    /// The exclusive lower key for this start as of `now`.
    pub(super) fn lower_key(self, now: DateTime<Utc>) -> Key {
        match self {
            Self::Default => Key::before(nanos(now) - WINDOW_NANOS),
            Self::Iso(at) => Key::before(at),
            Self::After(key) => key,
        }
    }
}

/// Parses a `cursor` query value: absent/empty, ISO 8601 date-time, or an opaque cursor.
pub(super) fn parse_cursor(raw: Option<&str>) -> Option<Start> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Some(Start::Default);
    };
    if let Some(at) = parse_iso(raw) {
        return Some(Start::Iso(at));
    }
    decode_cursor(raw).map(Start::After)
}

/// RFC 3339, or a naive date-time / date taken as UTC.
pub(super) fn parse_iso(raw: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return t.timestamp_nanos_opt();
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f") {
        return t.and_utc().timestamp_nanos_opt();
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_nanos_opt()
}

fn checksum(payload: &[u8]) -> [u8; 4] {
    let d = Sha256::new().chain_update(b"esign-sim-cursor").chain_update(payload).finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The opaque `endCursor` for a position.
pub(super) fn encode_cursor(key: Key) -> String {
    let mut buf = Vec::with_capacity(21);
    buf.push(CURSOR_VERSION);
    buf.extend_from_slice(&key.at.to_be_bytes());
    buf.extend_from_slice(&key.seq.to_be_bytes());
    let check = checksum(&buf);
    buf.extend_from_slice(&check);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A cursor for the same position as `key` under a new suffix: what an empty page whose
/// `endCursor` moved without moving the position answers.
pub(super) fn encode_moved_cursor(key: Key, suffix: u64) -> String {
    format!("{}.{suffix:x}", encode_cursor(key))
}

/// The position in an opaque cursor, or `None` if it is not one of ours.
pub(super) fn decode_cursor(raw: &str) -> Option<Key> {
    // `<position>.<suffix>`: the suffix changes where the position does not (see
    // [`encode_moved_cursor`]); only the position counts.
    let raw = raw.split_once('.').map_or(raw, |(position, _)| position);
    let buf = URL_SAFE_NO_PAD.decode(raw).ok()?;
    if buf.len() != 21 || buf[0] != CURSOR_VERSION || checksum(&buf[..17]) != buf[17..] {
        return None;
    }
    let at = i64::from_be_bytes(buf[1..9].try_into().ok()?);
    let seq = u64::from_be_bytes(buf[9..17].try_into().ok()?);
    Some(Key { at, seq })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cursor_round_trip() {
        for key in [Key { at: 0, seq: 0 }, Key { at: 1_767_225_600_123_456_700, seq: 42 }, Key::before(-5)] {
            let s = encode_cursor(key);
            assert_eq!(decode_cursor(&s), Some(key));
            assert_eq!(parse_cursor(Some(&s)), Some(Start::After(key)));
        }
    }

    #[test]
    fn garbage_cursor_rejected() {
        let good = encode_cursor(Key { at: 5, seq: 6 });
        let mut tampered = good.clone().into_bytes();
        tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for bad in ["garbage", "not a cursor!", "AAAA", &tampered, &good[..good.len() - 1]] {
            assert_eq!(parse_cursor(Some(bad)), None, "{bad}");
        }
        assert_eq!(parse_cursor(None), Some(Start::Default));
        assert_eq!(parse_cursor(Some("")), Some(Start::Default));
    }

    #[test]
    fn iso_cursors() {
        let t = 1_640_995_200 * 1_000_000_000;
        assert_eq!(parse_cursor(Some("2022-01-01T00:00:00Z")), Some(Start::Iso(t)));
        assert_eq!(parse_cursor(Some("2022-01-01T01:00:00+01:00")), Some(Start::Iso(t)));
        assert_eq!(parse_cursor(Some("2022-01-01T00:00:00.5")), Some(Start::Iso(t + 500_000_000)));
        assert_eq!(parse_cursor(Some("2022-01-01")), Some(Start::Iso(t)));
    }

    #[test]
    fn backlog_pages_cover_everything_once() {
        let now = Utc::now();
        let store = EventStore::new(&EventFeed::Backlog { count: 1000, span: Duration::from_secs(3600) }, 1, now);
        let mut after = Start::Default.lower_key(now);
        let mut seen = 0;
        loop {
            let page = store.page(after, 333, now);
            let Some(last) = page.last() else { break };
            assert!(page.windows(2).all(|w| w[0].key < w[1].key));
            seen += page.len();
            after = last.key;
        }
        assert_eq!(seen, 1000);
    }

    #[test]
    fn clock_is_deterministic_and_lazy() {
        let period = Duration::from_secs(60);
        let a = EventStore::new(&EventFeed::Clock { period }, 9, Utc::now());
        let b = EventStore::new(&EventFeed::Clock { period }, 9, Utc::now());
        let now = Utc::now();
        let all = a.all(now);
        assert!(all.len().abs_diff(7 * 24 * 60) <= 1, "one tick per minute for seven days");
        assert!(all.iter().all(|e| e.key.at <= nanos(now) && e.key.at >= nanos(now) - WINDOW_NANOS));
        assert_eq!(a.len(now), all.len());
        // A cursor from "another process" resumes exactly after its position.
        let mid = all[5000].key;
        let next = b.page(mid, 3, now);
        assert_eq!(next, all[5001..5004].to_vec());
        // Events appended to a clock feed come after every visible tick.
        let mut c = EventStore::new(&EventFeed::Clock { period }, 9, now);
        c.append(2, now);
        let tail = c.page(all[all.len() - 1].key, 10, now);
        assert_eq!(tail.len(), 2);
        assert_eq!(c.len(now), all.len() + 2);
    }
}
