//! Checks a mapped document against the official schemas checked in under `tests/fixtures/`:
//! an OCSF 1.4.0 event against its class's JSON Schema and the invariants the schema leaves out
//! (captions, `type_uid`, times in milliseconds); an ECS 9.4.0 document against the field
//! reference (names, types, arrays, allowed values, expected category/type pairs). Test code
//! only, shared by the unit tests here and `tests/formats_yousign.rs` (which includes this
//! file by path), so both hold documents to the same rules.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The ECS version the fixtures describe.
pub(crate) const ECS_VERSION: &str = "9.4.0";
/// The OCSF version the fixtures describe.
pub(crate) const OCSF_VERSION: &str = "1.4.0";
/// The ECS field set that holds Yousign's own fields, unchecked.
const VENDOR: &str = "yousign";

fn fixture(rel: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Ocsf {
    captions: Value,
    validators: HashMap<u64, jsonschema::Validator>,
}

fn ocsf() -> &'static Ocsf {
    static O: OnceLock<Ocsf> = OnceLock::new();
    O.get_or_init(|| {
        let dir = format!("ocsf-{OCSF_VERSION}");
        let captions = fixture(&format!("{dir}/captions.json"));
        let validators = captions["classes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(uid, c)| {
                let name = c["name"].as_str().unwrap_or_default();
                let schema = fixture(&format!("{dir}/{name}.json"));
                let v = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
                (uid.parse().unwrap_or_default(), v)
            })
            .collect();
        Ocsf { captions, validators }
    })
}

fn ecs() -> &'static Value {
    static E: OnceLock<Value> = OnceLock::new();
    E.get_or_init(|| fixture(&format!("ecs-{ECS_VERSION}.json")))
}

/// The JSON Schema validator of OCSF class `class_uid`.
///
/// # Panics
/// When the fixtures hold no schema for the class.
pub(crate) fn ocsf_validator(class_uid: u64) -> &'static jsonschema::Validator {
    ocsf().validators.get(&class_uid).unwrap_or_else(|| panic!("class {class_uid} has no schema"))
}

/// Checks one OCSF event (id `event_id`); returns its `(class_uid, activity_id)`.
///
/// # Panics
/// On the first rule the event breaks, with every schema error.
pub(crate) fn check_ocsf(event_id: &str, doc: &Map<String, Value>) -> (u64, u64) {
    let o = ocsf();
    let v = Value::Object(doc.clone());
    let class_uid = v["class_uid"].as_u64().unwrap_or_default();
    let errors: Vec<String> =
        ocsf_validator(class_uid).iter_errors(&v).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{class_uid} invalid: {errors:#?}\n{v:#}");
    let c = &o.captions["classes"][class_uid.to_string()];
    let activity = v["activity_id"].as_u64().unwrap_or_default();
    let caption = c["activities"][activity.to_string()].as_str().unwrap_or_else(|| panic!("activity {activity}"));
    assert_eq!(v["type_uid"].as_u64(), Some(class_uid * 100 + activity), "{v:#}");
    assert_eq!(v["class_name"], c["caption"]);
    assert_eq!(v["category_uid"], c["category_uid"]);
    assert_eq!(v["category_name"], c["category_name"]);
    if activity != 99 {
        assert_eq!(v["activity_name"].as_str(), Some(caption), "{v:#}");
    }
    let class_caption = c["caption"].as_str().unwrap_or_default();
    assert_eq!(v["type_name"].as_str(), Some(format!("{class_caption}: {caption}").as_str()));
    for (attr, caption_attr) in
        [("severity_id", "severity"), ("status_id", "status"), ("auth_protocol_id", "auth_protocol")]
    {
        if let Some(id) = v.get(attr).and_then(Value::as_u64).filter(|id| *id != 99) {
            assert_eq!(v[caption_attr], c["enums"][attr][id.to_string()], "{attr} caption in {v:#}");
        }
    }
    // Times in epoch milliseconds, not seconds or nanoseconds.
    let ms = 946_684_800_000..4_102_444_800_000_i64;
    assert!(v["time"].as_i64().is_some_and(|t| ms.contains(&t)), "time {} not in ms", v["time"]);
    if let Some(t) = v["metadata"].get("logged_time") {
        assert!(t.as_i64().is_some_and(|t| ms.contains(&t)), "logged_time {t} not in ms");
    }
    assert_eq!(v["metadata"]["version"], OCSF_VERSION);
    assert_eq!(v["metadata"]["uid"].as_str(), Some(event_id));
    assert_eq!(v["metadata"]["product"]["vendor_name"], "Yousign");
    (class_uid, activity)
}

/// Whether `v` fits ECS field type `ty`.
fn ecs_type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "keyword" | "constant_keyword" | "wildcard" | "text" | "match_only_text" => v.is_string(),
        "ip" => v.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok()),
        "date" => v.as_str().is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        "long" | "integer" | "short" | "byte" | "unsigned_long" => v.is_i64() || v.is_u64(),
        "float" | "double" | "scaled_float" | "half_float" => v.is_number(),
        "boolean" => v.is_boolean(),
        "geo_point" => v["lat"].is_number() && v["lon"].is_number(),
        "object" | "flattened" | "nested" => v.is_object(),
        _ => false,
    }
}

