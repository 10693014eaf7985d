//! `/agent-events`: events reported by agents. The admin reads all of them; an agent reads its
//! own; generators have no access.

use std::sync::Arc;

use brokkr_schema::models::AgentEvent;
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

/// Handlers of `/agent-events`.
pub struct AgentEventsApi {
    state: Arc<AppState>,
}

impl AgentEventsApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "ApiTags::AgentEvents")]
impl AgentEventsApi {
    /// Lists events, newest first: all of them for the admin, its own for an agent.
    #[oai(
        path = "/agent-events",
        method = "get",
        operation_id = "listAgentEvents"
    )]
    async fn list_agent_events(&self, auth: Pakauth) -> ApiResult<Json<Vec<AgentEvent>>> {
        access::require(&auth.0, Action::List, Resource::AgentEvent, true)?;
        // An agent sees its own events; the admin all of them.
        let scope = auth.0.agent();
        let mut conn = self.state.pool.acquire().await?;
        Ok(Json(store::agent_events::list(&mut conn, scope).await?))
    }

    /// Reads one event (the admin, or the agent that reported it).
    #[oai(
        path = "/agent-events/:id",
        method = "get",
        operation_id = "getAgentEvent"
    )]
    async fn get_agent_event(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<Json<AgentEvent>> {
        let ask = access::ask(&auth.0, Action::Read, Resource::AgentEvent)?;
        let mut conn = self.state.pool.acquire().await?;
        match store::agent_events::get(&mut conn, id.0).await {
            Ok(event) => {
                ask.given(auth.0.is_agent(event.agent_id))?;
                Ok(Json(event))
            }
            Err(StoreError::NotFound) => Err(Resource::AgentEvent.not_found()),
            Err(e) => Err(e.into()),
        }
    }
}
