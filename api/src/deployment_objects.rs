//! `GET /deployment-objects/{id}`: one deployment object, for the admin, the generator that owns
//! its stack, or an agent that manages the stack. Anyone else gets the 404 of a missing object.

use std::sync::Arc;

use brokkr_schema::models::DeploymentObject;
use brokkr_schema::store::{self, StoreError};
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use uuid::Uuid;

use crate::ApiTags;
use crate::auth::Pakauth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Handlers of `/deployment-objects`.
pub struct DeploymentObjectsApi {
    state: Arc<AppState>,
}

impl DeploymentObjectsApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "ApiTags::DeploymentObjects")]
impl DeploymentObjectsApi {
    /// Reads a deployment object, YAML included.
    #[oai(
        path = "/deployment-objects/:id",
        method = "get",
        operation_id = "getDeploymentObject"
    )]
    async fn get_deployment_object(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<DeploymentObject>> {
        let not_found = || ApiError::not_found("Deployment object not found");
        let mut conn = self.state.pool.acquire().await?;
        let object = match store::deployment_objects::get(&mut conn, id.0).await {
            Ok(object) => object,
            Err(StoreError::NotFound) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        let caller = &auth.0;
        let allowed = if caller.is_admin() {
            true
        } else if let Some(generator) = caller.generator() {
            store::stacks::owner_of(&mut conn, object.stack_id).await? == generator
        } else if let Some(agent) = caller.agent() {
            store::agents::is_associated(&mut conn, agent, object.stack_id).await?
        } else {
            false
        };
        if allowed {
            Ok(Json(object))
        } else {
            Err(not_found())
        }
    }
}
