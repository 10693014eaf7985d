//! The API's records as they travel on the wire (and, with feature `db`, as rows).
//!
//! Field names follow the original Brokkr API so existing clients keep working. Secrets (PAK
//! hashes, encrypted webhook fields) have no field here at all, so they cannot leak into a
//! response.
//!
//! OpenAPI conventions (the document SDKs are generated from, `api/openapi.json`): every
//! `Option` field the broker sends as `null` is `#[oai(nullable)]` (those that are left out
//! instead are `skip_serializing_if_is_none`); request bodies are named `Create*Request`,
//! `Add*Request` and `Update*Request` in the document (`#[oai(rename)]`, which changes no JSON).

use chrono::{DateTime, Utc};
use poem_openapi::{Object, Union};
use uuid::Uuid;

/// The statuses and kinds of these records ([`crate::states`]), re-exported so the records and
/// their states are imported from one place.
pub use crate::states::{
    ActorKind, AgentEventStatus, AgentStatus, DeliveryStatus, DiagnosticStatus, HealthStatus,
    RolloutState, TemplateRolloutStackStatus, TemplateRolloutStatus, WorkOrderStatus,
};

/// Body of every error response.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// What went wrong and why.
    pub error: String,
    /// For manifest errors: the 0-based index of the offending YAML document.
    #[oai(skip_serializing_if_is_none)]
    pub document_index: Option<u64>,
    /// A machine-readable reason, for refusals clients act on (`agent_not_registered`).
    #[oai(skip_serializing_if_is_none)]
    pub code: Option<String>,
}

/// Who a PAK belongs to (`POST /auth/pak`).
#[derive(Debug, Clone, Object)]
pub struct AuthResponse {
    /// True for the admin PAK.
    pub admin: bool,
    /// The agent id, for an agent PAK.
    #[oai(nullable)]
    pub agent: Option<String>,
    /// The generator id, for a generator PAK.
    #[oai(nullable)]
    pub generator: Option<String>,
}

/// A cluster agent.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct Agent {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub deleted_at: Option<DateTime<Utc>>,
    pub name: String,
    pub cluster_name: String,
    #[oai(nullable)]
    pub last_heartbeat: Option<DateTime<Utc>>,
    pub status: AgentStatus,
}

/// Body of `POST /agents`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "CreateAgentRequest")]
pub struct NewAgent {
    pub name: String,
    pub cluster_name: String,
    /// Generators to register the agent with at once (besides the system generator).
    #[oai(nullable)]
    pub generator_ids: Option<Vec<Uuid>>,
}