/// Leaf fields of an ECS document as dotted paths; the vendor set and fields typed as objects
/// are leaves.
fn walk(prefix: &str, m: &Map<String, Value>, fields: &Value, out: &mut Vec<(String, Value)>) {
    for (k, v) in m {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        let leaf = fields.get(&path).is_some();
        match v {
            Value::Object(inner) if !leaf && path != VENDOR => walk(&path, inner, fields, out),
            _ => out.push((path, v.clone())),
        }
    }
}

/// Checks one ECS document (id `event_id`): every field but `yousign.*` by name and type, and
/// the event classification.
///
/// # Panics
/// On the first rule the document breaks.
pub(crate) fn check_ecs(event_id: &str, doc: &Map<String, Value>) {
    let e = ecs();
    let fields = &e["fields"];
    let mut leaves = Vec::new();
    walk("", doc, fields, &mut leaves);
    for (path, v) in &leaves {
        if path == VENDOR {
            assert!(v.is_object(), "{VENDOR} must be an object");
            continue;
        }
        let f = fields.get(path).unwrap_or_else(|| panic!("{path} is not an ECS {ECS_VERSION} field"));
        let ty = f["type"].as_str().unwrap_or_default();
        if let Value::Array(items) = v {
            assert!(!items.is_empty(), "{path} is an empty array");
            assert!(items.iter().all(|i| ecs_type_ok(ty, i)), "{path}: {v} is not all {ty}");
        } else {
            assert!(!f["array"].as_bool().unwrap_or(false), "{path} must be an array");
            assert!(ecs_type_ok(ty, v), "{path}: {v} is not {ty}");
        }
    }
    let v = Value::Object(doc.clone());
    assert_eq!(v["ecs"]["version"], ECS_VERSION);
    assert_eq!(v["event"]["id"].as_str(), Some(event_id));
    let allowed = |field: &str, value: &Value| e["allowed"][field].as_array().is_some_and(|a| a.contains(value));
    assert!(allowed("event.kind", &v["event"]["kind"]), "{v:#}");
    if let Some(o) = v["event"].get("outcome") {
        assert!(allowed("event.outcome", o), "{o}");
    }
    let types = v["event"]["type"].as_array().cloned().unwrap_or_default();
    assert!(!types.is_empty(), "no event.type in {v:#}");
    for t in &types {
        assert!(allowed("event.type", t), "{t}");
    }
    let categories = v["event"]["category"].as_array().cloned().unwrap_or_default();
    assert!(!categories.is_empty(), "no event.category in {v:#}");
    for c in &categories {
        assert!(allowed("event.category", c), "{c}");
        let expected =
            e["expected_event_types"][c.as_str().unwrap_or_default()].as_array().cloned().unwrap_or_default();
        for t in &types {
            assert!(expected.contains(t), "event.type {t} is not expected with event.category {c}");
        }
    }
}
