//! `/stacks`: named sets of Kubernetes manifests, their labels, annotations and deployment
//! objects.
//!
//! Access (rules in [`crate::access`]): the admin reaches every stack; a generator only the stacks it owns; an agent may read
//! a stack it manages (and its labels and annotations) but never change one. A caller who may
//! not see a stack gets the same 404 as for a stack that does not exist.

use std::sync::Arc;

use brokkr_schema::manifest;
use brokkr_schema::models::{
    DeploymentObject, NewDeploymentObject, NewStack, NewStackAnnotation, RolloutState, Stack,
    StackAnnotation, StackLabel, StackRolloutStatus, UpdateStack,
};
use brokkr_schema::store::changes::Change;
use brokkr_schema::store::generators::ADMIN_GENERATOR_ID;
use brokkr_schema::store::metadata::Stacks;
use brokkr_schema::store::{self, StoreError};
use brokkr_schema::validation::{self, MAX_NAME_LEN};
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ApiTags;
use crate::access::{self, Action, Resource};
use crate::agents::check_body_id;
use crate::auth::{Caller, Pakauth};
use crate::error::{ApiError, ApiResult, NoContent};
use crate::metadata::{self, Kind, Step};
use crate::state::AppState;

/// Handlers of `/stacks`.
pub struct StacksApi {
    state: Arc<AppState>,
}

/// What a caller wants to do with a stack.
fn stack_not_found() -> ApiError {
    ApiError::not_found("Stack not found")
}

impl StacksApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

/// Loads a live stack the caller may do `action` on, or says why not.
async fn authorize(
    conn: &mut sqlx::PgConnection,
    caller: &Caller,
    id: Uuid,
    action: Action,
) -> ApiResult<Stack> {
    let ask = access::ask(caller, action, Resource::Stack)?;
    settle(conn, caller, id, ask).await
}

/// Loads a live stack and settles a pending answer of the policy with it.
async fn settle(
    conn: &mut sqlx::PgConnection,
    caller: &Caller,
    id: Uuid,
    ask: access::Ask,
) -> ApiResult<Stack> {
    let stack = match store::stacks::get(&mut *conn, id).await {
        Ok(stack) => stack,
        Err(StoreError::NotFound) => return Err(stack_not_found()),
        Err(e) => return Err(e.into()),
    };
    let own =
        ask.needs_relation() && is_own_stack(conn, caller, id, Some(stack.generator_id)).await?;
    ask.given(own)?;
    Ok(stack)
}

/// Is stack `id` the caller's own: owned by the calling generator (`owner` when already
/// known), or targeted by (or sharing labels with) the calling agent?
pub async fn is_own_stack(
    conn: &mut sqlx::PgConnection,
    caller: &Caller,
    id: Uuid,
    owner: Option<Uuid>,
) -> ApiResult<bool> {
    if let Some(generator) = caller.generator() {
        let owner = match owner {
            Some(owner) => owner,
            None => store::stacks::owner_of(&mut *conn, id).await?,
        };
        Ok(owner == generator)
    } else if let Some(agent) = caller.agent() {
        Ok(store::agents::is_associated(&mut *conn, agent, id).await?)
    } else {
        Ok(caller.is_admin())
    }
}

/// A live stack the caller may read (to list) or label (to add and remove).
impl metadata::Gate for Stacks {
    async fn admit(conn: &mut PgConnection, who: &Caller, id: Uuid, step: Step) -> ApiResult<()> {
        authorize(conn, who, id, step.action()).await.map(drop)
    }
}

#[OpenApi(tag = "ApiTags::Stacks")]
impl StacksApi {
    /// Lists stacks: all of them for the admin, its own for a generator.
    #[oai(path = "/stacks", method = "get", operation_id = "listStacks")]
    async fn list_stacks(&self, auth: Pakauth) -> ApiResult<Json<Vec<Stack>>> {
        access::require(&auth.0, Action::List, Resource::Stack, true)?;
        Ok(Json(
            store::stacks::list(&self.state.pool, auth.0.generator()).await?,
        ))
    }

