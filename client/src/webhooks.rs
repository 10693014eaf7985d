//! Webhook subscriptions and their deliveries.

use brokkr_schema::models::{
    CreateWebhookRequest, DeliveryResultRequest, DeliveryResultResponse, PendingWebhookDelivery,
    UpdateWebhookRequest, WebhookDelivery, WebhookDeliveryDetail, WebhookResponse,
    WebhookTestResult,
};
use reqwest::{Method, StatusCode};
use uuid::Uuid;

use crate::client::Call;
use crate::{Client, Result};

impl Client {
    /// `GET /webhooks` (admin).
    pub async fn list_webhooks(&self) -> Result<Vec<WebhookResponse>> {
        self.json(Call::new(Method::GET, &["api", "v1", "webhooks"]))
            .await
    }

    /// `POST /webhooks` (admin).
    pub async fn create_webhook(&self, body: &CreateWebhookRequest) -> Result<WebhookResponse> {
        self.json(Call::new(Method::POST, &["api", "v1", "webhooks"]).body(body))
            .await
    }

    /// `GET /webhooks/event-types`.
    pub async fn list_webhook_event_types(&self) -> Result<Vec<String>> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "webhooks", "event-types"],
        ))
        .await
    }

    /// `GET /webhooks/{id}`.
    pub async fn get_webhook(&self, id: Uuid) -> Result<WebhookResponse> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "webhooks", &id.to_string()],
        ))
        .await
    }

    /// `PUT /webhooks/{id}`.
    pub async fn update_webhook(
        &self,
        id: Uuid,
        body: &UpdateWebhookRequest,
    ) -> Result<WebhookResponse> {
        self.json(Call::new(Method::PUT, &["api", "v1", "webhooks", &id.to_string()]).body(body))
            .await
    }

    /// `DELETE /webhooks/{id}`.
    pub async fn delete_webhook(&self, id: Uuid) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &["api", "v1", "webhooks", &id.to_string()],
        ))
        .await
    }

    /// `GET /webhooks/{id}/deliveries`, optionally of one status (`pending`, `success`, `dead`…).
    pub async fn list_webhook_deliveries(
        &self,
        id: Uuid,
        status: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<WebhookDelivery>> {
        self.json(
            Call::new(
                Method::GET,
                &["api", "v1", "webhooks", &id.to_string(), "deliveries"],
            )
            .query_opt("status", status)
            .query_opt("limit", limit),
        )
        .await
    }

    /// `GET /webhook-deliveries/{id}`: the delivery and its attempts.
    pub async fn get_webhook_delivery(&self, id: Uuid) -> Result<WebhookDeliveryDetail> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "webhook-deliveries", &id.to_string()],
        ))
        .await
    }

    /// `POST /webhook-deliveries/{id}/redeliver`: queues the delivery again.
    pub async fn redeliver_webhook_delivery(&self, id: Uuid) -> Result<WebhookDelivery> {
        self.json(Call::new(
            Method::POST,
            &[
                "api",
                "v1",
                "webhook-deliveries",
                &id.to_string(),
                "redeliver",
            ],
        ))
        .await
    }

    /// `POST /webhooks/{id}/ping`: a `ping` event through the normal queue.
    pub async fn ping_webhook(&self, id: Uuid) -> Result<WebhookDelivery> {
        self.json(Call::new(
            Method::POST,
            &["api", "v1", "webhooks", &id.to_string(), "ping"],
        ))
        .await
    }

    /// `POST /webhooks/{id}/test`: one delivery sent now, and how the receiver answered.
    ///
    /// A receiver that refused, failed or could not be reached is not an error of the call:
    /// the broker answers 400 with the same result (`success: false`, the receiver's
    /// `status_code`, `error` and the start of its `body`), and that result is returned. Any
    /// other 400 (no webhook encryption key configured) is an [`crate::Error::Api`].
    pub async fn test_webhook(&self, id: Uuid) -> Result<WebhookTestResult> {
        let answer = self
            .execute(
                Call::new(
                    Method::POST,
                    &["api", "v1", "webhooks", &id.to_string(), "test"],
                )
                .accept(StatusCode::BAD_REQUEST),
            )
            .await?;
        if answer.status == StatusCode::BAD_REQUEST {
            // Either a `WebhookTestResult` or the broker's `{"error": ...}`.
            return match answer.json::<WebhookTestResult>() {
                Ok(result) => Ok(result),
                Err(_) => Err(answer.into_error()),
            };
        }
        answer.json()
    }

    /// `GET /agents/{id}/webhooks/pending`: claims (with a lease) deliveries this agent sends.
    pub async fn pending_agent_webhooks(
        &self,
        agent: Uuid,
        limit: Option<i64>,
    ) -> Result<Vec<PendingWebhookDelivery>> {
        self.json(
            Call::new(
                Method::GET,
                &[
                    "api",
                    "v1",
                    "agents",
                    &agent.to_string(),
                    "webhooks",
                    "pending",
                ],
            )
            .query_opt("limit", limit),
        )
        .await
    }

    /// `POST /webhook-deliveries/{id}/result`: the outcome of a delivery an agent sent.
    pub async fn report_webhook_delivery_result(
        &self,
        id: Uuid,
        body: &DeliveryResultRequest,
    ) -> Result<DeliveryResultResponse> {
        self.json(
            Call::new(
                Method::POST,
                &["api", "v1", "webhook-deliveries", &id.to_string(), "result"],
            )
            .body(body),
        )
        .await
    }
}
