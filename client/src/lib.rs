//! `brokkr-client`: the typed async Rust client of the Brokkr broker API.
//!
//! Every endpoint is a method of [`Client`] taking and returning the wire types of
//! [`brokkr_schema::models`], so call sites hold no URL strings or hand-built JSON. Each request
//! carries the PAK as a `Bearer` token and has a timeout; failed calls are retried with
//! exponential backoff and jitter when that is safe ([`RetryPolicy`]); every failure is one
//! [`Error`], which keeps the broker's `{"error": ...}` message and HTTP status. An agent's
//! target state is read with ETags and long polling ([`Client::target_state`]).
//!
//! Modules, one per resource: `agents` (agents, their labels, annotations, targets, events and
//! registrations), `stacks` (stacks, labels, annotations, deployment objects, health, template
//! instantiation), `generators`, `templates`, `diagnostics`, `webhooks` (subscriptions and deliveries),
//! `work_orders`, `audit` (the audit log and the probes), `config_reload` (the broker's
//! configuration, reloaded on demand), [`target_state`]; `client` is the HTTP
//! core and [`retry`] decides when to try again. The `brokkr` command-line tool is built on this
//! crate (`src/bin/brokkr/`).
//!
//! ```no_run
//! use brokkr_client::Client;
//! use brokkr_schema::models::{NewDeploymentObject, NewStack};
//!
//! # async fn demo() -> Result<(), brokkr_client::Error> {
//! let client = Client::new("http://localhost:3000", "brokkr_BR...")?;
//! let stack = client
//!     .create_stack(&NewStack { name: "web".into(), description: None, generator_id: None })
//!     .await?;
//! let object = client
//!     .create_deployment_object(
//!         stack.id,
//!         &NewDeploymentObject {
//!             yaml_content: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n".into(),
//!             is_deletion_marker: false,
//!         },
//!     )
//!     .await?;
//! println!("stack {} is at version {}", stack.name, object.sequence_id);
//! match client.get_stack(uuid::Uuid::nil()).await {
//!     Err(e) if e.is_not_found() => println!("no such stack: {e}"),
//!     other => println!("{other:?}"),
//! }
//! # Ok(())
//! # }
//! ```

mod agents;
mod audit;
mod client;
mod config_reload;
mod diagnostics;
mod error;
mod generators;
pub mod retry;
mod stacks;
pub mod target_state;
mod templates;
mod webhooks;
mod work_orders;

pub use audit::AuditQuery;
/// The wire types, re-exported so users need not depend on `brokkr-schema` themselves.
pub use brokkr_schema::models;
pub use client::{Client, ClientBuilder, error_chain};
pub use error::{Error, Result};
pub use retry::RetryPolicy;
pub use target_state::TargetState;
