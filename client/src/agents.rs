//! Agents: registration, status, labels, annotations, targets, events, registrations with
//! generators, heartbeats and health reports.

use brokkr_schema::models::{
    Agent, AgentAnnotation, AgentEvent, AgentLabel, AgentPakResponse, AgentRegistration,
    AgentStatus, AgentTarget, CreateAgentResponse, HealthStatusUpdate, LabelBody, NewAgent,
    NewAgentAnnotation, NewAgentEvent, NewAgentTarget, RegistrationRequest, Stack, UpdateAgent,
};
use reqwest::Method;
use uuid::Uuid;

use crate::client::Call;
use crate::{Client, Result};

impl Client {
    /// `GET /agents` (admin).
    pub async fn list_agents(&self) -> Result<Vec<Agent>> {
        self.json(Call::new(Method::GET, &["api", "v1", "agents"]))
            .await
    }

    /// `POST /agents` (admin): the agent and its PAK, shown this once.
    pub async fn create_agent(&self, body: &NewAgent) -> Result<CreateAgentResponse> {
        self.json(Call::new(Method::POST, &["api", "v1", "agents"]).body(body))
            .await
    }

    /// `GET /agents/search?name=&cluster_name=`.
    pub async fn find_agent(&self, name: &str, cluster_name: &str) -> Result<Agent> {
        self.json(
            Call::new(Method::GET, &["api", "v1", "agents", "search"])
                .query("name", name)
                .query("cluster_name", cluster_name),
        )
        .await
    }

