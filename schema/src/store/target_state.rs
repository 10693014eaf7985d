//! The target state of an agent, in one indexed query.
//!
//! For every stack associated with the agent (targets, labels, annotations), the newest live
//! deployment object, newest first. Deleted stacks still contribute their deletion marker so
//! agents clean up. In incremental mode, objects the agent already reported on are left out.

use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreResult;
use crate::models::DeploymentObject;

/// The target-state query, a fragment of [`sql!`]: `$1` the agent, `$2` true for `mode=full`.
macro_rules! target_state {
    (@sql $k:tt) => {
        sql!(@resume $k [
            "SELECT d.id, d.created_at, d.updated_at, d.deleted_at, d.sequence_id, d.stack_id,
                    d.yaml_content, d.yaml_checksum, d.submitted_at, d.is_deletion_marker,
                    d.traceparent
               FROM (",
            associated_stack_ids!("$1"),
            ") a
               JOIN stacks s ON s.id = a.stack_id
               CROSS JOIN LATERAL (
                    SELECT * FROM deployment_objects o
                     WHERE o.stack_id = a.stack_id AND o.deleted_at IS NULL
                     ORDER BY o.sequence_id DESC LIMIT 1) d
              WHERE (s.deleted_at IS NULL OR d.is_deletion_marker)
                AND ($2 OR NOT EXISTS (
                    SELECT 1 FROM agent_events e
                     WHERE e.agent_id = $1 AND e.deployment_object_id = d.id
                       AND e.deleted_at IS NULL))
              ORDER BY d.sequence_id DESC"
        ])
    };
}

/// The target-state query's text (for `EXPLAIN`): `$1` the agent, `$2` true for `mode=full`.
pub const QUERY: &str = sql!(concat!(target_state!()));

/// The agent's target state; `include_deployed` is `mode=full`.
pub async fn fetch(
    conn: &mut PgConnection,
    agent_id: Uuid,
    include_deployed: bool,
) -> StoreResult<Vec<DeploymentObject>> {
    Ok(sql!(query_as!(
        DeploymentObject,
        [target_state!()],
        agent_id,
        include_deployed
    ))
    .fetch_all(conn)
    .await?)
}
