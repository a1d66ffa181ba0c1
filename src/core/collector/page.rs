//! The hot path of one page: dedup against the ledger, normalize, enrich, serialize. Pure but
//! for reading the state file; the collector loop sends and commits what it returns.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use rustc_hash::FxHashSet;
use serde_json::Value;

use super::enrich;
use super::lock;
use crate::core::fields;
use crate::core::normalize::{Fast, Normalized, normalize, transition_id};
use crate::core::source::{Record, Stream};
use crate::error::Error;
use crate::sinks::Line;
use crate::state::{Store, UserRow};
use crate::stream::Identity;

/// What a page is prepared with.
#[derive(Debug, Clone, Copy)]
pub struct PageContext<'a> {
    /// State namespace.
    pub tenant: &'a str,
    /// `_tenant` written into lines, if any.
    pub tag: Option<&'a str>,
    /// Which source the page is from.
    pub kind: &'static Stream,
    /// This page's collection time (RFC 3339).
    pub collected_at: &'a str,
    /// Drop what the ledger (events) or the stored fingerprints (users) already hold.
    pub dedup: bool,
    /// Add `_user`, the stored Admin record of each event's user.
    pub enrich: bool,
}

/// One page, deduplicated and normalized: what the sinks get and what the commit records.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The lines to send.
    pub lines: Vec<Line>,
    /// Ledger ids (customer events) to commit.
    pub ids: Vec<String>,
    /// User rows to commit.
    pub users: Vec<UserRow>,
    /// Records dropped as already delivered.
    pub duplicates: u64,
}

/// A record on its way to a line.
enum Item {
    /// Kept as its bytes; the string is its `_time`.
    Fast(Fast, String),
    /// Through the JSON tree.
    Tree(Normalized),
}

impl Item {
    fn event_id(&self) -> &str {
        match self {
            Item::Fast(f, _) => &f.event_id,
            Item::Tree(n) => &n.event_id,
        }
    }

    /// The acting entity of an event (`field`: the stream's actor field).
    fn actor(&self, field: &str) -> Option<&str> {
        match self {
            Item::Fast(f, _) => f.user_id.as_deref(),
            Item::Tree(n) => n.value.get(field).and_then(Value::as_str),
        }
    }
}

/// Dedups (when `pc.dedup`) and normalizes a page: the hot path between the API reply and the
/// sinks. A user record that changed since the stored one gets a new event id and a `_change`
/// naming the fields that changed; a new one gets `_change.type = "observed"`.
///
/// # Errors
/// `StoreError` when the ledger or the user records cannot be read.
pub fn prepare(store: &Mutex<Store>, pc: &PageContext<'_>, records: Vec<Record>) -> Result<Prepared, Error> {
    let PageContext { tenant, tag, kind, collected_at, dedup, enrich } = *pc;
    let items: Vec<Item> = records
        .into_iter()
        .map(|r| match r {
            Record::Fast(f) => {
                let time = f.time(collected_at);
                Item::Fast(f, time)
            }
            Record::Object(m) => {
                let mut n = normalize(kind, m, collected_at);
                if let Some(tag) = tag {
                    n.value.insert(fields::TENANT.into(), Value::String(tag.to_owned()));
                }
                Item::Tree(n)
            }
        })
        .collect();
    let mut guard = lock(store);
    // Events: ids already delivered, and the entities to join. Snapshots: the stored record
    // of each entity (its fingerprint decides "unchanged").
    let (mut known, mut previous, mut people) = (HashSet::new(), HashMap::new(), HashMap::new());
    let actor = kind.actor.filter(|_| enrich);
    match kind.identity {
        Identity::Field(_) | Identity::Composite(_) => {
            if dedup {
                known = guard.seen(tenant, kind.key, items.iter().map(Item::event_id))?;
            }
            if let Some(a) = actor {
                let actors: FxHashSet<&str> = items.iter().filter_map(|i| i.actor(a.field)).collect();
                people = enrich::summaries(&guard.user_records(tenant, actors)?, a.summary);
            }
        }
        Identity::Snapshot(_) if dedup => {
            previous = guard.user_records(
                tenant,
                items.iter().filter_map(|i| match i {
                    Item::Tree(n) => n.user_id.as_deref(),
                    Item::Fast(..) => None,
                }),
            )?;
        }
        Identity::Snapshot(_) => {}
    }
    drop(guard);
    let mut in_page: FxHashSet<&str> = FxHashSet::default();
    in_page.reserve(if dedup { items.len() } else { 0 });
    let mut out = Prepared::default();
    out.lines.reserve(items.len());
    for item in &items {
        let id = item.event_id();
        let before = match item {
            Item::Tree(n) => n.user_id.as_ref().and_then(|u| previous.get(u)),
            Item::Fast(..) => None,
        };
        let unchanged = known.contains(id) || before.is_some_and(|b| b.fingerprint == id);
        if dedup && (unchanged || !in_page.insert(id)) {
            out.duplicates += 1;
            continue;
        }
        let person = actor.and_then(|a| item.actor(a.field)).and_then(|u| people.get(u)).map(String::as_str);
        match item {
            Item::Fast(f, time) => {
                let json = f.line(kind, time, collected_at, tag, person);
                out.ids.push(f.event_id.clone());
                out.lines.push(Line { event_id: f.event_id.clone(), time: time.clone(), json });
            }
            Item::Tree(n) => {
                let fingerprint = n.event_id.clone();
                let mut value = std::borrow::Cow::Borrowed(&n.value);
                let mut event_id = n.event_id.clone();
                if let Some(p) = person {
                    let v = serde_json::from_str(p).map_err(|e| Error::Internal(e.to_string()))?;
                    value.to_mut().insert(fields::USER.into(), v);
                }
                if n.user_id.is_some() {
                    let change = enrich::change(&n.value, before.map(|b| b.record.as_str()));
                    value.to_mut().insert(fields::CHANGE.into(), change);
                }
                if let Some(prev) = before {
                    // A change is its own event: active → suspended → active must not reuse the id
                    // of the first "active", or a downstream dedup (Elasticsearch `create`) drops it.
                    event_id = transition_id(&prev.fingerprint, &fingerprint);
                    value.to_mut().insert(fields::EVENT_ID.into(), Value::String(event_id.clone()));
                }
                let json = serde_json::to_string(&value).map_err(|e| Error::Internal(e.to_string()))?;
                match &n.user_id {
                    Some(user_id) => {
                        out.users.push(UserRow { user_id: user_id.clone(), fingerprint, record: json.clone() });
                    }
                    None => out.ids.push(event_id.clone()),
                }
                out.lines.push(Line { event_id, time: n.time.clone(), json });
            }
        }
    }
    Ok(out)
}
