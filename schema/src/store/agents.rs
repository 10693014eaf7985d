//! Agents and what hangs off them: targets (labels and annotations live in [`super::metadata`]).

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{StoreError, StoreResult};
use crate::models::{Agent, AgentStatus, AgentTarget, Stack};

/// The columns of [`Agent`], a fragment of [`sql!`].
macro_rules! agent_columns {
    (@sql $k:tt) => {
        sql!(@resume $k [
            r#"id, created_at, updated_at, deleted_at, name, cluster_name, last_heartbeat,
               status AS "status: _""#
        ])
    };
}

/// All live agents, by name.
pub async fn list(pool: &PgPool) -> StoreResult<Vec<Agent>> {
    Ok(sql!(query_as!(
        Agent,
        [
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE deleted_at IS NULL ORDER BY name, cluster_name"
        ]
    ))
    .fetch_all(pool)
    .await?)
}

/// Creates an agent, `INACTIVE`, with the hash of its first PAK.
pub async fn create(
    conn: &mut PgConnection,
    name: &str,
    cluster_name: &str,
    pak_hash: &str,
) -> StoreResult<Agent> {
    sql!(query_as!(
        Agent,
        [
            "INSERT INTO agents (name, cluster_name, pak_hash, status) VALUES ($1, $2, $3, $4)
             RETURNING ",
            agent_columns!()
        ],
        name,
        cluster_name,
        pak_hash,
        AgentStatus::Inactive as _
    ))
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::classify(e, "an agent with this name already exists in this cluster"))
}

/// A live agent.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> StoreResult<Agent> {
    sql!(query_as!(
        Agent,
        [
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE id = $1 AND deleted_at IS NULL"
        ],
        id
    ))
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// A live agent by name and cluster.
pub async fn find(conn: &mut PgConnection, name: &str, cluster_name: &str) -> StoreResult<Agent> {
    sql!(query_as!(
        Agent,
        [
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE name = $1 AND cluster_name = $2 AND deleted_at IS NULL"
        ],
        name,
        cluster_name
    ))
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Changes the given fields of a live agent.
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    name: Option<&str>,
    cluster_name: Option<&str>,
    status: Option<AgentStatus>,
) -> StoreResult<Agent> {
    sql!(query_as!(
        Agent,
        [
            "UPDATE agents SET name = COALESCE($2, name), cluster_name = COALESCE($3, cluster_name),
                    status = COALESCE($4, status)
              WHERE id = $1 AND deleted_at IS NULL RETURNING ",
            agent_columns!()
        ],
        id,
        name,
        cluster_name,
        status as _
    ))
    .fetch_optional(conn)
    .await
    .map_err(|e| StoreError::classify(e, "an agent with this name already exists in this cluster"))?
    .ok_or(StoreError::NotFound)
}

/// Soft-deletes a live agent and its events; its PAK stops working.
pub async fn soft_delete(conn: &mut PgConnection, id: Uuid) -> StoreResult<Agent> {
    let agent = sql!(query_as!(
        Agent,
        [
            "UPDATE agents SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING ",
            agent_columns!()
        ],
        id
    ))
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    sqlx::query!(
        "UPDATE agent_events SET deleted_at = now() WHERE agent_id = $1 AND deleted_at IS NULL",
        id
    )
    .execute(conn)
    .await?;
    Ok(agent)
}

/// Replaces the PAK hash of a live agent.
pub async fn set_pak_hash(conn: &mut PgConnection, id: Uuid, hash: &str) -> StoreResult<Agent> {
    sql!(query_as!(
        Agent,
        [
            "UPDATE agents SET pak_hash = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING ",
            agent_columns!()
        ],
        id,
        hash
    ))
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Records a heartbeat; returns the agent.
pub async fn heartbeat(conn: &mut PgConnection, id: Uuid) -> StoreResult<Agent> {
    sql!(query_as!(
        Agent,
        [
            "UPDATE agents SET last_heartbeat = now() WHERE id = $1 AND deleted_at IS NULL
             RETURNING ",
            agent_columns!()
        ],
        id
    ))
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Live agents with status ACTIVE, for the metrics gauge.
pub async fn active_count(pool: &PgPool) -> StoreResult<i64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM agents WHERE deleted_at IS NULL AND status = 'ACTIVE'"#
    )
    .fetch_one(pool)
    .await?)
}

/// Live agents' heartbeat ages in seconds, for the metrics gauge.
pub async fn heartbeat_ages(pool: &PgPool) -> StoreResult<Vec<(Uuid, String, f64)>> {
    Ok(sqlx::query!(
        r#"SELECT id, name, EXTRACT(EPOCH FROM (now() - last_heartbeat))::float8 AS "age!"
             FROM agents WHERE deleted_at IS NULL AND last_heartbeat IS NOT NULL"#
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| (row.id, row.name, row.age))
    .collect())
}

/// An agent's explicit targets.
pub async fn targets(conn: &mut PgConnection, agent_id: Uuid) -> StoreResult<Vec<AgentTarget>> {
    Ok(sqlx::query_as!(
        AgentTarget,
        "SELECT id, agent_id, stack_id FROM agent_targets WHERE agent_id = $1 ORDER BY created_at",
        agent_id
    )
    .fetch_all(conn)
    .await?)
}

/// Targets an agent at a live stack.
pub async fn add_target(
    conn: &mut PgConnection,
    agent_id: Uuid,
    stack_id: Uuid,
) -> StoreResult<AgentTarget> {
    sqlx::query_as!(
        AgentTarget,
        "INSERT INTO agent_targets (agent_id, stack_id) VALUES ($1, $2)
         RETURNING id, agent_id, stack_id",
        agent_id,
        stack_id
    )
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::classify(e, "the agent already targets this stack"))
}

/// Removes a target; `NotFound` when it was not there.
pub async fn remove_target(
    conn: &mut PgConnection,
    agent_id: Uuid,
    stack_id: Uuid,
) -> StoreResult<()> {
    let done = sqlx::query!(
        "DELETE FROM agent_targets WHERE agent_id = $1 AND stack_id = $2",
        agent_id,
        stack_id
    )
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The live stacks an agent manages (targets, labels, annotations), by name.
pub async fn associated_stacks(conn: &mut PgConnection, agent_id: Uuid) -> StoreResult<Vec<Stack>> {
    Ok(sql!(query_as!(
        Stack,
        [
            "SELECT s.id, s.created_at, s.updated_at, s.deleted_at, s.name, s.description,
                    s.generator_id
               FROM stacks s WHERE s.deleted_at IS NULL AND s.id IN (",
            associated_stack_ids!("$1"),
            ") ORDER BY s.name"
        ],
        agent_id
    ))
    .fetch_all(conn)
    .await?)
}

/// Is the stack associated with the agent (targets, labels or annotations)?
pub async fn is_associated(
    conn: &mut PgConnection,
    agent_id: Uuid,
    stack_id: Uuid,
) -> StoreResult<bool> {
    Ok(sql!(query_scalar!(
        [
            "SELECT EXISTS (SELECT 1 FROM (",
            associated_stack_ids!("$1"),
            r#") a WHERE a.stack_id = $2) AS "associated!""#
        ],
        agent_id,
        stack_id
    ))
    .fetch_one(conn)
    .await?)
}
