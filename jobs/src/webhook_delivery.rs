//! `webhook_delivery` jobs: one attempt to deliver one event to one subscription.
//!
//! The job claims the delivery row (a lease covering the request), decrypts the URL, auth header
//! and secret, signs the body, POSTs it, and records the attempt — time, duration, status code,
//! response headers and the first 4 KiB of the body, or the connection error. On a 2xx the
//! delivery is `success`. Otherwise the next attempt is scheduled with exponential backoff and
//! jitter as a new job, in the same transaction as the attempt's record; after `max_retries`
//! retries the delivery is `dead`. A job for a delivery that is already done, or whose attempt
//! was already made (a duplicate after a worker crash), does nothing.
//!
//! Each attempt runs in a `webhook.delivery` span (a child of the job's span, so of the request
//! that caused the event) whose context the receiver gets as the W3C `traceparent` header.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use brokkr_runtime::webhooks::client::DeliveryClient;
use brokkr_runtime::webhooks::delivery::{self, Answer, RetrySchedule};
use brokkr_schema::crypto::{Destination, Keyring};
use brokkr_schema::jobs::{WEBHOOK_DELIVERY, WebhookDeliveryJob};
use brokkr_schema::live::LiveSettings;
use brokkr_schema::store::changes::{self, Actor, Change};
use brokkr_schema::store::notify::Channels;
use brokkr_schema::store::webhooks::deliveries::{self, AttemptRecord, ClaimedDelivery};
use brokkr_schema::store::{self, StoreError};
use chrono::Utc;
use sqlx::PgPool;
use tracing::Instrument;
use tracing::field::Empty;

use crate::metrics::WorkerMetrics;
/// Seconds a claim outlives the request timeout before another worker may take over.
const LEASE_GRACE_SECONDS: i64 = 5;

/// Everything a delivery job needs.
pub struct DeliveryContext {
    pub pool: PgPool,
    pub channels: Channels,
    pub keyring: Option<Arc<Keyring>>,
    pub client: DeliveryClient,
    pub metrics: Arc<WorkerMetrics>,
    /// Recorded as `delivered_by` on attempts.
    pub worker_name: String,
    /// Retry schedule and disable period are read from here at each use, so a reload applies
    /// to the next attempt.
    pub live: Arc<LiveSettings>,
    /// Attempts in flight. Each runs on its own task, so an attempt already sending finishes
    /// and records its outcome even if the queue consumer stops; shutdown waits for them.
    pub in_flight: InFlight,
}

/// Attempts in flight, and the gate that stops new ones once shutdown begins: an attempt either
/// starts before the gate closes (and shutdown waits for it) or not at all (its job runs again
/// later).
#[derive(Default)]
pub struct InFlight {
    closed: std::sync::Mutex<bool>,
    tasks: tokio_util::task::TaskTracker,
}

impl InFlight {
    /// Runs `attempt` on its own task, unless shutdown has begun (`None`).
    pub fn start<F>(&self, attempt: F) -> Option<tokio::task::JoinHandle<F::Output>>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        if *closed {
            return None;
        }
        Some(self.tasks.spawn(attempt))
    }

    /// Closes the gate and waits for the attempts already started.
    pub async fn drain(&self) {
        *self.closed.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Attempts running now.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when no attempt runs.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// Why a job could not do its work (it will be retried by the queue).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl JobError {
    /// True when the database was unreachable (the job runs again once it is back).
    pub fn is_unavailable(&self) -> bool {
        match self {
            JobError::Store(e) => e.is_unavailable(),
            JobError::Database(e) => brokkr_schema::store::outage::is_unavailable(e),
        }
    }
}

/// What happened to the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered (2xx).
    Success,
    /// Failed; another attempt is scheduled.
    Retry,
    /// Failed for good.
    Dead,
    /// Nothing to do (already delivered, dead, or held by another attempt).
    Skipped,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Retry => "retry",
            Outcome::Dead => "dead",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Runs one `webhook_delivery` job.
