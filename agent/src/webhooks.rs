//! Agent-delivered webhooks: subscriptions with `target_labels` are delivered from inside the
//! cluster by an agent carrying those labels (e.g. to an in-cluster endpoint the broker cannot
//! reach).
//!
//! Every `agent.webhook_interval` seconds (when ACTIVE) the agent calls
//! `GET /api/v1/agents/{id}/webhooks/pending`, which *claims* up to [`CLAIM_LIMIT`] deliveries
//! with a lease (60 s on the broker). They are sent at the same time, each as
//! `POST url` with exactly the body and headers the broker prepared (content type, event type,
//! delivery id, signatures, `Authorization`), within the subscription's timeout (1–300 s, and
//! never past the lease: a delivery whose lease is nearly over is left for a later claim),
//! without following redirects. The outcome is reported with
//! `POST /api/v1/webhook-deliveries/{id}/result` (any 2xx accepted): 2xx is a success; anything
//! else a failure with the status code and the start of the answer, or the connection error.
//! The broker owns retries and dead-lettering; the agent never retries a send itself.
//!
//! The request itself is `brokkr_runtime::webhooks::delivery::send`, the sender the worker and
//! the broker use too, with a client for in-cluster endpoints (every address allowed, no proxy
//! from the environment).
//!
//! URLs (they may carry tokens) and headers (signatures, credentials) are never logged: log
//! lines name the delivery id and event type only.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tracing::Instrument;

use brokkr_runtime::webhooks::client::DeliveryClient;
use brokkr_runtime::webhooks::delivery;
use brokkr_schema::models::{DeliveryResultRequest, PendingWebhookDelivery};
use chrono::Utc;
use futures::{StreamExt, stream};

use crate::broker::{BrokerError, error_chain};
use crate::context::AgentContext;

/// Deliveries claimed per round; all of them are sent at once, so every send starts well
/// inside the lease.
pub const CLAIM_LIMIT: usize = 8;
/// Deliveries sent at the same time.
pub const CONCURRENCY: usize = CLAIM_LIMIT;
/// The broker's lease on claimed deliveries, assumed when the one it states looks skewed.
const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Margin kept between the end of a send and the end of the lease.
const LEASE_MARGIN: Duration = Duration::from_secs(2);
/// Characters of a failed answer's body kept in the error.
const BODY_EXCERPT: usize = 200;

/// The outcome of one send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub success: bool,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

impl Outcome {
    fn into_request(self) -> DeliveryResultRequest {
        DeliveryResultRequest {
            success: self.success,
            status_code: self.status_code,
            error: self.error,
            duration_ms: Some(self.duration_ms),
        }
    }
}

/// The HTTP client for deliveries: no redirects, no proxy from the environment.
pub fn delivery_client() -> Result<DeliveryClient, reqwest::Error> {
    DeliveryClient::in_cluster()
}

/// The headers to send: the broker's, with a content type and the `Authorization` value the
/// broker also passes separately (headers carry it already when set, but do not rely on that).
fn headers_of(delivery: &PendingWebhookDelivery) -> Vec<(String, String)> {
    let has = |name: &str| {
        delivery
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case(name))
    };
    let mut headers: Vec<(String, String)> = delivery
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !has("content-type") {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    if let Some(auth) = &delivery.auth_header
        && !has("authorization")
    {
        headers.push(("Authorization".into(), auth.clone()));
    }
    headers
}

/// How long the lease on a delivery claimed just now lasts. The broker states when it ends in
/// its own clock; a value that is not plausible (clocks apart) is replaced by the broker's
/// usual 60 s.
pub fn lease_length(delivery: &PendingWebhookDelivery) -> Duration {
    match (delivery.lease_expires_at - Utc::now()).to_std() {
        Ok(left) if (Duration::from_secs(5)..=Duration::from_secs(600)).contains(&left) => left,
        _ => DEFAULT_LEASE,
    }
}