/// An agent's registration with a generator: its consent to run that generator's stacks.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct AgentRegistration {
    pub agent_id: Uuid,
    pub generator_id: Uuid,
    pub generator_name: String,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST`/`DELETE /generators/{id}/register`: the agent (admin); an agent calling for
/// itself may leave it out.
#[derive(Debug, Clone, Default, Object)]
pub struct RegistrationRequest {
    #[oai(nullable)]
    pub agent_id: Option<Uuid>,
}

/// Answer of `POST /agents`: the agent and its PAK, shown this once.
#[derive(Debug, Clone, Object)]
pub struct CreateAgentResponse {
    pub agent: Agent,
    pub initial_pak: String,
}

/// Answer of `POST /agents/{id}/rotate-pak`.
#[derive(Debug, Clone, Object)]
pub struct AgentPakResponse {
    pub agent: Agent,
    pub pak: String,
}

/// Body of `PUT /agents/{id}`: the fields a client may change. Others are ignored.
#[derive(Debug, Clone, Object)]
#[oai(rename = "UpdateAgentRequest")]
pub struct UpdateAgent {
    /// Must equal the path id when given.
    #[oai(nullable)]
    pub id: Option<Uuid>,
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub cluster_name: Option<String>,
    /// `ACTIVE` or `INACTIVE`.
    // Text checked against `AgentStatus` by the handler, so that any other value is refused with
    // a message naming the valid ones (as a poem-openapi `Enum` it would be a parse error).
    #[oai(nullable)]
    pub status: Option<String>,
}

/// A label on an agent.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct AgentLabel {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub label: String,
}

/// Body of `POST /agents/{id}/labels` in object form.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AddAgentLabelRequest")]
pub struct NewAgentLabel {
    /// Must equal the path id when given.
    #[oai(nullable)]
    pub agent_id: Option<Uuid>,
    pub label: String,
}

/// A label body: the bare JSON string (`"env:prod"`) or `{agent_id, label}`.
#[derive(Debug, Clone, Union)]
pub enum LabelBody {
    Bare(String),
    Object(NewAgentLabel),
}

/// An annotation on an agent.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct AgentAnnotation {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub key: String,
    pub value: String,
}

/// Body of `POST /agents/{id}/annotations`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AddAgentAnnotationRequest")]
pub struct NewAgentAnnotation {
    /// Must equal the path id when given.
    #[oai(nullable)]
    pub agent_id: Option<Uuid>,
    pub key: String,
    pub value: String,
}

/// An explicit association of an agent with a stack.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct AgentTarget {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub stack_id: Uuid,
}

/// Body of `POST /agents/{id}/targets`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AddAgentTargetRequest")]
pub struct NewAgentTarget {
    /// Must equal the path id when given.
    #[oai(nullable)]
    pub agent_id: Option<Uuid>,
    pub stack_id: Uuid,
}

/// What an agent reported about a deployment object.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct AgentEvent {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub deleted_at: Option<DateTime<Utc>>,
    pub agent_id: Uuid,
    pub deployment_object_id: Uuid,
    pub event_type: String,
    pub status: AgentEventStatus,
    #[oai(nullable)]
    pub message: Option<String>,
}

/// Body of `POST /agents/{id}/events`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "CreateAgentEventRequest")]
pub struct NewAgentEvent {
    /// Must equal the path id when given.
    #[oai(nullable)]
    pub agent_id: Option<Uuid>,
    pub deployment_object_id: Uuid,
    pub event_type: String,
    /// `SUCCESS` or `FAILURE`.
    // Text checked against `AgentEventStatus` by the handler, in any case (`success` is taken).
    pub status: String,
    #[oai(nullable)]
    pub message: Option<String>,
}

/// An automation identity (CI pipeline, provisioning system).
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct Generator {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub deleted_at: Option<DateTime<Utc>>,
    pub name: String,
    #[oai(nullable)]
    pub description: Option<String>,
    #[oai(nullable)]
    pub last_active_at: Option<DateTime<Utc>>,
    pub is_active: bool,
}

/// Body of `POST /generators`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "CreateGeneratorRequest")]
pub struct NewGenerator {
    pub name: String,
    #[oai(nullable)]
    pub description: Option<String>,
}

/// Answer of `POST /generators` and `POST /generators/{id}/rotate-pak`.
#[derive(Debug, Clone, Object)]
pub struct GeneratorPakResponse {
    pub generator: Generator,
    pub pak: String,
}

/// Body of `PUT /generators/{id}`: the fields a client may change. Others are ignored, so the
/// full record a client read earlier is accepted too.
#[derive(Debug, Clone, Object)]
#[oai(rename = "UpdateGeneratorRequest")]
pub struct UpdateGenerator {
    /// Must equal the path id when given.
    #[oai(nullable)]
    pub id: Option<Uuid>,
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub description: Option<String>,
    /// Only an admin may change this.
    #[oai(nullable)]
    pub is_active: Option<bool>,
}

/// A named set of Kubernetes manifests, owned by a generator.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct Stack {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub deleted_at: Option<DateTime<Utc>>,
    pub name: String,
    #[oai(nullable)]
    pub description: Option<String>,
    pub generator_id: Uuid,
}

/// Body of `POST /stacks`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "CreateStackRequest")]
pub struct NewStack {
    pub name: String,
    #[oai(nullable)]
    pub description: Option<String>,
    /// Owner. A generator may only name itself (or omit it); an admin may omit it to use the
    /// nil id of the admin-owned stacks.
    #[oai(nullable)]
    pub generator_id: Option<Uuid>,
}

/// Body of `PUT /stacks/{id}`: the fields a client may change; others are ignored.
#[derive(Debug, Clone, Object)]
#[oai(rename = "UpdateStackRequest")]
pub struct UpdateStack {
    /// Must equal the path id when given.
    #[oai(nullable)]
    pub id: Option<Uuid>,
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub description: Option<String>,
    /// Only an admin may hand a stack to another generator.
    #[oai(nullable)]
    pub generator_id: Option<Uuid>,
}

/// A label on a stack.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct StackLabel {
    pub id: Uuid,
    pub stack_id: Uuid,
    pub label: String,
}

/// An annotation on a stack.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct StackAnnotation {
    pub id: Uuid,
    pub stack_id: Uuid,
    pub key: String,
    pub value: String,
}

/// Body of `POST /stacks/{id}/annotations`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AddStackAnnotationRequest")]
pub struct NewStackAnnotation {
    /// Must equal the path id when given.
    #[oai(nullable)]
    pub stack_id: Option<Uuid>,
    pub key: String,
    pub value: String,
}

/// One immutable version of a stack's desired state.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct DeploymentObject {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub deleted_at: Option<DateTime<Utc>>,
    pub sequence_id: i64,
    pub stack_id: Uuid,
    pub yaml_content: String,
    pub yaml_checksum: String,
    pub submitted_at: DateTime<Utc>,
    pub is_deletion_marker: bool,
    /// W3C `traceparent` of the request that created the object, when it was traced: agents
    /// link the span of their apply to it.
    #[oai(nullable)]
    pub traceparent: Option<String>,
}

/// Body of `POST /stacks/{id}/deployment-objects`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "CreateDeploymentObjectRequest")]
pub struct NewDeploymentObject {
    /// One or more Kubernetes objects as (multi-document) YAML.
    pub yaml_content: String,
    /// True to ask agents to remove everything they applied for the stack.
    #[oai(default)]
    pub is_deletion_marker: bool,
}

/// Lowercase hex SHA-256 of a deployment object's YAML.
pub fn yaml_checksum(yaml: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(yaml.as_bytes()))
}

/// An audit-log entry.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct AuditLog {
    pub id: Uuid,
    pub timestamp: DateTime<Utc>,
    pub actor_type: ActorKind,
    #[oai(nullable)]
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub resource_type: String,
    #[oai(nullable)]
    pub resource_id: Option<Uuid>,
    // Any JSON value, null included: an untyped schema says that (`nullable` needs a type).
    pub details: Option<serde_json::Value>,
    #[oai(nullable)]
    pub ip_address: Option<String>,
    #[oai(nullable)]
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A page of `GET /admin/audit-logs`.
#[derive(Debug, Clone, Object)]
pub struct AuditLogListResponse {
    /// Matching entries, newest first.
    pub logs: Vec<AuditLog>,
    /// Number of entries matching the filters.
    pub total: i64,
    /// Number of entries in this page.
    pub count: i64,
    pub limit: i64,
    pub offset: i64,
}

/// Narrows a webhook subscription to events about one agent, one stack, or carrying labels.
/// Unknown keys are refused, so a misspelt filter cannot silently match everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Object, serde::Serialize, serde::Deserialize)]
#[oai(deny_unknown_fields)]
pub struct WebhookFilters {
    /// Only events whose data names this agent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<Uuid>,
    /// Only events whose data names this stack.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_id: Option<Uuid>,
    /// Only events whose data carries all of these labels (key → value).
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

/// A webhook subscription as the API shows it: the URL, auth header and signing secret are
/// never returned, only whether they are set.
#[derive(Debug, Clone, Object)]
pub struct WebhookResponse {
    pub id: Uuid,
    pub name: String,
    pub has_url: bool,
    pub has_auth_header: bool,
    /// True when deliveries are signed (`X-Brokkr-Signature-256`, `webhook-signature`).
    pub has_secret: bool,
    /// Event types or patterns (`*`, `prefix.*`).
    pub event_types: Vec<String>,
    #[oai(nullable)]
    pub filters: Option<WebhookFilters>,
    /// When set, agents carrying all these labels deliver instead of the broker's workers.
    #[oai(nullable)]
    pub target_labels: Option<Vec<String>>,
    pub enabled: bool,
    pub max_retries: i32,
    pub timeout_seconds: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub created_by: Option<String>,
    /// Why Brokkr disabled the subscription, if it did (e.g. deliveries failing for days).
    #[oai(skip_serializing_if_is_none)]
    pub disabled_reason: Option<String>,
    /// Only in the answer to a create with `generate_secret: true`: the generated signing
    /// secret (`whsec_...`), shown this once. Store it; it cannot be read again.
    #[oai(skip_serializing_if_is_none)]
    pub secret: Option<String>,
}

/// Body of `POST /webhooks`. (No `Debug`: it carries secrets.)
#[derive(Clone, Object)]
pub struct CreateWebhookRequest {
    pub name: String,
    /// `http://` or `https://` URL; stored encrypted, never returned.
    pub url: String,
    /// Sent as the `Authorization` header of each delivery; stored encrypted, never returned.
    #[oai(nullable)]
    pub auth_header: Option<String>,
    /// Signing secret (at least 16 characters); stored encrypted, never returned. A
    /// `whsec_<base64>` secret also works with Standard Webhooks verifier libraries.
    #[oai(nullable)]
    pub secret: Option<String>,
    /// Have the broker generate the secret (`whsec_` + base64 of 32 random bytes), returned
    /// once as `secret` in the answer. Not together with `secret`.
    #[oai(default)]
    pub generate_secret: bool,
    /// Event types or patterns (`*`, `prefix.*`); at least one.
    pub event_types: Vec<String>,
    #[oai(nullable)]
    pub filters: Option<WebhookFilters>,
    /// 0 to 20; default 5.
    #[oai(nullable)]
    pub max_retries: Option<i32>,
    /// 1 to 300; default 30.
    #[oai(nullable)]
    pub timeout_seconds: Option<i32>,
    /// Ask for a test delivery to succeed before the subscription is stored. Not supported yet:
    /// `true` is refused with 400 rather than silently ignored.
    #[oai(default)]
    pub validate: bool,
    /// Labels of the agents that deliver instead of the broker's workers.
    #[oai(nullable)]
    pub target_labels: Option<Vec<String>>,
}

