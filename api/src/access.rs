//! Who may do what: the one access policy of the API.
//!
//! [`POLICY`] is a table of rules. A rule names an [`Action`] on a [`Resource`], the routes that
//! perform it, and the [`Decision`] for each kind of caller: the admin, an agent and a generator,
//! the last two split by their relation to the resource — *own* (the agent itself, an agent
//! targeting the stack, the generator owning the stack or template) or *other*. A refusal is
//! either `403 Forbidden` or, where a caller must not learn that a resource exists,
//! `404 Not Found` with the resource's usual "not found" message.
//!
//! Every handler states its action and resource and asks once:
//!
//! ```ignore
//! // The relation is known from the path:
//! access::require(&caller, Action::Read, Resource::Agent, caller.is_agent(id))?;
//! // The relation needs the record: refusals that do not depend on it come first, so a
//! // refused caller learns nothing about what exists.
//! let ask = access::ask(&caller, Action::Update, Resource::Stack)?;
//! let stack = load(id).await?;
//! ask.given(stack.generator_id == me)?;
//! ```
//!
//! `api/tests/authorization.rs` calls every route of this table as each kind of caller and
//! checks the answers, and fails for a route of the API that has no rule here.

use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// What a caller does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// List the records of a kind.
    List,
    /// Create a record.
    Create,
    /// Find a record by its name.
    Find,
    /// Read a record and what hangs off it (labels, annotations, events, targets, ...).
    Read,
    /// Change a record.
    Update,
    /// Delete a record.
    Delete,
    /// Add or remove labels and annotations.
    Label,
    /// Add a target (tie an agent to a stack).
    Target,
    /// Remove a target.
    Untarget,
    /// Report what happened (agent events, health, a diagnostic or delivery result).
    Report,
    /// Say the agent is alive.
    Heartbeat,
    /// Replace the PAK.
    RotateKey,
    /// Fetch (and claim) the work queued for an agent: diagnostics, work orders, deliveries.
    Poll,
    /// Claim one queued item.
    Claim,
    /// Finish a claimed item.
    Complete,
    /// Read the deployment objects of a stack.
    ReadDeployments,
    /// Add a deployment object (from YAML or from a template).
    Deploy,
    /// Read deployment health.
    ReadHealth,
    /// Ask an agent for diagnostics.
    RequestDiagnostics,
    /// Roll a template version out to its stacks.
    Rollout,
    /// Send a test or ping delivery, or deliver again.
    Deliver,
    /// Reload the configuration.
    Reload,
    /// Check one's own PAK.
    Verify,
}

/// What an action is done to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// One's own PAK.
    Key,
    Agent,
    AgentEvent,
    /// An agent's registration with a generator (own: the agent itself).
    Registration,
    Generator,
    Stack,
    DeploymentObject,
    DiagnosticRequest,
    /// A template of a generator (own: the generator owning it).
    Template,
    /// A template without a generator, shared by every generator.
    SystemTemplate,
    WorkOrder,
    WorkOrderLogEntry,
    WebhookSubscription,
    /// A webhook delivery (own: the agent holding it).
    WebhookDelivery,
    AuditLog,
    Configuration,
}

impl Resource {
    /// The message of a 404 for this resource.
    pub fn not_found_message(self) -> &'static str {
        match self {
            Resource::Key => "Key not found",
            Resource::Agent => "Agent not found",
            Resource::AgentEvent => "Agent event not found",
            Resource::Registration => "Registration not found",
            Resource::Generator => "Generator not found",
            Resource::Stack => "Stack not found",
            Resource::DeploymentObject => "Deployment object not found",
            Resource::DiagnosticRequest => "Diagnostic request not found",
            Resource::Template | Resource::SystemTemplate => "Template not found",
            Resource::WorkOrder => "Work order not found",
            Resource::WorkOrderLogEntry => "Work order log entry not found",
            Resource::WebhookSubscription => "Webhook subscription not found",
            Resource::WebhookDelivery => "Delivery not found, or not held by this agent",
            Resource::AuditLog => "Audit log not found",
            Resource::Configuration => "Configuration not found",
        }
    }

    /// The 404 for this resource.
    pub fn not_found(self) -> ApiError {
        ApiError::not_found(self.not_found_message())
    }
}

