//! Stacks and stack deletion (with its deletion marker); their labels and annotations live in
//! [`super::metadata`].

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{StoreError, StoreResult, deployment_objects};
use crate::models::{DeploymentObject, Stack};

/// Live stacks by name, all of them or one generator's.
pub async fn list(pool: &PgPool, generator_id: Option<Uuid>) -> StoreResult<Vec<Stack>> {
    Ok(sqlx::query_as!(
        Stack,
        "SELECT id, created_at, updated_at, deleted_at, name, description, generator_id
           FROM stacks
          WHERE deleted_at IS NULL AND ($1::uuid IS NULL OR generator_id = $1) ORDER BY name",
        generator_id
    )
    .fetch_all(pool)
    .await?)
}

/// Number of live stacks, for the metrics gauge.
pub async fn count(pool: &PgPool) -> StoreResult<i64> {
    Ok(
        sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM stacks WHERE deleted_at IS NULL"#)
            .fetch_one(pool)
            .await?,
    )
}

/// Creates a stack owned by a live generator.
pub async fn create(
    conn: &mut PgConnection,
    name: &str,
    description: Option<&str>,
    generator_id: Uuid,
) -> StoreResult<Stack> {
    sqlx::query_as!(
        Stack,
        "INSERT INTO stacks (name, description, generator_id)
         SELECT $1, $2, g.id FROM generators g WHERE g.id = $3 AND g.deleted_at IS NULL
         RETURNING id, created_at, updated_at, deleted_at, name, description, generator_id",
        name,
        description,
        generator_id
    )
    .fetch_optional(conn)
    .await
    .map_err(|e| StoreError::classify(e, "a stack with this name already exists"))?
    .ok_or_else(|| StoreError::MissingReference("generator not found".into()))
}

/// A live stack.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> StoreResult<Stack> {
    sqlx::query_as!(
        Stack,
        "SELECT id, created_at, updated_at, deleted_at, name, description, generator_id
           FROM stacks WHERE id = $1 AND deleted_at IS NULL",
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Changes the given fields of a live stack (a new owner must be a live generator).
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    name: Option<&str>,
    description: Option<&str>,
    generator_id: Option<Uuid>,
) -> StoreResult<Stack> {
    if let Some(owner) = generator_id {
        let live = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM generators WHERE id = $1 AND deleted_at IS NULL)
                   AS "live!""#,
            owner
        )
        .fetch_one(&mut *conn)
        .await?;
        if !live {
            return Err(StoreError::MissingReference("generator not found".into()));
        }
    }
    sqlx::query_as!(
        Stack,
        "UPDATE stacks SET name = COALESCE($2, name), description = COALESCE($3, description),
                generator_id = COALESCE($4, generator_id)
          WHERE id = $1 AND deleted_at IS NULL
         RETURNING id, created_at, updated_at, deleted_at, name, description, generator_id",
        id,
        name,
        description,
        generator_id
    )
    .fetch_optional(conn)
    .await
    .map_err(|e| StoreError::classify(e, "a stack with this name already exists"))?
    .ok_or(StoreError::NotFound)
}

/// Deletes a live stack: stores a deletion marker (so agents remove what they applied),
/// soft-deletes the earlier deployment objects and then the stack. Returns the stack and marker.
pub async fn soft_delete(
    conn: &mut PgConnection,
    id: Uuid,
) -> StoreResult<(Stack, DeploymentObject)> {
    // Lock the row so a concurrent delete or deployment cannot interleave.
    let stack = sqlx::query_as!(
        Stack,
        "SELECT id, created_at, updated_at, deleted_at, name, description, generator_id
           FROM stacks WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let marker = deployment_objects::insert(&mut *conn, id, "", true).await?;
    sqlx::query!(
        "UPDATE deployment_objects SET deleted_at = now()
          WHERE stack_id = $1 AND deleted_at IS NULL AND id <> $2",
        id,
        marker.id
    )
    .execute(&mut *conn)
    .await?;
    let stack = sqlx::query_as!(
        Stack,
        "UPDATE stacks SET deleted_at = now() WHERE id = $1
         RETURNING id, created_at, updated_at, deleted_at, name, description, generator_id",
        stack.id
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((stack, marker))
}

/// Ids of a generator's live stacks.
pub async fn ids_owned_by(conn: &mut PgConnection, generator_id: Uuid) -> StoreResult<Vec<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM stacks WHERE generator_id = $1 AND deleted_at IS NULL ORDER BY created_at",
        generator_id
    )
    .fetch_all(conn)
    .await?)
}

/// The owner of a stack, deleted or not (deployment objects outlive their stack's deletion).
pub async fn owner_of(conn: &mut PgConnection, stack_id: Uuid) -> StoreResult<Uuid> {
    sqlx::query_scalar!("SELECT generator_id FROM stacks WHERE id = $1", stack_id)
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)
}
