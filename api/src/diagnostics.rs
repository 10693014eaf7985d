//! On-demand diagnostics. The admin asks an agent that manages a deployment object's stack to
//! collect pod statuses, events and log tails; the agent finds the request in
//! `/agents/{id}/diagnostics/pending`, claims it (one winner), and submits the result. Requests
//! expire after `retention_minutes`; the worker's `diagnostic_cleanup` sweep expires and removes
//! them.

use std::sync::Arc;

use brokkr_schema::models::{
    CreateDiagnosticRequest, DiagnosticRequest, DiagnosticResponse, DiagnosticResult,
    DiagnosticStatus, SubmitDiagnosticResult,
};
use brokkr_schema::store::diagnostics::Refusal;
use brokkr_schema::store::{self, StoreError, changes::Change};
use brokkr_schema::validation;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::ApiTags;
use crate::access::{self, Action, Resource};
use crate::auth::{Caller, Pakauth};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Default and bounds of `retention_minutes`.
const RETENTION_DEFAULT: i64 = 60;
const RETENTION_MAX: i64 = 1440;
/// Size bound of each submitted field (JSON text), well under the request body limit.
const RESULT_FIELD_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Handlers of the diagnostics endpoints.
pub struct DiagnosticsApi {
    state: Arc<AppState>,
}

impl DiagnosticsApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

/// `201 Created` with the request.
#[derive(ApiResponse)]
pub enum DiagnosticCreated {
    /// The request is pending for the agent.
    #[oai(status = 201)]
    Created(Json<DiagnosticRequest>),
}

/// `201 Created` with the stored result.
#[derive(ApiResponse)]
pub enum ResultCreated {
    /// The result is stored and the request completed.
    #[oai(status = 201)]
    Created(Json<DiagnosticResult>),
}

/// Loads diagnostic request `id` and settles the policy's answer with it: the request's own
/// agent is the one asked to collect.
async fn assigned(
    conn: &mut sqlx::PgConnection,
    caller: &Caller,
    id: Uuid,
    ask: access::Ask,
) -> ApiResult<DiagnosticRequest> {
    match store::diagnostics::get(conn, id).await {
        Ok(request) => {
            ask.given(caller.is_agent(request.agent_id))?;
            Ok(request)
        }
        Err(StoreError::NotFound) => Err(Resource::DiagnosticRequest.not_found()),
        Err(e) => Err(e.into()),
    }
}

fn refused(refusal: Refusal, expected: Option<DiagnosticStatus>) -> ApiError {
    match (refusal, expected) {
        (Refusal::NotFound, _) => ApiError::not_found("Diagnostic request not found"),
        (Refusal::WrongStatus(status), None) => {
            ApiError::conflict(format!("Request is already {status}"))
        }
        (Refusal::WrongStatus(status), Some(expected)) => {
            ApiError::conflict(format!("Request status is {status}, expected '{expected}'"))
        }
    }
}

/// A JSON text field of a result: present, not blank, valid JSON, bounded.
fn json_field(name: &str, value: &str) -> ApiResult<()> {
    if value.trim().is_empty() {
        return Err(ApiError::bad_request(format!("{name} must not be empty")));
    }
    if value.len() > RESULT_FIELD_MAX_BYTES {
        return Err(ApiError::bad_request(format!(
            "{name} exceeds {RESULT_FIELD_MAX_BYTES} bytes"
        )));
    }
    serde_json::from_str::<serde_json::Value>(value)
        .map_err(|e| ApiError::bad_request(format!("{name} is not valid JSON: {e}")))?;
    Ok(())
}