    /// Creates a stack. A generator creates stacks for itself; the admin may name any
    /// generator as owner, or none (the built-in admin owner).
    #[oai(path = "/stacks", method = "post", operation_id = "createStack")]
    async fn create_stack(&self, auth: Pakauth, body: Json<NewStack>) -> ApiResult<Json<Stack>> {
        access::require(&auth.0, Action::Create, Resource::Stack, true)?;
        let body = body.0;
        let owner = match (auth.0.generator(), body.generator_id) {
            (Some(me), Some(named)) if named != me => {
                return Err(ApiError::forbidden(
                    "Generator can only create stacks for itself",
                ));
            }
            (Some(me), _) => me,
            (None, named) => named.unwrap_or(ADMIN_GENERATOR_ID),
        };
        let name = body.name.trim();
        validation::name("Stack name", name, Some(MAX_NAME_LEN))?;
        validation::description(body.description.as_deref())?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let stack =
            store::stacks::create(write.conn(), name, body.description.as_deref(), owner).await?;
        write
            .record(Change::StackCreated {
                id: stack.id,
                name: &stack.name,
                generator_id: stack.generator_id,
            })
            .await?;
        write.commit().await?;
        Ok(Json(stack))
    }

    /// Reads a stack (admin, owning generator, or an agent that manages it).
    #[oai(path = "/stacks/:id", method = "get", operation_id = "getStack")]
    async fn get_stack(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<Json<Stack>> {
        let mut conn = self.state.pool.acquire().await?;
        Ok(Json(
            authorize(&mut conn, &auth.0, id.0, Action::Read).await?,
        ))
    }

    /// Changes a stack's name or description (admin or owning generator); only the admin may
    /// hand it to another generator. Other fields of the body are ignored.
    #[oai(path = "/stacks/:id", method = "put", operation_id = "updateStack")]
    async fn update_stack(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<UpdateStack>,
    ) -> ApiResult<Json<Stack>> {
        let body = body.0;
        check_body_id(body.id, id.0, "id")?;
        let name = body.name.as_deref().map(str::trim);
        if let Some(n) = name {
            validation::name("Stack name", n, Some(MAX_NAME_LEN))?;
        }
        validation::description(body.description.as_deref())?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let stack = authorize(write.conn(), &auth.0, id.0, Action::Update).await?;
        let new_owner = match (auth.0.generator(), body.generator_id) {
            (Some(me), Some(named)) if named != me => {
                return Err(ApiError::forbidden(
                    "Only the admin can change a stack's owner",
                ));
            }
            (Some(_), _) => None,
            (None, named) => named.filter(|n| *n != stack.generator_id),
        };
        let stack = store::stacks::update(
            write.conn(),
            id.0,
            name,
            body.description.as_deref(),
            new_owner,
        )
        .await
        .map_err(|e| ApiError::from_store(e, "Stack"))?;
        write
            .record(Change::StackUpdated {
                id: stack.id,
                name: &stack.name,
                generator_id: stack.generator_id,
            })
            .await?;
        write.commit().await?;
        Ok(Json(stack))
    }

    /// Deletes a stack: a deletion marker is stored first so agents remove what they applied
    /// (admin or owning generator).
    #[oai(path = "/stacks/:id", method = "delete", operation_id = "deleteStack")]
    async fn delete_stack(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<NoContent> {
        let mut write = self.state.write(auth.0.actor()).await?;
        authorize(write.conn(), &auth.0, id.0, Action::Delete).await?;
        let (stack, marker) = store::stacks::soft_delete(write.conn(), id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Stack"))?;
        write
            .record(Change::DeploymentObjectCreated { object: &marker })
            .await?;
        write
            .record(Change::StackDeleted {
                id: stack.id,
                name: &stack.name,
                generator_id: stack.generator_id,
            })
            .await?;
        write.commit().await?;
        Ok(NoContent::Done)
    }

    /// Lists a stack's deployment objects, newest first (admin or owning generator).
    #[oai(
        path = "/stacks/:id/deployment-objects",
        method = "get",
        operation_id = "listStackDeploymentObjects"
    )]
    async fn list_deployment_objects(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<DeploymentObject>>> {
        let mut conn = self.state.pool.acquire().await?;
        authorize(&mut conn, &auth.0, id.0, Action::ReadDeployments).await?;
        Ok(Json(
            store::deployment_objects::list_for_stack(&mut conn, id.0).await?,
        ))
    }

    /// How far the stack's newest deployment object has got: each active agent running the
    /// stack with its state (pending, applied, failed with the agent's message) and the health
    /// it reported (admin or owning generator). What `brokkr rollout status` polls.
    #[oai(
        path = "/stacks/:id/rollout",
        method = "get",
        operation_id = "getStackRolloutStatus"
    )]
    async fn get_rollout_status(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<StackRolloutStatus>> {
        let mut conn = self.state.pool.acquire().await?;
        authorize(&mut conn, &auth.0, id.0, Action::ReadDeployments).await?;
        let newest = store::deployment_objects::newest_for_stack(&mut conn, id.0).await?;
        let Some(object) = newest else {
            return Ok(Json(StackRolloutStatus {
                stack_id: id.0,
                deployment_object_id: None,
                sequence_id: None,
                is_deletion_marker: false,
                state: RolloutState::Pending,
                agents: Vec::new(),
            }));
        };
        let agents = store::stack_rollout::agents(&mut conn, &object).await?;
        Ok(Json(StackRolloutStatus {
            stack_id: id.0,
            deployment_object_id: Some(object.id),
            sequence_id: Some(object.sequence_id),
            is_deletion_marker: object.is_deletion_marker,
            state: RolloutState::overall(agents.iter().map(|a| a.state)),
            agents,
        }))
    }

    /// Stores a new deployment object: the stack's complete desired state as (multi-document)
    /// YAML of Kubernetes objects, or a deletion marker (admin or owning generator).
    #[oai(
        path = "/stacks/:id/deployment-objects",
        method = "post",
        operation_id = "createDeploymentObject"
    )]
    async fn create_deployment_object(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<NewDeploymentObject>,
    ) -> ApiResult<Json<DeploymentObject>> {
        let ask = access::ask(&auth.0, Action::Deploy, Resource::Stack)?;
        let body = body.0;
        if !body.is_deletion_marker {
            manifest::parse_objects(&body.yaml_content).map_err(|e| {
                ApiError::unprocessable(
                    format!("yaml_content is not a list of Kubernetes objects: {e}"),
                    Some(e.document_index as u64),
                )
            })?;
        }
        let mut write = self.state.write(auth.0.actor()).await?;
        settle(write.conn(), &auth.0, id.0, ask).await?;
        let object = store::deployment_objects::insert(
            write.conn(),
            id.0,
            &body.yaml_content,
            body.is_deletion_marker,
        )
        .await?;
        write
            .record(Change::DeploymentObjectCreated { object: &object })
            .await?;
        write.commit().await?;
        Ok(Json(object))
    }

    /// Lists a stack's labels (admin, owning generator, or an agent that manages it).
    #[oai(
        path = "/stacks/:id/labels",
        method = "get",
        operation_id = "listStackLabels"
    )]
    async fn list_labels(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<Json<Vec<StackLabel>>> {
        metadata::list::<Stacks, _>(&self.state, &auth.0, id.0).await
    }

    /// Adds a label; the body is a bare JSON string such as `"env:prod"` (admin or owning
    /// generator).
    #[oai(
        path = "/stacks/:id/labels",
        method = "post",
        operation_id = "addStackLabel"
    )]
    async fn add_label(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<String>,
    ) -> ApiResult<Json<StackLabel>> {
        metadata::add_label::<Stacks>(&self.state, &auth.0, id.0, &body.0).await
    }

    /// Removes a label (admin or owning generator).
    #[oai(
        path = "/stacks/:id/labels/:label",
        method = "delete",
        operation_id = "removeStackLabel"
    )]
    async fn remove_label(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        label: Path<String>,
    ) -> ApiResult<NoContent> {
        metadata::remove::<Stacks>(&self.state, &auth.0, id.0, Kind::Label, &label.0).await
    }

    /// Lists a stack's annotations (admin, owning generator, or an agent that manages it).
    #[oai(
        path = "/stacks/:id/annotations",
        method = "get",
        operation_id = "listStackAnnotations"
    )]
    async fn list_annotations(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<StackAnnotation>>> {
        metadata::list::<Stacks, _>(&self.state, &auth.0, id.0).await
    }

    /// Adds an annotation (admin or owning generator).
    #[oai(
        path = "/stacks/:id/annotations",
        method = "post",
        operation_id = "addStackAnnotation"
    )]
    async fn add_annotation(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<NewStackAnnotation>,
    ) -> ApiResult<Json<StackAnnotation>> {
        if body.0.stack_id.is_some_and(|s| s != id.0) {
            return Err(ApiError::bad_request("Stack ID mismatch"));
        }
        metadata::add_annotation::<Stacks>(&self.state, &auth.0, id.0, &body.0.key, &body.0.value)
            .await
    }

    /// Removes an annotation by key (admin or owning generator).
    #[oai(
        path = "/stacks/:id/annotations/:key",
        method = "delete",
        operation_id = "removeStackAnnotation"
    )]
    async fn remove_annotation(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        key: Path<String>,
    ) -> ApiResult<NoContent> {
        metadata::remove::<Stacks>(&self.state, &auth.0, id.0, Kind::Annotation, &key.0).await
    }
}
