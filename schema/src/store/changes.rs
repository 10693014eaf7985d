//! The one seam every state change goes through.
//!
//! [`record`] runs inside the transaction that made the change and, atomically with it:
//! - writes the audit entry (real actor, IP address and user agent);
//! - turns the change into its webhook event, if it has one, and queues a delivery for every
//!   enabled subscription that wants it ([`super::webhooks::fanout::enqueue_deliveries`]);
//! - notifies every broker replica, so long-polling agents wake up and cached credentials are
//!   dropped the moment the transaction commits.

use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreResult;
use super::notify::{self, Channels, Scope};
use crate::events::{self, BrokkrEvent};
use crate::models::{AgentEvent, DeploymentObject, DiagnosticRequest, WorkOrder, WorkOrderLog};

pub use crate::states::ActorKind;

/// The actor of a change and where the request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<Uuid>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    /// Brokkr itself, e.g. the CLI.
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
            ip_address: None,
            user_agent: None,
        }
    }
}

/// A resource that carries labels and annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labelled {
    Agent,
    Stack,
    /// A template version.
    Template,
}

impl Labelled {
    /// The `resource_type` of its audit entries.
    pub fn resource_type(self) -> &'static str {
        match self {
            Labelled::Agent => "agent",
            Labelled::Stack => "stack",
            Labelled::Template => "template",
        }
    }

    /// The audit action of a label or annotation change on this resource
    /// (`agent.label_added`).
    fn action(self, op: MetadataOp) -> &'static str {
        const ACTIONS: [[&str; 4]; 3] = [
            [
                "agent.label_added",
                "agent.label_removed",
                "agent.annotation_added",
                "agent.annotation_removed",
            ],
            [
                "stack.label_added",
                "stack.label_removed",
                "stack.annotation_added",
                "stack.annotation_removed",
            ],
            [
                "template.label_added",
                "template.label_removed",
                "template.annotation_added",
                "template.annotation_removed",
            ],
        ];
        ACTIONS[self as usize][op as usize]
    }

    /// Whom agents' long polls must hear about: a change to an agent's or a stack's labels can
    /// change what agents run; a template's labels concern no agent.
    fn state_scope(self, id: Uuid) -> Option<Scope> {
        match self {
            Labelled::Agent => Some(Scope::Agent(id)),
            Labelled::Stack => Some(Scope::Stack(id)),
            Labelled::Template => None,
        }
    }
}

/// What happened to a label or an annotation (the column of [`Labelled::action`]'s table).
#[derive(Debug, Clone, Copy)]
enum MetadataOp {
    LabelAdded,
    LabelRemoved,
    AnnotationAdded,
    AnnotationRemoved,
}

