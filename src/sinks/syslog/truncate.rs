//! Fitting an event into `max_message_size` without ever sending it oversize, without
//! breaking its JSON, and keeping what a SIEM needs from it.
//!
//! The rule:
//! 1. An event that fits is sent byte for byte as it came.
//! 2. Otherwise its JSON object is parsed and its longest string values are shortened, the
//!    longest first, each to a prefix (cut on a character boundary, at least [`FLOOR`]
//!    bytes) followed by `…[truncated N bytes]`, N being the bytes removed from that value.
//!    The object gains
//!    `"_truncated": {"fields": [JSON pointers], "original_length": bytes of the original JSON}`.
//!    Keys, numbers, short strings and the key fields ([`KEEP`]) are never touched, so the
//!    result stays valid JSON with the same shape.
//! 3. When cutting every long string is not enough (real events hold dozens of short
//!    values), whole optional fields are removed as well: the fewest that make it fit, the
//!    noise of [`FIRST`] (geolocation, client details, vendor constants) before the others,
//!    the context of [`LAST`] after them, the largest first within each. `_truncated.removed`
//!    counts them; a list of their pointers would cost as much as it saves. Strings are then
//!    cut only as far as still needed. The key fields (time, event id, actor, action,
//!    result, IP, in the raw, ECS and OCSF shapes) are never removed.
//! 4. When even the key fields alone cannot fit (or the line is not a JSON object), MSG
//!    becomes `{"event_id":…,"_time":…,"_truncated":{"fields":[""],"original_length":N}}`:
//!    the pointer `""` names the whole document (RFC 6901).
//! 5. When even that cannot fit, the page fails: only an absurd event id can get there.

use serde_json::{Map, Value, json};

/// The outcome for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fit {
    /// The JSON fits as it is.
    Whole,
    /// Shortened string values; still the same object.
    Shortened(String),
    /// Shortened strings and removed optional fields; the key fields are all there.
    Reduced(String),
    /// The minimal replacement object.
    Replaced(String),
    /// Nothing fits in the budget.
    Impossible,
}

/// Fields that are never cut or removed, as JSON pointers, for every shape a line can have.
/// A pointer the event does not have is ignored.
pub(super) const KEEP: &[&str] = &[
    // Every line.
    "/event_id",
    "/_time",
    // Raw Monitor events: time, id, actor, action, result, IP, what was acted on, kind.
    "/timestamp",
    "/eventId",
    "/userId",
    "/action",
    "/result",
    "/ipAddress",
    "/object",
    "/source_log_type",
    "/_user/email",
    // Raw Admin user records.
    "/id",
    "/email",
    "/user_status",
    "/membership_status",
    "/_change",
    // ECS.
    "/@timestamp",
    "/event/id",
    "/event/action",
    "/event/outcome",
    "/event/kind",
    "/event/dataset",
    "/user/id",
    "/user/email",
    "/user/name",
    "/source/ip",
    // OCSF.
    "/time",
    "/class_uid",
    "/activity_name",
    "/status",
    "/status_id",
    "/metadata/uid",
    "/metadata/event_code",
    "/user/uid",
    "/user/email_addr",
    "/actor/user/uid",
    "/actor/user/email_addr",
    "/src_endpoint/ip",
    // OCSF Detection Finding (Monitor alerts): the actor and IP are evidence.
    "/evidences/0/actor/user/uid",
    "/evidences/0/actor/user/email_addr",
    "/evidences/0/src_endpoint/ip",
];

/// Noise removed before any other optional field.
pub(super) const FIRST: &[&str] = &[
    "/userAgentClientInfo",
    "/ipAddressLocation",
    "/latitude",
    "/longitude",
    "/city",
    "/state",
    "/country",
    "/device",
    "/browser",
    "/os",
    "/proxyStatus",
    "/proxyType",
    "/proxyLevel",
    "/property",
    "/field",
    "/site",
    "/vendor",
    "/product",
    "/_collected_at",
    "/integratorKey",
    "/isUserMemberOfDomain",
    "/referencedUserIsMemberOfDomain",
    "/affectedUserIsMemberOfDomain",
    "/organizationId",
    "/_user/groups",
    "/_user/first_name",
    "/_user/last_name",
    "/_user/id",
    "/ecs",
    "/related",
    "/source/geo",
    "/src_endpoint/location",
    "/metadata/product",
    "/unmapped",
];

/// Context removed only after every other optional field.
pub(super) const LAST: &[&str] = &[
    "/accountId",
    "/source",
    "/userAgent",
    "/_user/user_name",
    "/user_name",
    "/user/full_name",
    "/event/category",
    "/event/type",
    "/class_name",
    "/type_name",
    "/metadata/original_time",
];

