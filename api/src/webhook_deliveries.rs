//! Webhook deliveries: inspection attempt by attempt, redelivery, and delivery by agents.
//!
//! - `GET /webhook-deliveries/{id}` (admin): the delivery and each attempt.
//! - `POST /webhook-deliveries/{id}/redeliver` (admin): one more attempt, through the queue.
//! - `GET /agents/{id}/webhooks/pending` (admin or the agent itself): claims, with a 60 s lease,
//!   deliveries of subscriptions with `target_labels` that are all on the agent, and returns them
//!   ready to send (URL and auth header decrypted, exact body, signatures computed).
//! - `POST /webhook-deliveries/{id}/result` (the agent holding the delivery): records the attempt
//!   and succeeds, schedules the next attempt, or gives up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use brokkr_runtime::webhooks::client::{DeliveryClient, USER_AGENT};
use brokkr_runtime::webhooks::delivery::{self, RetrySchedule, delivery_headers};
use brokkr_schema::crypto::Destination;
use brokkr_schema::jobs::{WEBHOOK_DELIVERY, WebhookDeliveryJob};
use brokkr_schema::models::{
    DeliveryResultRequest, DeliveryResultResponse, DeliveryStatus, PendingWebhookDelivery,
    WebhookDelivery, WebhookDeliveryDetail, WebhookTestResult,
};
use brokkr_schema::store;
use brokkr_schema::store::changes::Change;
use brokkr_schema::store::webhooks::deliveries::{self, AgentClaim, AttemptRecord};
use chrono::Utc;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::ApiTags;
use crate::access::{self, Action, Resource};
use crate::auth::Pakauth;
use crate::error::{ApiError, ApiResult, OneResponsePerStatus};
use crate::state::AppState;

/// Lease of a delivery claimed by an agent.
pub const AGENT_LEASE_SECONDS: i64 = 60;
/// Default and largest number of deliveries claimed per call.
pub const DEFAULT_CLAIM: i64 = 10;
const MAX_CLAIM: i64 = 100;

/// `202 Accepted` with the delivery.
#[derive(ApiResponse)]
pub enum DeliveryAccepted {
    /// Queued; follow it with `GET /webhook-deliveries/{id}`.
    #[oai(status = 202)]
    Accepted(Json<WebhookDelivery>),
}

/// Handlers of `/webhook-deliveries` and agent-side delivery.
pub struct WebhookDeliveriesApi {
    state: Arc<AppState>,
}

impl WebhookDeliveriesApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// The retry schedule in effect now (`worker.webhook_retry_*` follow reloads).
    fn retry_schedule(&self) -> RetrySchedule {
        RetrySchedule::from_settings(&self.state.live.current().worker)
    }

    /// Turns a claim into what the agent sends; `Err` carries why it cannot be sent.
    fn ready_to_send(&self, claim: &AgentClaim) -> Result<PendingWebhookDelivery, String> {
        if !claim.enabled {
            return Err("subscription is disabled or deleted".into());
        }
        let keyring = self
            .state
            .keyring
            .as_ref()
            .ok_or("webhook encryption key not configured on the broker")?;
        let url_cipher = claim
            .url_encrypted
            .as_deref()
            .ok_or("subscription has no URL")?;
        let Destination {
            url,
            auth_header,
            secret,
        } = keyring.destination(
            url_cipher,
            claim.auth_header_encrypted.as_deref(),
            claim.secret_encrypted.as_deref(),
        )?;
        let body = serde_json::to_string(&claim.payload).unwrap_or_default();
        let headers: BTreeMap<String, String> = delivery_headers(
            &claim.id.to_string(),
            &claim.event_type,
            body.as_bytes(),
            auth_header.as_deref(),
            secret.as_deref(),
            Utc::now().timestamp(),
        )
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain([("User-Agent".to_owned(), USER_AGENT.to_owned())])
        .collect();
        Ok(PendingWebhookDelivery {
            id: claim.id,
            subscription_id: claim.subscription_id,
            event_type: claim.event_type.clone(),
            payload: claim.payload.clone(),
            url,
            auth_header,
            timeout_seconds: claim.timeout_seconds,
            max_retries: claim.max_retries,
            attempts: claim.attempts,
            body,
            headers,
            lease_expires_at: claim.acquired_until.unwrap_or_else(Utc::now),
        })
    }
}

