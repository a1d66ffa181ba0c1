//! DocuSign.
//!
//! # Architecture
//! - `client.rs`: [`Client`], every authenticated call to DocuSign's APIs.
//! - `consent.rs`: the consent URL and what DocuSign's OAuth refusals mean.

mod client;
mod consent;

pub use client::Client;
pub use consent::{consent_url, refusals};
