//! The top-level error and the exit-code table.
//!
//! Every area has its own `thiserror` enum; they meet here in [`Error`], and
//! [`Error::exit_code`] is the single place that maps a failure to a process exit code.

use std::process::ExitCode;

use crate::api::ApiError;
use crate::auth::AuthError;
use crate::config::ConfigError;
use crate::sinks::SinkError;
use crate::state::StoreError;

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

/// Anything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Authentication or consent problem.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// DocuSign API problem.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Sink problem.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// State store problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `status` found a source that is not ok; the message says which.
    #[error("{0}")]
    Unhealthy(String),
    /// An invariant broke.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> Exit {
        match self {
            Error::Config(_) => Exit::Config,
            Error::Auth(e) => e.exit_code(),
            Error::Api(e) => e.exit_code(),
            Error::Sink(_) => Exit::Sink,
            Error::Store(e) => e.exit_code(),
            Error::Unhealthy(_) => Exit::Unhealthy,
            Error::Internal(_) => Exit::Internal,
        }
    }
}
