//! What snapshots add to lines, from the state file only (no API call): the `_user` summary
//! of an event's actor joined into events, and the `_change` of a snapshot record against the
//! stored one.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::core::fields::{ADDED, CHANGE};
use crate::state::UserRow;

/// `_user` objects (JSON text) by entity id, from stored snapshot lines, each the stream's
/// `summary` of the record.
pub(super) fn summaries(
    rows: &HashMap<String, UserRow>,
    summary: fn(&Map<String, Value>) -> Map<String, Value>,
) -> HashMap<String, String> {
    rows.iter()
        .filter_map(|(id, row)| {
            let Ok(Value::Object(rec)) = serde_json::from_str::<Value>(&row.record) else { return None };
            Some((id.clone(), Value::Object(summary(&rec)).to_string()))
        })
        .collect()
}

/// The API's own fields of a user line (ours and `_change` left out).
fn own(rec: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    rec.iter().filter(|(k, _)| !ADDED.contains(&k.as_str()) && k.as_str() != CHANGE)
}

/// A user record's `_change`: `observed` without a stored record, else `updated` with each
/// field that differs (`from`/`to`, `null` when absent on one side) and the previous line's id.
pub(super) fn change(now: &Map<String, Value>, stored: Option<&str>) -> Value {
    let Some(Ok(Value::Object(prev))) = stored.map(serde_json::from_str::<Value>) else {
        return json!({"type": "observed"});
    };
    let mut fields = Map::new();
    for (k, v) in own(now) {
        if prev.get(k) != Some(v) {
            fields.insert(k.clone(), json!({"from": prev.get(k), "to": v}));
        }
    }
    for (k, v) in own(&prev) {
        if !now.contains_key(k) {
            fields.insert(k.clone(), json!({"from": v, "to": null}));
        }
    }
    json!({"type": "updated", "previous_event_id": prev.get("event_id"), "fields": fields})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::normalize::obj;

    #[test]
    fn change_names_what_moved() {
        let stored = json!({"id": "u", "user_status": "active", "email": "a@x", "closed_on": "t0",
                            "event_id": "e1", "_time": "t"})
        .to_string();
        let now = obj(json!({"id": "u", "user_status": "closed", "email": "a@x", "ds_groups": [], "_time": "t2"}));
        let c = change(&now, Some(&stored));
        assert_eq!(c["type"], "updated");
        assert_eq!(c["previous_event_id"], "e1");
        let f = c["fields"].as_object().unwrap();
        assert_eq!(f.len(), 3, "{c}");
        assert_eq!(f["user_status"], json!({"from": "active", "to": "closed"}));
        assert_eq!(f["ds_groups"], json!({"from": null, "to": []}));
        assert_eq!(f["closed_on"], json!({"from": "t0", "to": null}));
        assert_eq!(change(&now, None), json!({"type": "observed"}));
    }
}