#[OpenApi(tag = "ApiTags::Webhooks")]
impl WebhookDeliveriesApi {
    /// A delivery with every attempt: time, duration, status code, response headers and the
    /// first 4 KiB of the body, or the connection error (admin).
    #[oai(
        path = "/webhook-deliveries/:id",
        method = "get",
        operation_id = "getWebhookDelivery"
    )]
    async fn get_delivery(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<WebhookDeliveryDetail>> {
        access::require(&auth.0, Action::Read, Resource::WebhookDelivery, false)?;
        let mut conn = self.state.pool.acquire().await?;
        let delivery = deliveries::get(&mut conn, id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Delivery"))?;
        let attempts_log = deliveries::attempts(&mut conn, id.0).await?;
        Ok(Json(WebhookDeliveryDetail {
            delivery,
            attempts_log,
        }))
    }

    /// Sends a delivery once more, whatever its state (admin). The delivery keeps its id.
    #[oai(
        path = "/webhook-deliveries/:id/redeliver",
        method = "post",
        operation_id = "redeliverWebhookDelivery"
    )]
    async fn redeliver(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<DeliveryAccepted> {
        access::require(&auth.0, Action::Deliver, Resource::WebhookDelivery, false)?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let delivery = deliveries::reset_for_redelivery(write.conn(), id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Delivery"))?;
        if delivery.target_labels.is_none() {
            let job = WebhookDeliveryJob {
                delivery_id: delivery.id,
                attempt: delivery.attempts + 1,
            };
            let queue = self.state.channels.queue(WEBHOOK_DELIVERY);
            store::jobs::push(write.conn(), &queue, &job, None, &job.idempotency_key()).await?;
        }
        write
            .record(Change::WebhookRedelivered {
                delivery_id: delivery.id,
            })
            .await?;
        write.commit().await?;
        Ok(DeliveryAccepted::Accepted(Json(delivery)))
    }

    /// Sends a `ping` event to one subscription through the normal queue, recorded like any
    /// delivery (admin).
    #[oai(
        path = "/webhooks/:id/ping",
        method = "post",
        operation_id = "pingWebhook"
    )]
    async fn ping(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<DeliveryAccepted> {
        access::require(
            &auth.0,
            Action::Deliver,
            Resource::WebhookSubscription,
            false,
        )?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let subscription = store::webhooks::subscriptions::get(write.conn(), id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Webhook subscription"))?;
        let delivery_id = queue_ping(
            &self.state,
            &mut write,
            subscription.id,
            subscription.target_labels.as_deref(),
        )
        .await?;
        let delivery = deliveries::get(write.conn(), delivery_id).await?;
        write.commit().await?;
        Ok(DeliveryAccepted::Accepted(Json(delivery)))
    }

    /// Sends a test event straight to the subscription's URL and reports the answer (admin).
    /// Nothing is recorded; use `ping` for a delivery through the queue.
    #[oai(
        path = "/webhooks/:id/test",
        method = "post",
        operation_id = "testWebhook"
    )]
    async fn test(&self, auth: Pakauth, id: Path<Uuid>) -> OneResponsePerStatus<TestAnswer> {
        OneResponsePerStatus(self.send_subscription_test(auth, id).await)
    }

    /// Claims deliveries this agent should send from inside its cluster (admin, or the agent
    /// itself). Each comes with a 60 s lease; unreported leases return to pending.
    #[oai(
        path = "/agents/:id/webhooks/pending",
        method = "get",
        operation_id = "listAgentPendingWebhookDeliveries"
    )]
    async fn pending_for_agent(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        limit: Query<Option<i64>>,
    ) -> ApiResult<Json<Vec<PendingWebhookDelivery>>> {
        access::on_agent(&auth.0, Action::Poll, id.0)?;
        let limit = limit.0.unwrap_or(DEFAULT_CLAIM);
        if !(1..=MAX_CLAIM).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_CLAIM}"
            )));
        }
        let ready = async {
            let mut tx = brokkr_schema::store::begin(&self.state.pool).await?;
            store::agents::get(&mut tx, id.0)
                .await
                .map_err(|e| ApiError::from_store(e, "Agent"))?;
            let claims =
                deliveries::claim_for_agent(&mut tx, id.0, limit, AGENT_LEASE_SECONDS).await?;
            let mut ready = Vec::with_capacity(claims.len());
            for claim in &claims {
                match self.ready_to_send(claim) {
                    Ok(pending) => ready.push(pending),
                    Err(reason) => {
                        // Cannot be sent by anyone: record why and give up, rather than leave it
                        // claimed forever.
                        deliveries::mark_failure(&mut tx, claim.id, claim.attempts, &reason, None)
                            .await?;
                    }
                }
            }
            tx.commit().await?;
            ApiResult::Ok(ready)
        }
        .await?;
        Ok(Json(ready))
    }

    /// Records the outcome of a delivery the calling agent holds.
    #[oai(
        path = "/webhook-deliveries/:id/result",
        method = "post",
        operation_id = "reportWebhookDeliveryResult"
    )]
    async fn report_result(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<DeliveryResultRequest>,
    ) -> ApiResult<Json<DeliveryResultResponse>> {
        let ask = access::ask(&auth.0, Action::Report, Resource::WebhookDelivery)?;
        // Only agents get this far (the admin and generators are refused above).
        let agent = auth.0.agent().unwrap_or_default();
        let body = body.0;
        let mut write = self.state.write(auth.0.actor()).await?;
        let held = deliveries::held_by_agent(write.conn(), id.0, agent).await?;
        // A delivery the agent does not hold is one it must not learn about.
        ask.given(held.is_some())?;
        let Some((attempts_before, max_retries)) = held else {
            return Err(Resource::WebhookDelivery.not_found());
        };
        let attempt = attempts_before + 1;
        let success = body.success && body.status_code.is_none_or(|s| (200..300).contains(&s));
        let record = AttemptRecord {
            attempt_number: attempt,
            started_at: Utc::now(),
            duration_ms: body.duration_ms.unwrap_or(0).max(0),
            status_code: body.status_code,
            response_headers: None,
            response_body: None,
            error: if success {
                None
            } else {
                Some(
                    body.error
                        .clone()
                        .unwrap_or_else(|| "delivery failed (no error given)".into()),
                )
            },
            delivered_by: format!("agent:{agent}"),
        };
        deliveries::record_attempt(write.conn(), id.0, &record).await?;
        let (status, next_retry_at) = if success {
            deliveries::mark_success(write.conn(), id.0, attempt).await?;
            (DeliveryStatus::Success, None)
        } else {
            let error = record.error.clone().unwrap_or_default();
            if attempt <= max_retries {
                let delay = self.retry_schedule().delay(attempt);
                let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                deliveries::mark_failure(write.conn(), id.0, attempt, &error, Some(next)).await?;
                (DeliveryStatus::Failed, Some(next))
            } else {
                deliveries::mark_failure(write.conn(), id.0, attempt, &error, None).await?;
                (DeliveryStatus::Dead, None)
            }
        };
        write
            .record(Change::WebhookDeliveryReported {
                delivery_id: id.0,
                status: status.as_str(),
            })
            .await?;
        write.commit().await?;
        Ok(Json(DeliveryResultResponse {
            status,
            delivery_id: id.0,
            attempts: attempt,
            next_retry_at,
        }))
    }
}

