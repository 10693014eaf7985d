//! The one error type of the client.

use std::time::Duration;

/// Why a call to the broker failed. The PAK never appears in an error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The broker answered with a non-2xx status; `message` is its `{"error": ...}` text (or the
    /// start of the body when it was not that shape).
    #[error("{message} (HTTP {status})")]
    Api {
        /// HTTP status code.
        status: u16,
        /// The broker's explanation.
        message: String,
        /// The machine-readable reason, when the broker gave one (`agent_not_registered`).
        code: Option<String>,
        /// Seconds the broker asked us to wait (`Retry-After`), for 429 and 503.
        retry_after: Option<Duration>,
    },
    /// No answer within the request's timeout.
    #[error("the broker did not answer within {0:?}")]
    Timeout(Duration),
    /// The request could not be sent or the answer not read (connection refused, reset, DNS).
    #[error("cannot reach the broker: {0}")]
    Connect(String),
    /// The answer was not the JSON expected.
    #[error("unexpected answer from the broker: {0}")]
    Decode(String),
    /// The client was given something unusable (a base URL that does not parse, a PAK with
    /// control characters).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The HTTP status, for [`Error::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the broker answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True when the broker answered 409 (a duplicate name, a claim lost to another agent).
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// True when the broker refused the credential (401).
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// True for failures worth trying again later: timeouts, transport errors, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Api { status, .. } => *status == 429 || *status >= 500,
            Error::Timeout(_) | Error::Connect(_) => true,
            Error::Decode(_) | Error::Invalid(_) => false,
        }
    }
}

/// Result of a client call.
pub type Result<T, E = Error> = std::result::Result<T, E>;
