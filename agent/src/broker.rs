//! The agent's client of the broker API: a [`brokkr_client::Client`] with the agent's PAK.
//!
//! Every call is a typed method of `brokkr-client` over the wire types of
//! `brokkr_schema::models` (no URL strings or hand-built JSON here). The client does not retry
//! by itself: the agent's loops decide (they back off, and stop on shutdown). Failures become
//! [`BrokerError`], which keeps the broker's status and `{"error": ...}` message; the PAK never
//! appears in an error, a log line or a `Debug` output.
//!
//! ```ignore
//! let pending = ctx.broker.api().pending_work_orders(ctx.agent_id, None).await?;
//! ```

use std::time::Duration;

use brokkr_client::{Client, RetryPolicy};

/// Why a broker call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrokerError {
    /// The broker answered with a non-2xx status.
    #[error("broker answered {status}: {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The broker's `{"error": ...}` message (or the start of the body).
        body: String,
    },
    /// No answer within the request's timeout.
    #[error("broker did not answer within {0:?}")]
    Timeout(Duration),
    /// The request could not be sent or the answer not read (connection refused, reset, ...).
    #[error("broker unreachable: {0}")]
    Transport(String),
    /// The answer was not the JSON expected.
    #[error("unexpected answer from the broker: {0}")]
    Decode(String),
    /// The agent is shutting down.
    #[error("cancelled: the agent is shutting down")]
    Cancelled,
}

impl From<brokkr_client::Error> for BrokerError {
    fn from(e: brokkr_client::Error) -> Self {
        match e {
            brokkr_client::Error::Api {
                status, message, ..
            } => BrokerError::Status {
                status,
                body: message,
            },
            brokkr_client::Error::Timeout(d) => BrokerError::Timeout(d),
            brokkr_client::Error::Connect(m) => BrokerError::Transport(m),
            brokkr_client::Error::Decode(m) | brokkr_client::Error::Invalid(m) => {
                BrokerError::Decode(m)
            }
        }
    }
}

impl BrokerError {
    /// The HTTP status, for [`BrokerError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            BrokerError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for failures worth retrying later: timeouts, transport errors, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            BrokerError::Status { status, .. } => *status == 429 || *status >= 500,
            BrokerError::Timeout(_) | BrokerError::Transport(_) => true,
            BrokerError::Decode(_) | BrokerError::Cancelled => false,
        }
    }

    /// True when the broker answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True when the broker answered 409 (e.g. a claim lost to another agent).
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }
}

/// Client of the broker API for one agent.
#[derive(Clone, Debug)]
pub struct BrokerClient {
    api: Client,
}

impl BrokerClient {
    /// A client of the broker at `base_url` (`http(s)://host:port`, with or without a trailing
    /// slash) authenticating with `pak`; every request times out after `timeout`.
    pub fn new(base_url: &str, pak: &str, timeout: Duration) -> Result<Self, BrokerError> {
        let api = Client::builder(base_url)
            .pak(pak)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .retry(RetryPolicy::none())
            .user_agent(concat!("brokkr-agent/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { api })
    }

    /// The typed API client (answers converted with `.map_err(BrokerError::from)` or `?`).
    pub fn api(&self) -> &Client {
        &self.api
    }

    /// The broker's base URL.
    pub fn base_url(&self) -> &str {
        self.api.base_url()
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.api.timeout()
    }

    /// `GET {base}/readyz`: Ok for any 2xx.
    pub async fn readyz(&self) -> Result<(), BrokerError> {
        Ok(self.api.readyz().await?)
    }
}

pub use brokkr_client::error_chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_pak() {
        let client = BrokerClient::new(
            "http://127.0.0.1:1/",
            "brokkr_BRsecret12_abcdefghijklmnopqrstuvwx",
            Duration::from_secs(1),
        )
        .unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("secret12"), "{shown}");
        assert_eq!(client.base_url(), "http://127.0.0.1:1");
    }

    #[test]
    fn transient_errors_are_429_5xx_and_transport() {
        let status = |s| BrokerError::Status {
            status: s,
            body: String::new(),
        };
        assert!(status(503).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(404).is_transient());
        assert!(!status(401).is_transient());
        assert!(BrokerError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(BrokerError::Transport("refused".into()).is_transient());
    }

    #[test]
    fn client_errors_keep_the_status_and_the_brokers_message() {
        let e = BrokerError::from(brokkr_client::Error::Api {
            status: 409,
            message: "Work order already claimed".into(),
            code: None,
            retry_after: None,
        });
        assert!(e.is_conflict());
        assert_eq!(
            e.to_string(),
            "broker answered 409: Work order already claimed"
        );
    }

    #[tokio::test]
    async fn unreachable_broker_errors_do_not_leak_the_pak() {
        let pak = "brokkr_BRsecret12_abcdefghijklmnopqrstuvwx";
        let client =
            BrokerClient::new("http://127.0.0.1:9", pak, Duration::from_millis(500)).unwrap();
        let err = BrokerError::from(client.api().get_agent(uuid::Uuid::nil()).await.unwrap_err());
        assert!(err.is_transient());
        assert!(!err.to_string().contains("secret12"));
    }
}