pub async fn run(ctx: &DeliveryContext, job: WebhookDeliveryJob) -> Result<Outcome, JobError> {
    let started = Instant::now();
    let outcome = attempt(ctx, job).await;
    let label = match &outcome {
        Ok(o) => o.as_str(),
        Err(_) => "error",
    };
    ctx.metrics
        .record_job(WEBHOOK_DELIVERY, label, started.elapsed());
    if let Ok(o) = outcome {
        ctx.metrics.record_delivery(o.as_str());
    }
    outcome
}

async fn attempt(ctx: &DeliveryContext, job: WebhookDeliveryJob) -> Result<Outcome, JobError> {
    let claimed = {
        let mut conn = ctx.pool.acquire().await?;
        deliveries::claim(&mut conn, job.delivery_id, LEASE_GRACE_SECONDS).await?
    };
    let Some(delivery) = claimed else {
        return Ok(Outcome::Skipped);
    };
    if delivery.attempts >= job.attempt {
        // This attempt was made already (a duplicate job); put the lease back.
        let mut conn = ctx.pool.acquire().await?;
        deliveries::release_duplicate_claim(&mut conn, delivery.id).await?;
        return Ok(Outcome::Skipped);
    }
    let attempt_number = delivery.attempts + 1;
    let started_at = Utc::now();
    let clock = Instant::now();
    let span = delivery_span(&delivery, attempt_number);
    let sent = match prepare(ctx, &delivery) {
        Ok(request) => send(ctx, &delivery, request).instrument(span.clone()).await,
        Err(reason) => Answer {
            error: Some(reason),
            ..Answer::default()
        },
    };
    let elapsed = clock.elapsed();
    let success = sent.is_success();
    record_on_span(&span, &sent, success, elapsed);
    ctx.metrics.record_attempt(
        match sent.status {
            Some(s) if (200..300).contains(&s) => "2xx",
            Some(s) if s < 400 => "3xx",
            Some(s) if s < 500 => "4xx",
            Some(_) => "5xx",
            None => "error",
        },
        sent.elapsed,
    );
    let record = AttemptRecord {
        attempt_number,
        started_at,
        duration_ms: sent.duration_ms(),
        status_code: sent.status.map(i32::from),
        response_headers: sent.headers,
        response_body: sent.body,
        error: sent.error.clone(),
        delivered_by: ctx.worker_name.clone(),
    };
    // The attempt's record (and the next attempt's job) in one transaction, in its own span.
    async {
        if success {
            // The hot path: one statement. It still runs in an explicit transaction: a connection
            // that a cancelled query left inside a transaction must not swallow the record.
            let mut tx = brokkr_schema::store::begin(&ctx.pool).await?;
            deliveries::record_success(&mut tx, delivery.id, &record).await?;
            tx.commit().await?;
            return Ok(Outcome::Success);
        }
        let mut tx = brokkr_schema::store::begin(&ctx.pool).await?;
        deliveries::record_attempt(&mut tx, delivery.id, &record).await?;
        let outcome = {
            let error = sent
                .error
                .unwrap_or_else(|| format!("HTTP {}", sent.status.unwrap_or(0)));
            let retryable = delivery.enabled && delivery.url_encrypted.is_some();
            if retryable && attempt_number <= delivery.max_retries {
                let delay =
                    RetrySchedule::from_settings(&ctx.live.current().worker).delay(attempt_number);
                let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                deliveries::mark_failure(&mut tx, delivery.id, attempt_number, &error, Some(next))
                    .await?;
                let next_job = WebhookDeliveryJob {
                    delivery_id: delivery.id,
                    attempt: attempt_number + 1,
                };
                store::jobs::push(
                    &mut tx,
                    &ctx.channels.queue(WEBHOOK_DELIVERY),
                    &next_job,
                    Some(SystemTime::now() + delay),
                    &next_job.idempotency_key(),
                )
                .await?;
                Outcome::Retry
            } else {
                deliveries::mark_failure(&mut tx, delivery.id, attempt_number, &error, None)
                    .await?;
                Outcome::Dead
            }
        };
        let disabled = disable_if_failing_too_long(ctx, &mut tx, &delivery).await?;
        tx.commit().await?;
        if disabled {
            ctx.metrics.record_subscription_disabled();
        }
        Ok(outcome)
    }
    .await
}

