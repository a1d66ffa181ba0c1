//! Any bytes as a Monitor (both generations), Admin users, eSignature envelope list or envelope
//! audit events reply: parsing and normalization
//! must reject or accept, never panic or hang.
#![no_main]

use esign_collector::connectors::docusign::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuzzing::monitor_reply(data);
    fuzzing::admin_reply(data);
    fuzzing::envelope_reply(data);
    fuzzing::audit_reply(data);
});