/// The timeout of a delivery: the subscription's (clamped to 1–300 s), but never past what is
/// left of the lease (`lease_left`, margin included).
pub fn timeout_of(delivery: &PendingWebhookDelivery, lease_left: Duration) -> Duration {
    let wanted = Duration::from_secs(delivery.timeout_seconds.clamp(1, 300) as u64);
    wanted.min(lease_left)
}

fn excerpt(text: &str) -> String {
    let mut cut: String = text.chars().take(BODY_EXCERPT).collect();
    if text.chars().count() > BODY_EXCERPT {
        cut.push('…');
    }
    cut
}

/// Sends one delivery, giving up after `timeout`.
pub async fn send(
    http: &DeliveryClient,
    delivery: &PendingWebhookDelivery,
    timeout: Duration,
) -> Outcome {
    let answer = delivery::send(
        http,
        &delivery.url,
        headers_of(delivery),
        delivery.body.clone().into_bytes(),
        timeout,
    )
    .await;
    let duration_ms = answer.duration_ms();
    let Some(status) = answer.status else {
        return Outcome {
            success: false,
            status_code: None,
            error: answer.error,
            duration_ms,
        };
    };
    let code = i32::from(status);
    if answer.is_success() {
        return Outcome {
            success: true,
            status_code: Some(code),
            error: None,
            duration_ms,
        };
    }
    let mut error = format!("HTTP {code}");
    if (300..400).contains(&status) {
        error.push_str(" (redirects are not followed)");
    }
    let text = excerpt(answer.body.as_deref().unwrap_or_default());
    if !text.trim().is_empty() {
        error.push_str(": ");
        error.push_str(text.trim());
    }
    Outcome {
        success: false,
        status_code: Some(code),
        error: Some(error),
        duration_ms,
    }
}