impl WebhookDeliveriesApi {
    /// `POST /webhooks/{id}/test`.
    async fn send_subscription_test(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<TestAnswer> {
        access::require(
            &auth.0,
            Action::Deliver,
            Resource::WebhookSubscription,
            false,
        )?;
        let subscription = {
            let mut conn = self.state.pool.acquire().await?;
            store::webhooks::subscriptions::get(&mut conn, id.0)
                .await
                .map_err(|e| ApiError::from_store(e, "Webhook subscription"))?
        };
        let keyring = self
            .state
            .keyring
            .as_ref()
            .ok_or_else(|| ApiError::bad_request(crate::webhooks::NO_KEY_MESSAGE))?;
        let destination = keyring
            .destination(
                &subscription.url_encrypted,
                subscription.auth_header_encrypted.as_deref(),
                subscription.secret_encrypted.as_deref(),
            )
            .map_err(|e| {
                tracing::error!(error = %e, subscription = %id.0, "cannot decrypt a webhook secret");
                ApiError::Internal(Json(brokkr_schema::models::ErrorBody {
                    error: "cannot decrypt the subscription's secrets".into(),
                    document_index: None,
                    code: None,
                }))
            })?;
        Ok(send_test(
            &self.state,
            &destination.url,
            destination.auth_header.as_deref(),
            destination.secret.as_deref(),
            subscription.timeout_seconds,
            Some(subscription.id),
        )
        .await
        .into())
    }
}

/// A test delivery's answer: 200 when the endpoint accepted it, 400 when it did not.
#[derive(ApiResponse)]
pub enum TestAnswer {
    /// The endpoint answered 2xx.
    #[oai(status = 200)]
    Delivered(Json<WebhookTestResult>),
    /// The endpoint refused, failed or could not be reached (a `WebhookTestResult`), or no
    /// encryption key is configured (an `ErrorBody`).
    #[oai(status = 400)]
    Failed(Json<WebhookTestResult>),
}

impl From<WebhookTestResult> for TestAnswer {
    fn from(result: WebhookTestResult) -> Self {
        if result.success {
            TestAnswer::Delivered(Json(result))
        } else {
            TestAnswer::Failed(Json(result))
        }
    }
}

/// Sends a `webhook.test` event straight to `url`, signed and authorised like a real delivery,
/// under the destination policy; nothing is recorded.
pub async fn send_test(
    state: &AppState,
    url: &str,
    auth_header: Option<&str>,
    secret: Option<&str>,
    timeout_seconds: i32,
    subscription_id: Option<Uuid>,
) -> WebhookTestResult {
    let failed = |error: String| WebhookTestResult {
        success: false,
        status_code: None,
        message: None,
        error: Some(error),
        body: None,
    };
    // The same route out as the worker's deliveries (the proxy was checked at start-up).
    let proxy = state.settings.webhooks.proxy_url().ok().flatten();
    let client = match DeliveryClient::with_proxy(state.destinations.clone(), proxy.as_ref()) {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot build the HTTP client: {e}")),
    };
    let event = brokkr_schema::events::BrokkrEvent::new(
        "webhook.test",
        serde_json::json!({
            "message": "Brokkr test delivery",
            "subscription_id": subscription_id,
        }),
    );
    let body = serde_json::to_vec(&event).unwrap_or_default();
    let id = event.id.to_string();
    let headers = delivery_headers(
        &id,
        "webhook.test",
        &body,
        auth_header,
        secret,
        Utc::now().timestamp(),
    );
    let timeout = delivery::subscription_timeout(timeout_seconds);
    let answer = delivery::send(&client, url, headers, body, timeout).await;
    match answer.status {
        Some(status) if answer.is_success() => WebhookTestResult {
            success: true,
            status_code: Some(i32::from(status)),
            message: Some("Test delivery successful".into()),
            error: None,
            body: None,
        },
        Some(status) => WebhookTestResult {
            success: false,
            status_code: Some(i32::from(status)),
            message: None,
            error: Some(format!("Endpoint returned HTTP {status}")),
            body: Some(answer.body.unwrap_or_default().chars().take(500).collect()),
        },
        None => failed(answer.error.unwrap_or_else(|| "request failed".into())),
    }
}

/// Queues a `ping` event for one subscription (used by `POST /webhooks/{id}/ping`).
pub async fn queue_ping(
    state: &AppState,
    write: &mut crate::state::Write<'_>,
    subscription_id: Uuid,
    target_labels: Option<&[String]>,
) -> ApiResult<Uuid> {
    let event = brokkr_schema::events::BrokkrEvent::new(
        "ping",
        serde_json::json!({
            "subscription_id": subscription_id,
            "message": "Brokkr ping: this subscription is reachable",
        }),
    );
    let delivery_id =
        deliveries::insert_for_subscription(write.conn(), subscription_id, &event, target_labels)
            .await?;
    if target_labels.is_none() {
        let job = WebhookDeliveryJob {
            delivery_id,
            attempt: 1,
        };
        let queue = state.channels.queue(WEBHOOK_DELIVERY);
        store::jobs::push(
            write.conn(),
            &queue,
            &job,
            None::<SystemTime>,
            &job.idempotency_key(),
        )
        .await?;
    }
    write
        .record(Change::WebhookPinged {
            subscription_id,
            delivery_id,
        })
        .await?;
    Ok(delivery_id)
}