/// The policy's answer for one kind of caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allowed,
    /// `403 Forbidden`.
    Forbidden,
    /// `404 Not Found`: the caller must not learn that the resource exists.
    NotFound,
}

use Decision::{Allowed as A, Forbidden as F, NotFound as N};

/// One row of the policy.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub action: Action,
    pub resource: Resource,
    /// Routes performing the action, as in the OpenAPI document (`METHOD /path/{param}`,
    /// without the `/api/v1` prefix).
    pub routes: &'static [&'static str],
    pub admin: Decision,
    /// For an agent: `[own, other]`.
    pub agent: [Decision; 2],
    /// For a generator: `[own, other]`.
    pub generator: [Decision; 2],
}

const fn rule(
    action: Action,
    resource: Resource,
    routes: &'static [&'static str],
    [
        admin,
        agent_own,
        agent_other,
        generator_own,
        generator_other,
    ]: [Decision; 5],
) -> Rule {
    Rule {
        action,
        resource,
        routes,
        admin,
        agent: [agent_own, agent_other],
        generator: [generator_own, generator_other],
    }
}

use Action as Do;
use Resource as On;

/// The access policy. Columns: admin, agent (own, other), generator (own, other).
#[rustfmt::skip]
pub const POLICY: &[Rule] = &[
    rule(Do::Verify, On::Key, &["POST /auth/pak"], [A, A, A, A, A]),
    // Agents: the admin, and each agent for itself.
    rule(Do::List, On::Agent, &["GET /agents"], [A, F, F, F, F]),
    rule(Do::Create, On::Agent, &["POST /agents"], [A, F, F, F, F]),
    rule(Do::Find, On::Agent, &["GET /agents/search"], [A, A, N, F, F]),
    rule(Do::Read, On::Agent, &[
        "GET /agents/{id}", "GET /agents/{id}/events", "GET /agents/{id}/labels",
        "GET /agents/{id}/annotations", "GET /agents/{id}/targets",
        "GET /agents/{id}/target-state", "GET /agents/{id}/stacks",
        "GET /agents/{id}/registrations",
    ], [A, A, F, F, F]),
    rule(Do::Update, On::Agent, &["PUT /agents/{id}"], [A, A, F, F, F]),
    rule(Do::Delete, On::Agent, &["DELETE /agents/{id}"], [A, F, F, F, F]),
    rule(Do::Label, On::Agent, &[
        "POST /agents/{id}/labels", "DELETE /agents/{id}/labels/{label}",
        "POST /agents/{id}/annotations", "DELETE /agents/{id}/annotations/{key}",
    ], [A, F, F, F, F]),
    rule(Do::Target, On::Agent, &["POST /agents/{id}/targets"], [A, F, F, F, F]),
    rule(Do::Untarget, On::Agent, &["DELETE /agents/{id}/targets/{stack_id}"], [A, A, F, F, F]),
    rule(Do::Report, On::Agent, &[
        "POST /agents/{id}/events", "PATCH /agents/{id}/health-status",
    ], [A, A, F, F, F]),
    rule(Do::Heartbeat, On::Agent, &["POST /agents/{id}/heartbeat"], [F, A, F, F, F]),
    rule(Do::RotateKey, On::Agent, &["POST /agents/{id}/rotate-pak"], [A, A, F, F, F]),
    rule(Do::Poll, On::Agent, &[
        "GET /agents/{id}/diagnostics/pending", "GET /agents/{id}/work-orders/pending",
        "GET /agents/{id}/webhooks/pending",
    ], [A, A, F, F, F]),
    // Agent events: an agent lists and reads its own.
    rule(Do::List, On::AgentEvent, &["GET /agent-events"], [A, A, A, F, F]),
    rule(Do::Read, On::AgentEvent, &["GET /agent-events/{id}"], [A, A, N, F, F]),
    // Generators: the admin, and each generator for itself.
    rule(Do::List, On::Generator, &["GET /generators"], [A, F, F, F, F]),
    rule(Do::Create, On::Generator, &["POST /generators"], [A, F, F, F, F]),
    rule(Do::Read, On::Generator, &[
        "GET /generators/{id}", "GET /generators/{id}/registered-agents",
    ], [A, F, F, A, F]),
    rule(Do::Update, On::Generator, &["PUT /generators/{id}"], [A, F, F, A, F]),
    rule(Do::Delete, On::Generator, &["DELETE /generators/{id}"], [A, F, F, A, F]),
    rule(Do::RotateKey, On::Generator, &["POST /generators/{id}/rotate-pak"], [A, F, F, A, F]),
    // Registrations: the admin or the agent itself decides; generators never do.
    rule(Do::Create, On::Registration, &["POST /generators/{id}/register"], [A, A, F, F, F]),
    rule(Do::Delete, On::Registration, &["DELETE /generators/{id}/register"], [A, A, F, F, F]),
    // Stacks: the owning generator; agents read the stacks they target.
    rule(Do::List, On::Stack, &["GET /stacks"], [A, F, F, A, A]),
    rule(Do::Create, On::Stack, &["POST /stacks"], [A, F, F, A, A]),
    rule(Do::Read, On::Stack, &[
        "GET /stacks/{id}", "GET /stacks/{id}/labels", "GET /stacks/{id}/annotations",
    ], [A, A, N, A, N]),
    rule(Do::Update, On::Stack, &["PUT /stacks/{id}"], [A, F, F, A, N]),
    rule(Do::Delete, On::Stack, &["DELETE /stacks/{id}"], [A, F, F, A, N]),
    rule(Do::Label, On::Stack, &[
        "POST /stacks/{id}/labels", "DELETE /stacks/{id}/labels/{label}",
        "POST /stacks/{id}/annotations", "DELETE /stacks/{id}/annotations/{key}",
    ], [A, F, F, A, N]),
    rule(Do::ReadDeployments, On::Stack, &[
        "GET /stacks/{id}/deployment-objects", "GET /stacks/{id}/rollout",
    ], [A, F, F, A, N]),
    rule(Do::Deploy, On::Stack, &[
        "POST /stacks/{id}/deployment-objects",
        "POST /stacks/{id}/deployment-objects/from-template",
    ], [A, F, F, A, N]),
    rule(Do::ReadHealth, On::Stack, &["GET /stacks/{id}/health"], [A, F, F, A, N]),
    // Deployment objects: as their stack.
    rule(Do::Read, On::DeploymentObject, &["GET /deployment-objects/{id}"], [A, A, N, A, N]),
    rule(Do::ReadHealth, On::DeploymentObject, &["GET /deployment-objects/{id}/health"], [A, F, F, A, N]),
    rule(Do::RequestDiagnostics, On::DeploymentObject, &["POST /deployment-objects/{id}/diagnostics"], [A, F, F, F, F]),
    // Diagnostic requests: the admin and the agent asked.
    rule(Do::Read, On::DiagnosticRequest, &["GET /diagnostics/{id}"], [A, A, N, F, F]),
    rule(Do::Claim, On::DiagnosticRequest, &["POST /diagnostics/{id}/claim"], [A, A, N, F, F]),
    rule(Do::Report, On::DiagnosticRequest, &["POST /diagnostics/{id}/result"], [F, A, N, F, F]),
    // Templates: the owning generator; system templates are read by every generator and
    // changed by the admin only.
    rule(Do::List, On::Template, &["GET /templates"], [A, F, F, A, A]),
    rule(Do::Create, On::Template, &["POST /templates"], [A, F, F, A, A]),
    rule(Do::Read, On::Template, &[
        "GET /templates/{id}", "GET /templates/{id}/labels", "GET /templates/{id}/annotations",
    ], [A, F, F, A, N]),
    rule(Do::Update, On::Template, &["PUT /templates/{id}"], [A, F, F, A, N]),
    rule(Do::Delete, On::Template, &["DELETE /templates/{id}"], [A, F, F, A, N]),
    rule(Do::Label, On::Template, &[
        "POST /templates/{id}/labels", "DELETE /templates/{id}/labels/{label}",
        "POST /templates/{id}/annotations", "DELETE /templates/{id}/annotations/{key}",
    ], [A, F, F, A, N]),
    rule(Do::Rollout, On::Template, &[
        "POST /templates/{id}/rollout", "GET /templates/{id}/rollouts/{rollout_id}",
    ], [A, F, F, A, N]),
    rule(Do::Read, On::SystemTemplate, &[], [A, F, F, A, A]),
    rule(Do::Update, On::SystemTemplate, &[], [A, F, F, F, F]),
    rule(Do::Delete, On::SystemTemplate, &[], [A, F, F, F, F]),
    rule(Do::Label, On::SystemTemplate, &[], [A, F, F, F, F]),
    rule(Do::Rollout, On::SystemTemplate, &[], [A, F, F, F, F]),
    // Work orders: the admin; agents claim and complete their own.
    rule(Do::List, On::WorkOrder, &["GET /work-orders"], [A, F, F, F, F]),
    rule(Do::Create, On::WorkOrder, &["POST /work-orders"], [A, F, F, F, F]),
    rule(Do::Read, On::WorkOrder, &["GET /work-orders/{id}"], [A, F, F, F, F]),
    rule(Do::Delete, On::WorkOrder, &["DELETE /work-orders/{id}"], [A, F, F, F, F]),
    rule(Do::Claim, On::WorkOrder, &["POST /work-orders/{id}/claim"], [A, A, F, F, F]),
    rule(Do::Complete, On::WorkOrder, &["POST /work-orders/{id}/complete"], [A, A, F, F, F]),
    rule(Do::List, On::WorkOrderLogEntry, &["GET /work-order-log"], [A, F, F, F, F]),
    rule(Do::Read, On::WorkOrderLogEntry, &["GET /work-order-log/{id}"], [A, F, F, F, F]),
    // Webhooks: the admin; an agent reports the deliveries it holds.
    rule(Do::List, On::WebhookSubscription, &[
        "GET /webhooks", "GET /webhooks/event-types",
    ], [A, F, F, F, F]),
    rule(Do::Create, On::WebhookSubscription, &["POST /webhooks"], [A, F, F, F, F]),
    rule(Do::Read, On::WebhookSubscription, &[
        "GET /webhooks/{id}", "GET /webhooks/{id}/deliveries",
    ], [A, F, F, F, F]),
    rule(Do::Update, On::WebhookSubscription, &["PUT /webhooks/{id}"], [A, F, F, F, F]),
    rule(Do::Delete, On::WebhookSubscription, &["DELETE /webhooks/{id}"], [A, F, F, F, F]),
    rule(Do::Deliver, On::WebhookSubscription, &[
        "POST /webhooks/{id}/ping", "POST /webhooks/{id}/test",
    ], [A, F, F, F, F]),
    rule(Do::Read, On::WebhookDelivery, &["GET /webhook-deliveries/{id}"], [A, F, F, F, F]),
    rule(Do::Deliver, On::WebhookDelivery, &["POST /webhook-deliveries/{id}/redeliver"], [A, F, F, F, F]),
    rule(Do::Report, On::WebhookDelivery, &["POST /webhook-deliveries/{id}/result"], [F, A, N, F, F]),
    // Administration.
    rule(Do::List, On::AuditLog, &["GET /admin/audit-logs"], [A, F, F, F, F]),
    rule(Do::Reload, On::Configuration, &["POST /admin/config/reload"], [A, F, F, F, F]),
];