/// A state change, described in the domain's words.
#[derive(Debug, Clone)]
pub enum Change<'a> {
    /// A label was added to an agent, a stack or a template version.
    LabelAdded {
        on: Labelled,
        id: Uuid,
        label: &'a str,
    },
    LabelRemoved {
        on: Labelled,
        id: Uuid,
        label: &'a str,
    },
    AnnotationAdded {
        on: Labelled,
        id: Uuid,
        key: &'a str,
        value: &'a str,
    },
    AnnotationRemoved {
        on: Labelled,
        id: Uuid,
        key: &'a str,
    },
    AgentCreated {
        id: Uuid,
        name: &'a str,
        cluster_name: &'a str,
    },
    AgentUpdated {
        id: Uuid,
        name: &'a str,
        cluster_name: &'a str,
        status: &'a str,
    },
    AgentDeleted {
        id: Uuid,
        name: &'a str,
        cluster_name: &'a str,
    },
    AgentPakRotated {
        id: Uuid,
    },
    /// The agent registered with a generator (also at creation, with the system generator).
    AgentRegistered {
        agent_id: Uuid,
        name: &'a str,
        cluster_name: &'a str,
        generator_id: Uuid,
    },
    /// The agent deregistered from a generator; `removed_targets` are the stacks whose explicit
    /// targets went with it.
    AgentDeregistered {
        agent_id: Uuid,
        name: &'a str,
        cluster_name: &'a str,
        generator_id: Uuid,
        removed_targets: &'a [Uuid],
    },
    AgentTargetAdded {
        agent_id: Uuid,
        stack_id: Uuid,
    },
    AgentTargetRemoved {
        agent_id: Uuid,
        stack_id: Uuid,
    },
    AgentEventReported {
        event: &'a AgentEvent,
    },
    GeneratorCreated {
        id: Uuid,
        name: &'a str,
    },
    GeneratorUpdated {
        id: Uuid,
        name: &'a str,
    },
    GeneratorDeleted {
        id: Uuid,
        name: &'a str,
    },
    GeneratorPakRotated {
        id: Uuid,
    },
    AdminPakRotated,
    StackCreated {
        id: Uuid,
        name: &'a str,
        generator_id: Uuid,
    },
    StackUpdated {
        id: Uuid,
        name: &'a str,
        generator_id: Uuid,
    },
    StackDeleted {
        id: Uuid,
        name: &'a str,
        generator_id: Uuid,
    },
    DeploymentObjectCreated {
        object: &'a DeploymentObject,
    },
    WebhookCreated {
        id: Uuid,
        name: &'a str,
        event_types: &'a [String],
    },
    /// `changed` names the fields the update touched (never their values).
    WebhookUpdated {
        id: Uuid,
        name: &'a str,
        enabled: bool,
        changed: &'a [&'a str],
    },
    WebhookDeleted {
        id: Uuid,
        name: &'a str,
    },
    /// A `ping` event queued for one subscription.
    WebhookPinged {
        subscription_id: Uuid,
        delivery_id: Uuid,
    },
    /// A delivery put back to pending by hand.
    WebhookRedelivered {
        delivery_id: Uuid,
    },
    /// A subscription was disabled because its deliveries kept failing.
    WebhookDisabled {
        id: Uuid,
        name: &'a str,
        reason: &'a str,
    },
    /// An agent reported the outcome of a delivery it held.
    WebhookDeliveryReported {
        delivery_id: Uuid,
        status: &'a str,
    },
    /// The admin asked an agent for diagnostics on a deployment object.
    DiagnosticRequested {
        request: &'a DiagnosticRequest,
    },
    /// The agent (or the admin on its behalf) took a diagnostic request.
    DiagnosticClaimed {
        request: &'a DiagnosticRequest,
    },
    /// The agent submitted what it collected.
    DiagnosticCompleted {
        request_id: Uuid,
        result_id: Uuid,
    },
    /// An agent's health report changed the status it reports for some objects.
    HealthReported {
        agent_id: Uuid,
        /// `{deployment_object_id, previous, status}` per object whose status changed.
        changed: &'a Value,
    },
    /// The overall health of a deployment object (worst over its agents) changed.
    DeploymentHealthChanged {
        deployment_object_id: Uuid,
        stack_id: Uuid,
        agent_id: Uuid,
        previous: &'a str,
        status: &'a str,
    },
    /// Settings were reloaded; `changes` lists keys (secret values redacted).
    ConfigReloaded {
        changes: &'a Value,
    },
    /// A work order was queued for the agents `targeting` (JSON) selects.
    WorkOrderCreated {
        order: &'a WorkOrder,
        targeting: &'a Value,
    },
    /// An agent claimed a work order.
    WorkOrderClaimed {
        order: &'a WorkOrder,
    },
    /// A work order finished (success or for good failure) and moved to the log.
    WorkOrderFinished {
        log: &'a WorkOrderLog,
    },
    /// A failed attempt will be retried after the order's backoff.
    WorkOrderRetryScheduled {
        order: &'a WorkOrder,
    },
    /// The backoff of a failed order passed: it is claimable again.
    WorkOrderReleased {
        order: &'a WorkOrder,
    },
    /// A claim outlived `claim_timeout_seconds`: the order is claimable again (a failed attempt).
    WorkOrderClaimExpired {
        order: &'a WorkOrder,
        agent_id: Option<Uuid>,
    },
    /// A work order was cancelled.
    WorkOrderDeleted {
        order: &'a WorkOrder,
    },
    /// A template version was stored: a new template, or the next version of one
    /// (`previous_id`, by `POST` with an existing name or by `PUT`).
    TemplateVersionCreated {
        id: Uuid,
        previous_id: Option<Uuid>,
        name: &'a str,
        version: i32,
        generator_id: Option<Uuid>,
    },
    TemplateDeleted {
        id: Uuid,
        name: &'a str,
        version: i32,
    },
    /// A rollout of a template version to `stacks` stacks was started.
    TemplateRolloutStarted {
        template_id: Uuid,
        rollout_id: Uuid,
        version: i32,
        stacks: usize,
    },
}

