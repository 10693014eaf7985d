//! One delivery: its headers ([`delivery_headers`]), the request and its answer ([`send`]), and
//! the wait before the next attempt ([`RetrySchedule`]).
//!
//! [`send`] POSTs exactly the body and headers it is given, within `timeout`, under the
//! destination policy of its [`DeliveryClient`] (checked before sending and again on every
//! resolved address), without following redirects. It never fails: the [`Answer`] holds the
//! status code, the response headers and the first [`RESPONSE_EXCERPT_BYTES`] of the body, or
//! why no answer came (never the URL, which may carry a token). Callers decide what the answer
//! means for them: the worker records an attempt, the broker's test send reports it, the agent
//! reports it to the broker.

use std::time::{Duration, Instant};

use brokkr_schema::config::WorkerSettings;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::client::DeliveryClient;
use super::signing;

/// Most response-body bytes kept per attempt.
pub const RESPONSE_EXCERPT_BYTES: usize = 4096;

/// Exponential backoff with jitter between attempts.
#[derive(Debug, Clone, Copy)]
pub struct RetrySchedule {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl RetrySchedule {
    /// The schedule of `worker.webhook_retry_base_seconds` / `worker.webhook_retry_max_seconds`.
    /// Callers pass the settings in effect now (`LiveSettings::current`), so a reload applies to
    /// the next attempt.
    pub fn from_settings(worker: &WorkerSettings) -> Self {
        Self {
            base: Duration::from_secs(worker.webhook_retry_base_seconds),
            max: Duration::from_secs(worker.webhook_retry_max_seconds),
        }
    }

    /// Delay before attempt `failed + 1`, after `failed` failed attempts: base × 2^(failed−1),
    /// capped, then ±20% jitter.
    pub fn delay(&self, failed: i32) -> Duration {
        let exponent = failed.saturating_sub(1).clamp(0, 30) as u32;
        let raw = self
            .base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max);
        let jitter = rand::rng().random_range(0.8..=1.2);
        raw.mul_f64(jitter)
    }
}

/// The headers of a delivery: content type, event, delivery id, auth and signatures.
pub fn delivery_headers(
    delivery_id: &str,
    event_type: &str,
    body: &[u8],
    auth_header: Option<&str>,
    secret: Option<&str>,
    timestamp: i64,
) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("Content-Type", "application/json".to_owned()),
        ("X-Brokkr-Event", event_type.to_owned()),
        ("X-Brokkr-Event-Type", event_type.to_owned()),
        ("X-Brokkr-Delivery", delivery_id.to_owned()),
        ("X-Brokkr-Delivery-Id", delivery_id.to_owned()),
    ];
    if let Some(auth) = auth_header {
        headers.push(("Authorization", auth.to_owned()));
    }
    if let Some(secret) = secret {
        headers.push((
            "X-Brokkr-Signature-256",
            signing::github_signature(secret, body),
        ));
        headers.push(("webhook-id", delivery_id.to_owned()));
        headers.push(("webhook-timestamp", timestamp.to_string()));
        headers.push((
            "webhook-signature",
            signing::standard_signature(secret, delivery_id, timestamp, body),
        ));
    }
    headers
}

/// The timeout of a subscription (`timeout_seconds`, clamped to 1–300 s).
pub fn subscription_timeout(timeout_seconds: i32) -> Duration {
    Duration::from_secs(u64::try_from(timeout_seconds.clamp(1, 300)).unwrap_or(30))
}

/// What came back from one delivery request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    /// The HTTP status, when the endpoint answered.
    pub status: Option<u16>,
    /// The response headers, as a JSON object of strings.
    pub headers: Option<serde_json::Value>,
    /// The first [`RESPONSE_EXCERPT_BYTES`] of the body (NUL replaced by U+FFFD).
    pub body: Option<String>,
    /// Why there was no answer (refused destination, connection error, timeout).
    pub error: Option<String>,
    /// Time from the start of the send to the end of the answer.
    pub elapsed: Duration,
}

impl Answer {
    /// True for a 2xx answer.
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The elapsed time in milliseconds, as stored and reported.
    pub fn duration_ms(&self) -> i32 {
        i32::try_from(self.elapsed.as_millis()).unwrap_or(i32::MAX)
    }

    fn failed(error: String, started: Instant) -> Self {
        Answer {
            error: Some(error),
            elapsed: started.elapsed(),
            ..Answer::default()
        }
    }
}

