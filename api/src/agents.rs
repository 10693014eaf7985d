//! `/agents`: cluster agents, their labels, annotations, targets, events, heartbeat and PAK.
//!
//! Access (rules in [`crate::access`]): the admin sees and changes every agent; an agent reads
//! and changes only its own record (and can never add targets); generators have no access.
//! Checks that depend only on the caller come before any lookup, so a refused caller learns
//! nothing about what exists.

use std::sync::Arc;

use brokkr_schema::models::{
    Agent, AgentAnnotation, AgentEvent, AgentEventStatus, AgentLabel, AgentPakResponse,
    AgentStatus, AgentTarget, CreateAgentResponse, LabelBody, NewAgent, NewAgentAnnotation,
    NewAgentEvent, NewAgentTarget, Stack, UpdateAgent,
};
use brokkr_schema::pak::Pak;
use brokkr_schema::store::changes::Change;
use brokkr_schema::store::metadata::Agents;
use brokkr_schema::store::{self, StoreError};
use brokkr_schema::validation::{self, MAX_NAME_LEN};
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ApiTags;
use crate::access::{self, Action, Resource};
use crate::auth::{Caller, Pakauth};
use crate::error::{ApiError, ApiResult, NoContent};
use crate::metadata::{self, Kind, Step};
use crate::state::AppState;

/// Handlers of `/agents`.
pub struct AgentsApi {
    state: Arc<AppState>,
}

impl AgentsApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// Loads a live agent the admin or the agent itself asked for.
    async fn load(&self, id: Uuid) -> ApiResult<Agent> {
        let mut conn = self.state.pool.acquire().await?;
        store::agents::get(&mut conn, id)
            .await
            .map_err(|e| ApiError::from_store(e, "Agent"))
    }
}

/// Refuses to tie an agent to a stack of a generator it has not registered with: 403
/// `agent_not_registered`, for the admin too (registration is the agent's consent).
pub async fn require_registered(
    conn: &mut sqlx::PgConnection,
    agent_id: Uuid,
    generator_id: Uuid,
) -> ApiResult<()> {
    if store::registrations::is_registered(conn, agent_id, generator_id).await? {
        Ok(())
    } else {
        Err(ApiError::agent_not_registered(format!(
            "the agent is not registered with generator {generator_id}, which owns this stack; \
             register it first (POST /api/v1/generators/{generator_id}/register)"
        )))
    }
}

/// A body id that must match the path id when present.
pub fn check_body_id(body: Option<Uuid>, path: Uuid, field: &str) -> ApiResult<()> {
    match body {
        Some(id) if id != path => Err(ApiError::bad_request(format!(
            "{field} in the body does not match the path"
        ))),
        _ => Ok(()),
    }
}

/// The policy about the agent is asked by each endpoint before anything else (it depends on
/// the caller alone); an agent must exist to have its labels and annotations listed or added,
/// while removing one from a missing agent answers that the label or annotation is not found.
impl metadata::Gate for Agents {
    async fn admit(conn: &mut PgConnection, _: &Caller, id: Uuid, step: Step) -> ApiResult<()> {
        if step != Step::Remove {
            store::agents::get(conn, id)
                .await
                .map_err(|e| ApiError::from_store(e, "Agent"))?;
        }
        Ok(())
    }
}

#[OpenApi(tag = "ApiTags::Agents")]
impl AgentsApi {
    /// Lists agents (admin).
    #[oai(path = "/agents", method = "get", operation_id = "listAgents")]
    async fn list_agents(&self, auth: Pakauth) -> ApiResult<Json<Vec<Agent>>> {
        access::require(&auth.0, Action::List, Resource::Agent, false)?;
        Ok(Json(store::agents::list(&self.state.pool).await?))
    }