/// Reports an outcome, retrying transient broker errors a few times.
async fn report(ctx: &AgentContext, id: uuid::Uuid, outcome: Outcome) -> Result<(), BrokerError> {
    let body = outcome.into_request();
    let mut attempt: u64 = 0;
    loop {
        attempt += 1;
        match ctx
            .broker
            .api()
            .report_webhook_delivery_result(id, &body)
            .await
            .map_err(BrokerError::from)
        {
            Ok(_) => return Ok(()),
            Err(e) if e.is_transient() && attempt < 3 => {
                if !ctx.sleep(Duration::from_millis(500 * attempt)).await {
                    return Err(BrokerError::Cancelled);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

async fn deliver(
    ctx: &AgentContext,
    http: &DeliveryClient,
    delivery: PendingWebhookDelivery,
    claimed: Instant,
) {
    let lease_left = lease_length(&delivery)
        .saturating_sub(claimed.elapsed())
        .saturating_sub(LEASE_MARGIN);
    if lease_left < Duration::from_secs(1) {
        // Not sent, not reported: the lease lapses and the delivery is claimed again later.
        tracing::info!(delivery = %delivery.id, "webhook lease about to lapse; left for a later claim");
        return;
    }
    // The attempt's span; its context goes to the receiver as `traceparent` (see `send`).
    let span = tracing::info_span!(
        "webhook.delivery",
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        brokkr.delivery_id = %delivery.id,
        brokkr.subscription_id = %delivery.subscription_id,
        brokkr.event_type = %delivery.event_type,
        brokkr.delivery.attempt = delivery.attempts + 1,
        http.response.status_code = tracing::field::Empty,
        brokkr.delivery.latency_ms = tracing::field::Empty,
    );
    let outcome = send(http, &delivery, timeout_of(&delivery, lease_left))
        .instrument(span.clone())
        .await;
    if let Some(code) = outcome.status_code {
        span.record("http.response.status_code", code);
    }
    span.record("brokkr.delivery.latency_ms", outcome.duration_ms);
    if !outcome.success {
        span.record("otel.status_code", "ERROR");
    }
    static SENT: OnceLock<Option<prometheus::IntCounterVec>> = OnceLock::new();
    if let Some(c) = crate::work_orders::feature_counter(
        ctx,
        &SENT,
        "brokkr_agent_webhook_deliveries_total",
        "Webhook deliveries sent by the agent, by outcome (success, failure).",
        &["outcome"],
    ) {
        c.with_label_values(&[if outcome.success {
            "success"
        } else {
            "failure"
        }])
        .inc();
    }
    if outcome.success {
        tracing::debug!(delivery = %delivery.id, event_type = %delivery.event_type,
            status = ?outcome.status_code, "webhook delivered");
    } else {
        tracing::info!(delivery = %delivery.id, event_type = %delivery.event_type,
            status = ?outcome.status_code, error = outcome.error.as_deref().unwrap_or(""),
            "webhook delivery failed");
    }
    if let Err(e) = report(ctx, delivery.id, outcome).await {
        // 404: the lease lapsed and the delivery went back to the queue.
        tracing::warn!(delivery = %delivery.id, error = %e, "cannot report webhook delivery result");
    }
}

/// One round: claim deliveries, send them, report. Returns how many were claimed.
pub async fn poll_once(ctx: &AgentContext, http: &DeliveryClient) -> Result<usize, BrokerError> {
    let pending: Vec<PendingWebhookDelivery> = ctx
        .broker
        .api()
        .pending_agent_webhooks(ctx.agent_id, i64::try_from(CLAIM_LIMIT).ok())
        .await?;
    let claimed = Instant::now();
    let count = pending.len();
    let jobs: Vec<_> = pending
        .into_iter()
        .map(|d| deliver(ctx, http, d, claimed))
        .collect();
    stream::iter(jobs)
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    Ok(count)
}

/// Runs until the agent shuts down.
pub async fn run(ctx: Arc<AgentContext>) {
    let http = match delivery_client() {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "webhooks: cannot build the HTTP client; agent-delivered webhooks are off");
            ctx.cancel.cancelled().await;
            return;
        }
    };
    ctx.run_rounds(
        "webhooks: cannot fetch pending deliveries",
        |s| s.webhook_interval,
        || poll_once(&ctx, &http).instrument(tracing::info_span!("agent.webhook_round")),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    #[test]
    fn failed_answers_are_cut_to_an_excerpt() {
        assert_eq!(excerpt("bad reply"), "bad reply");
        let long = excerpt(&"x".repeat(1000));
        assert_eq!(long.chars().count(), BODY_EXCERPT + 1);
        assert!(long.ends_with('…'));
    }

    use poem::listener::{Acceptor, Listener, TcpListener};
    use poem::{EndpointExt, Request, Response, handler, web::Data};

    type Seen = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

    #[handler]
    async fn hook(req: &Request, body: Vec<u8>, seen: Data<&Seen>) -> Response {
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        seen.lock().unwrap().push((headers, body));
        match req.uri().path() {
            "/ok" => Response::builder().body("thanks"),
            "/moved" => Response::builder()
                .status(poem::http::StatusCode::FOUND)
                .header("Location", "/ok")
                .body(""),
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Response::builder().body("late")
            }
            _ => Response::builder()
                .status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
                .body("x".repeat(1000)),
        }
    }

    async fn receiver() -> (Seen, String) {
        let seen: Seen = Arc::default();
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        let app = poem::Route::new()
            .at("/*path", poem::post(hook))
            .data(seen.clone());
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        (seen, format!("http://{addr}"))
    }

    fn delivery(url: String, timeout_seconds: i32) -> PendingWebhookDelivery {
        let mut headers = BTreeMap::new();
        headers.insert("Content-Type".into(), "application/json".into());
        headers.insert("X-Brokkr-Event-Type".into(), "deployment.applied".into());
        headers.insert("X-Brokkr-Delivery-Id".into(), "d-1".into());
        headers.insert("X-Brokkr-Signature-256".into(), "sha256=abc".into());
        headers.insert("Authorization".into(), "Bearer hook-token".into());
        PendingWebhookDelivery {
            id: uuid::Uuid::new_v4(),
            subscription_id: uuid::Uuid::new_v4(),
            event_type: "deployment.applied".into(),
            payload: serde_json::json!({"a": 1}),
            url,
            auth_header: Some("Bearer hook-token".into()),
            timeout_seconds,
            max_retries: 3,
            attempts: 0,
            body: "{\"a\":1}".into(),
            headers,
            lease_expires_at: Utc::now() + chrono::Duration::seconds(60),
        }
    }

    #[tokio::test]
    async fn sends_the_brokers_body_and_headers_and_maps_outcomes() {
        let (seen, base) = receiver().await;
        let http = delivery_client().unwrap();

        let ok = send(
            &http,
            &delivery(format!("{base}/ok"), 5),
            Duration::from_secs(5),
        )
        .await;
        assert!(ok.success);
        assert_eq!(ok.status_code, Some(200));
        {
            let seen = seen.lock().unwrap();
            let (headers, body) = &seen[0];
            assert_eq!(body, b"{\"a\":1}");
            let get = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.clone())
            };
            assert_eq!(
                get("x-brokkr-event-type").as_deref(),
                Some("deployment.applied")
            );
            assert_eq!(get("x-brokkr-signature-256").as_deref(), Some("sha256=abc"));
            assert_eq!(get("authorization").as_deref(), Some("Bearer hook-token"));
            assert_eq!(get("content-type").as_deref(), Some("application/json"));
        }

        let failed = send(
            &http,
            &delivery(format!("{base}/down"), 5),
            Duration::from_secs(5),
        )
        .await;
        assert!(!failed.success);
        assert_eq!(failed.status_code, Some(503));
        let error = failed.error.unwrap();
        assert!(error.starts_with("HTTP 503: xxx"), "{error}");
        assert!(error.chars().count() < 250, "{error}");

        let moved = send(
            &http,
            &delivery(format!("{base}/moved"), 5),
            Duration::from_secs(5),
        )
        .await;
        assert!(!moved.success, "redirects are not followed");
        assert_eq!(moved.status_code, Some(302));
        assert_eq!(
            seen.lock().unwrap().len(),
            3,
            "the redirect target was not called"
        );

        let slow = send(
            &http,
            &delivery(format!("{base}/slow"), 1),
            Duration::from_secs(1),
        )
        .await;
        assert!(!slow.success);
        assert_eq!(slow.status_code, None);
        assert!(slow.error.unwrap().contains("timed out"));

        let refused = send(
            &http,
            &delivery("http://127.0.0.1:9/x?token=secret".into(), 2),
            Duration::from_secs(2),
        )
        .await;
        assert!(!refused.success);
        let error = refused.error.unwrap();
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn timeouts_are_clamped_and_bounded_by_the_lease() {
        let mut d = delivery("http://x".into(), -5);
        let long = Duration::from_secs(600);
        assert_eq!(timeout_of(&d, long), Duration::from_secs(1));
        d.timeout_seconds = 10_000;
        assert_eq!(timeout_of(&d, long), Duration::from_secs(300));
        assert_eq!(
            timeout_of(&d, Duration::from_secs(20)),
            Duration::from_secs(20)
        );
        d.timeout_seconds = 5;
        assert_eq!(timeout_of(&d, long), Duration::from_secs(5));

        let lease = lease_length(&d);
        assert!(lease > Duration::from_secs(55) && lease <= Duration::from_secs(60));
        // A lease that looks already over (agent clock ahead) is taken as the usual 60 s.
        d.lease_expires_at = Utc::now() - chrono::Duration::seconds(30);
        assert_eq!(lease_length(&d), DEFAULT_LEASE);
    }
}