/// Body of `PUT /webhooks/{id}`: absent fields are kept; `null` clears `auth_header`,
/// `secret`, `filters` and `target_labels`. (No `Debug`: it carries secrets.)
#[derive(Clone, Object)]
pub struct UpdateWebhookRequest {
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub url: Option<String>,
    #[oai(nullable)]
    pub auth_header: poem_openapi::types::MaybeUndefined<String>,
    #[oai(nullable)]
    pub secret: poem_openapi::types::MaybeUndefined<String>,
    #[oai(nullable)]
    pub event_types: Option<Vec<String>>,
    #[oai(nullable)]
    pub filters: poem_openapi::types::MaybeUndefined<WebhookFilters>,
    #[oai(nullable)]
    pub enabled: Option<bool>,
    #[oai(nullable)]
    pub max_retries: Option<i32>,
    #[oai(nullable)]
    pub timeout_seconds: Option<i32>,
    #[oai(nullable)]
    pub target_labels: poem_openapi::types::MaybeUndefined<Vec<String>>,
}

/// One event queued for one subscription.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct WebhookDelivery {
    /// Stable across retries (the `X-Brokkr-Delivery` header).
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_type: String,
    pub event_id: Uuid,
    /// The event envelope `{id, event_type, timestamp, data}`.
    pub payload: serde_json::Value,
    #[oai(nullable)]
    pub target_labels: Option<Vec<String>>,
    pub status: DeliveryStatus,
    #[oai(nullable)]
    pub acquired_by: Option<Uuid>,
    #[oai(nullable)]
    pub acquired_until: Option<DateTime<Utc>>,
    pub attempts: i32,
    #[oai(nullable)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub next_retry_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
}