    /// Registers an agent and returns its PAK, shown only this once (admin).
    #[oai(path = "/agents", method = "post", operation_id = "createAgent")]
    async fn create_agent(
        &self,
        auth: Pakauth,
        body: Json<NewAgent>,
    ) -> ApiResult<Json<CreateAgentResponse>> {
        access::require(&auth.0, Action::Create, Resource::Agent, false)?;
        let name = body.0.name.trim();
        let cluster_name = body.0.cluster_name.trim();
        validation::name("Agent name", name, Some(MAX_NAME_LEN))?;
        validation::name("Cluster name", cluster_name, Some(MAX_NAME_LEN))?;
        let generator_ids = body.0.generator_ids.unwrap_or_default();
        let pak = Pak::generate(&self.state.settings.pak);
        let mut write = self.state.write(auth.0.actor()).await?;
        let agent = store::agents::create(write.conn(), name, cluster_name, &pak.hash()).await?;
        write
            .record(Change::AgentCreated {
                id: agent.id,
                name: &agent.name,
                cluster_name: &agent.cluster_name,
            })
            .await?;
        let (conn, channels, actor) = write.parts();
        crate::registrations::register_new_agent(conn, channels, actor, &agent, &generator_ids)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    ApiError::bad_request("generator_ids names a generator that does not exist")
                }
                e => e.into(),
            })?;
        write.commit().await?;
        Ok(Json(CreateAgentResponse {
            agent,
            initial_pak: pak.as_str().to_owned(),
        }))
    }

    /// Finds an agent by name and cluster (admin, or the agent itself). Also served at the
    /// original path `GET /agents/?name=&cluster_name=` (with the trailing slash).
    #[oai(path = "/agents/search", method = "get", operation_id = "searchAgents")]
    async fn search_agent(
        &self,
        auth: Pakauth,
        name: Query<Option<String>>,
        cluster_name: Query<Option<String>>,
    ) -> ApiResult<Json<Agent>> {
        let caller = auth.0;
        let ask = access::ask(&caller, Action::Find, Resource::Agent)?;
        let (Some(name), Some(cluster_name)) = (name.0, cluster_name.0) else {
            return Err(ApiError::bad_request(
                "Invalid request: query parameters name and cluster_name are required",
            ));
        };
        let mut conn = self.state.pool.acquire().await?;
        let found = store::agents::find(&mut conn, &name, &cluster_name).await;
        match found {
            // An agent asking about another agent hears the same as for a missing one.
            Ok(agent) => {
                ask.given(caller.is_agent(agent.id))?;
                Ok(Json(agent))
            }
            Err(StoreError::NotFound) => Err(Resource::Agent.not_found()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads an agent (admin, or the agent itself).
    #[oai(path = "/agents/:id", method = "get", operation_id = "getAgent")]
    async fn get_agent(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<Json<Agent>> {
        access::on_agent(&auth.0, Action::Read, id.0)?;
        Ok(Json(self.load(id.0).await?))
    }

    /// Changes an agent's name, cluster name or status (admin, or the agent itself). Other
    /// fields of the body are ignored.
    #[oai(path = "/agents/:id", method = "put", operation_id = "updateAgent")]
    async fn update_agent(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<UpdateAgent>,
    ) -> ApiResult<Json<Agent>> {
        access::on_agent(&auth.0, Action::Update, id.0)?;
        let body = body.0;
        check_body_id(body.id, id.0, "id")?;
        let name = body.name.as_deref().map(str::trim);
        let cluster_name = body.cluster_name.as_deref().map(str::trim);
        if let Some(n) = name {
            validation::name("Agent name", n, Some(MAX_NAME_LEN))?;
        }
        if let Some(c) = cluster_name {
            validation::name("Cluster name", c, Some(MAX_NAME_LEN))?;
        }
        let status = body
            .status
            .as_deref()
            .map(|s| validation::state::<AgentStatus>("status", s))
            .transpose()?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let agent = store::agents::update(write.conn(), id.0, name, cluster_name, status)
            .await
            .map_err(|e| ApiError::from_store(e, "Agent"))?;
        write
            .record(Change::AgentUpdated {
                id: agent.id,
                name: &agent.name,
                cluster_name: &agent.cluster_name,
                status: agent.status.as_str(),
            })
            .await?;
        write.commit().await?;
        Ok(Json(agent))
    }

    /// Deletes an agent (soft delete); its PAK stops working at once (admin).
    #[oai(path = "/agents/:id", method = "delete", operation_id = "deleteAgent")]
    async fn delete_agent(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<NoContent> {
        access::on_agent(&auth.0, Action::Delete, id.0)?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let agent = store::agents::soft_delete(write.conn(), id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Agent"))?;
        write
            .record(Change::AgentDeleted {
                id: agent.id,
                name: &agent.name,
                cluster_name: &agent.cluster_name,
            })
            .await?;
        write.commit().await?;
        Ok(NoContent::Done)
    }

    /// Lists an agent's events, newest first (admin, or the agent itself).
    #[oai(
        path = "/agents/:id/events",
        method = "get",
        operation_id = "listAgentEventsOfAgent"
    )]
    async fn list_events(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<Json<Vec<AgentEvent>>> {
        access::on_agent(&auth.0, Action::Read, id.0)?;
        self.load(id.0).await?;
        let mut conn = self.state.pool.acquire().await?;
        Ok(Json(
            store::agent_events::list(&mut conn, Some(id.0)).await?,
        ))
    }

    /// Reports the outcome of applying a deployment object (admin, or the agent itself, for an
    /// object of one of its stacks).
    #[oai(
        path = "/agents/:id/events",
        method = "post",
        operation_id = "createAgentEvent"
    )]
    async fn create_event(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<NewAgentEvent>,
    ) -> ApiResult<Json<AgentEvent>> {
        access::on_agent(&auth.0, Action::Report, id.0)?;
        let body = body.0;
        check_body_id(body.agent_id, id.0, "agent_id")?;
        validation::name("event_type", &body.event_type, None)?;
        // Accepted in any case (`success` is `SUCCESS`).
        let status: AgentEventStatus =
            validation::state("status", &body.status.to_ascii_uppercase())?;
        let mut write = self.state.write(auth.0.actor()).await?;
        store::agents::get(write.conn(), id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Agent"))?;
        let object = store::deployment_objects::get(write.conn(), body.deployment_object_id)
            .await
            .map_err(|e| ApiError::from_store(e, "Deployment object"))?;
        if !store::agents::is_associated(write.conn(), id.0, object.stack_id).await? {
            return Err(ApiError::not_found("Deployment object not found"));
        }
        let event = store::agent_events::create(
            write.conn(),
            id.0,
            object.id,
            body.event_type.trim(),
            status,
            body.message.as_deref(),
        )
        .await?;
        write
            .record(Change::AgentEventReported { event: &event })
            .await?;
        write.commit().await?;
        self.state
            .metrics
            .record_propagation(status, event.created_at - object.created_at);
        Ok(Json(event))
    }

    /// Lists an agent's labels (admin, or the agent itself).
    #[oai(
        path = "/agents/:id/labels",
        method = "get",
        operation_id = "listAgentLabels"
    )]
    async fn list_labels(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<Json<Vec<AgentLabel>>> {
        access::on_agent(&auth.0, Action::Read, id.0)?;
        metadata::list::<Agents, _>(&self.state, &auth.0, id.0).await
    }

    /// Adds a label; the body is a bare JSON string (`"env:prod"`) or `{agent_id, label}` (admin).
    #[oai(
        path = "/agents/:id/labels",
        method = "post",
        operation_id = "addAgentLabel"
    )]
    async fn add_label(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<LabelBody>,
    ) -> ApiResult<Json<AgentLabel>> {
        access::on_agent(&auth.0, Action::Label, id.0)?;
        let label = match body.0 {
            LabelBody::Bare(label) => label,
            LabelBody::Object(object) => {
                check_body_id(object.agent_id, id.0, "agent_id")?;
                object.label
            }
        };
        metadata::add_label::<Agents>(&self.state, &auth.0, id.0, &label).await
    }

    /// Removes a label (admin).
    #[oai(
        path = "/agents/:id/labels/:label",
        method = "delete",
        operation_id = "removeAgentLabel"
    )]
    async fn remove_label(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        label: Path<String>,
    ) -> ApiResult<NoContent> {
        access::on_agent(&auth.0, Action::Label, id.0)?;
        metadata::remove::<Agents>(&self.state, &auth.0, id.0, Kind::Label, &label.0).await
    }

    /// Lists an agent's annotations (admin, or the agent itself).
    #[oai(
        path = "/agents/:id/annotations",
        method = "get",
        operation_id = "listAgentAnnotations"
    )]
    async fn list_annotations(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<AgentAnnotation>>> {
        access::on_agent(&auth.0, Action::Read, id.0)?;
        metadata::list::<Agents, _>(&self.state, &auth.0, id.0).await
    }

    /// Adds an annotation (admin).
    #[oai(
        path = "/agents/:id/annotations",
        method = "post",
        operation_id = "addAgentAnnotation"
    )]
    async fn add_annotation(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<NewAgentAnnotation>,
    ) -> ApiResult<Json<AgentAnnotation>> {
        access::on_agent(&auth.0, Action::Label, id.0)?;
        check_body_id(body.0.agent_id, id.0, "agent_id")?;
        metadata::add_annotation::<Agents>(&self.state, &auth.0, id.0, &body.0.key, &body.0.value)
            .await
    }

    /// Removes an annotation by key (admin).
    #[oai(
        path = "/agents/:id/annotations/:key",
        method = "delete",
        operation_id = "removeAgentAnnotation"
    )]
    async fn remove_annotation(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        key: Path<String>,
    ) -> ApiResult<NoContent> {
        access::on_agent(&auth.0, Action::Label, id.0)?;
        metadata::remove::<Agents>(&self.state, &auth.0, id.0, Kind::Annotation, &key.0).await
    }

    /// Lists an agent's explicit targets (admin, or the agent itself).
    #[oai(
        path = "/agents/:id/targets",
        method = "get",
        operation_id = "listAgentTargets"
    )]
    async fn list_targets(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<AgentTarget>>> {
        access::on_agent(&auth.0, Action::Read, id.0)?;
        self.load(id.0).await?;
        let mut conn = self.state.pool.acquire().await?;
        Ok(Json(store::agents::targets(&mut conn, id.0).await?))
    }

    /// Targets an agent at a stack (admin only: an agent can never widen what it may read).
    #[oai(
        path = "/agents/:id/targets",
        method = "post",
        operation_id = "addAgentTarget"
    )]
    async fn add_target(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<NewAgentTarget>,
    ) -> ApiResult<Json<AgentTarget>> {
        access::on_agent(&auth.0, Action::Target, id.0)?;
        let body = body.0;
        check_body_id(body.agent_id, id.0, "agent_id")?;
        let mut write = self.state.write(auth.0.actor()).await?;
        store::agents::get(write.conn(), id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Agent"))?;
        let stack = store::stacks::get(write.conn(), body.stack_id)
            .await
            .map_err(|e| ApiError::from_store(e, "Stack"))?;
        require_registered(write.conn(), id.0, stack.generator_id).await?;
        let target = store::agents::add_target(write.conn(), id.0, body.stack_id).await?;
        write
            .record(Change::AgentTargetAdded {
                agent_id: id.0,
                stack_id: body.stack_id,
            })
            .await?;
        write.commit().await?;
        Ok(Json(target))
    }

    /// Removes a target (admin, or the agent itself).
    #[oai(
        path = "/agents/:id/targets/:stack_id",
        method = "delete",
        operation_id = "removeAgentTarget"
    )]
    async fn remove_target(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        stack_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        access::on_agent(&auth.0, Action::Untarget, id.0)?;
        let mut write = self.state.write(auth.0.actor()).await?;
        // Deleted stacks too: their targets can still be removed by a registered agent.
        match store::stacks::owner_of(write.conn(), stack_id.0).await {
            Ok(owner) => require_registered(write.conn(), id.0, owner).await?,
            Err(StoreError::NotFound) => return Err(ApiError::not_found("Target not found")),
            Err(e) => return Err(e.into()),
        }
        store::agents::remove_target(write.conn(), id.0, stack_id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Target"))?;
        write
            .record(Change::AgentTargetRemoved {
                agent_id: id.0,
                stack_id: stack_id.0,
            })
            .await?;
        write.commit().await?;
        Ok(NoContent::Done)
    }

    /// Records a heartbeat (the agent itself only).
    #[oai(
        path = "/agents/:id/heartbeat",
        method = "post",
        operation_id = "recordAgentHeartbeat"
    )]
    async fn record_heartbeat(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<NoContent> {
        access::on_agent(&auth.0, Action::Heartbeat, id.0)?;
        let mut conn = self.state.pool.acquire().await?;
        store::agents::heartbeat(&mut conn, id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Agent"))?;
        Ok(NoContent::Done)
    }

    /// Lists the stacks an agent manages: targets, plus stacks sharing a label or an annotation
    /// (admin, or the agent itself).
    #[oai(
        path = "/agents/:id/stacks",
        method = "get",
        operation_id = "listAgentStacks"
    )]
    async fn associated_stacks(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<Stack>>> {
        access::on_agent(&auth.0, Action::Read, id.0)?;
        self.load(id.0).await?;
        let mut conn = self.state.pool.acquire().await?;
        Ok(Json(
            store::agents::associated_stacks(&mut conn, id.0).await?,
        ))
    }

    /// Issues a new PAK; the old one stops working at once (admin, or the agent itself).
    #[oai(
        path = "/agents/:id/rotate-pak",
        method = "post",
        operation_id = "rotateAgentPak"
    )]
    async fn rotate_pak(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<Json<AgentPakResponse>> {
        access::on_agent(&auth.0, Action::RotateKey, id.0)?;
        let pak = Pak::generate(&self.state.settings.pak);
        let mut write = self.state.write(auth.0.actor()).await?;
        let agent = store::agents::set_pak_hash(write.conn(), id.0, &pak.hash())
            .await
            .map_err(|e| ApiError::from_store(e, "Agent"))?;
        write.record(Change::AgentPakRotated { id: id.0 }).await?;
        write.commit().await?;
        Ok(Json(AgentPakResponse {
            agent,
            pak: pak.as_str().to_owned(),
        }))
    }
}