#[OpenApi(tag = "ApiTags::Diagnostics")]
impl DiagnosticsApi {
    /// Asks an agent for diagnostics on a deployment object (admin). The agent must manage the
    /// object's stack.
    #[oai(
        path = "/deployment-objects/:id/diagnostics",
        method = "post",
        operation_id = "createDiagnosticRequest"
    )]
    async fn create_diagnostic_request(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<CreateDiagnosticRequest>,
    ) -> ApiResult<DiagnosticCreated> {
        access::require(
            &auth.0,
            Action::RequestDiagnostics,
            Resource::DeploymentObject,
            false,
        )?;
        let body = body.0;
        let retention = body.retention_minutes.unwrap_or(RETENTION_DEFAULT);
        if !(1..=RETENTION_MAX).contains(&retention) {
            return Err(ApiError::bad_request(format!(
                "Retention must be between 1 and {RETENTION_MAX} minutes"
            )));
        }
        if body.agent_id.is_nil() {
            return Err(ApiError::bad_request("agent_id must not be the nil UUID"));
        }
        if let Some(by) = &body.requested_by
            && by.len() > 255
        {
            return Err(ApiError::bad_request(
                "requested_by must be at most 255 characters",
            ));
        }
        let mut write = self.state.write(auth.0.actor()).await?;
        let object = store::deployment_objects::get(write.conn(), id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Deployment object"))?;
        store::agents::get(write.conn(), body.agent_id)
            .await
            .map_err(|e| ApiError::from_store(e, "Agent"))?;
        if !store::agents::is_associated(write.conn(), body.agent_id, object.stack_id).await? {
            return Err(ApiError::unprocessable(
                "Agent is not associated with the deployment object's stack",
                None,
            ));
        }
        let request = store::diagnostics::create(
            write.conn(),
            body.agent_id,
            object.id,
            body.requested_by.as_deref(),
            retention,
        )
        .await?;
        write
            .record(Change::DiagnosticRequested { request: &request })
            .await?;
        write.commit().await?;
        Ok(DiagnosticCreated::Created(Json(request)))
    }

    /// Reads a request and its result (the admin, or the assigned agent).
    #[oai(
        path = "/diagnostics/:id",
        method = "get",
        operation_id = "getDiagnosticRequest"
    )]
    async fn get_diagnostic(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<DiagnosticResponse>> {
        let ask = access::ask(&auth.0, Action::Read, Resource::DiagnosticRequest)?;
        let mut conn = self.state.pool.acquire().await?;
        let request = assigned(&mut conn, &auth.0, id.0, ask).await?;
        let result = store::diagnostics::result_of(&mut conn, request.id).await?;
        Ok(Json(DiagnosticResponse { request, result }))
    }

    /// An agent's pending, unexpired requests, oldest first (the admin, or the agent itself).
    #[oai(
        path = "/agents/:id/diagnostics/pending",
        method = "get",
        operation_id = "listAgentPendingDiagnostics"
    )]
    async fn get_pending_diagnostics(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<DiagnosticRequest>>> {
        access::on_agent(&auth.0, Action::Poll, id.0)?;
        let mut conn = self.state.pool.acquire().await?;
        Ok(Json(
            store::diagnostics::pending_for_agent(&mut conn, id.0).await?,
        ))
    }

    /// Claims a pending request (the assigned agent, or the admin). Of concurrent claims exactly
    /// one succeeds; the others get 409.
    #[oai(
        path = "/diagnostics/:id/claim",
        method = "post",
        operation_id = "claimDiagnosticRequest"
    )]
    async fn claim_diagnostic(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<DiagnosticRequest>> {
        let ask = access::ask(&auth.0, Action::Claim, Resource::DiagnosticRequest)?;
        let mut write = self.state.write(auth.0.actor()).await?;
        // Check who may claim before revealing anything about the request.
        assigned(write.conn(), &auth.0, id.0, ask).await?;
        match store::diagnostics::claim(write.conn(), id.0).await? {
            Ok(request) => {
                write
                    .record(Change::DiagnosticClaimed { request: &request })
                    .await?;
                write.commit().await?;
                Ok(Json(request))
            }
            Err(refusal) => {
                // An overdue request was marked expired on the way: keep that.
                write.commit().await?;
                Err(refused(refusal, None))
            }
        }
    }

    /// Submits what the agent collected for a claimed request (the assigned agent only).
    #[oai(
        path = "/diagnostics/:id/result",
        method = "post",
        operation_id = "submitDiagnosticResult"
    )]
    async fn submit_diagnostic_result(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<SubmitDiagnosticResult>,
    ) -> ApiResult<ResultCreated> {
        let ask = access::ask(&auth.0, Action::Report, Resource::DiagnosticRequest)?;
        let body = body.0;
        validation::timestamp("collected_at", &body.collected_at)?;
        let mut write = self.state.write(auth.0.actor()).await?;
        assigned(write.conn(), &auth.0, id.0, ask).await?;
        json_field("pod_statuses", &body.pod_statuses)?;
        json_field("events", &body.events)?;
        if let Some(tails) = &body.log_tails {
            json_field("log_tails", tails)?;
        }
        let result = store::diagnostics::complete(
            write.conn(),
            id.0,
            &body.pod_statuses,
            &body.events,
            body.log_tails.as_deref(),
            body.collected_at,
        )
        .await?
        .map_err(|refusal| refused(refusal, Some(DiagnosticStatus::Claimed)))?;
        write
            .record(Change::DiagnosticCompleted {
                request_id: id.0,
                result_id: result.id,
            })
            .await?;
        write.commit().await?;
        Ok(ResultCreated::Created(Json(result)))
    }
}