/// Header values are marked sensitive (signatures, credentials); an invalid header is named,
/// its value never shown.
fn header_map<N: AsRef<str>>(
    headers: impl IntoIterator<Item = (N, String)>,
) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = name.as_ref();
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let mut value =
            HeaderValue::from_str(&value).map_err(|_| format!("invalid value of header {name}"))?;
        value.set_sensitive(true);
        map.append(header, value);
    }
    Ok(map)
}

/// POSTs `body` with `headers` to `url` and waits at most `timeout` for the whole answer.
pub async fn send<N: AsRef<str>>(
    client: &DeliveryClient,
    url: &str,
    headers: impl IntoIterator<Item = (N, String)>,
    body: Vec<u8>,
    timeout: Duration,
) -> Answer {
    let started = Instant::now();
    let url = match client.check_destination(url).await {
        Ok(url) => url,
        Err(e) => return Answer::failed(e, started),
    };
    let mut headers = match header_map(headers) {
        Ok(h) => h,
        Err(e) => return Answer::failed(e, started),
    };
    // The trace the delivery belongs to, for receivers that trace too (W3C Trace Context).
    if let Some((name, value)) = brokkr_schema::trace_context::header()
        && let Ok(value) = reqwest::header::HeaderValue::from_str(&value)
    {
        headers.insert(name, value);
    }
    let request = client
        .http()
        .post(url)
        .headers(headers)
        .timeout(timeout)
        .body(body);
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers: serde_json::Map<String, serde_json::Value> = response
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        serde_json::Value::String(
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        ),
                    )
                })
                .collect();
            let body = read_excerpt(response).await;
            Answer {
                status: Some(status),
                headers: Some(serde_json::Value::Object(headers)),
                body,
                error: None,
                elapsed: started.elapsed(),
            }
        }
        Err(e) => Answer::failed(describe(&e, timeout), started),
    }
}

/// The first [`RESPONSE_EXCERPT_BYTES`] of a response body, read without buffering the rest.
async fn read_excerpt(mut response: reqwest::Response) -> Option<String> {
    let mut excerpt = Vec::new();
    while excerpt.len() < RESPONSE_EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            _ => break,
        }
    }
    excerpt.truncate(RESPONSE_EXCERPT_BYTES);
    // PostgreSQL cannot store NUL in text: a receiver answering with one must not make the
    // attempt's record fail (and the job with it).
    Some(String::from_utf8_lossy(&excerpt).replace('\0', "\u{FFFD}"))
}

/// A connection error with its root cause, without the URL (which may carry a token).
fn describe(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("timed out after {}s", timeout.as_secs());
    }
    let kind = if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_nul_in_a_receivers_answer_is_stored_as_a_replacement_character() {
        let answer = http_response(b"ok\0then more".to_vec());
        let excerpt = read_excerpt(answer).await.unwrap_or_default();
        assert_eq!(excerpt, "ok\u{FFFD}then more");
    }

    fn http_response(body: Vec<u8>) -> reqwest::Response {
        reqwest::Response::from(
            poem::http::Response::builder()
                .status(200)
                .body(body)
                .unwrap_or_default(),
        )
    }

    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let schedule = RetrySchedule {
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
        };
        for (failed, expected) in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (10, 60.0)] {
            let d = schedule.delay(failed).as_secs_f64();
            assert!(
                d >= expected * 0.8 - 1e-9 && d <= expected * 1.2 + 1e-9,
                "attempt {failed}: {d}"
            );
        }
    }

    #[test]
    fn signed_headers_are_present_only_with_a_secret() {
        let plain = delivery_headers("d1", "stack.created", b"{}", None, None, 1);
        assert!(plain.iter().all(|(k, _)| *k != "X-Brokkr-Signature-256"));
        assert!(plain.contains(&("X-Brokkr-Delivery", "d1".to_owned())));
        let signed = delivery_headers(
            "d1",
            "stack.created",
            b"{}",
            Some("Bearer t"),
            Some("s3cret"),
            1,
        );
        let get = |k: &str| signed.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(get("Authorization").as_deref(), Some("Bearer t"));
        assert_eq!(
            get("X-Brokkr-Signature-256"),
            Some(signing::github_signature("s3cret", b"{}"))
        );
        assert_eq!(get("webhook-id").as_deref(), Some("d1"));
        assert!(get("webhook-signature").unwrap().starts_with("v1,"));
    }
}