/// Disables the subscription when its deliveries have all failed for longer than
/// `worker.webhook_disable_after_seconds`, and announces it to the other subscriptions.
/// Returns whether it disabled it.
async fn disable_if_failing_too_long(
    ctx: &DeliveryContext,
    tx: &mut sqlx::PgConnection,
    delivery: &ClaimedDelivery,
) -> Result<bool, JobError> {
    let after =
        i64::try_from(ctx.live.current().worker.webhook_disable_after_seconds).unwrap_or(i64::MAX);
    let reason = format!("every delivery failed for more than {after} seconds");
    if let Some(name) =
        deliveries::disable_if_failing(&mut *tx, delivery.subscription_id, after, &reason).await?
    {
        tracing::warn!(subscription = %delivery.subscription_id, "{reason}: subscription disabled");
        changes::record(
            &mut *tx,
            &ctx.channels,
            &Actor::system(),
            Change::WebhookDisabled {
                id: delivery.subscription_id,
                name: &name,
                reason: &reason,
            },
        )
        .await?;
        return Ok(true);
    }
    Ok(false)
}

/// A request ready to send.
struct Prepared {
    url: String,
    auth_header: Option<String>,
    secret: Option<String>,
}

/// Decrypts and checks what the request needs; an error here is a failed attempt that will not
/// get better by retrying only if the subscription is gone or undecryptable.
fn prepare(ctx: &DeliveryContext, d: &ClaimedDelivery) -> Result<Prepared, String> {
    if !d.enabled {
        return Err("subscription is disabled or deleted".into());
    }
    let keyring = ctx
        .keyring
        .as_ref()
        .ok_or("webhook encryption key not configured on the worker")?;
    let url_cipher = d
        .url_encrypted
        .as_deref()
        .ok_or("subscription has no URL")?;
    let destination = keyring.destination(
        url_cipher,
        d.auth_header_encrypted.as_deref(),
        d.secret_encrypted.as_deref(),
    )?;
    let Destination {
        url,
        auth_header,
        secret,
    } = destination;
    Ok(Prepared {
        url,
        auth_header,
        secret,
    })
}

/// The span of one delivery attempt (`webhook.delivery`); its context goes to the receiver as
/// the `traceparent` header. Ids, event type, attempt, status and latency: never the URL.
fn delivery_span(d: &ClaimedDelivery, attempt_number: i32) -> tracing::Span {
    tracing::info_span!(
        "webhook.delivery",
        otel.kind = "client",
        otel.status_code = Empty,
        brokkr.delivery_id = %d.id,
        brokkr.subscription_id = %d.subscription_id,
        brokkr.event_type = %d.event_type,
        brokkr.delivery.attempt = attempt_number,
        http.response.status_code = Empty,
        brokkr.delivery.latency_ms = Empty,
        error.type = Empty,
    )
}

fn record_on_span(span: &tracing::Span, sent: &Answer, success: bool, elapsed: Duration) {
    if let Some(status) = sent.status {
        span.record("http.response.status_code", status);
    }
    span.record(
        "brokkr.delivery.latency_ms",
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
    );
    if !success {
        span.record("otel.status_code", "ERROR");
        if sent.status.is_none() {
            span.record("error.type", "transport");
        }
    }
}

async fn send(ctx: &DeliveryContext, d: &ClaimedDelivery, prepared: Prepared) -> Answer {
    let body = serde_json::to_vec(&d.payload).unwrap_or_default();
    let delivery_id = d.id.to_string();
    let headers = delivery::delivery_headers(
        &delivery_id,
        &d.event_type,
        &body,
        prepared.auth_header.as_deref(),
        prepared.secret.as_deref(),
        Utc::now().timestamp(),
    );
    let timeout = delivery::subscription_timeout(d.timeout_seconds);
    delivery::send(&ctx.client, &prepared.url, headers, body, timeout).await
}