/// How a change is written down: audit action, resource, details, event, notifications.
struct Effects {
    action: &'static str,
    resource_type: &'static str,
    resource_id: Option<Uuid>,
    details: Value,
    event: Option<(&'static str, Value)>,
    state: Option<Scope>,
    auth: Option<Scope>,
}

impl Change<'_> {
    fn effects(&self) -> Effects {
        let plain = |action, resource_type, id: Uuid, details| Effects {
            action,
            resource_type,
            resource_id: Some(id),
            details,
            event: None,
            state: None,
            auth: None,
        };
        let metadata = |on: Labelled, op: MetadataOp, id: Uuid, details| Effects {
            state: on.state_scope(id),
            ..plain(on.action(op), on.resource_type(), id, details)
        };
        match *self {
            Change::LabelAdded { on, id, label } => {
                metadata(on, MetadataOp::LabelAdded, id, json!({"label": label}))
            }
            Change::LabelRemoved { on, id, label } => {
                metadata(on, MetadataOp::LabelRemoved, id, json!({"label": label}))
            }
            Change::AnnotationAdded { on, id, key, value } => metadata(
                on,
                MetadataOp::AnnotationAdded,
                id,
                json!({"key": key, "value": value}),
            ),
            Change::AnnotationRemoved { on, id, key } => {
                metadata(on, MetadataOp::AnnotationRemoved, id, json!({"key": key}))
            }
            Change::AgentCreated {
                id,
                name,
                cluster_name,
            } => {
                // The `agent.registered` event comes with its registration with the system
                // generator, recorded in the same transaction.
                plain(
                    "agent.created",
                    "agent",
                    id,
                    json!({"agent_id": id, "name": name, "cluster_name": cluster_name}),
                )
            }
            Change::AgentRegistered {
                agent_id,
                name,
                cluster_name,
                generator_id,
            } => {
                let data = json!({
                    "agent_id": agent_id,
                    "name": name,
                    "cluster_name": cluster_name,
                    "generator_id": generator_id,
                });
                Effects {
                    event: Some((events::AGENT_REGISTERED, data.clone())),
                    state: Some(Scope::Agent(agent_id)),
                    ..plain("agent.registered", "agent", agent_id, data)
                }
            }
            Change::AgentDeregistered {
                agent_id,
                name,
                cluster_name,
                generator_id,
                removed_targets,
            } => {
                let data = json!({
                    "agent_id": agent_id,
                    "name": name,
                    "cluster_name": cluster_name,
                    "generator_id": generator_id,
                    "removed_targets": removed_targets,
                });
                Effects {
                    event: Some((events::AGENT_DEREGISTERED, data.clone())),
                    state: Some(Scope::Agent(agent_id)),
                    ..plain("agent.deregistered", "agent", agent_id, data)
                }
            }
            Change::AgentUpdated {
                id,
                name,
                cluster_name,
                status,
            } => Effects {
                state: Some(Scope::Agent(id)),
                ..plain(
                    "agent.updated",
                    "agent",
                    id,
                    json!({"name": name, "cluster_name": cluster_name, "status": status}),
                )
            },
            Change::AgentDeleted {
                id,
                name,
                cluster_name,
            } => {
                let details = json!({"agent_id": id, "name": name, "cluster_name": cluster_name});
                Effects {
                    event: Some((events::AGENT_DEREGISTERED, details.clone())),
                    state: Some(Scope::Agent(id)),
                    auth: Some(Scope::Agent(id)),
                    ..plain("agent.deleted", "agent", id, details)
                }
            }
            Change::AgentPakRotated { id } => Effects {
                auth: Some(Scope::Agent(id)),
                ..plain("pak.rotated", "agent", id, json!({}))
            },
            Change::AgentTargetAdded { agent_id, stack_id } => Effects {
                state: Some(Scope::Agent(agent_id)),
                ..plain(
                    "agent.target_added",
                    "agent",
                    agent_id,
                    json!({"stack_id": stack_id}),
                )
            },
            Change::AgentTargetRemoved { agent_id, stack_id } => Effects {
                state: Some(Scope::Agent(agent_id)),
                ..plain(
                    "agent.target_removed",
                    "agent",
                    agent_id,
                    json!({"stack_id": stack_id}),
                )
            },
            Change::AgentEventReported { event } => {
                let data = json!({
                    "agent_event_id": event.id,
                    "agent_id": event.agent_id,
                    "deployment_object_id": event.deployment_object_id,
                    "event_type": event.event_type,
                    "status": event.status,
                    "message": event.message,
                    "created_at": event.created_at,
                });
                let event_type = if event.status == crate::states::AgentEventStatus::Success {
                    events::DEPLOYMENT_APPLIED
                } else {
                    events::DEPLOYMENT_FAILED
                };
                Effects {
                    event: Some((event_type, data.clone())),
                    state: Some(Scope::Agent(event.agent_id)),
                    ..plain("agent_event.created", "agent_event", event.id, data)
                }
            }
            Change::GeneratorCreated { id, name } => {
                plain("generator.created", "generator", id, json!({"name": name}))
            }
            Change::GeneratorUpdated { id, name } => {
                plain("generator.updated", "generator", id, json!({"name": name}))
            }
            Change::GeneratorDeleted { id, name } => Effects {
                auth: Some(Scope::Generator(id)),
                ..plain("generator.deleted", "generator", id, json!({"name": name}))
            },
            Change::GeneratorPakRotated { id } => Effects {
                auth: Some(Scope::Generator(id)),
                ..plain("pak.rotated", "generator", id, json!({}))
            },
            Change::AdminPakRotated => Effects {
                action: "pak.rotated",
                resource_type: "admin",
                resource_id: None,
                details: json!({}),
                event: None,
                state: None,
                auth: Some(Scope::Admin),
            },
            Change::StackCreated {
                id,
                name,
                generator_id,
            } => {
                let details = json!({"stack_id": id, "name": name, "generator_id": generator_id});
                Effects {
                    event: Some((events::STACK_CREATED, details.clone())),
                    state: Some(Scope::Stack(id)),
                    ..plain("stack.created", "stack", id, details)
                }
            }
            Change::StackUpdated {
                id,
                name,
                generator_id,
            } => Effects {
                // A new owner changes which agents may run the stack (registrations).
                state: Some(Scope::Stack(id)),
                ..plain(
                    "stack.updated",
                    "stack",
                    id,
                    json!({"name": name, "generator_id": generator_id}),
                )
            },
            Change::StackDeleted {
                id,
                name,
                generator_id,
            } => {
                let details = json!({"stack_id": id, "name": name, "generator_id": generator_id});
                Effects {
                    event: Some((events::STACK_DELETED, details.clone())),
                    state: Some(Scope::Stack(id)),
                    ..plain("stack.deleted", "stack", id, details)
                }
            }
            Change::DeploymentObjectCreated { object } => {
                let data = json!({
                    "deployment_object_id": object.id,
                    "stack_id": object.stack_id,
                    "sequence_id": object.sequence_id,
                    "yaml_checksum": object.yaml_checksum,
                    "is_deletion_marker": object.is_deletion_marker,
                    "submitted_at": object.submitted_at,
                });
                let event_type = if object.is_deletion_marker {
                    events::DEPLOYMENT_DELETED
                } else {
                    events::DEPLOYMENT_CREATED
                };
                Effects {
                    event: Some((event_type, data.clone())),
                    state: Some(Scope::Stack(object.stack_id)),
                    ..plain(
                        "deployment_object.created",
                        "deployment_object",
                        object.id,
                        data,
                    )
                }
            }
            Change::WebhookCreated {
                id,
                name,
                event_types,
            } => plain(
                "webhook.created",
                "webhook",
                id,
                json!({"name": name, "event_types": event_types}),
            ),
            Change::WebhookUpdated {
                id,
                name,
                enabled,
                changed,
            } => plain(
                "webhook.updated",
                "webhook",
                id,
                json!({"name": name, "enabled": enabled, "changed": changed}),
            ),
            Change::WebhookDeleted { id, name } => {
                plain("webhook.deleted", "webhook", id, json!({"name": name}))
            }
            Change::WebhookPinged {
                subscription_id,
                delivery_id,
            } => plain(
                "webhook.pinged",
                "webhook",
                subscription_id,
                json!({"delivery_id": delivery_id}),
            ),
            Change::WebhookDisabled { id, name, reason } => {
                let data = json!({"subscription_id": id, "name": name, "reason": reason});
                Effects {
                    event: Some((events::WEBHOOK_DISABLED, data.clone())),
                    ..plain("webhook.disabled", "webhook", id, data)
                }
            }
            Change::WebhookRedelivered { delivery_id } => plain(
                "webhook_delivery.redelivered",
                "webhook_delivery",
                delivery_id,
                json!({}),
            ),
            Change::DiagnosticRequested { request } => plain(
                "diagnostic.requested",
                "diagnostic_request",
                request.id,
                json!({
                    "agent_id": request.agent_id,
                    "deployment_object_id": request.deployment_object_id,
                    "requested_by": request.requested_by,
                    "expires_at": request.expires_at,
                }),
            ),
            Change::DiagnosticClaimed { request } => plain(
                "diagnostic.claimed",
                "diagnostic_request",
                request.id,
                json!({"agent_id": request.agent_id}),
            ),
            Change::DiagnosticCompleted {
                request_id,
                result_id,
            } => plain(
                "diagnostic.completed",
                "diagnostic_request",
                request_id,
                json!({"result_id": result_id}),
            ),
            Change::HealthReported { agent_id, changed } => plain(
                "health.reported",
                "agent",
                agent_id,
                json!({"changed": changed}),
            ),
            Change::DeploymentHealthChanged {
                deployment_object_id,
                stack_id,
                agent_id,
                previous,
                status,
            } => {
                let data = json!({
                    "deployment_object_id": deployment_object_id,
                    "stack_id": stack_id,
                    "agent_id": agent_id,
                    "previous_status": previous,
                    "status": status,
                });
                Effects {
                    event: Some((events::DEPLOYMENT_HEALTH_CHANGED, data.clone())),
                    ..plain(
                        "deployment.health_changed",
                        "deployment_object",
                        deployment_object_id,
                        data,
                    )
                }
            }
            Change::ConfigReloaded { changes } => Effects {
                action: "config.reloaded",
                resource_type: "config",
                resource_id: None,
                details: json!({"changes": changes}),
                event: None,
                state: None,
                auth: None,
            },
            Change::WebhookDeliveryReported {
                delivery_id,
                status,
            } => plain(
                "webhook_delivery.reported",
                "webhook_delivery",
                delivery_id,
                json!({"status": status}),
            ),
            Change::WorkOrderCreated { order, targeting } => {
                let data = json!({
                    "work_order_id": order.id,
                    "work_type": order.work_type,
                    "status": order.status,
                });
                let mut details = data.clone();
                details["targeting"] = targeting.clone();
                Effects {
                    event: Some((events::WORKORDER_CREATED, data)),
                    ..plain("workorder.created", "work_order", order.id, details)
                }
            }
            Change::WorkOrderClaimed { order } => {
                let data = json!({
                    "work_order_id": order.id,
                    "work_type": order.work_type,
                    "agent_id": order.claimed_by,
                    "claimed_at": order.claimed_at,
                });
                Effects {
                    event: Some((events::WORKORDER_CLAIMED, data.clone())),
                    ..plain("workorder.claimed", "work_order", order.id, data)
                }
            }
            Change::WorkOrderFinished { log } => {
                let data = json!({
                    "work_order_log_id": log.id,
                    "work_order_id": log.id,
                    "work_type": log.work_type,
                    "success": log.success,
                    "result_message": log.result_message,
                    "agent_id": log.claimed_by,
                    "retries_attempted": log.retries_attempted,
                    "completed_at": log.completed_at,
                });
                let (action, event_type) = if log.success {
                    ("workorder.completed", events::WORKORDER_COMPLETED)
                } else {
                    ("workorder.failed", events::WORKORDER_FAILED)
                };
                Effects {
                    event: Some((event_type, data.clone())),
                    ..plain(action, "work_order", log.id, data)
                }
            }
            Change::WorkOrderRetryScheduled { order } => plain(
                "workorder.retry",
                "work_order",
                order.id,
                json!({
                    "retry_count": order.retry_count,
                    "next_retry_after": order.next_retry_after,
                    "last_error": order.last_error,
                }),
            ),
            Change::WorkOrderReleased { order } => plain(
                "workorder.released",
                "work_order",
                order.id,
                json!({"retry_count": order.retry_count}),
            ),
            Change::WorkOrderClaimExpired { order, agent_id } => plain(
                "workorder.claim_expired",
                "work_order",
                order.id,
                json!({
                    "agent_id": agent_id,
                    "retry_count": order.retry_count,
                    "claim_timeout_seconds": order.claim_timeout_seconds,
                }),
            ),
            Change::WorkOrderDeleted { order } => plain(
                "workorder.deleted",
                "work_order",
                order.id,
                json!({"work_type": order.work_type, "status": order.status}),
            ),
            Change::TemplateVersionCreated {
                id,
                previous_id,
                name,
                version,
                generator_id,
            } => plain(
                if previous_id.is_some() {
                    "template.updated"
                } else {
                    "template.created"
                },
                "template",
                id,
                json!({"name": name, "version": version, "generator_id": generator_id,
                       "previous_id": previous_id}),
            ),
            Change::TemplateDeleted { id, name, version } => plain(
                "template.deleted",
                "template",
                id,
                json!({"name": name, "version": version}),
            ),
            Change::TemplateRolloutStarted {
                template_id,
                rollout_id,
                version,
                stacks,
            } => plain(
                "template.rollout_started",
                "template",
                template_id,
                json!({"rollout_id": rollout_id, "version": version, "stacks": stacks}),
            ),
        }
    }
}

