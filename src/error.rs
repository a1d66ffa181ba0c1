//! The top-level error.
//!
//! Every area has its own `thiserror` enum with its own `exit_code()`; they meet here in
//! [`Error`], whose [`Error::exit_code`] only delegates. The codes themselves are
//! [`crate::exit::Exit`], re-exported here.

use crate::auth::AuthError;
use crate::http::ApiError;
use crate::sinks::SinkError;
use crate::state::StoreError;
use crate::values::ConfigError;

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
            Error::Config(e) => e.exit_code(),
            Error::Auth(e) => e.exit_code(),
            Error::Api(e) => e.exit_code(),
            Error::Sink(e) => e.exit_code(),
            Error::Store(e) => e.exit_code(),
            Error::Unhealthy(_) => Exit::Unhealthy,
            Error::Internal(_) => Exit::Internal,
        }
    }
}
