//! esign-sim: faithful in-process stand-ins for the vendor APIs esign-collector reads, one
//! module per vendor. The collector serves one for `environment = "demo"` and its `simulate`
//! command; the integration tests and benchmarks drive the collector against one on a
//! loopback port. Nothing here is part of the collector's product library.
//!
//! - [`docusign`]: OAuth (JWT grant), both Monitor stream generations, Admin users, and the
//!   fault, quota and control knobs the tests use.

pub mod docusign;
