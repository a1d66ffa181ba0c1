//! The top-level error.
//!
//! Every area has its own `thiserror` enum; they meet here in [`Error`], and
//! [`Error::exit_code`] is the single place that maps a failure to a process exit code (the
//! codes themselves are [`Exit`], in `exit`).

use crate::api::ApiError;
use crate::auth::AuthError;
use crate::config::ConfigError;
use crate::sinks::SinkError;
use crate::state::StoreError;

pub use crate::exit::Exit;

/// Anything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Authentication or consent problem (an HTTP failure of the token request is
    /// [`Error::Api`]).
    #[error(transparent)]
    Auth(AuthError),
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

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        match e {
            // The token request's HTTP failure is the HTTP layer's: its exit code, and the
            // collector's handling of a run-time budget that ran out.
            AuthError::Http(e) => Error::Api(e),
            e => Error::Auth(e),
        }
    }
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
