//! The process exit codes, one per failure class. Every area error maps itself onto one of
//! these; `error::Error::exit_code` only delegates.

use std::process::ExitCode;

/// Exit codes, documented in README. Distinct per failure class so a timer or a monitoring
/// check can tell them apart without parsing logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Everything asked for was done.
    Ok = 0,
    /// A bug: an invariant broke. Please report it.
    Internal = 1,
    /// Bad command line or configuration (including an unusable private key file).
    Config = 2,
    /// DocuSign refused the credentials (`invalid_grant`, wrong key, unknown user or issuer).
    Auth = 3,
    /// Consent missing or revoked (`consent_required`): an administrator must grant it.
    Consent = 4,
    /// DocuSign unreachable or overloaded after every retry (timeouts, 429, 5xx).
    Unavailable = 5,
    /// DocuSign answered with an error that retrying will not fix, or a malformed reply.
    Api = 6,
    /// A sink refused or lost the page; the checkpoint did not move.
    Sink = 7,
    /// Another run holds the state lock.
    Locked = 8,
    /// The state file cannot be read, written or understood.
    State = 9,
    /// `status`: an enabled source is stale, failing or has never run (or there is no state
    /// file yet). The collector may be fine right now; its output is what needs a look.
    Unhealthy = 10,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}
