//! Bounded retries of Kubernetes calls, with metrics.
//!
//! A call that fails with 429, a 5xx status, or without reaching the API server (connection
//! refused or reset, timeout) is tried again after an exponentially growing delay with jitter,
//! up to `agent.kube_max_retries` attempts in all. Other failures (400, 403, 404, 409, 422, ...)
//! are returned at once. kube's own retry layer is turned off (see [`crate::kube_client`]) so
//! this is the only one, and every attempt stops when the agent shuts down.
//!
//! ```ignore
//! let pods = ctx
//!     .kube_call("list", || pods_api.list(&ListParams::default().labels(&selector)))
//!     .await?;
//! ```

use std::future::Future;
use std::time::{Duration, Instant};
use tracing::Instrument;

use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::context::AgentContext;
use crate::metrics::AgentMetrics;

/// First delay between two attempts.
const BASE_DELAY: Duration = Duration::from_millis(200);
/// Longest delay between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Is this failure worth another attempt?
pub fn is_retryable(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => {
            matches!(status.code, 429 | 500 | 502 | 503 | 504)
                || matches!(
                    status.reason.as_str(),
                    "TooManyRequests" | "ServiceUnavailable" | "InternalError" | "Timeout"
                )
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// The delay before attempt `attempt + 1` (attempt counts from 1): exponential, capped, with
/// jitter between half and all of it so that many agents do not retry in step.
pub fn backoff_delay(attempt: u32) -> Duration {
    let exp = BASE_DELAY.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(16)));
    let capped = exp.min(MAX_DELAY);
    let millis = capped.as_millis() as u64;
    let jittered = rand::rng().random_range(millis / 2..=millis.max(1));
    Duration::from_millis(jittered)
}

/// Runs `call` until it succeeds, fails for good, or `max_attempts` attempts failed; records
/// the operation (total time, retries included) in the metrics.
pub async fn with_retry<T, F, Fut>(
    metrics: &AgentMetrics,
    cancel: &CancellationToken,
    max_attempts: u32,
    operation: &str,
    mut call: F,
) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        let result = call().await;
        match result {
            Ok(value) => {
                metrics.record_kube(operation, started.elapsed(), true);
                return Ok(value);
            }
            Err(e) if attempt < max_attempts && is_retryable(&e) && !cancel.is_cancelled() => {
                let delay = backoff_delay(attempt);
                tracing::debug!(operation, attempt, error = %e, ?delay, "Kubernetes call failed; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(delay) => {}
                }
                attempt += 1;
            }
            Err(e) => {
                metrics.record_kube(operation, started.elapsed(), false);
                return Err(e);
            }
        }
    }
}

impl AgentContext {
    /// Runs a Kubernetes call with the agent's retry policy and metrics (see [`with_retry`]).
    /// `operation` names it in the metrics: `apply`, `delete`, `get`, `list`, `create`, ...
    pub async fn kube_call<T, F, Fut>(&self, operation: &str, call: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let attempts = u32::try_from(self.settings.kube_max_retries).unwrap_or(u32::MAX);
        // One span per call, retries included: what the cluster cost the agent.
        let span = tracing::info_span!(
            "kube.api",
            otel.name = %format!("kube {operation}"),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            brokkr.kube.operation = operation,
            error.message = tracing::field::Empty,
        );
        let result = with_retry(&self.metrics, &self.cancel, attempts, operation, call)
            .instrument(span.clone())
            .await;
        if let Err(e) = &result {
            span.record("otel.status_code", "ERROR");
            span.record("error.message", tracing::field::display(e));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn status(code: u16, reason: &str) -> kube::Error {
        let mut s = kube::core::Status::failure("injected", reason);
        s.code = code;
        kube::Error::Api(Box::new(s))
    }

    #[test]
    fn throttling_and_server_errors_are_retried_client_errors_are_not() {
        assert!(is_retryable(&status(429, "TooManyRequests")));
        assert!(is_retryable(&status(503, "ServiceUnavailable")));
        assert!(is_retryable(&status(500, "InternalError")));
        assert!(is_retryable(&status(504, "")));
        assert!(!is_retryable(&status(404, "NotFound")));
        assert!(!is_retryable(&status(409, "Conflict")));
        assert!(!is_retryable(&status(422, "Invalid")));
        assert!(!is_retryable(&status(403, "Forbidden")));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for _ in 0..50 {
            let first = backoff_delay(1);
            assert!(first >= BASE_DELAY / 2 && first <= BASE_DELAY);
            assert!(backoff_delay(30) <= MAX_DELAY);
            assert!(backoff_delay(30) >= MAX_DELAY / 2);
        }
    }

    #[tokio::test]
    async fn retries_until_success_within_the_bound() {
        let metrics = AgentMetrics::new();
        let cancel = CancellationToken::new();
        let calls = AtomicU32::new(0);
        let result = with_retry(&metrics, &cancel, 5, "apply", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(status(503, "ServiceUnavailable"))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retry(&metrics, &cancel, 3, "apply", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(status(429, "TooManyRequests"))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3, "bounded by max attempts");

        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retry(&metrics, &cancel, 5, "get", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(status(404, "NotFound"))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "permanent errors are not retried"
        );
    }
}