/// One attempt to deliver a webhook.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct DeliveryAttempt {
    pub id: Uuid,
    /// 1 for the first attempt.
    pub attempt_number: i32,
    pub started_at: DateTime<Utc>,
    #[oai(nullable)]
    pub duration_ms: Option<i32>,
    /// HTTP status of the answer; absent when no answer came.
    #[oai(nullable)]
    pub status_code: Option<i32>,
    // Any JSON value, null included: an untyped schema says that (`nullable` needs a type).
    pub response_headers: Option<serde_json::Value>,
    /// The first 4 KiB of the answer's body.
    #[oai(nullable)]
    pub response_body: Option<String>,
    /// The connection error, when there was no answer.
    #[oai(nullable)]
    pub error: Option<String>,
    /// The worker or agent that made the attempt.
    #[oai(nullable)]
    pub delivered_by: Option<String>,
}

/// A delivery with every attempt (`GET /webhook-deliveries/{id}`).
#[derive(Debug, Clone, Object)]
pub struct WebhookDeliveryDetail {
    #[oai(flatten)]
    pub delivery: WebhookDelivery,
    /// Attempts, first to last.
    pub attempts_log: Vec<DeliveryAttempt>,
}

/// A delivery claimed by an agent (`GET /agents/{id}/webhooks/pending`), with everything needed
/// to send it exactly as the broker would.
#[derive(Debug, Clone, Object)]
pub struct PendingWebhookDelivery {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    /// Destination (decrypted).
    pub url: String,
    /// `Authorization` value to send (decrypted), if any.
    #[oai(nullable)]
    pub auth_header: Option<String>,
    pub timeout_seconds: i32,
    pub max_retries: i32,
    /// Attempts made before this one.
    pub attempts: i32,
    /// The exact body to POST (the signatures cover these bytes).
    pub body: String,
    /// Every header to send, signatures included.
    pub headers: std::collections::BTreeMap<String, String>,
    /// When the claim lapses and the delivery returns to pending.
    pub lease_expires_at: DateTime<Utc>,
}

