//! Connectors: one folder per vendor, holding what only that vendor needs.

pub mod docusign;