/// What [`record`] did: the event it announced and the scopes it notified.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The webhook event, if the change has one.
    pub event: Option<BrokkrEvent>,
    /// State and credential scopes notified (for the writer's own caches).
    pub scopes: Vec<Scope>,
}

/// Records `change` inside the caller's transaction: audit entry, webhook event and
/// notifications.
pub async fn record(
    conn: &mut PgConnection,
    channels: &Channels,
    actor: &Actor,
    change: Change<'_>,
) -> StoreResult<Recorded> {
    let effects = change.effects();
    super::audit::insert(
        &mut *conn,
        &super::audit::NewAuditEntry {
            actor_type: actor.kind.as_str(),
            actor_id: actor.id,
            action: effects.action,
            resource_type: effects.resource_type,
            resource_id: effects.resource_id,
            details: Some(effects.details),
            ip_address: actor.ip_address.as_deref(),
            user_agent: actor.user_agent.as_deref(),
        },
    )
    .await?;
    let event = effects
        .event
        .map(|(event_type, data)| BrokkrEvent::new(event_type, data));
    if let Some(event) = &event {
        super::webhooks::fanout::enqueue_deliveries(&mut *conn, channels, event).await?;
    }
    let mut scopes = Vec::new();
    if let Some(scope) = effects.state {
        notify::send(&mut *conn, &channels.state, scope).await?;
        scopes.push(scope);
    }
    if let Some(scope) = effects.auth {
        notify::send(&mut *conn, &channels.auth, scope).await?;
        scopes.push(scope);
    }
    Ok(Recorded { event, scopes })
}