/// Body of `POST /webhook-deliveries/{id}/result`.
#[derive(Debug, Clone, Object)]
pub struct DeliveryResultRequest {
    pub success: bool,
    #[oai(nullable)]
    pub status_code: Option<i32>,
    #[oai(nullable)]
    pub error: Option<String>,
    #[oai(nullable)]
    pub duration_ms: Option<i32>,
}

/// Answer of `POST /webhook-deliveries/{id}/result`.
#[derive(Debug, Clone, Object)]
pub struct DeliveryResultResponse {
    /// `success`, `failed` (another attempt is scheduled) or `dead`.
    pub status: DeliveryStatus,
    pub delivery_id: Uuid,
    pub attempts: i32,
    #[oai(nullable)]
    pub next_retry_at: Option<DateTime<Utc>>,
}

/// Answer of a test delivery (`POST /webhooks/{id}/test`, and `validate: true` on create).
#[derive(Debug, Clone, Object)]
pub struct WebhookTestResult {
    /// True when the endpoint answered 2xx.
    pub success: bool,
    /// The endpoint's HTTP status, when it answered.
    #[oai(nullable)]
    pub status_code: Option<i32>,
    /// On success, a short confirmation.
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
    /// On failure, what went wrong.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    /// On failure, the first 500 characters of the endpoint's answer.
    #[oai(skip_serializing_if_is_none)]
    pub body: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Diagnostics and deployment health
// ---------------------------------------------------------------------------------------------

/// An on-demand request for an agent to collect diagnostics about one deployment object.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct DiagnosticRequest {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub deployment_object_id: Uuid,
    pub status: DiagnosticStatus,
    #[oai(nullable)]
    pub requested_by: Option<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub claimed_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
    /// A request not completed by then expires.
    pub expires_at: DateTime<Utc>,
}

/// Body of `POST /deployment-objects/{id}/diagnostics`.
#[derive(Debug, Clone, Object)]
pub struct CreateDiagnosticRequest {
    /// The agent that collects; it must be associated with the object's stack.
    pub agent_id: Uuid,
    /// Free text naming who asked (shown back, audited).
    #[oai(nullable)]
    pub requested_by: Option<String>,
    /// Minutes before an unfinished request expires (1–1440, default 60).
    #[oai(nullable)]
    pub retention_minutes: Option<i64>,
}

