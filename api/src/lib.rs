//! `brokkr-api`: the Brokkr broker (binary `brokkr-broker`).
//!
//! One module per API resource — [`agents`], [`agent_events`], [`generators`],
//! [`registrations`] (which generators an agent serves), [`stacks`],
//! [`deployment_objects`], [`target_state`], [`webhooks`], [`work_orders`], [`templates`],
//! [`diagnostics`], [`health`], [`config_reload`] — over the store of `brokkr-schema`;
//! [`metadata`] holds the handler steps of the labels and annotations of agents, stacks and
//! templates. [`cors`] applies the CORS settings in effect (they follow reloads).
//! Cross-cutting pieces: [`access`] (the one table of who may do what, asked once by every
//! handler), [`auth`] (PAKs and the auth cache), [`propagation`] (LISTEN/NOTIFY
//! counters that make ETags and long polls work across replicas), [`http`] (JSON errors, body
//! limit, request metrics), [`request_span`] (the span and log line of every request, continuing
//! the caller's `traceparent`), [`unstorable_input`] (the envelope's refusal of NUL characters in
//! any input, which PostgreSQL cannot store), [`metrics`] (with [`connections`], the count of open
//! client connections), [`probes`] (`/healthz`, `/readyz`, `/metrics`),
//! [`server`] (start-up and graceful shutdown), [`openapi`] (the
//! document clients are generated from), [`bootstrap`] (the admin PAK) and [`cli`].
//!
//! Every state change goes through [`state::Write`], which records it with
//! `brokkr_schema::store::changes::record` in the same transaction: audit entry, webhook event,
//! notifications.

pub mod access;
pub mod agent_events;
pub mod agents;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod cli;
pub mod config_reload;
pub mod connections;
pub mod cors;
pub mod deployment_objects;
pub mod diagnostics;
pub mod error;
pub mod generators;
pub mod health;
pub mod http;
pub mod metadata;
pub mod metrics;
pub mod openapi;
pub mod probes;
pub mod propagation;
pub mod registrations;
pub mod request_span;
pub mod server;
pub mod stacks;
pub mod state;
pub mod target_state;
pub mod templates;
pub mod unstorable_input;
pub mod webhook_deliveries;
pub mod webhooks;
pub mod work_orders;

use poem_openapi::Tags;

/// Groups of the OpenAPI document.
#[derive(Tags)]
pub enum ApiTags {
    /// Checking a PAK.
    Auth,
    /// Cluster agents, their labels, annotations, targets, events and target state.
    Agents,
    /// Events reported by agents.
    AgentEvents,
    /// Automation identities that own stacks.
    Generators,
    /// Stacks, their labels, annotations and deployment objects.
    Stacks,
    /// Deployment objects.
    DeploymentObjects,
    /// Administration: the audit log and configuration reload.
    Admin,
    /// On-demand diagnostics collected by agents.
    Diagnostics,
    /// Deployment health reported by agents.
    Health,
    /// Webhook subscriptions and their deliveries.
    Webhooks,
    /// One-off tasks for agents and the log of finished ones.
    WorkOrders,
    /// Stack templates, their labels, annotations and rollouts.
    Templates,
}