/// The rule of `action` on `resource`. A pair without a rule is refused to everyone but the
/// admin (and fails the authorization test, which looks for a rule for every route).
pub fn rule_for(action: Action, resource: Resource) -> Rule {
    POLICY
        .iter()
        .find(|r| r.action == action && r.resource == resource)
        .copied()
        .unwrap_or(Rule {
            action,
            resource,
            routes: &[],
            admin: A,
            agent: [F, F],
            generator: [F, F],
        })
}

/// The decisions for `caller` under `rule`: `[own, other]` (the same twice for the admin).
fn decisions(rule: &Rule, caller: &Caller) -> [Decision; 2] {
    if caller.is_admin() {
        [rule.admin; 2]
    } else if caller.agent().is_some() {
        rule.agent
    } else {
        rule.generator
    }
}

/// Why a caller is refused with 403, naming who may do it.
fn forbidden(rule: &Rule) -> ApiError {
    let mut who = Vec::new();
    if rule.admin == A {
        who.push("the admin");
    }
    match rule.agent {
        [A, A] => who.push("any agent"),
        [A, _] => who.push("the agent itself"),
        _ => {}
    }
    match rule.generator {
        [A, A] => who.push("any generator"),
        [A, _] => who.push("the owning generator"),
        _ => {}
    }
    match who.as_slice() {
        ["the admin"] => ApiError::forbidden("Admin access required"),
        [] => ApiError::forbidden("Access denied"),
        _ => ApiError::forbidden(format!("Access denied: allowed for {}", who.join(" or "))),
    }
}

