//! Work orders: one-off tasks that agents claim, run and report on.

use brokkr_schema::models::{
    ClaimWorkOrderRequest, CompleteWorkOrderRequest, CreateWorkOrderRequest, WorkOrder,
    WorkOrderLog,
};
use reqwest::Method;
use uuid::Uuid;

use crate::client::Call;
use crate::{Client, Result};

impl Client {
    /// `GET /work-orders` (admin), optionally filtered.
    pub async fn list_work_orders(
        &self,
        status: Option<&str>,
        work_type: Option<&str>,
    ) -> Result<Vec<WorkOrder>> {
        self.json(
            Call::new(Method::GET, &["api", "v1", "work-orders"])
                .query_opt("status", status)
                .query_opt("work_type", work_type),
        )
        .await
    }

    /// `POST /work-orders` (admin).
    pub async fn create_work_order(&self, body: &CreateWorkOrderRequest) -> Result<WorkOrder> {
        self.json(Call::new(Method::POST, &["api", "v1", "work-orders"]).body(body))
            .await
    }

    /// `GET /work-orders/{id}` (finished orders too, as `COMPLETED`/`FAILED`).
    pub async fn get_work_order(&self, id: Uuid) -> Result<WorkOrder> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "work-orders", &id.to_string()],
        ))
        .await
    }

    /// `DELETE /work-orders/{id}`: cancels an order not yet finished.
    pub async fn cancel_work_order(&self, id: Uuid) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &["api", "v1", "work-orders", &id.to_string()],
        ))
        .await
    }

    /// `GET /agents/{id}/work-orders/pending`: what the agent may claim.
    pub async fn pending_work_orders(
        &self,
        agent: Uuid,
        work_type: Option<&str>,
    ) -> Result<Vec<WorkOrder>> {
        self.json(
            Call::new(
                Method::GET,
                &[
                    "api",
                    "v1",
                    "agents",
                    &agent.to_string(),
                    "work-orders",
                    "pending",
                ],
            )
            .query_opt("work_type", work_type),
        )
        .await
    }

    /// `POST /work-orders/{id}/claim`.
    pub async fn claim_work_order(&self, id: Uuid, agent: Uuid) -> Result<WorkOrder> {
        let body = ClaimWorkOrderRequest { agent_id: agent };
        self.json(
            Call::new(
                Method::POST,
                &["api", "v1", "work-orders", &id.to_string(), "claim"],
            )
            .body(&body),
        )
        .await
    }

    /// `POST /work-orders/{id}/complete`: the answer is the log entry, or the scheduled retry.
    pub async fn complete_work_order(
        &self,
        id: Uuid,
        body: &CompleteWorkOrderRequest,
    ) -> Result<serde_json::Value> {
        self.json(
            Call::new(
                Method::POST,
                &["api", "v1", "work-orders", &id.to_string(), "complete"],
            )
            .body(body),
        )
        .await
    }

    /// `GET /work-order-log`, optionally filtered.
    pub async fn list_work_order_log(
        &self,
        work_type: Option<&str>,
        success: Option<bool>,
        agent: Option<Uuid>,
        limit: Option<i64>,
    ) -> Result<Vec<WorkOrderLog>> {
        self.json(
            Call::new(Method::GET, &["api", "v1", "work-order-log"])
                .query_opt("work_type", work_type)
                .query_opt("success", success)
                .query_opt("agent_id", agent)
                .query_opt("limit", limit),
        )
        .await
    }

    /// `GET /work-order-log/{id}`: a finished order with its result message.
    pub async fn get_work_order_log(&self, id: Uuid) -> Result<WorkOrderLog> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "work-order-log", &id.to_string()],
        ))
        .await
    }
}
