//! esign-sim: faithful in-process stand-ins for the vendor APIs esign-collector reads, one
//! module per vendor. The collector serves one for `environment = "demo"` and its `simulate`
//! command; the integration tests and benchmarks drive the collector against one on a
//! loopback port. Nothing here is part of the collector's product library.
//!
//! - [`docusign`]: OAuth (JWT grant), both Monitor stream generations, Admin users, and the
//!   fault, quota and control knobs the tests use.
//! - [`yousign`]: the v3 API (signature requests, audit trails, users, webhook
//!   subscriptions), the legacy v2 API, rate limits, faults, and a signed webhook sender.

pub mod docusign;
pub mod yousign;
