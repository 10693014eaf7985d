//! The agent's client of the broker API.
//!
//! Every request carries the agent's PAK as a Bearer token and has a timeout. Answers are parsed
//! into the wire types of `brokkr_schema::models` (anything implementing poem-openapi's
//! `ParseFromJSON`, including `serde_json::Value` and `Vec<T>`); bodies are anything
//! implementing `ToJSON` (the same models, or a `serde_json::Value` built with `json!`).
//! A non-2xx answer becomes [`BrokerError::Status`] with the status and the start of the body;
//! the PAK never appears in an error, a log line or a `Debug` output.
//!
//! ```ignore
//! let pending: Vec<WorkOrder> = ctx
//!     .broker
//!     .get_json(&format!("/api/v1/agents/{}/work-orders/pending", ctx.agent_id))
//!     .await?;
//! let done: serde_json::Value = ctx
//!     .broker
//!     .post_json(&format!("/api/v1/work-orders/{id}/complete"), &json!({"success": true}))
//!     .await?;
//! ```

use std::time::Duration;

use poem_openapi::types::{ParseFromJSON, ToJSON};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};

/// Longest part of an error body kept in a [`BrokerError::Status`].
const ERROR_BODY_LIMIT: usize = 1000;

/// Why a broker call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrokerError {
    /// The broker answered with a non-2xx status.
    #[error("broker answered {status}: {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The start of the answer's body (usually `{"error": "..."}`).
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

/// A raw answer, for calls that need the status or headers (e.g. 202, 304, ETags).
#[derive(Debug, Clone)]
pub struct BrokerResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl BrokerResponse {
    /// Parses the body (an empty body parses as JSON `null`).
    pub fn json<T: ParseFromJSON>(&self) -> Result<T, BrokerError> {
        parse_body(&self.body)
    }

    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Client of the broker API for one agent.
#[derive(Clone)]
pub struct BrokerClient {
    http: reqwest::Client,
    base: String,
    authorization: HeaderValue,
    timeout: Duration,
}

impl std::fmt::Debug for BrokerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerClient")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl BrokerClient {
    /// A client of the broker at `base_url` (`http(s)://host:port`, with or without a trailing
    /// slash) authenticating with `pak`; every request times out after `timeout`.
    pub fn new(base_url: &str, pak: &str, timeout: Duration) -> Result<Self, BrokerError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {pak}"))
            .map_err(|_| BrokerError::Decode("the PAK contains invalid characters".into()))?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("brokkr-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BrokerError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            authorization,
            timeout,
        })
    }

    /// The broker's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET path` (e.g. `/api/v1/agents/{id}`), parsed as `T`.
    pub async fn get_json<T: ParseFromJSON>(&self, path: &str) -> Result<T, BrokerError> {
        self.call(Method::GET, path, &[], None).await
    }

    /// `GET path?query` with URL-encoded query pairs, parsed as `T`.
    pub async fn get_json_query<T: ParseFromJSON>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, BrokerError> {
        self.call(Method::GET, path, query, None).await
    }

    /// `POST path` with a JSON body, answer parsed as `T` (use `serde_json::Value` to ignore it).
    pub async fn post_json<B: ToJSON, T: ParseFromJSON>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, BrokerError> {
        self.call(Method::POST, path, &[], Some(json_of(body)))
            .await
    }

    /// `POST path` without a body, answer parsed as `T`.
    pub async fn post_empty<T: ParseFromJSON>(&self, path: &str) -> Result<T, BrokerError> {
        self.call(Method::POST, path, &[], None).await
    }

    /// `PATCH path` with a JSON body, answer parsed as `T`.
    pub async fn patch_json<B: ToJSON, T: ParseFromJSON>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, BrokerError> {
        self.call(Method::PATCH, path, &[], Some(json_of(body)))
            .await
    }

    /// `PUT path` with a JSON body, answer parsed as `T`.
    pub async fn put_json<B: ToJSON, T: ParseFromJSON>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, BrokerError> {
        self.call(Method::PUT, path, &[], Some(json_of(body))).await
    }

    /// `GET {base}/readyz` without credentials: Ok for any 2xx.
    pub async fn readyz(&self) -> Result<(), BrokerError> {
        let request = self
            .http
            .get(format!("{}/readyz", self.base))
            .timeout(self.timeout);
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(BrokerError::Status {
            status: status.as_u16(),
            body: truncate(&body),
        })
    }

    /// Sends a request and returns the raw answer whatever its status (no error for non-2xx).
    /// `extra_timeout` is added to the per-request timeout (for long polls).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Option<serde_json::Value>,
        extra_timeout: Duration,
    ) -> Result<BrokerResponse, BrokerError> {
        let timeout = self.timeout + extra_timeout;
        let mut url = reqwest::Url::parse(&format!("{}{}", self.base, path))
            .map_err(|e| BrokerError::Transport(format!("invalid URL for {path}: {e}")))?;
        if !query.is_empty() {
            // Values are URL-encoded (names with `&` or spaces stay intact).
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut request = self
            .http
            .request(method, url)
            .header(AUTHORIZATION, self.authorization.clone())
            .timeout(timeout);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
        Ok(BrokerResponse {
            status,
            headers,
            body: body.to_vec(),
        })
    }

    async fn call<T: ParseFromJSON>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<T, BrokerError> {
        let response = self
            .send(method, path, query, &[], body, Duration::ZERO)
            .await?;
        if !response.status.is_success() {
            return Err(BrokerError::Status {
                status: response.status.as_u16(),
                body: truncate(&String::from_utf8_lossy(&response.body)),
            });
        }
        response.json()
    }

    fn transport(&self, e: reqwest::Error) -> BrokerError {
        if e.is_timeout() {
            BrokerError::Timeout(self.timeout)
        } else {
            // The URL holds no secret (the PAK travels in a header); keep only the path.
            BrokerError::Transport(error_chain(&e.without_url()))
        }
    }
}

fn json_of<B: ToJSON>(body: &B) -> serde_json::Value {
    body.to_json().unwrap_or(serde_json::Value::Null)
}

fn parse_body<T: ParseFromJSON>(body: &[u8]) -> Result<T, BrokerError> {
    let value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| BrokerError::Decode(e.to_string()))?
    };
    T::parse_from_json(Some(value)).map_err(|e| BrokerError::Decode(e.into_message()))
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(ERROR_BODY_LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// An error and its sources on one line (reqwest's own message is often just "error sending
/// request").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

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
    fn empty_bodies_parse_as_null_and_long_errors_are_cut() {
        let v: serde_json::Value = parse_body(b"").unwrap();
        assert!(v.is_null());
        let long = "x".repeat(5000);
        assert!(truncate(&long).chars().count() <= ERROR_BODY_LIMIT + 1);
    }

    #[tokio::test]
    async fn unreachable_broker_errors_do_not_leak_the_pak() {
        let pak = "brokkr_BRsecret12_abcdefghijklmnopqrstuvwx";
        let client =
            BrokerClient::new("http://127.0.0.1:9", pak, Duration::from_millis(500)).unwrap();
        let err = client
            .get_json::<serde_json::Value>("/api/v1/agents/x")
            .await
            .unwrap_err();
        assert!(err.is_transient());
        assert!(!err.to_string().contains("secret12"));
    }
}
