//! Deployment objects: immutable versions of a stack's desired state.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{StoreError, StoreResult};
use crate::models::{DeploymentObject, yaml_checksum};

/// Stores a new deployment object with the next sequence id, and the `traceparent` of the span
/// running now (the creating request's) when it is traced.
pub async fn insert(
    conn: &mut PgConnection,
    stack_id: Uuid,
    yaml: &str,
    is_deletion_marker: bool,
) -> StoreResult<DeploymentObject> {
    sqlx::query_as!(
        DeploymentObject,
        "INSERT INTO deployment_objects
                (stack_id, yaml_content, yaml_checksum, is_deletion_marker, traceparent)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, created_at, updated_at, deleted_at, sequence_id, stack_id, yaml_content,
                   yaml_checksum, submitted_at, is_deletion_marker, traceparent",
        stack_id,
        yaml,
        yaml_checksum(yaml),
        is_deletion_marker,
        crate::trace_context::current(),
    )
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::classify(e, "deployment object already exists"))
}

/// A live deployment object.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> StoreResult<DeploymentObject> {
    sqlx::query_as!(
        DeploymentObject,
        "SELECT id, created_at, updated_at, deleted_at, sequence_id, stack_id, yaml_content,
                yaml_checksum, submitted_at, is_deletion_marker, traceparent
           FROM deployment_objects WHERE id = $1 AND deleted_at IS NULL",
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// A stack's live deployment objects, newest first.
pub async fn list_for_stack(
    conn: &mut PgConnection,
    stack_id: Uuid,
) -> StoreResult<Vec<DeploymentObject>> {
    Ok(sqlx::query_as!(
        DeploymentObject,
        "SELECT id, created_at, updated_at, deleted_at, sequence_id, stack_id, yaml_content,
                yaml_checksum, submitted_at, is_deletion_marker, traceparent
           FROM deployment_objects
          WHERE stack_id = $1 AND deleted_at IS NULL ORDER BY sequence_id DESC",
        stack_id
    )
    .fetch_all(conn)
    .await?)
}

/// A stack's newest live deployment object, if it has one.
pub async fn newest_for_stack(
    conn: &mut PgConnection,
    stack_id: Uuid,
) -> StoreResult<Option<DeploymentObject>> {
    Ok(sqlx::query_as!(
        DeploymentObject,
        "SELECT id, created_at, updated_at, deleted_at, sequence_id, stack_id, yaml_content,
                yaml_checksum, submitted_at, is_deletion_marker, traceparent
           FROM deployment_objects
          WHERE stack_id = $1 AND deleted_at IS NULL ORDER BY sequence_id DESC LIMIT 1",
        stack_id
    )
    .fetch_optional(conn)
    .await?)
}

/// Number of live deployment objects, for the metrics gauge.
pub async fn count(pool: &PgPool) -> StoreResult<i64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM deployment_objects WHERE deleted_at IS NULL"#
    )
    .fetch_one(pool)
    .await?)
}