    /// `GET /agents/{id}`.
    pub async fn get_agent(&self, id: Uuid) -> Result<Agent> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "agents", &id.to_string()],
        ))
        .await
    }

    /// `PUT /agents/{id}`.
    pub async fn update_agent(&self, id: Uuid, body: &UpdateAgent) -> Result<Agent> {
        self.json(Call::new(Method::PUT, &["api", "v1", "agents", &id.to_string()]).body(body))
            .await
    }

    /// Sets an agent's status (`ACTIVE` or `INACTIVE`) with `PUT /agents/{id}`.
    pub async fn set_agent_status(&self, id: Uuid, status: AgentStatus) -> Result<Agent> {
        let body = UpdateAgent {
            id: None,
            name: None,
            cluster_name: None,
            status: Some(status.as_str().to_owned()),
        };
        self.update_agent(id, &body).await
    }

    /// `DELETE /agents/{id}` (soft delete).
    pub async fn delete_agent(&self, id: Uuid) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &["api", "v1", "agents", &id.to_string()],
        ))
        .await
    }

    /// `POST /agents/{id}/rotate-pak`: the new PAK; the old one stops working at once.
    pub async fn rotate_agent_pak(&self, id: Uuid) -> Result<AgentPakResponse> {
        self.json(Call::new(
            Method::POST,
            &["api", "v1", "agents", &id.to_string(), "rotate-pak"],
        ))
        .await
    }

    /// `GET /agents/{id}/labels`.
    pub async fn list_agent_labels(&self, id: Uuid) -> Result<Vec<AgentLabel>> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "agents", &id.to_string(), "labels"],
        ))
        .await
    }

    /// `POST /agents/{id}/labels`.
    pub async fn add_agent_label(&self, id: Uuid, label: &str) -> Result<AgentLabel> {
        let body = LabelBody::Bare(label.to_owned());
        self.json(
            Call::new(
                Method::POST,
                &["api", "v1", "agents", &id.to_string(), "labels"],
            )
            .body(&body),
        )
        .await
    }

    /// `DELETE /agents/{id}/labels/{label}`.
    pub async fn remove_agent_label(&self, id: Uuid, label: &str) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &["api", "v1", "agents", &id.to_string(), "labels", label],
        ))
        .await
    }

    /// `GET /agents/{id}/annotations`.
    pub async fn list_agent_annotations(&self, id: Uuid) -> Result<Vec<AgentAnnotation>> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "agents", &id.to_string(), "annotations"],
        ))
        .await
    }

    /// `POST /agents/{id}/annotations`.
    pub async fn add_agent_annotation(
        &self,
        id: Uuid,
        key: &str,
        value: &str,
    ) -> Result<AgentAnnotation> {
        let body = NewAgentAnnotation {
            agent_id: None,
            key: key.to_owned(),
            value: value.to_owned(),
        };
        self.json(
            Call::new(
                Method::POST,
                &["api", "v1", "agents", &id.to_string(), "annotations"],
            )
            .body(&body),
        )
        .await
    }

    /// `DELETE /agents/{id}/annotations/{key}`.
    pub async fn remove_agent_annotation(&self, id: Uuid, key: &str) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &["api", "v1", "agents", &id.to_string(), "annotations", key],
        ))
        .await
    }

    /// `GET /agents/{id}/targets`.
    pub async fn list_agent_targets(&self, id: Uuid) -> Result<Vec<AgentTarget>> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "agents", &id.to_string(), "targets"],
        ))
        .await
    }

    /// `POST /agents/{id}/targets`: the agent runs the stack from now on.
    pub async fn add_agent_target(&self, id: Uuid, stack_id: Uuid) -> Result<AgentTarget> {
        let body = NewAgentTarget {
            agent_id: None,
            stack_id,
        };
        self.json(
            Call::new(
                Method::POST,
                &["api", "v1", "agents", &id.to_string(), "targets"],
            )
            .body(&body),
        )
        .await
    }

    /// `DELETE /agents/{id}/targets/{stack_id}`.
    pub async fn remove_agent_target(&self, id: Uuid, stack_id: Uuid) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &[
                "api",
                "v1",
                "agents",
                &id.to_string(),
                "targets",
                &stack_id.to_string(),
            ],
        ))
        .await
    }

    /// `GET /agents/{id}/stacks`: every stack the agent runs (targets, labels, annotations).
    pub async fn list_agent_stacks(&self, id: Uuid) -> Result<Vec<Stack>> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "agents", &id.to_string(), "stacks"],
        ))
        .await
    }

    /// `GET /agents/{id}/events`, newest first.
    pub async fn list_agent_events_of(&self, id: Uuid) -> Result<Vec<AgentEvent>> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "agents", &id.to_string(), "events"],
        ))
        .await
    }

    /// `POST /agents/{id}/events`: the outcome of applying a deployment object.
    pub async fn report_agent_event(&self, id: Uuid, body: &NewAgentEvent) -> Result<AgentEvent> {
        self.json(
            Call::new(
                Method::POST,
                &["api", "v1", "agents", &id.to_string(), "events"],
            )
            .body(body),
        )
        .await
    }

    /// `GET /agent-events`, newest first (all for the admin, its own for an agent).
    pub async fn list_agent_events(&self) -> Result<Vec<AgentEvent>> {
        self.json(Call::new(Method::GET, &["api", "v1", "agent-events"]))
            .await
    }

    /// `GET /agent-events/{id}`.
    pub async fn get_agent_event(&self, id: Uuid) -> Result<AgentEvent> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "agent-events", &id.to_string()],
        ))
        .await
    }

    /// `POST /agents/{id}/heartbeat`.
    pub async fn heartbeat(&self, id: Uuid) -> Result<()> {
        self.unit(Call::new(
            Method::POST,
            &["api", "v1", "agents", &id.to_string(), "heartbeat"],
        ))
        .await
    }

    /// `PATCH /agents/{id}/health-status`.
    pub async fn report_health(&self, id: Uuid, body: &HealthStatusUpdate) -> Result<()> {
        self.unit(
            Call::new(
                Method::PATCH,
                &["api", "v1", "agents", &id.to_string(), "health-status"],
            )
            .body(body),
        )
        .await
    }

    /// `GET /agents/{id}/registrations`: the generators whose stacks the agent may run.
    pub async fn list_agent_registrations(&self, id: Uuid) -> Result<Vec<AgentRegistration>> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "agents", &id.to_string(), "registrations"],
        ))
        .await
    }

    /// `POST /generators/{id}/register`: registers an agent (or, as an agent, itself).
    pub async fn register_agent(
        &self,
        generator_id: Uuid,
        agent_id: Option<Uuid>,
    ) -> Result<AgentRegistration> {
        let body = RegistrationRequest { agent_id };
        self.json(
            Call::new(
                Method::POST,
                &[
                    "api",
                    "v1",
                    "generators",
                    &generator_id.to_string(),
                    "register",
                ],
            )
            .body(&body),
        )
        .await
    }

    /// `DELETE /generators/{id}/register`.
    pub async fn deregister_agent(&self, generator_id: Uuid, agent_id: Option<Uuid>) -> Result<()> {
        let body = RegistrationRequest { agent_id };
        self.unit(
            Call::new(
                Method::DELETE,
                &[
                    "api",
                    "v1",
                    "generators",
                    &generator_id.to_string(),
                    "register",
                ],
            )
            .body(&body),
        )
        .await
    }
}
