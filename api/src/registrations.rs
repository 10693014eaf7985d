//! Registrations: which generators an agent serves (its consent boundary).
//!
//! `POST`/`DELETE /generators/{id}/register` register and deregister an agent: the admin names
//! it with `agent_id`; an agent registers or deregisters itself (with no `agent_id`, or its
//! own). Generators never decide which agents serve them: they get 403. Listing is open to the
//! admin, to the agent for its own registrations and to the generator for its own agents.
//!
//! An agent created through the API or the CLI is registered with the system generator (and
//! with the `generator_ids` it was created with) in its creation transaction
//! ([`register_new_agent`]).

use std::sync::Arc;

use brokkr_schema::models::{Agent, AgentRegistration, RegistrationRequest};
use brokkr_schema::store::changes::{self, Actor, Change};
use brokkr_schema::store::notify::Channels;
use brokkr_schema::store::registrations::SYSTEM_GENERATOR_ID;
use brokkr_schema::store::{self, StoreError, StoreResult};
use poem_openapi::error::{ContentTypeError, ParseRequestPayloadError};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::ParseFromJSON;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, OpenApi};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ApiTags;
use crate::access::{self, Action, Resource};
use crate::auth::{Caller, Pakauth};
use crate::error::{ApiError, ApiResult, NoContent};
use crate::state::AppState;

/// Handlers of the registration endpoints.
pub struct RegistrationsApi {
    state: Arc<AppState>,
}

impl RegistrationsApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

/// Registers a just-created agent with the system generator and with `generator_ids`, in the
/// creation transaction, recording each registration. `NotFound` names no generator: the caller
/// says which list was wrong.
pub async fn register_new_agent(
    conn: &mut PgConnection,
    channels: &Channels,
    actor: &Actor,
    agent: &Agent,
    generator_ids: &[Uuid],
) -> StoreResult<()> {
    let mut wanted = vec![SYSTEM_GENERATOR_ID];
    for id in generator_ids {
        if !wanted.contains(id) {
            wanted.push(*id);
        }
    }
    for generator_id in wanted {
        store::registrations::register(&mut *conn, agent.id, generator_id).await?;
        changes::record(
            &mut *conn,
            channels,
            actor,
            Change::AgentRegistered {
                agent_id: agent.id,
                name: &agent.name,
                cluster_name: &agent.cluster_name,
                generator_id,
            },
        )
        .await?;
    }
    Ok(())
}

/// A JSON body that may be left out entirely (no body, no `Content-Type`): an agent
/// registering or deregistering itself need not send one.
pub struct OptionalJson<T>(pub Option<T>);

impl<'a, T: ParseFromJSON + Send> ApiExtractor<'a> for OptionalJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Json<T> as Payload>::CONTENT_TYPE,
                schema: T::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a poem::Request,
        body: &mut poem::RequestBody,
        _options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let data = <Vec<u8> as poem::FromRequest>::from_request(request, body).await?;
        if data.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        match request.content_type() {
            Some(ct) if <Json<T> as Payload>::check_content_type(ct) => {}
            Some(ct) => {
                return Err(ContentTypeError::NotSupported {
                    content_type: ct.to_owned(),
                }
                .into());
            }
            None => return Err(ContentTypeError::ExpectContentType.into()),
        }
        let value: serde_json::Value =
            serde_json::from_slice(&data).map_err(|e| ParseRequestPayloadError {
                reason: e.to_string(),
            })?;
        let parsed =
            Option::<T>::parse_from_json(Some(value)).map_err(|e| ParseRequestPayloadError {
                reason: e.into_message(),
            })?;
        Ok(Self(parsed))
    }
}

