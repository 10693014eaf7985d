//! The HTTP core: base URL, Bearer auth, per-request timeouts, retries, and the mapping of
//! answers to wire types or [`Error`].

use std::time::Duration;

use poem_openapi::types::{ParseFromJSON, ToJSON};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};

use crate::retry::{RetryPolicy, parse_retry_after};
use crate::{Error, Result};

/// Longest part of a non-JSON error body kept in an [`Error::Api`].
const ERROR_BODY_LIMIT: usize = 500;

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    pak: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    user_agent: String,
}

impl ClientBuilder {
    /// Authenticate with this PAK (admin, generator or agent), sent as `Bearer`.
    pub fn pak(mut self, pak: impl Into<String>) -> Self {
        self.pak = Some(pak.into());
        self
    }

    /// Time allowed for each request (long polls get their wait on top). Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time allowed to open a connection. Default 10 s (never more than the request timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How failed calls are retried. Default [`RetryPolicy::default`].
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The `User-Agent` sent (default `brokkr-client/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The client.
    pub fn build(self) -> Result<Client> {
        let base = Url::parse(self.base_url.trim_end_matches('/'))
            .map_err(|e| Error::Invalid(format!("invalid broker URL {:?}: {e}", self.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::Invalid(format!(
                "invalid broker URL {:?}: expected http(s)://host[:port]",
                self.base_url
            )));
        }
        let authorization = match self.pak {
            Some(pak) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", pak.trim()))
                    .map_err(|_| Error::Invalid("the PAK contains invalid characters".into()))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout.min(self.timeout))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(self.user_agent)
            .build()
            .map_err(|e| Error::Invalid(error_chain(&e)))?;
        Ok(Client {
            http,
            base,
            authorization,
            timeout: self.timeout,
            retry: self.retry,
        })
    }
}

/// A client of one broker with one credential. Cheap to clone (connections are shared).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// One request, described independently of its attempts.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    pub path: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
    /// Added to the timeout (the `wait` of a long poll).
    pub extra_timeout: Duration,
    /// Error statuses whose body is an answer of the operation (the 400 of a failed test
    /// delivery), returned to the caller like a 2xx instead of becoming [`Error::Api`].
    pub accepted: Vec<StatusCode>,
}

impl Call {
    pub fn new(method: Method, path: &[&str]) -> Self {
        Self {
            method,
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            extra_timeout: Duration::ZERO,
            accepted: Vec::new(),
        }
    }

    /// Returns an answer with `status` to the caller instead of failing (see [`Call::accepted`]).
    pub fn accept(mut self, status: StatusCode) -> Self {
        self.accepted.push(status);
        self
    }

    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_owned(), value.to_string()));
        self
    }

    pub fn query_opt(self, name: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    pub fn body<B: ToJSON>(mut self, body: &B) -> Self {
        self.body = Some(body.to_json().unwrap_or(serde_json::Value::Null));
        self
    }
}

/// A raw answer with a 2xx or 304 status, or one of the call's accepted statuses.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json<T: ParseFromJSON>(&self) -> Result<T> {
        parse_body(&self.body)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The answer as the [`Error::Api`] it would have been without [`Call::accept`].
    pub fn into_error(self) -> Error {
        let retry_after =
            parse_retry_after(self.headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()));
        api_error(self.status, &self.body, retry_after)
    }
}

impl Client {
    /// A client of the broker at `base_url` (`http(s)://host:port`) authenticating with `pak`,
    /// with the default timeout and retries.
    pub fn new(base_url: &str, pak: &str) -> Result<Self> {
        Self::builder(base_url).pak(pak).build()
    }

    /// A builder for a client of the broker at `base_url`.
    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_owned(),
            pak: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            user_agent: concat!("brokkr-client/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// The broker's base URL.
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn url(&self, call: &Call) -> Result<Url> {
        let mut url = self.base.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| Error::Invalid("the broker URL cannot have a path".into()))?;
            segments.pop_if_empty();
            // Each segment is percent-encoded: a label `a/b` stays one segment.
            segments.extend(call.path.iter());
        }
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(call.query.iter());
        }
        Ok(url)
    }

    /// Sends `call`, retrying as the policy allows; a 2xx or 304 answer is returned, any other
    /// status becomes [`Error::Api`].
    pub(crate) async fn execute(&self, call: Call) -> Result<Answer> {
        let url = self.url(&call)?;
        let mut attempt = 0;
        loop {
            let (result, refused) = self.attempt(&call, url.clone()).await;
            match result {
                Ok(answer) => return Ok(answer),
                Err(error) => {
                    attempt += 1;
                    if attempt > self.retry.max_retries
                        || !self.retry.should_retry(&call.method, &error, refused)
                    {
                        return Err(error);
                    }
                    tokio::time::sleep(self.retry.delay(attempt, &error)).await;
                }
            }
        }
    }

    async fn attempt(&self, call: &Call, url: Url) -> (Result<Answer>, bool) {
        let timeout = self.timeout + call.extra_timeout;
        let mut request = self.http.request(call.method.clone(), url).timeout(timeout);
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        // The caller's trace continues in the broker (when the caller traces: the agent does).
        if let Some((name, value)) = brokkr_schema::trace_context::header() {
            request = request.header(name, value);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                // Refused before anything was sent: even a POST may be tried again.
                let refused = e.is_connect();
                return (Err(transport(e, timeout)), refused);
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(body) => body.to_vec(),
            Err(e) => return (Err(transport(e, timeout)), false),
        };
        if status.is_success()
            || status == StatusCode::NOT_MODIFIED
            || call.accepted.contains(&status)
        {
            return (
                Ok(Answer {
                    status,
                    headers,
                    body,
                }),
                false,
            );
        }
        let retry_after = parse_retry_after(headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()));
        (Err(api_error(status, &body, retry_after)), false)
    }

    pub(crate) async fn json<T: ParseFromJSON>(&self, call: Call) -> Result<T> {
        self.execute(call).await?.json()
    }

    pub(crate) async fn unit(&self, call: Call) -> Result<()> {
        self.execute(call).await.map(|_| ())
    }
}

fn transport(e: reqwest::Error, timeout: Duration) -> Error {
    if e.is_timeout() {
        Error::Timeout(timeout)
    } else {
        // The URL holds no secret (the PAK travels in a header), but keep errors short.
        Error::Connect(error_chain(&e.without_url()))
    }
}

fn api_error(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> Error {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let message = field("error").unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("no explanation")
                .to_owned()
        } else {
            truncate(text)
        }
    });
    Error::Api {
        status: status.as_u16(),
        message,
        code: field("code"),
        retry_after,
    }
}

fn parse_body<T: ParseFromJSON>(body: &[u8]) -> Result<T> {
    let value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| Error::Decode(e.to_string()))?
    };
    T::parse_from_json(Some(value)).map_err(|e| Error::Decode(e.into_message()))
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(ERROR_BODY_LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// An error and its sources on one line (reqwest's own message is often just "error sending
/// request").
pub use brokkr_schema::error_chain;
