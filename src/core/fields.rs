//! The fields this tool adds to every line: the one list. Normalization writes them, the fast
//! path refuses records that already carry one, and the mappings and change tracking leave
//! them out of a record's own fields.

/// When the event happened (RFC 3339 UTC, the source's precision), else when it was collected.
pub const TIME: &str = "_time";
/// The stream's log type, as the XSOAR integration writes it.
pub const LOG_TYPE: &str = "source_log_type";
/// Who makes the platform.
pub const VENDOR: &str = "vendor";
/// Which of the vendor's products the stream comes from.
pub const PRODUCT: &str = "product";
/// When this run collected the record.
pub const COLLECTED_AT: &str = "_collected_at";
/// The stable dedup key downstream.
pub const EVENT_ID: &str = "event_id";
/// The tenant's name, in configurations with several tenants.
pub const TENANT: &str = "_tenant";
/// The acting user's stored record (enrichment).
pub const USER: &str = "_user";
/// A polled record of a transition the push sender never delivered (reconciliation).
pub const CONNECT_GAP: &str = "_connect_gap";
/// A snapshot record's change against the stored one.
pub const CHANGE: &str = "_change";

/// The fields every line gets (the mappings place them in their own header fields).
pub const LINE: [&str; 6] = [TIME, LOG_TYPE, VENDOR, PRODUCT, COLLECTED_AT, EVENT_ID];

/// Every field we add to a record: a record already carrying one takes the tree path, where
/// ours replace them (the fast path would write the key twice).
pub const ADDED: [&str; 9] = [TIME, LOG_TYPE, VENDOR, PRODUCT, COLLECTED_AT, EVENT_ID, TENANT, USER, CONNECT_GAP];

/// Whether `key` is one of [`LINE`].
pub fn is_line_field(key: &str) -> bool {
    LINE.contains(&key)
}
