//! Deployment health: agents report, per deployment object, what they see of its pods; the admin
//! (and the generator that owns the stack) reads the records and the overall status, the worst
//! any agent reports. A change of an object's overall status is announced as
//! `deployment.health_changed`.

use std::collections::HashSet;
use std::sync::Arc;

use brokkr_schema::models::{
    DeploymentHealthResponse, HealthStatus, HealthStatusUpdate, StackHealthResponse,
};
use brokkr_schema::store::{self, StoreError, changes::Change, health};
use brokkr_schema::validation;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::json;
use uuid::Uuid;

use crate::ApiTags;
use crate::access::{self, Action, Resource};
use crate::auth::Pakauth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Most entries one report may carry.
const MAX_ENTRIES: usize = 10_000;

/// Handlers of the health endpoints.
pub struct HealthApi {
    state: Arc<AppState>,
}

impl HealthApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

/// `200 OK` with an empty body, as the original API answers a health report.
#[derive(ApiResponse)]
pub enum HealthStored {
    /// Every entry was stored.
    #[oai(status = 200)]
    Stored,
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Reports the health of deployment objects the agent applies (the agent itself, or the
    /// admin on its behalf). Every entry must be valid and in the agent's target state, or
    /// nothing is stored.
    #[oai(
        path = "/agents/:id/health-status",
        method = "patch",
        operation_id = "updateAgentHealthStatus"
    )]
    async fn update_health_status(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<HealthStatusUpdate>,
    ) -> ApiResult<HealthStored> {
        access::on_agent(&auth.0, Action::Report, id.0)?;
        let entries = body.0.deployment_objects;
        if entries.len() > MAX_ENTRIES {
            return Err(ApiError::bad_request(format!(
                "at most {MAX_ENTRIES} deployment objects per report"
            )));
        }
        let mut seen = HashSet::new();
        let mut reports = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            if entry.id.is_nil() {
                return Err(ApiError::bad_request(format!(
                    "deployment_objects[{i}].id must not be the nil UUID"
                )));
            }
            let status: HealthStatus =
                validation::state(&format!("deployment_objects[{i}].status"), &entry.status)?;
            validation::timestamp(
                &format!("deployment_objects[{i}].checked_at"),
                &entry.checked_at,
            )?;
            if !seen.insert(entry.id) {
                return Err(ApiError::bad_request(format!(
                    "deployment_objects[{i}]: deployment object {} is listed twice",
                    entry.id
                )));
            }
            let summary = match &entry.summary {
                Some(summary) => Some(serde_json::to_string(summary).map_err(|e| {
                    ApiError::bad_request(format!("deployment_objects[{i}].summary: {e}"))
                })?),
                None => None,
            };
            reports.push(health::Report {
                deployment_object_id: entry.id,
                status,
                summary,
                checked_at: entry.checked_at,
            });
        }
        if reports.is_empty() {
            return Ok(HealthStored::Stored);
        }
        let mut write = self.state.write(auth.0.actor()).await?;
        match store::agents::get(write.conn(), id.0).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => return Err(ApiError::not_found("Agent not found")),
            Err(e) => return Err(e.into()),
        }
        let ids: Vec<Uuid> = reports.iter().map(|r| r.deployment_object_id).collect();
        let outside = health::outside_target_state(write.conn(), id.0, &ids).await?;
        if !outside.is_empty() {
            let list: Vec<String> = outside.iter().map(Uuid::to_string).collect();
            return Err(ApiError::unprocessable(
                format!("not in this agent's target state: {}", list.join(", ")),
                None,
            ));
        }
        let recorded = health::record(write.conn(), id.0, &reports).await?;
        if !recorded.agent_changes.is_empty() {
            let changed = json!(
                recorded
                    .agent_changes
                    .iter()
                    .map(|(object, previous, status)| json!({
                        "deployment_object_id": object,
                        "previous": previous,
                        "status": status,
                    }))
                    .collect::<Vec<_>>()
            );
            write
                .record(Change::HealthReported {
                    agent_id: id.0,
                    changed: &changed,
                })
                .await?;
        }
        for change in &recorded.overall_changes {
            write
                .record(Change::DeploymentHealthChanged {
                    deployment_object_id: change.deployment_object_id,
                    stack_id: change.stack_id,
                    agent_id: id.0,
                    previous: change.previous.as_str(),
                    status: change.current.as_str(),
                })
                .await?;
        }
        write.commit().await?;
        Ok(HealthStored::Stored)
    }

    /// Every agent's record for a deployment object and the overall status (the admin, or the
    /// generator that owns the stack).
    #[oai(
        path = "/deployment-objects/:id/health",
        method = "get",
        operation_id = "getDeploymentObjectHealth"
    )]
    async fn get_deployment_health(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<DeploymentHealthResponse>> {
        let ask = access::ask(&auth.0, Action::ReadHealth, Resource::DeploymentObject)?;
        let mut conn = self.state.pool.acquire().await?;
        let object = match store::deployment_objects::get(&mut conn, id.0).await {
            Ok(object) => object,
            Err(StoreError::NotFound) => return Err(Resource::DeploymentObject.not_found()),
            Err(e) => return Err(e.into()),
        };
        let own = ask.needs_relation()
            && crate::stacks::is_own_stack(&mut conn, &auth.0, object.stack_id, None).await?;
        ask.given(own)?;
        let records = health::for_object(&mut conn, object.id).await?;
        let overall = HealthStatus::worst(records.iter().map(|r| r.status));
        Ok(Json(DeploymentHealthResponse {
            deployment_object_id: object.id,
            health_records: records,
            overall_status: overall,
        }))
    }

    /// The health of a stack's deployment objects, newest first, and the stack's overall status
    /// (the admin, or the generator that owns the stack).
    #[oai(
        path = "/stacks/:id/health",
        method = "get",
        operation_id = "getStackHealth"
    )]
    async fn get_stack_health(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<StackHealthResponse>> {
        let ask = access::ask(&auth.0, Action::ReadHealth, Resource::Stack)?;
        let mut conn = self.state.pool.acquire().await?;
        let owner = match store::stacks::get(&mut conn, id.0).await {
            Ok(stack) => stack.generator_id,
            Err(StoreError::NotFound) => return Err(Resource::Stack.not_found()),
            Err(e) => return Err(e.into()),
        };
        let own = ask.needs_relation()
            && crate::stacks::is_own_stack(&mut conn, &auth.0, id.0, Some(owner)).await?;
        ask.given(own)?;
        let objects = health::for_stack(&mut conn, id.0).await?;
        let overall = HealthStatus::worst(objects.iter().map(|o| o.status));
        Ok(Json(StackHealthResponse {
            stack_id: id.0,
            overall_status: overall,
            deployment_objects: objects,
        }))
    }
}
