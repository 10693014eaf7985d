//! `/work-orders` and `/work-order-log`: one-off tasks (builds, custom YAML) that eligible agents
//! claim, run and report on.
//!
//! The admin creates, lists, reads and cancels orders and reads the log. An agent lists the
//! orders it may claim, claims one for itself (one atomic statement: of agents racing for an
//! order exactly one wins, the others get 404), and completes the orders it holds. A failed,
//! retryable order with retries left waits `backoff_seconds × 2^retry_count` in `RETRY_PENDING`
//! (a `work_order_retry` job, queued in the same transaction, returns it to `PENDING`);
//! everything else finished moves to the log. Generators have no part in work orders.

use std::collections::BTreeSet;
use std::sync::Arc;

use brokkr_schema::models::{
    ClaimWorkOrderRequest, CompleteWorkOrderRequest, CreateWorkOrderRequest, WorkOrder,
    WorkOrderLog, WorkOrderRetryScheduled, WorkOrderStatus,
};
use brokkr_schema::store::changes::Change;
use brokkr_schema::store::work_orders::{self as orders, LogFilter, NewWorkOrder, Targeting};
use brokkr_schema::store::{self, StoreError};
use brokkr_schema::validation;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::json;
use uuid::Uuid;

use crate::ApiTags;
use crate::access::{self, Action, Resource};
use crate::auth::Pakauth;
use crate::error::{ApiError, ApiResult, NoContent};
use crate::state::AppState;

/// Defaults of a new order (as in the original API).
const DEFAULT_MAX_RETRIES: i32 = 3;
const DEFAULT_BACKOFF_SECONDS: i32 = 60;
const DEFAULT_CLAIM_TIMEOUT_SECONDS: i32 = 3600;
/// Log listing: entries returned without `limit`, and the most with one.
const DEFAULT_LOG_LIMIT: i64 = 100;
const MAX_LOG_LIMIT: i64 = 1000;
/// The error recorded for a failure reported without a message.
const UNKNOWN_ERROR: &str = "Unknown error";

const NO_TARGETING: &str =
    "At least one targeting method must be specified (agent_ids, labels, or annotations)";
const NOT_CLAIMABLE: &str = "Work order not found or not claimable";

/// Handlers of `/work-orders` and `/work-order-log`.
pub struct WorkOrdersApi {
    state: Arc<AppState>,
}

impl WorkOrdersApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

/// Answer of `POST /work-orders`.
#[derive(ApiResponse)]
pub enum WorkOrderCreated {
    /// The order is queued.
    #[oai(status = 201)]
    Created(Json<WorkOrder>),
}

/// Answer of `POST /work-orders/{id}/complete`.
#[derive(ApiResponse)]
pub enum WorkOrderCompleted {
    /// The order finished (success, or a failure that will not be retried) and is in the log.
    #[oai(status = 200)]
    Finished(Json<WorkOrderLog>),
    /// The failure will be retried after the order's backoff.
    #[oai(status = 202)]
    RetryScheduled(Json<WorkOrderRetryScheduled>),
}

/// The checked settings and targeting of a create request.
fn validate_create(body: &CreateWorkOrderRequest) -> ApiResult<(NewWorkOrder<'_>, Targeting)> {
    let work_type = body.work_type.trim();
    if work_type.is_empty() {
        return Err(ApiError::bad_request("work_type cannot be empty"));
    }
    if body.yaml_content.trim().is_empty() {
        return Err(ApiError::bad_request("yaml_content cannot be empty"));
    }
    let max_retries = body.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
    if max_retries < 0 {
        return Err(ApiError::bad_request("max_retries cannot be negative"));
    }
    let backoff_seconds = body.backoff_seconds.unwrap_or(DEFAULT_BACKOFF_SECONDS);
    if backoff_seconds <= 0 {
        return Err(ApiError::bad_request("backoff_seconds must be positive"));
    }
    let claim_timeout_seconds = body
        .claim_timeout_seconds
        .unwrap_or(DEFAULT_CLAIM_TIMEOUT_SECONDS);
    if claim_timeout_seconds <= 0 {
        return Err(ApiError::bad_request(
            "claim_timeout_seconds must be positive",
        ));
    }
    let targeting = body.targeting.clone().unwrap_or_default();
    // The deprecated top-level list joins `targeting.agent_ids`; duplicates collapse.
    let agent_ids: BTreeSet<Uuid> = targeting
        .agent_ids
        .unwrap_or_default()
        .into_iter()
        .chain(body.target_agent_ids.clone().unwrap_or_default())
        .collect();
    let labels: BTreeSet<String> = targeting.labels.unwrap_or_default().into_iter().collect();
    for label in &labels {
        validation::label(label)?;
    }
    let annotations: Vec<(String, String)> = targeting
        .annotations
        .unwrap_or_default()
        .into_iter()
        .collect();
    for (key, value) in &annotations {
        validation::annotation(key, value)?;
    }
    let targeting = Targeting {
        agent_ids: agent_ids.into_iter().collect(),
        labels: labels.into_iter().collect(),
        annotations,
    };
    if targeting.is_empty() {
        return Err(ApiError::bad_request(NO_TARGETING));
    }
    Ok((
        NewWorkOrder {
            work_type,
            yaml_content: &body.yaml_content,
            max_retries,
            backoff_seconds,
            claim_timeout_seconds,
        },
        targeting,
    ))
}

