//! When and how long to wait before trying a request again.
//!
//! Idempotent requests (GET, PUT, DELETE) are retried after a timeout, a transport error, a 5xx
//! or a 429. A POST is retried only when it surely did not take effect: the connection was
//! refused before anything was sent, or the broker answered 429 or 503 (it refused to start).
//! The delay doubles from [`RetryPolicy::base_delay`] up to [`RetryPolicy::max_delay`] with full
//! jitter, and a `Retry-After` from the broker is honoured (up to `max_delay`).

use std::time::Duration;

use rand::Rng;
use reqwest::Method;

use crate::Error;

/// How often and how patiently a call is retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    /// Upper bound of the first delay.
    pub base_delay: Duration,
    /// Upper bound of any delay, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// May the request be sent again after `error`?
    pub fn should_retry(&self, method: &Method, error: &Error, connect_refused: bool) -> bool {
        let idempotent = matches!(
            *method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        match error {
            Error::Api { status, .. } if idempotent => *status == 429 || *status >= 500,
            Error::Api { status, .. } => *status == 429 || *status == 503,
            Error::Timeout(_) | Error::Connect(_) if idempotent => true,
            Error::Connect(_) => connect_refused,
            _ => false,
        }
    }

    /// The wait before retry number `attempt` (1 for the first retry).
    pub fn delay(&self, attempt: u32, error: &Error) -> Duration {
        if let Error::Api {
            retry_after: Some(after),
            ..
        } = error
        {
            return (*after).min(self.max_delay);
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let millis = u64::try_from(ceiling.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from our broker and ignored).
pub(crate) fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> Error {
        Error::Api {
            status,
            message: String::new(),
            code: None,
            retry_after: None,
        }
    }

    #[test]
    fn gets_retry_on_5xx_and_transport_posts_only_when_not_started() {
        let p = RetryPolicy::default();
        assert!(p.should_retry(&Method::GET, &api(500), false));
        assert!(p.should_retry(&Method::GET, &Error::Connect("reset".into()), false));
        assert!(!p.should_retry(&Method::GET, &api(404), false));
        assert!(!p.should_retry(&Method::POST, &api(500), false));
        assert!(p.should_retry(&Method::POST, &api(503), false));
        assert!(p.should_retry(&Method::POST, &api(429), false));
        assert!(!p.should_retry(&Method::POST, &Error::Connect("reset".into()), false));
        assert!(p.should_retry(&Method::POST, &Error::Connect("refused".into()), true));
    }

    #[test]
    fn delays_grow_with_jitter_and_honour_retry_after() {
        let p = RetryPolicy::default();
        for attempt in 1..10 {
            let d = p.delay(attempt, &api(500));
            assert!(d <= p.max_delay, "{d:?}");
        }
        let third = p.delay(3, &api(500));
        assert!(third >= Duration::from_millis(400) && third <= Duration::from_millis(800));
        let asked = Error::Api {
            status: 503,
            message: String::new(),
            code: None,
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(p.delay(1, &asked), Duration::from_secs(2));
        assert_eq!(parse_retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
    }
}