/// What an agent collected for a diagnostic request.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct DiagnosticResult {
    pub id: Uuid,
    pub request_id: Uuid,
    /// JSON-encoded pod statuses.
    pub pod_statuses: String,
    /// JSON-encoded Kubernetes events.
    pub events: String,
    /// JSON-encoded last log lines per container.
    #[oai(nullable)]
    pub log_tails: Option<String>,
    pub collected_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /diagnostics/{id}/result`.
#[derive(Debug, Clone, Object)]
pub struct SubmitDiagnosticResult {
    pub pod_statuses: String,
    pub events: String,
    #[oai(nullable)]
    pub log_tails: Option<String>,
    pub collected_at: DateTime<Utc>,
}

/// Answer of `GET /diagnostics/{id}`: the request and, once submitted, its result.
#[derive(Debug, Clone, Object)]
pub struct DiagnosticResponse {
    pub request: DiagnosticRequest,
    #[oai(nullable)]
    pub result: Option<DiagnosticResult>,
}

/// The health an agent last reported for one deployment object.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct DeploymentHealth {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub deployment_object_id: Uuid,
    pub status: HealthStatus,
    /// JSON-encoded [`HealthSummary`].
    #[oai(nullable)]
    pub summary: Option<String>,
    pub checked_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The state of one Kubernetes resource of a deployment object.
#[derive(Debug, Clone, PartialEq, Object, serde::Serialize, serde::Deserialize)]
pub struct ResourceHealth {
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub ready: bool,
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What an agent saw of a deployment object's pods.
#[derive(Debug, Clone, PartialEq, Object, serde::Serialize, serde::Deserialize)]
pub struct HealthSummary {
    pub pods_ready: i32,
    pub pods_total: i32,
    /// Problems seen, e.g. `ImagePullBackOff`, `CrashLoopBackOff`, `OOMKilled`.
    pub conditions: Vec<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<ResourceHealth>>,
}

/// One entry of a health report.
#[derive(Debug, Clone, Object)]
pub struct DeploymentObjectHealthUpdate {
    /// The deployment object.
    pub id: Uuid,
    // Text checked against `HealthStatus` by the handler, so that any other value is refused
    // with a message naming the entry.
    pub status: String,
    #[oai(nullable)]
    pub summary: Option<HealthSummary>,
    pub checked_at: DateTime<Utc>,
}

/// Body of `PATCH /agents/{id}/health-status`.
#[derive(Debug, Clone, Object)]
pub struct HealthStatusUpdate {
    pub deployment_objects: Vec<DeploymentObjectHealthUpdate>,
}

/// Answer of `GET /deployment-objects/{id}/health`.
#[derive(Debug, Clone, Object)]
pub struct DeploymentHealthResponse {
    pub deployment_object_id: Uuid,
    /// One record per reporting agent, by agent id.
    pub health_records: Vec<DeploymentHealth>,
    /// The worst status reported: failing > degraded > healthy > unknown.
    pub overall_status: HealthStatus,
}

/// One deployment object in a stack's health.
#[derive(Debug, Clone, Object)]
pub struct DeploymentObjectHealthSummary {
    pub id: Uuid,
    pub status: HealthStatus,
    pub healthy_agents: i64,
    pub degraded_agents: i64,
    pub failing_agents: i64,
}

/// Answer of `GET /stacks/{id}/health`.
#[derive(Debug, Clone, Object)]
pub struct StackHealthResponse {
    pub stack_id: Uuid,
    pub overall_status: HealthStatus,
    /// The stack's objects with reported health, newest first.
    pub deployment_objects: Vec<DeploymentObjectHealthSummary>,
}

/// One agent running a stack, and what it reported about the stack's newest deployment object.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct AgentRolloutStatus {
    pub agent_id: Uuid,
    pub agent_name: String,
    pub cluster_name: String,
    pub state: RolloutState,
    /// The agent's message with its newest event about the object (why it failed).
    #[oai(nullable)]
    pub message: Option<String>,
    /// When that event was stored.
    #[oai(nullable)]
    pub reported_at: Option<DateTime<Utc>>,
    /// The health the agent last reported for the object.
    #[oai(nullable)]
    pub health: Option<HealthStatus>,
}

/// Answer of `GET /stacks/{id}/rollout`: how far the stack's newest deployment object has got
/// on every active agent that runs the stack.
#[derive(Debug, Clone, Object)]
pub struct StackRolloutStatus {
    pub stack_id: Uuid,
    /// The newest deployment object; null while the stack has none.
    #[oai(nullable)]
    pub deployment_object_id: Option<Uuid>,
    #[oai(nullable)]
    pub sequence_id: Option<i64>,
    pub is_deletion_marker: bool,
    /// `failed` when an agent failed, `applied` when every agent applied the object, else
    /// `pending` (also while no agent runs the stack).
    pub state: RolloutState,
    /// By agent name and cluster name.
    pub agents: Vec<AgentRolloutStatus>,
}

// ---------------------------------------------------------------------------------------------
// Live configuration
// ---------------------------------------------------------------------------------------------

/// One setting that changed in a reload. Secret values are shown as `[redacted]`.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ConfigChange {
    pub key: String,
    pub old_value: String,
    pub new_value: String,
}

/// Answer of `POST /admin/config/reload`.
#[derive(Debug, Clone, Object)]
pub struct ConfigReloadResponse {
    pub reloaded_at: DateTime<Utc>,
    /// Dynamic settings that changed and are in effect now.
    pub changes: Vec<ConfigChange>,
    /// Static settings that changed in the sources but keep their old value until a restart.
    pub restart_required: Vec<ConfigChange>,
    pub success: bool,
    pub message: String,
}

// ---------------------------------------------------------------------------------------------
// Work orders: one-off tasks (builds, custom YAML) that agents claim, run and report on.
// ---------------------------------------------------------------------------------------------

/// A work order in the active queue. `GET /work-orders/{id}` also shows finished orders from the
/// log this way, with status `COMPLETED` or `FAILED`.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct WorkOrder {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What kind of task this is, e.g. `build` or `custom`.
    pub work_type: String,
    pub yaml_content: String,
    /// `PENDING`, `CLAIMED` or `RETRY_PENDING` (`COMPLETED`/`FAILED` for a finished order).
    pub status: WorkOrderStatus,
    /// The agent holding the claim.
    #[oai(nullable)]
    pub claimed_by: Option<Uuid>,
    #[oai(nullable)]
    pub claimed_at: Option<DateTime<Utc>>,
    /// A claim older than this returns the order to `PENDING`.
    pub claim_timeout_seconds: i32,
    /// Retries allowed after the first attempt.
    pub max_retries: i32,
    /// Retries used so far.
    pub retry_count: i32,
    /// Base of the retry delay: `backoff_seconds × 2^retry_count`.
    pub backoff_seconds: i32,
    /// When a `RETRY_PENDING` order becomes claimable again.
    #[oai(nullable)]
    pub next_retry_after: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub last_error: Option<String>,
    #[oai(nullable)]
    pub last_error_at: Option<DateTime<Utc>>,
}

/// A finished work order (write-once).
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct WorkOrderLog {
    /// The id the order had in the active queue.
    pub id: Uuid,
    pub work_type: String,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub claimed_at: Option<DateTime<Utc>>,
    pub completed_at: DateTime<Utc>,
    /// The agent that last held the order.
    #[oai(nullable)]
    pub claimed_by: Option<Uuid>,
    pub success: bool,
    pub retries_attempted: i32,
    /// The agent's message (a result on success, the error on failure).
    #[oai(nullable)]
    pub result_message: Option<String>,
    pub yaml_content: String,
    /// The settings the order ran with, shown when it is read back as a work order (not part
    /// of the log entry on the wire).
    #[oai(skip)]
    pub max_retries: i32,
    #[oai(skip)]
    pub backoff_seconds: i32,
    #[oai(skip)]
    pub claim_timeout_seconds: i32,
}

/// Which agents may claim a work order: any listed agent, any agent with one of the labels, or
/// any agent with one of the annotations (same key and value).
#[derive(Debug, Clone, Default, Object)]
pub struct WorkOrderTargeting {
    #[oai(nullable)]
    pub agent_ids: Option<Vec<Uuid>>,
    #[oai(nullable)]
    pub labels: Option<Vec<String>>,
    #[oai(nullable)]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// Body of `POST /work-orders`.
#[derive(Debug, Clone, Object)]
pub struct CreateWorkOrderRequest {
    pub work_type: String,
    pub yaml_content: String,
    /// At least 0; default 3.
    #[oai(nullable)]
    pub max_retries: Option<i32>,
    /// Greater than 0; default 60.
    #[oai(nullable)]
    pub backoff_seconds: Option<i32>,
    /// Greater than 0; default 3600.
    #[oai(nullable)]
    pub claim_timeout_seconds: Option<i32>,
    /// At least one of `agent_ids`, `labels`, `annotations` is required.
    #[oai(nullable)]
    pub targeting: Option<WorkOrderTargeting>,
    /// Deprecated: merged into `targeting.agent_ids`.
    #[oai(nullable)]
    pub target_agent_ids: Option<Vec<Uuid>>,
}

/// Body of `POST /work-orders/{id}/claim`.
#[derive(Debug, Clone, Object)]
pub struct ClaimWorkOrderRequest {
    /// The claiming agent (an agent can only claim for itself).
    pub agent_id: Uuid,
}

fn default_retryable() -> bool {
    true
}

/// Body of `POST /work-orders/{id}/complete`.
#[derive(Debug, Clone, Object)]
pub struct CompleteWorkOrderRequest {
    pub success: bool,
    /// A result on success, the error on failure.
    #[oai(nullable)]
    pub message: Option<String>,
    /// On failure: may the order be tried again? Default true.
    #[oai(default = "default_retryable")]
    pub retryable: bool,
}

/// Answer `202` of `POST /work-orders/{id}/complete`: the failure will be retried.
#[derive(Debug, Clone, Object)]
pub struct WorkOrderRetryScheduled {
    /// Always `retry_scheduled`.
    pub status: String,
    /// Retries used, this one included.
    pub retry_count: i32,
    /// When the order becomes claimable again.
    #[oai(nullable)]
    pub next_retry_after: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------------------------------------
// Stack templates (`/templates`, `/stacks/{id}/deployment-objects/from-template`, rollouts).
// ---------------------------------------------------------------------------------------------

/// One immutable version of a stack template: Tera source plus the JSON Schema of its
/// parameters. Versions share `name` and `generator_id` (NULL: a system template).
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct StackTemplate {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub deleted_at: Option<DateTime<Utc>>,
    /// The owning generator; absent for a system template.
    #[oai(nullable)]
    pub generator_id: Option<Uuid>,
    pub name: String,
    #[oai(nullable)]
    pub description: Option<String>,
    /// 1 for the first version, then one more per update.
    pub version: i32,
    /// Tera source rendering to Kubernetes YAML.
    pub template_content: String,
    /// JSON Schema of the parameters, as a JSON-encoded string.
    pub parameters_schema: String,
    /// Lowercase hex SHA-256 of `template_content`.
    pub checksum: String,
}

/// Body of `POST /templates`.
#[derive(Debug, Clone, Object)]
pub struct CreateTemplateRequest {
    pub name: String,
    #[oai(nullable)]
    pub description: Option<String>,
    pub template_content: String,
    /// JSON Schema of the parameters, as a JSON-encoded string.
    pub parameters_schema: String,
    /// Admin only: create the template for this generator instead of a system template.
    #[oai(nullable)]
    pub generator_id: Option<Uuid>,
}

/// Body of `PUT /templates/{id}`: the content of the next version.
#[derive(Debug, Clone, Object)]
pub struct UpdateTemplateRequest {
    /// Defaults to the current version's description.
    #[oai(nullable)]
    pub description: Option<String>,
    pub template_content: String,
    pub parameters_schema: String,
}

/// A label on a template version.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct TemplateLabel {
    pub id: Uuid,
    pub template_id: Uuid,
    pub label: String,
    pub created_at: DateTime<Utc>,
}

/// An annotation on a template version.
#[derive(Debug, Clone, Object)]
#[cfg_attr(feature = "db", derive(sqlx::FromRow))]
pub struct TemplateAnnotation {
    pub id: Uuid,
    pub template_id: Uuid,
    pub key: String,
    pub value: String,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /templates/{id}/annotations`.
