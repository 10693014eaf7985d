//! `brokkr-schema`: the vocabulary every Brokkr process shares.
//!
//! - [`models`]: the records of the API (agents, generators, stacks, deployment objects, events,
//!   audit entries) as they travel on the wire, with their OpenAPI schemas; [`states`]: every
//!   status and kind among them as an enum, mapped to the wire and the database in one place.
//! - [`validation`]: the rules for names, labels and annotations; [`manifest`]: the check that a
//!   deployment object's YAML is a list of Kubernetes objects; [`storable`]: finding the NUL
//!   characters PostgreSQL cannot store, with the path of the field that holds one.
//! - [`pak`]: the Prefixed API Key format, generation and hashing.
//! - [`events`]: the event types and the envelope announced to webhook receivers.
//! - [`crypto`]: AES-256-GCM encryption of webhook secrets at rest, with key rotation;
//!   [`destinations`]: which webhook URLs and addresses may be delivered to.
//! - [`trace_context`]: the W3C `traceparent` that carries a trace between processes.
//! - [`config`]: layered configuration (defaults, TOML file, `BROKKR__SECTION__KEY`);
//!   [`live`]: reloading its dynamic keys while a process runs.
//! - `templating` (feature `templating`, part of `db`): rendering stack templates (Tera) with parameters checked
//!   against their JSON Schema, and matching templates to stacks.
//! - `store` (feature `db`): the PostgreSQL queries, one module per resource, used by the broker
//!   and the worker. The agent uses this crate without it.
//!
//! ```
//! use brokkr_schema::pak::{Pak, PakSettings};
//! let pak = Pak::generate(&PakSettings::default());
//! assert!(Pak::parse(pak.as_str()).is_ok());
//! ```

pub mod config;
pub mod crypto;
pub mod destinations;
pub mod events;
pub mod jobs;
pub mod live;
pub mod manifest;
pub mod models;
pub mod pak;
pub mod states;
pub mod storable;
pub mod trace_context;
pub mod validation;

/// An error and its causes on one line (`a: b: c`), skipping causes whose text is empty or
/// already part of the line: wrappers such as reqwest, sqlx and tera often keep the useful part
/// in a cause.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !more.is_empty() && !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

#[cfg(feature = "db")]
pub mod store;
#[cfg(feature = "templating")]
pub mod templating;
