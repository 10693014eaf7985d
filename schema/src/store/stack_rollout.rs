//! Where a stack's newest deployment object stands on each agent that runs the stack: the
//! agents associated with the stack ([`associated_stack_ids!`], tenancy rule included), each
//! with its newest event about the object and the health it last reported for it.

use sqlx::PgConnection;

use super::StoreResult;
use crate::models::{AgentRolloutStatus, DeploymentObject};

/// Every live, active agent running `object`'s stack, by name and cluster, with its state.
pub async fn agents(
    conn: &mut PgConnection,
    object: &DeploymentObject,
) -> StoreResult<Vec<AgentRolloutStatus>> {
    Ok(sql!(query_as!(
        AgentRolloutStatus,
        [
            r#"SELECT ag.id AS agent_id, ag.name AS agent_name, ag.cluster_name,
                      CASE WHEN ev.status IS NULL THEN 'pending'
                           WHEN ev.status = 'SUCCESS' THEN 'applied'
                           ELSE 'failed' END AS "state!: _",
                      ev.message AS "message?", ev.created_at AS "reported_at?",
                      h.status AS "health?: _"
                 FROM agents ag
                 LEFT JOIN LATERAL (
                      SELECT e.status, e.message, e.created_at FROM agent_events e
                       WHERE e.agent_id = ag.id AND e.deployment_object_id = $2
                         AND e.deleted_at IS NULL
                       ORDER BY e.created_at DESC, e.id DESC LIMIT 1) ev ON true
                 LEFT JOIN deployment_health h
                        ON h.agent_id = ag.id AND h.deployment_object_id = $2
                WHERE ag.deleted_at IS NULL AND ag.status = 'ACTIVE'
                  AND $1 IN ("#,
            associated_stack_ids!("ag.id"),
            ")
                ORDER BY ag.name, ag.cluster_name"
        ],
        object.stack_id,
        object.id
    ))
    .fetch_all(conn)
    .await?)
}
