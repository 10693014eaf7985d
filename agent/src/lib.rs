//! The Brokkr agent: runs in each cluster, pulls its target state from the broker and applies
//! it with kube-rs. All connections are outbound (broker over HTTP, the cluster's API server).
//!
//! How the modules fit together:
//!
//! * [`start`]: start-up checks, the tasks, shutdown on SIGTERM/SIGINT;
//! * [`context`]: [`context::AgentContext`], the state every task shares;
//! * [`broker`]: the broker API client; [`kube_client`] + [`kube_retry`]: the Kubernetes client
//!   and its bounded retries;
//! * [`heartbeat`]: heartbeats and the agent record (ACTIVE or not);
//! * [`reconcile`]: long-polls the target state and drives [`apply`] (server-side apply, prune,
//!   deletion markers), reporting a SUCCESS/FAILURE event per deployment object; [`manifest`]
//!   parses, stamps and orders documents; [`labels`] names what is stamped; [`scope`] keeps
//!   every object and list within `agent.namespaces` (namespaced mode);
//! * [`applied`]: the registry of applied deployment objects, read by the feature tasks;
//! * feature tasks, each `run(ctx)` until shutdown: [`deployment_health`], [`diagnostics`],
//!   [`work_orders`], [`webhooks`];
//! * [`health_server`]: `/healthz`, `/readyz`, `/health`, `/metrics`; [`metrics`]: the
//!   Prometheus metrics (logging and signals come from `brokkr-runtime`).

pub mod applied;
pub mod apply;
pub mod broker;
pub mod context;
pub mod deployment_health;
pub mod diagnostics;
pub mod health_server;
pub mod heartbeat;
pub mod kube_client;
pub mod kube_retry;
pub mod labels;
pub mod manifest;
pub mod metrics;
pub mod reconcile;
pub mod scope;
pub mod start;
pub mod webhooks;
pub mod work_orders;
