//! What user data adds to lines, from the state file only (no API call): the `_user` summary
//! joined into customer events, and the `_change` of a user record against the stored one.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::normalize::OURS;
use crate::state::UserRow;

/// The Admin record fields a customer event's `_user` carries.
const SUMMARY: [&str; 7] = ["id", "user_name", "first_name", "last_name", "email", "user_status", "membership_status"];

/// `_user` objects (JSON text) by user id, from stored user lines.
pub(super) fn summaries(rows: &HashMap<String, UserRow>) -> HashMap<String, String> {
    rows.iter()
        .filter_map(|(id, row)| {
            let Ok(Value::Object(rec)) = serde_json::from_str::<Value>(&row.record) else { return None };
            let mut m = Map::new();
            for k in SUMMARY {
                if let Some(v) = rec.get(k).filter(|v| !v.is_null()) {
                    m.insert(k.into(), v.clone());
                }
            }
            if let Some(Value::Array(groups)) = rec.get("ds_groups") {
                let g: Vec<Value> =
                    groups.iter().map(|g| json!({"id": g.get("ds_group_id"), "name": g.get("group_name")})).collect();
                m.insert("groups".into(), Value::Array(g));
            }
            Some((id.clone(), Value::Object(m).to_string()))
        })
        .collect()
}

/// The API's own fields of a user line (ours and `_change` left out).
fn own(rec: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    rec.iter().filter(|(k, _)| !OURS.contains(&k.as_str()) && k.as_str() != "_change")
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
    use crate::normalize::obj;

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

    #[test]
    fn summary_keeps_identity_status_and_groups() {
        let rec = json!({"id": "u", "user_name": "A B", "email": "a@x", "user_status": "active", "created_on": "t",
                         "ds_groups": [{"ds_group_id": "g1", "group_name": "Admins", "user_count": 3}]});
        let rows = HashMap::from([(
            "u".to_owned(),
            UserRow { user_id: "u".into(), fingerprint: "f".into(), record: rec.to_string() },
        )]);
        let s: Value = serde_json::from_str(&summaries(&rows)["u"]).unwrap();
        assert_eq!(
            s,
            json!({"id": "u", "user_name": "A B", "email": "a@x", "user_status": "active",
                             "groups": [{"id": "g1", "name": "Admins"}]})
        );
    }
}
