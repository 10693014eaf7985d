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
use crate::access::{self, Action, Resource};
use crate::auth::Pakauth;
use crate::error::ApiResult;
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
        let ask = access::ask(&auth.0, Action::Read, Resource::DeploymentObject)?;
        let mut conn = self.state.pool.acquire().await?;
        let object = match store::deployment_objects::get(&mut conn, id.0).await {
            Ok(object) => object,
            Err(StoreError::NotFound) => return Err(Resource::DeploymentObject.not_found()),
            Err(e) => return Err(e.into()),
        };
        // A deployment object belongs to whoever its stack belongs to.
        let own = ask.needs_relation()
            && crate::stacks::is_own_stack(&mut conn, &auth.0, object.stack_id, None).await?;
        ask.given(own)?;
        Ok(Json(object))
    }
}