/// Strings whose JSON form is no longer than this are never shortened: the marker alone
/// would make them longer.
const SHORT: usize = 64;

/// Bytes (in JSON form) a shortened string keeps at least, so it still says what it was.
pub(super) const FLOOR: usize = 16;

/// Room kept for a new marker and its `_truncated` entry, beyond the pointer's own length.
const MARKER_ROOM: usize = 96;

/// Most fields removed from one event; beyond that the minimal object is sent (bounds the
/// work for an event of thousands of keys).
const MAX_REMOVED: usize = 256;

/// Fits `json` into `budget` bytes; see the module documentation for the rule.
pub(super) fn fit(json: &str, budget: usize, event_id: &str, time: &str) -> Fit {
    if json.len() <= budget {
        return Fit::Whole;
    }
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) {
        let doc = Value::Object(map);
        if let Some(s) = shorten(doc.clone(), 0, budget, json.len()) {
            return Fit::Shortened(s);
        }
        if let Some(s) = reduce(&doc, budget, json.len()) {
            return Fit::Reduced(s);
        }
    }
    let minimal = json!({
        "event_id": event_id,
        "_time": time,
        "_truncated": { "fields": [""], "original_length": json.len() },
    })
    .to_string();
    if minimal.len() <= budget { Fit::Replaced(minimal) } else { Fit::Impossible }
}

/// A field that may be removed whole.
struct Candidate {
    /// The pointer of the object holding it, and its key there.
    parent: String,
    key: String,
    /// 0 for [`FIRST`], 2 for [`LAST`], else 1.
    tier: u8,
    /// Bytes its `"key":value,` takes.
    size: usize,
}

/// Step 3 of the rule: the fewest removals, in candidate order, after which shortening fits.
fn reduce(doc: &Value, budget: usize, original_length: usize) -> Option<String> {
    let mut candidates = Vec::new();
    sheddable(doc, "", &mut candidates);
    // Every removal shortens the message (`removed` is a count), so the fewest that fit can
    // be found by bisection.
    candidates.sort_by(|a, b| a.tier.cmp(&b.tier).then(b.size.cmp(&a.size)));
    candidates.truncate(MAX_REMOVED);
    let attempt = |k: usize| {
        let mut d = doc.clone();
        for c in &candidates[..k] {
            if let Some(Value::Object(m)) = d.pointer_mut(&c.parent) {
                m.shift_remove(&c.key);
            }
        }
        shorten(d, k, budget, original_length)
    };
    let (mut lo, mut hi) = (1, candidates.len());
    let mut best = attempt(hi)?;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match attempt(mid) {
            Some(s) => {
                best = s;
                hi = mid;
            }
            None => lo = mid + 1,
        }
    }
    Some(best)
}

/// Whether a [`KEEP`] pointer lies strictly below `pointer`.
fn holds_kept(pointer: &str) -> bool {
    KEEP.iter()
        .any(|keep| keep.len() > pointer.len() && keep.starts_with(pointer) && keep[pointer.len()..].starts_with('/'))
}

/// Every maximal object member under the object `v` that holds no [`KEEP`] field. Array
/// elements are never candidates (removing one would renumber the pointers after it); an
/// element holding a kept field is searched like an object.
fn sheddable(v: &Value, pointer: &str, out: &mut Vec<Candidate>) {
    let Value::Object(m) = v else { return };
    for (k, child) in m {
        let p = format!("{pointer}/{}", pointer_token(k));
        if k == "_truncated" || KEEP.contains(&p.as_str()) {
            continue;
        }
        match child {
            Value::Array(items) if holds_kept(&p) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{p}/{i}");
                    if holds_kept(&at) {
                        sheddable(item, &at, out);
                    }
                }
                continue;
            }
            Value::Object(_) if holds_kept(&p) => {
                sheddable(child, &p, out);
                continue;
            }
            _ => {}
        }
        let value_len = serde_json::to_string(child).map_or(0, |t| t.len());
        out.push(Candidate {
            tier: if FIRST.contains(&p.as_str()) {
                0
            } else if LAST.contains(&p.as_str()) {
                2
            } else {
                1
            },
            size: escaped_len(k) + 2 + 1 + value_len + 1,
            parent: pointer.to_owned(),
            key: k.clone(),
        });
    }
}

/// One string value that may be shortened.
struct Leaf {
    pointer: String,
    original: String,
    /// Bytes of `original` still kept; `None` while untouched.
    kept: Option<usize>,
    /// The fewest bytes it may keep ([`FLOOR`] in JSON form, on a character boundary).
    floor: usize,
}

impl Leaf {
    fn current(&self) -> usize {
        self.kept.unwrap_or(self.original.len())
    }
}

