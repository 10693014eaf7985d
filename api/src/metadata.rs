//! Labels and annotations of agents, stacks and template versions: the one set of handler steps
//! the three resources' endpoints call, over [`brokkr_schema::store::metadata`].
//!
//! An endpoint keeps its path, operation id, body and body checks; it hands the rest to these
//! functions, naming its resource (`store::metadata::Stacks`, ...), whose [`Gate`] says how a
//! caller is admitted to it (the access policy of [`crate::access`], asked once per request,
//! and the resource's lookup). Every add and remove is recorded through [`Write`] (audit entry,
//! event) in the transaction that makes it.

use std::future::Future;

pub use brokkr_schema::store::metadata::Kind;
use brokkr_schema::store::metadata::{self, Entry, Owner};
use brokkr_schema::validation;
use poem_openapi::payload::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::access::Action;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, NoContent};
use crate::state::{AppState, Write};

/// What a request does with a resource's labels or annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Lists them.
    List,
    /// Adds one.
    Add,
    /// Removes one.
    Remove,
}

impl Step {
    /// The action the access policy is asked about.
    pub fn action(self) -> Action {
        match self {
            Step::List => Action::Read,
            Step::Add | Step::Remove => Action::Label,
        }
    }
}

/// A resource whose labels and annotations the broker serves, with its admission rule.
pub trait Gate: Owner {
    /// Admits `caller` to `step` on resource `id` (on `conn`, the request's connection or
    /// transaction), or says why not. What depends on the caller alone the endpoint may have
    /// asked the policy before.
    fn admit(
        conn: &mut PgConnection,
        caller: &Caller,
        id: Uuid,
        step: Step,
    ) -> impl Future<Output = ApiResult<()>> + Send;
}

/// Opens the write of `step` on resource `id`, once the caller is admitted.
async fn open<'s, G: Gate>(
    state: &'s AppState,
    caller: &Caller,
    id: Uuid,
    step: Step,
) -> ApiResult<Write<'s>> {
    let mut write = state.write(caller.actor()).await?;
    G::admit(write.conn(), caller, id, step).await?;
    Ok(write)
}

/// The labels or annotations (`E` says which) of resource `id`.
pub async fn list<G: Gate, E: Entry<G>>(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<Json<Vec<E>>> {
    let mut conn = state.pool.acquire().await?;
    G::admit(&mut conn, caller, id, Step::List).await?;
    Ok(Json(metadata::list::<G, E>(&mut conn, id).await?))
}

/// Adds `label` (checked first) to resource `id`.
pub async fn add_label<G: Gate>(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    label: &str,
) -> ApiResult<Json<G::Label>> {
    validation::label(label)?;
    let mut write = open::<G>(state, caller, id, Step::Add).await?;
    let added = metadata::add_label::<G>(write.conn(), id, label).await?;
    write.record(metadata::label_added::<G>(id, label)).await?;
    write.commit().await?;
    Ok(Json(added))
}

/// Adds the annotation `key` = `value` (checked first) to resource `id`.
pub async fn add_annotation<G: Gate>(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    key: &str,
    value: &str,
) -> ApiResult<Json<G::Annotation>> {
    validation::annotation(key, value)?;
    let mut write = open::<G>(state, caller, id, Step::Add).await?;
    let added = metadata::add_annotation::<G>(write.conn(), id, key, value).await?;
    write
        .record(metadata::annotation_added::<G>(id, key, value))
        .await?;
    write.commit().await?;
    Ok(Json(added))
}

/// Removes the label or annotation (by key) `name` from resource `id`; 404 `Label not found`
/// or `Annotation not found` when it was not there.
pub async fn remove<G: Gate>(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    kind: Kind,
    name: &str,
) -> ApiResult<NoContent> {
    let mut write = open::<G>(state, caller, id, Step::Remove).await?;
    metadata::remove::<G>(write.conn(), kind, id, name)
        .await
        .map_err(|e| ApiError::from_store(e, kind.noun()))?;
    write.record(metadata::removed::<G>(kind, id, name)).await?;
    write.commit().await?;
    Ok(NoContent::Done)
}
