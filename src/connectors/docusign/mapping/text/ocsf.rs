//! The OCSF document of a Monitor event, written as `ocsf/event.rs` builds it.

use super::scan::Fallback;
use super::writer::Writer;
use super::Line;

/// A Monitor event.
pub(super) fn event(_line: &Line<'_>, _json: &str, _include_original: bool, _w: &mut Writer<'_>) -> Result<(), Fallback> {
    Err(Fallback)
}