fn refusal(rule: &Rule, decision: Decision) -> ApiResult<()> {
    match decision {
        Allowed => Ok(()),
        Forbidden => Err(forbidden(rule)),
        NotFound => Err(rule.resource.not_found()),
    }
}

use Decision::{Allowed, Forbidden, NotFound};

/// The policy's answer for a caller, pending the caller's relation to the resource when the
/// answer depends on it.
#[must_use = "a pending answer must be settled with `given`"]
#[derive(Debug)]
pub struct Ask {
    rule: Rule,
    decisions: [Decision; 2],
}

/// Asks the policy whether `caller` may do `action` on `resource`. Refuses at once when the
/// answer does not depend on the caller's relation to the resource; otherwise the answer is
/// settled by [`Ask::given`] once the relation is known.
pub fn ask(caller: &Caller, action: Action, resource: Resource) -> ApiResult<Ask> {
    let rule = rule_for(action, resource);
    let decisions = decisions(&rule, caller);
    if decisions[0] == decisions[1] {
        refusal(&rule, decisions[0])?;
    }
    Ok(Ask { rule, decisions })
}

impl Ask {
    /// True when the answer depends on the caller's relation to the resource.
    pub fn needs_relation(&self) -> bool {
        self.decisions[0] != self.decisions[1]
    }

