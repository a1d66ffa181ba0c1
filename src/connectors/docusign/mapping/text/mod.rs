//! Monitor events rendered straight from their line's text into ECS or OCSF text, without
//! building a JSON tree: the line's fields are read in place (`scan.rs`), the document is
//! written as it is decided (`writer.rs`), vendor values are copied as their text. The tree
//! mappings (`ecs/`, `ocsf/`) stay the reference: a test proves both give the same documents,
//! and a line this path would read differently from the tree (a duplicate or escaped key, a
//! vendor field named like one the mapping writes) is left to them.
//!
//! # Architecture
//! - this file: the entry point, the line's header fields, the acting user's Admin record.
//! - `scan.rs`: reading an object's fields without a tree.
//! - `writer.rs`: writing JSON with objects opened lazily.
//! - `ecs.rs`, `ocsf.rs`: the two documents, field for field as `ecs/event.rs` and
//!   `ocsf/event.rs` write them.

mod ecs;
mod ocsf;
mod scan;
#[cfg(test)]
mod tests;
mod writer;

use std::borrow::Cow;

use crate::connectors::docusign::mapping::UserKeys;
use crate::core::fields;
use crate::format::{Format, FormatOptions};
use scan::{Fallback, Fields};
use writer::Writer;

/// Appends the `format` document of the Monitor event line `json` to `out` and returns `true`,
/// or leaves `out` as it was and returns `false` (raw format, or a line for the tree path).
pub(crate) fn event(format: Format, json: &str, opts: FormatOptions, out: &mut String) -> bool {
    let start = out.len();
    let ok = Fields::scan(json).is_ok_and(|raw| {
        let line = Line::new(raw);
        let mut w = Writer::new(out);
        let done = match format {
            Format::Raw => Err(Fallback),
            Format::Ecs => ecs::event(&line, json, opts.include_original, &mut w),
            Format::Ocsf => ocsf::event(&line, json, opts.include_original, &mut w),
        };
        w.finish() && done.is_ok()
    });
    if !ok {
        out.truncate(start);
    }
    ok
}

/// The fields of a raw line both documents read (as the tree's `LineView`).
#[derive(Debug)]
struct Line<'a> {
    raw: Fields<'a>,
    event_id: Cow<'a, str>,
    /// `_time` (RFC 3339), falling back to the record's own `timestamp`.
    time: Option<Cow<'a, str>>,
    collected_at: Option<Cow<'a, str>>,
}

impl<'a> Line<'a> {
    fn new(raw: Fields<'a>) -> Self {
        Self {
            event_id: raw.text(fields::EVENT_ID).unwrap_or_default(),
            time: raw.text(fields::TIME).or_else(|| raw.text("timestamp")),
            collected_at: raw.text(fields::COLLECTED_AT),
            raw,
        }
    }

    /// A non-empty top-level string, or `""`.
    fn text_or_empty(&self, key: &str) -> Cow<'a, str> {
        self.raw.text(key).unwrap_or_default()
    }
}

/// An Admin user record (the `_user` enrichment of an event), as the tree's `UserRecord`.
#[derive(Debug)]
struct User<'a>(Fields<'a>);

/// The acting user's id and email as written (`user.id`/`uid`, `email`/`email_addr`).
type Written<'a> = (Option<Cow<'a, str>>, Option<Cow<'a, str>>);

/// `(id, name, is_admin)` of a group.
type Group<'a> = (Option<Cow<'a, str>>, Option<Cow<'a, str>>, bool);

impl<'a> User<'a> {
    fn id(&self) -> Option<Cow<'a, str>> {
        self.0.text("id")
    }

    fn email(&self) -> Option<Cow<'a, str>> {
        self.0.text("email")
    }

    /// `user_name`, else first and last name.
    fn full_name(&self) -> Option<Cow<'a, str>> {
        if let Some(n) = self.0.text("user_name") {
            return Some(n);
        }
        match (self.0.text("first_name"), self.0.text("last_name")) {
            (Some(f), Some(l)) => Some(Cow::Owned(format!("{f} {l}"))),
            (Some(n), None) | (None, Some(n)) => Some(n),
            (None, None) => None,
        }
    }

    /// Calls `each` with every group (`groups`, else `ds_groups`), as the tree's `groups_of`.
    fn groups(&self, mut each: impl FnMut(Group<'a>)) -> Result<(), Fallback> {
        let list = self.0.get("groups").or_else(|| self.0.get("ds_groups"));
        let Some(list) = list.filter(|l| l.starts_with('[')) else { return Ok(()) };
        scan::elements(list, |g| {
            if !g.starts_with('{') {
                return Ok(());
            }
            let g = Fields::scan(g)?;
            let id = g.text("id").or_else(|| g.text("ds_group_id")).or_else(|| g.text("group_id"));
            let name = g.text("name").or_else(|| g.text("group_name"));
            each((id, name, g.bool("is_admin") == Some("true")));
            Ok(())
        })
    }
}

/// The acting user's identity fields, as the tree's `event_actor` then `identity` write them:
/// the event's own `userId` and `userEmail` first, then the Admin record's id (unless set), its
/// email (replacing the event's in place) and full name. Returns the id and email written.
fn identity<'a>(w: &mut Writer<'_>, keys: &UserKeys, raw: &Fields<'a>, enriched: Option<&User<'a>>) -> Written<'a> {
    let (own_id, own_email) = (raw.text("userId"), raw.text("userEmail"));
    let (u_id, u_email) = (enriched.and_then(User::id), enriched.and_then(User::email));
    let first_id = own_id.is_some();
    let first_email = own_email.is_some();
    let id = own_id.or(u_id);
    let email = u_email.or(own_email);
    let write_id = |w: &mut Writer<'_>| {
        if let Some(id) = &id {
            w.str(keys.id, id);
        }
    };
    let write_email = |w: &mut Writer<'_>| {
        if let Some(e) = &email {
            w.str("name", e);
            w.str(keys.email, e);
        }
    };
    if first_id {
        write_id(w);
    }
    if first_email {
        write_email(w);
    }
    if !first_id {
        write_id(w);
    }
    if !first_email {
        write_email(w);
    }
    if let Some(n) = enriched.and_then(User::full_name) {
        w.str("full_name", &n);
    }
    (id, email)
}

/// The acting user's Admin record, if the line has one (`_user`, an object).
fn enrichment<'a>(raw: &Fields<'a>) -> Result<Option<User<'a>>, Fallback> {
    Ok(raw.obj(fields::USER)?.map(User))
}
