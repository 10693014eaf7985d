//! What agents report about the deployment objects they apply.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{StoreError, StoreResult};
use crate::models::{AgentEvent, AgentEventStatus};

/// The columns of [`AgentEvent`], a fragment of [`sql!`].
macro_rules! event_columns {
    (@sql $k:tt) => {
        sql!(@resume $k [
            r#"id, created_at, updated_at, deleted_at, agent_id, deployment_object_id, event_type,
               status AS "status: _", message"#
        ])
    };
}

/// Stores an event.
pub async fn create(
    conn: &mut PgConnection,
    agent_id: Uuid,
    deployment_object_id: Uuid,
    event_type: &str,
    status: AgentEventStatus,
    message: Option<&str>,
) -> StoreResult<AgentEvent> {
    sql!(query_as!(
        AgentEvent,
        [
            "INSERT INTO agent_events (agent_id, deployment_object_id, event_type, status, message)
             VALUES ($1, $2, $3, $4, $5) RETURNING ",
            event_columns!()
        ],
        agent_id,
        deployment_object_id,
        event_type,
        status as _,
        message
    ))
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::classify(e, "event already exists"))
}

/// Live events, newest first: all of them, or one agent's.
pub async fn list(conn: &mut PgConnection, agent_id: Option<Uuid>) -> StoreResult<Vec<AgentEvent>> {
    Ok(sql!(query_as!(
        AgentEvent,
        [
            "SELECT ",
            event_columns!(),
            " FROM agent_events
              WHERE deleted_at IS NULL AND ($1::uuid IS NULL OR agent_id = $1)
              ORDER BY created_at DESC, id"
        ],
        agent_id
    ))
    .fetch_all(conn)
    .await?)
}

/// A live event.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> StoreResult<AgentEvent> {
    sql!(query_as!(
        AgentEvent,
        [
            "SELECT ",
            event_columns!(),
            " FROM agent_events WHERE id = $1 AND deleted_at IS NULL"
        ],
        id
    ))
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}