/// Step 2 of the rule on `doc` (from which `removed` fields were taken).
fn shorten(mut doc: Value, removed: usize, budget: usize, original_length: usize) -> Option<String> {
    let mut leaves = Vec::new();
    if let Value::Object(map) = &doc {
        for (k, v) in map {
            if k != "_truncated" {
                collect(v, &format!("/{}", pointer_token(k)), &mut leaves);
            }
        }
    }
    loop {
        let cut: Vec<&str> = leaves.iter().filter(|l| l.kept.is_some()).map(|l| l.pointer.as_str()).collect();
        if (!cut.is_empty() || removed > 0)
            && let Value::Object(m) = &mut doc
        {
            let mut marker = Map::new();
            marker.insert("fields".into(), json!(cut));
            if removed > 0 {
                marker.insert("removed".into(), json!(removed));
            }
            marker.insert("original_length".into(), json!(original_length));
            m.insert("_truncated".into(), Value::Object(marker));
        }
        let text = serde_json::to_string(&doc).ok()?;
        if text.len() <= budget {
            return Some(text);
        }
        let excess = text.len() - budget;
        // The longest remaining prefix gives the most for one cut.
        let leaf = leaves
            .iter_mut()
            .filter(|l| l.current() > l.floor)
            .max_by_key(|l| escaped_len(&l.original[..l.current()]))?;
        let current = leaf.current();
        let room = if leaf.kept.is_none() { MARKER_ROOM + leaf.pointer.len() } else { 0 };
        let target = escaped_len(&leaf.original[..current]).saturating_sub(excess + room);
        let mut keep = prefix_within(&leaf.original, target).min(current).max(leaf.floor);
        if keep == current {
            // Always progress, by at least one character.
            keep = leaf.original[..current].char_indices().next_back().map_or(0, |(i, _)| i).max(leaf.floor);
        }
        leaf.kept = Some(keep);
        let removed_bytes = leaf.original.len() - keep;
        let value = format!("{}…[truncated {removed_bytes} bytes]", &leaf.original[..keep]);
        *doc.pointer_mut(&leaf.pointer)? = Value::String(value);
    }
}

/// Every string value under `v` long enough to be worth shortening, outside [`KEEP`].
fn collect(v: &Value, pointer: &str, out: &mut Vec<Leaf>) {
    if KEEP.contains(&pointer) {
        return;
    }
    match v {
        Value::String(s) if escaped_len(s) > SHORT => {
            let floor = prefix_within(s, FLOOR);
            out.push(Leaf { pointer: pointer.to_owned(), original: s.clone(), kept: None, floor });
        }
        Value::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                collect(item, &format!("{pointer}/{i}"), out);
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                collect(item, &format!("{pointer}/{}", pointer_token(k)), out);
            }
        }
        _ => {}
    }
}

/// RFC 6901: `~` is written `~0` and `/` is written `~1`.
fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Bytes `c` takes inside a JSON string as serde_json writes it.
fn escaped_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

fn escaped_len(s: &str) -> usize {
    s.chars().map(escaped_char_len).sum()
}