fn targeting_json(t: &Targeting) -> serde_json::Value {
    let annotations: serde_json::Map<String, serde_json::Value> = t
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({"agent_ids": t.agent_ids, "labels": t.labels, "annotations": annotations})
}

#[OpenApi(tag = "ApiTags::WorkOrders")]
impl WorkOrdersApi {
    /// Lists active work orders, oldest first, optionally by `status` (`PENDING`, `CLAIMED`,
    /// `RETRY_PENDING`) and `work_type` (admin).
    #[oai(path = "/work-orders", method = "get", operation_id = "listWorkOrders")]
    async fn list_work_orders(
        &self,
        auth: Pakauth,
        status: Query<Option<String>>,
        work_type: Query<Option<String>>,
    ) -> ApiResult<Json<Vec<WorkOrder>>> {
        access::require(&auth.0, Action::List, Resource::WorkOrder, false)?;
        let status = status
            .0
            .as_deref()
            .map(|s| validation::state_in("status", s, WorkOrderStatus::QUEUED))
            .transpose()?;
        let mut conn = self.state.pool.acquire().await?;
        Ok(Json(
            orders::list(&mut conn, status, work_type.0.as_deref()).await?,
        ))
    }

    /// Queues a work order for the agents its `targeting` selects: listed `agent_ids`, agents
    /// with one of the `labels`, or with one of the `annotations` (admin). `201`.
    #[oai(
        path = "/work-orders",
        method = "post",
        operation_id = "createWorkOrder"
    )]
    async fn create_work_order(
        &self,
        auth: Pakauth,
        body: Json<CreateWorkOrderRequest>,
    ) -> ApiResult<WorkOrderCreated> {
        access::require(&auth.0, Action::Create, Resource::WorkOrder, false)?;
        let (new, targeting) = validate_create(&body.0)?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let order = orders::create(write.conn(), &new, &targeting).await?;
        let targeting = targeting_json(&targeting);
        write
            .record(Change::WorkOrderCreated {
                order: &order,
                targeting: &targeting,
            })
            .await?;
        write.commit().await?;
        Ok(WorkOrderCreated::Created(Json(order)))
    }

    /// Reads a work order (admin). A finished order is shown from the log, with status
    /// `COMPLETED` or `FAILED`.
    #[oai(
        path = "/work-orders/:id",
        method = "get",
        operation_id = "getWorkOrder"
    )]
    async fn get_work_order(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<Json<WorkOrder>> {
        access::require(&auth.0, Action::Read, Resource::WorkOrder, false)?;
        let mut conn = self.state.pool.acquire().await?;
        if let Some(order) = orders::get(&mut conn, id.0).await? {
            return Ok(Json(order));
        }
        match orders::get_log(&mut conn, id.0).await? {
            Some(log) => Ok(Json(orders::from_log(&log))),
            None => Err(ApiError::not_found("Work order not found")),
        }
    }

    /// Cancels an active work order (admin). Finished orders stay in the log.
    #[oai(
        path = "/work-orders/:id",
        method = "delete",
        operation_id = "deleteWorkOrder"
    )]
    async fn delete_work_order(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<NoContent> {
        access::require(&auth.0, Action::Delete, Resource::WorkOrder, false)?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let Some(order) = orders::delete(write.conn(), id.0).await? else {
            return Err(ApiError::not_found("Work order not found"));
        };
        write
            .record(Change::WorkOrderDeleted { order: &order })
            .await?;
        write.commit().await?;
        Ok(NoContent::Done)
    }

    /// The `PENDING` work orders this agent may claim, oldest first (admin, or the agent
    /// itself).
    #[oai(
        path = "/agents/:id/work-orders/pending",
        method = "get",
        operation_id = "listAgentPendingWorkOrders"
    )]
    async fn list_pending_for_agent(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        work_type: Query<Option<String>>,
    ) -> ApiResult<Json<Vec<WorkOrder>>> {
        access::on_agent(&auth.0, Action::Poll, id.0)?;
        let mut conn = self.state.pool.acquire().await?;
        if auth.0.is_admin() {
            store::agents::get(&mut conn, id.0)
                .await
                .map_err(|e| ApiError::from_store(e, "Agent"))?;
        }
        Ok(Json(
            orders::pending_for_agent(&mut conn, id.0, work_type.0.as_deref()).await?,
        ))
    }

    /// Claims a `PENDING` work order for `agent_id` (the agent itself, or the admin on its
    /// behalf). `404` when the order does not exist, the agent may not claim it, or another
    /// agent claimed it first.
    #[oai(
        path = "/work-orders/:id/claim",
        method = "post",
        operation_id = "claimWorkOrder"
    )]
    async fn claim_work_order(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<ClaimWorkOrderRequest>,
    ) -> ApiResult<Json<WorkOrder>> {
        let agent_id = body.0.agent_id;
        access::require(
            &auth.0,
            Action::Claim,
            Resource::WorkOrder,
            auth.0.is_agent(agent_id),
        )?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let Some(order) = orders::claim(write.conn(), id.0, agent_id).await? else {
            return Err(ApiError::not_found(NOT_CLAIMABLE));
        };
        write
            .record(Change::WorkOrderClaimed { order: &order })
            .await?;
        write.commit().await?;
        Ok(Json(order))
    }

    /// Reports the outcome of a claimed work order (the claiming agent, or the admin). Success,
    /// a non-retryable failure or a failure with no retries left moves it to the log (`200`
    /// with the log entry); another failure schedules a retry (`202`).
    #[oai(
        path = "/work-orders/:id/complete",
        method = "post",
        operation_id = "completeWorkOrder"
    )]
    async fn complete_work_order(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<CompleteWorkOrderRequest>,
    ) -> ApiResult<WorkOrderCompleted> {
        let ask = access::ask(&auth.0, Action::Complete, Resource::WorkOrder)?;
        let body = body.0;
        let mut write = self.state.write(auth.0.actor()).await?;
        let Some(order) = orders::lock(write.conn(), id.0).await? else {
            return Err(Resource::WorkOrder.not_found());
        };
        // The agent's own order: the one it claimed and still holds.
        ask.given(
            order.status == WorkOrderStatus::Claimed
                && order.claimed_by.is_some_and(|a| auth.0.is_agent(a)),
        )?;
        let message = body.message.as_deref();
        let retry = !body.success && body.retryable && order.retry_count < order.max_retries;
        if retry {
            let error = message.unwrap_or(UNKNOWN_ERROR);
            let delay = orders::retry_delay_seconds(order.backoff_seconds, order.retry_count + 1);
            let order = orders::schedule_retry(write.conn(), order.id, error, delay)
                .await?
                .ok_or_else(|| ApiError::from(StoreError::NotFound))?;
            orders::enqueue_retry(write.conn(), &self.state.channels, &order).await?;
            write
                .record(Change::WorkOrderRetryScheduled { order: &order })
                .await?;
            write.commit().await?;
            return Ok(WorkOrderCompleted::RetryScheduled(Json(
                WorkOrderRetryScheduled {
                    status: "retry_scheduled".into(),
                    retry_count: order.retry_count,
                    next_retry_after: order.next_retry_after,
                },
            )));
        }
        let message = if body.success {
            message
        } else {
            Some(message.unwrap_or(UNKNOWN_ERROR))
        };
        let log = orders::finish(write.conn(), order.id, body.success, message)
            .await?
            .ok_or_else(|| ApiError::not_found("Work order not found"))?;
        write
            .record(Change::WorkOrderFinished { log: &log })
            .await?;
        write.commit().await?;
        Ok(WorkOrderCompleted::Finished(Json(log)))
    }

    /// Lists finished work orders, newest first, by `work_type`, `success` and `agent_id`
    /// (admin). `limit`: default 100, at most 1000.
    #[oai(
        path = "/work-order-log",
        method = "get",
        operation_id = "listWorkOrderLog"
    )]
    async fn list_work_order_log(
        &self,
        auth: Pakauth,
        work_type: Query<Option<String>>,
        success: Query<Option<bool>>,
        agent_id: Query<Option<Uuid>>,
        limit: Query<Option<i64>>,
    ) -> ApiResult<Json<Vec<WorkOrderLog>>> {
        access::require(&auth.0, Action::List, Resource::WorkOrderLogEntry, false)?;
        let limit = limit.0.unwrap_or(DEFAULT_LOG_LIMIT);
        if limit < 1 {
            return Err(ApiError::bad_request("limit must be at least 1"));
        }
        let filter = LogFilter {
            work_type: work_type.0,
            success: success.0,
            agent_id: agent_id.0,
        };
        let mut conn = self.state.pool.acquire().await?;
        Ok(Json(
            orders::list_log(&mut conn, &filter, limit.min(MAX_LOG_LIMIT)).await?,
        ))
    }

    /// Reads one finished work order (admin).
    #[oai(
        path = "/work-order-log/:id",
        method = "get",
        operation_id = "getWorkOrderLogEntry"
    )]
    async fn get_work_order_log(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<WorkOrderLog>> {
        access::require(&auth.0, Action::Read, Resource::WorkOrderLogEntry, false)?;
        let mut conn = self.state.pool.acquire().await?;
        orders::get_log(&mut conn, id.0)
            .await?
            .map(Json)
            .ok_or_else(|| ApiError::not_found("Work order log entry not found"))
    }
}