    /// Settles the answer: `own` says whether the resource is the caller's own.
    pub fn given(self, own: bool) -> ApiResult<()> {
        refusal(&self.rule, self.decisions[if own { 0 } else { 1 }])
    }

    /// The same action on another kind of resource, found once the record was read (a
    /// template that turned out to be a system template).
    pub fn on(self, resource: Resource, caller: &Caller) -> ApiResult<Ask> {
        ask(caller, self.rule.action, resource)
    }
}

/// Asks the policy when the caller's relation to the resource is known (`own`).
pub fn require(caller: &Caller, action: Action, resource: Resource, own: bool) -> ApiResult<()> {
    ask(caller, action, resource)?.given(own)
}

/// Asks the policy about agent `id` (the caller's own when it is that agent).
pub fn on_agent(caller: &Caller, action: Action, id: Uuid) -> ApiResult<()> {
    require(caller, action, Resource::Agent, caller.is_agent(id))
}

/// Asks the policy about generator `id` (the caller's own when it is that generator).
pub fn on_generator(caller: &Caller, action: Action, id: Uuid) -> ApiResult<()> {
    require(caller, action, Resource::Generator, caller.is_generator(id))
}

/// Asks the policy where the relation needs a lookup: `own` runs only when the answer depends
/// on it (never for the admin, never for a caller refused whatever the relation).
pub async fn require_with(
    caller: &Caller,
    action: Action,
    resource: Resource,
    own: impl Future<Output = ApiResult<bool>>,
) -> ApiResult<()> {
    let ask = ask(caller, action, resource)?;
    if ask.needs_relation() {
        let own = own.await?;
        ask.given(own)
    } else {
        ask.given(true)
    }
}

/// The rule of a route (`METHOD /path` as in the OpenAPI document), for the authorization test.
pub fn rule_of_route(route: &str) -> Option<&'static Rule> {
    POLICY.iter().find(|r| r.routes.contains(&route))
}