/// The agent a register/deregister call is about, once the policy allows `action`: the admin
/// names it; an agent is itself (a named agent must be itself); a generator is refused.
fn subject(caller: &Caller, action: Action, body: Option<RegistrationRequest>) -> ApiResult<Uuid> {
    let named = body.and_then(|b| b.agent_id);
    let own = caller
        .agent()
        .is_some_and(|me| named.is_none_or(|named| named == me));
    access::require(caller, action, Resource::Registration, own)?;
    match caller.agent() {
        Some(me) => Ok(me),
        None => named.ok_or_else(|| ApiError::bad_request("agent_id is required")),
    }
}

#[OpenApi(tag = "ApiTags::Generators")]
impl RegistrationsApi {
    /// Registers an agent with a generator: the agent will run the generator's stacks (admin
    /// with `agent_id`, or the agent itself). Registering again changes nothing.
    #[oai(
        path = "/generators/:id/register",
        method = "post",
        operation_id = "registerAgentWithGenerator"
    )]
    async fn register(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: OptionalJson<RegistrationRequest>,
    ) -> ApiResult<Json<AgentRegistration>> {
        let agent_id = subject(&auth.0, Action::Create, body.0)?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let agent = store::agents::get(write.conn(), agent_id)
            .await
            .map_err(|e| ApiError::from_store(e, "Agent"))?;
        let new = store::registrations::register(write.conn(), agent_id, id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Generator"))?;
        if new {
            write
                .record(Change::AgentRegistered {
                    agent_id,
                    name: &agent.name,
                    cluster_name: &agent.cluster_name,
                    generator_id: id.0,
                })
                .await?;
        }
        let registration = store::registrations::for_agent(write.conn(), agent_id)
            .await?
            .into_iter()
            .find(|r| r.generator_id == id.0)
            .ok_or_else(|| ApiError::not_found("Generator not found"))?;
        write.commit().await?;
        Ok(Json(registration))
    }

    /// Deregisters an agent from a generator (admin with `agent_id`, or the agent itself): in
    /// the same transaction its explicit targets on the generator's stacks are removed, and the
    /// agent removes those stacks' objects.
    #[oai(
        path = "/generators/:id/register",
        method = "delete",
        operation_id = "deregisterAgentFromGenerator"
    )]
    async fn deregister(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: OptionalJson<RegistrationRequest>,
    ) -> ApiResult<NoContent> {
        let agent_id = subject(&auth.0, Action::Delete, body.0)?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let agent = store::agents::get(write.conn(), agent_id)
            .await
            .map_err(|e| ApiError::from_store(e, "Agent"))?;
        let removed = match store::registrations::deregister(write.conn(), agent_id, id.0).await {
            Ok(removed) => removed,
            Err(StoreError::NotFound) => {
                return Err(ApiError::not_found(
                    "Registration not found: the agent is not registered with this generator",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        write
            .record(Change::AgentDeregistered {
                agent_id,
                name: &agent.name,
                cluster_name: &agent.cluster_name,
                generator_id: id.0,
                removed_targets: &removed,
            })
            .await?;
        write.commit().await?;
        Ok(NoContent::Done)
    }

    /// Lists the generators an agent is registered with (admin, or the agent itself).
    #[oai(
        path = "/agents/:id/registrations",
        method = "get",
        operation_id = "listAgentRegistrations"
    )]
    async fn list_registrations(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<AgentRegistration>>> {
        access::on_agent(&auth.0, Action::Read, id.0)?;
        let mut conn = self.state.pool.acquire().await?;
        store::agents::get(&mut conn, id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Agent"))?;
        Ok(Json(
            store::registrations::for_agent(&mut conn, id.0).await?,
        ))
    }

    /// Lists the agents registered with a generator (admin, or the generator itself).
    #[oai(
        path = "/generators/:id/registered-agents",
        method = "get",
        operation_id = "listGeneratorRegisteredAgents"
    )]
    async fn list_registered_agents(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<Agent>>> {
        access::on_generator(&auth.0, Action::Read, id.0)?;
        let mut conn = self.state.pool.acquire().await?;
        store::generators::get(&mut conn, id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Generator"))?;
        Ok(Json(
            store::registrations::agents_of(&mut conn, id.0).await?,
        ))
    }
}