#[derive(Debug, Clone, Object)]
pub struct AddTemplateAnnotationRequest {
    pub key: String,
    pub value: String,
}

/// Body of `POST /stacks/{id}/deployment-objects/from-template`.
#[derive(Debug, Clone, Object)]
pub struct TemplateInstantiationRequest {
    /// Any version of the template; its latest live version is rendered.
    pub template_id: Uuid,
    /// The template's parameters (checked against its schema after defaults are applied).
    #[oai(default = "empty_parameters")]
    pub parameters: serde_json::Value,
}

fn empty_parameters() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Error body of the template endpoints: `{"error"}` plus what is wrong in detail.
#[derive(Debug, Clone, Object)]
pub struct TemplateErrorBody {
    pub error: String,
    /// Parameters that break the schema: `"<JSON pointer>: <message>"` each.
    #[oai(skip_serializing_if_is_none)]
    pub validation_errors: Option<Vec<String>>,
    /// Template labels the stack lacks.
    #[oai(skip_serializing_if_is_none)]
    pub missing_labels: Option<Vec<String>>,
    /// Template annotations the stack lacks, as `[key, value]` pairs.
    #[oai(skip_serializing_if_is_none)]
    pub missing_annotations: Option<Vec<Vec<String>>>,
    /// For rendered YAML that is not Kubernetes objects: the offending document (0-based).
    #[oai(skip_serializing_if_is_none)]
    pub document_index: Option<u64>,
}