/// The longest prefix of `s` (in bytes, on a character boundary) whose JSON form takes at
/// most `limit` bytes.
fn prefix_within(s: &str, limit: usize) -> usize {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += escaped_char_len(c);
        if used > limit {
            return i;
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fitted(json: &str, budget: usize) -> Value {
        match fit(json, budget, "id-1", "2024-01-01T00:00:00Z") {
            Fit::Shortened(s) | Fit::Reduced(s) | Fit::Replaced(s) => {
                assert!(s.len() <= budget, "{} > {budget}", s.len());
                serde_json::from_str(&s).unwrap()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fitting_events_pass_untouched() {
        assert_eq!(fit(r#"{"a":1}"#, 7, "i", "t"), Fit::Whole);
    }

    #[test]
    fn longest_string_is_cut_with_marker() {
        let json =
            json!({"event_id": "id-1", "short": "keep me", "data": {"blob": "é".repeat(3000)}, "n": 5}).to_string();
        let v = fitted(&json, 1000);
        assert_eq!(v["short"], "keep me");
        assert_eq!(v["n"], 5);
        let blob = v["data"]["blob"].as_str().unwrap();
        let (kept, marker) = blob.split_once('…').unwrap();
        assert!(kept.chars().all(|c| c == 'é') && kept.len() > 700, "{}", kept.len());
        assert_eq!(marker, format!("[truncated {} bytes]", 6000 - kept.len()));
        assert_eq!(v["_truncated"], json!({"fields": ["/data/blob"], "original_length": json.len()}));
        // Keys keep their order; the marker comes last.
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["event_id", "short", "data", "n", "_truncated"]);
    }

    #[test]
    fn several_strings_and_escapes() {
        let json =
            json!({"a/b": "\"\n".repeat(400), "list": ["x".repeat(900), "y".repeat(800)], "c~": "z".repeat(100)})
                .to_string();
        let v = fitted(&json, 600);
        let fields = v["_truncated"]["fields"].as_array().unwrap();
        assert!(fields.contains(&json!("/a~1b")) && fields.contains(&json!("/list/0")), "{fields:?}");
        for f in fields {
            let s = v.pointer(f.as_str().unwrap()).unwrap().as_str().unwrap();
            assert!(s.contains("…[truncated "), "{s}");
        }
    }

    #[test]
    fn unfittable_objects_become_minimal() {
        let many: Map<String, Value> = (0..500).map(|i| (format!("key{i}"), json!(i))).collect();
        let json = Value::Object(many).to_string();
        let v = fitted(&json, 200);
        assert_eq!(
            v,
            json!({"event_id": "id-1", "_time": "2024-01-01T00:00:00Z",
                   "_truncated": {"fields": [""], "original_length": json.len()}})
        );
        let not_json = format!("not json {}", "x".repeat(500));
        assert_eq!(fitted(&not_json, 200)["_truncated"]["original_length"], not_json.len());
        assert_eq!(fit(&not_json, 20, "id", "t"), Fit::Impossible);
    }

    /// The largest raw, ECS and OCSF events and user records of a simulator backlog.
    const SHAPES: &str = include_str!("../../../tests/fixtures/syslog-shapes.jsonl");

    #[test]
    fn real_shapes_keep_their_key_fields_at_1024_and_2048() {
        // An RFC 5424 header with a GUID event id takes about 150 bytes.
        for budget in [1024 - 150, 2048 - 150] {
            for line in SHAPES.lines() {
                let original: Value = serde_json::from_str(line).unwrap();
                let got = match fit(line, budget, "id", "t") {
                    Fit::Whole => continue,
                    Fit::Shortened(s) | Fit::Reduced(s) => s,
                    other => panic!("{budget}: a real event must keep its key fields, got {other:?}"),
                };
                assert!(got.len() <= budget, "{} > {budget}", got.len());
                let v: Value = serde_json::from_str(&got).unwrap();
                let mut kept = 0;
                for p in KEEP {
                    if let Some(want) = original.pointer(p) {
                        assert_eq!(v.pointer(p), Some(want), "{budget}: {p} lost in {got}");
                        kept += 1;
                    }
                }
                assert!(kept >= 7, "{budget}: only {kept} key fields in {line}");
                let marker = &v["_truncated"];
                assert_eq!(marker["original_length"], line.len());
                let removed = marker["removed"].as_u64().unwrap_or(0);
                assert!(removed < 40, "{budget}: {removed} removed from {line}");
            }
        }
    }

    #[test]
    fn strings_are_cut_before_fields_are_removed() {
        let json = json!({"event_id": "e", "action": "Sent", "a": "x".repeat(600), "b": "y".repeat(300),
                          "c": {"d": 1, "e": "short"}})
        .to_string();
        // Cutting both long strings is enough: nothing removed.
        let v = fitted(&json, 400);
        assert_eq!(v["c"], json!({"d": 1, "e": "short"}));
        assert!(v["_truncated"].get("removed").is_none(), "{v}");
        // Not enough: the largest optional field goes, the next one is cut.
        let v = fitted(&json, 200);
        assert_eq!((v["event_id"].as_str(), v["action"].as_str()), (Some("e"), Some("Sent")));
        assert_eq!((v.get("a"), &v["_truncated"]["removed"]), (None, &json!(1)), "{v}");
        assert_eq!(v["_truncated"]["fields"], json!(["/b"]));
        // Less still: only the key fields stay.
        let v = fitted(&json, 100);
        assert_eq!(v["_truncated"]["removed"], json!(3), "{v}");
        assert_eq!((v["event_id"].as_str(), v["action"].as_str()), (Some("e"), Some("Sent")));
    }

    #[test]
    fn prefixes_respect_char_boundaries_and_escapes() {
        assert_eq!(prefix_within("aé\"b", 0), 0);
        assert_eq!(prefix_within("aé\"b", 2), 1);
        assert_eq!(prefix_within("aé\"b", 3), 3);
        assert_eq!(prefix_within("aé\"b", 5), 4);
        assert_eq!(prefix_within("aé\"b", 99), 5);
        assert_eq!(escaped_len("\u{1}\t"), 8);
    }

    #[test]
    fn every_budget_yields_valid_json_within_it() {
        let json =
            json!({"event_id": "id-1", "msg": "ü\"\\\u{7}".repeat(300), "arr": vec!["q".repeat(200); 4]}).to_string();
        for budget in (150..json.len()).step_by(37) {
            let v = fitted(&json, budget);
            assert!(v.get("_truncated").is_some(), "{budget}");
        }
    }
}
