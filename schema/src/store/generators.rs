//! Generators: automation identities that own stacks and templates.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{StoreError, StoreResult};
use crate::models::Generator;

/// The built-in generator that owns admin-created stacks: the system generator `__system__`
/// (nil id, no PAK), with which every agent is registered.
pub const ADMIN_GENERATOR_ID: Uuid = super::registrations::SYSTEM_GENERATOR_ID;

/// All live generators, by name (the system generator is built in and not listed).
pub async fn list(pool: &PgPool) -> StoreResult<Vec<Generator>> {
    Ok(sqlx::query_as!(
        Generator,
        "SELECT id, created_at, updated_at, deleted_at, name, description, last_active_at, is_active
           FROM generators WHERE deleted_at IS NULL AND id <> $1
          ORDER BY name",
        ADMIN_GENERATOR_ID
    )
    .fetch_all(pool)
    .await?)
}

/// Creates a generator with the hash of its first PAK.
pub async fn create(
    conn: &mut PgConnection,
    name: &str,
    description: Option<&str>,
    pak_hash: &str,
) -> StoreResult<Generator> {
    sqlx::query_as!(
        Generator,
        "INSERT INTO generators (name, description, pak_hash) VALUES ($1, $2, $3)
         RETURNING id, created_at, updated_at, deleted_at, name, description, last_active_at,
                   is_active",
        name,
        description,
        pak_hash
    )
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::classify(e, "a generator with this name already exists"))
}

/// A live generator.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> StoreResult<Generator> {
    sqlx::query_as!(
        Generator,
        "SELECT id, created_at, updated_at, deleted_at, name, description, last_active_at, is_active
           FROM generators WHERE id = $1 AND deleted_at IS NULL",
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Changes the given fields of a live generator.
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    name: Option<&str>,
    description: Option<&str>,
    is_active: Option<bool>,
) -> StoreResult<Generator> {
    sqlx::query_as!(
        Generator,
        "UPDATE generators SET name = COALESCE($2, name), description = COALESCE($3, description),
                is_active = COALESCE($4, is_active)
          WHERE id = $1 AND deleted_at IS NULL
         RETURNING id, created_at, updated_at, deleted_at, name, description, last_active_at,
                   is_active",
        id,
        name,
        description,
        is_active
    )
    .fetch_optional(conn)
    .await
    .map_err(|e| StoreError::classify(e, "a generator with this name already exists"))?
    .ok_or(StoreError::NotFound)
}

/// Soft-deletes a live generator (its stacks are deleted by the caller, in the same transaction).
pub async fn soft_delete(conn: &mut PgConnection, id: Uuid) -> StoreResult<Generator> {
    sqlx::query_as!(
        Generator,
        "UPDATE generators SET deleted_at = now(), pak_hash = NULL
          WHERE id = $1 AND deleted_at IS NULL
         RETURNING id, created_at, updated_at, deleted_at, name, description, last_active_at,
                   is_active",
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Replaces the PAK hash of a live generator.
pub async fn set_pak_hash(conn: &mut PgConnection, id: Uuid, hash: &str) -> StoreResult<Generator> {
    sqlx::query_as!(
        Generator,
        "UPDATE generators SET pak_hash = $2 WHERE id = $1 AND deleted_at IS NULL
         RETURNING id, created_at, updated_at, deleted_at, name, description, last_active_at,
                   is_active",
        id,
        hash
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}