/// The outcome of a template rollout for one stack.
#[derive(Debug, Clone, Object)]
pub struct TemplateRolloutStack {
    pub stack_id: Uuid,
    /// `pending`, `rendered`, `invalid_parameters` (the stored parameters break the new
    /// schema; the stack is unchanged), `failed` (rendering or matching failed; unchanged) or
    /// `skipped` (the stack changed or went away since the rollout started).
    pub status: TemplateRolloutStackStatus,
    /// The stack's latest deployment object when the rollout started.
    pub previous_deployment_object_id: Uuid,
    /// The template version that object was rendered from.
    pub previous_template_version: i32,
    /// The deployment object the rollout created.
    #[oai(nullable)]
    pub deployment_object_id: Option<Uuid>,
    #[oai(nullable)]
    pub error: Option<String>,
    /// For `invalid_parameters`: each failing path.
    pub validation_errors: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

/// A template rollout (`POST /templates/{id}/rollout`) and its per-stack results.
#[derive(Debug, Clone, Object)]
pub struct TemplateRollout {
    pub id: Uuid,
    /// The version rolled out.
    pub template_id: Uuid,
    pub template_name: String,
    pub template_version: i32,
    /// The template's owner; absent for a system template.
    #[oai(nullable)]
    pub generator_id: Option<Uuid>,
    /// `running` while a stack is pending, then `completed`.
    pub status: TemplateRolloutStatus,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
    pub stacks: Vec<TemplateRolloutStack>,
}
