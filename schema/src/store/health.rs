//! Deployment health: one record per (agent, deployment object), replaced by each report. The
//! overall status of an object is the worst any agent reports: failing > degraded > healthy >
//! unknown.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreResult;
use crate::models::{DeploymentHealth, DeploymentObjectHealthSummary, HealthStatus};

/// The worst status among the records of object `d.id` (the ranking of
/// [`HealthStatus::severity`]), as column `overall`: a fragment of [`sql!`].
macro_rules! overall {
    (@sql $k:tt) => {
        sql!(@resume $k [
            "COALESCE((
                SELECT status FROM deployment_health h WHERE h.deployment_object_id = d.id
                 ORDER BY ", severity!("h.status"), " DESC
                 LIMIT 1), 'unknown') AS \"overall!: HealthStatus\""
        ])
    };
}

/// The severity of the health status `$status` (an SQL expression), a fragment of [`sql!`]:
/// [`HealthStatus::severity`] in SQL (failing 3, degraded 2, healthy 1, unknown 0).
macro_rules! severity {
    (@sql $k:tt $status:literal) => {
        sql!(@resume $k [
            "CASE ", $status, " WHEN 'failing' THEN 3 WHEN 'degraded' THEN 2
                               WHEN 'healthy' THEN 1 ELSE 0 END"
        ])
    };
}

/// One validated entry of a report.
#[derive(Debug, Clone)]
pub struct Report {
    pub deployment_object_id: Uuid,
    pub status: HealthStatus,
    pub summary: Option<String>,
    pub checked_at: DateTime<Utc>,
}

/// An object whose overall status a report changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverallChange {
    pub deployment_object_id: Uuid,
    pub stack_id: Uuid,
    pub previous: HealthStatus,
    pub current: HealthStatus,
}

/// The ids among `ids` that are not live deployment objects of stacks associated with the agent.
pub async fn outside_target_state(
    conn: &mut PgConnection,
    agent_id: Uuid,
    ids: &[Uuid],
) -> StoreResult<Vec<Uuid>> {
    Ok(sql!(query_scalar!(
        [
            r#"SELECT i.id AS "id!" FROM unnest($2::uuid[]) AS i(id)
                WHERE NOT EXISTS (
                      SELECT 1 FROM deployment_objects d
                       WHERE d.id = i.id AND d.deleted_at IS NULL
                         AND d.stack_id IN ("#,
            associated_stack_ids!("$1"),
            "))
                ORDER BY i.id"
        ],
        agent_id,
        ids
    ))
    .fetch_all(conn)
    .await?)
}

/// What a report changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Objects whose status as reported by this agent changed: (id, previous, current);
    /// `previous` is `None` for a first report.
    pub agent_changes: Vec<(Uuid, Option<HealthStatus>, HealthStatus)>,
    /// Objects whose overall status changed.
    pub overall_changes: Vec<OverallChange>,
}

/// Stores an agent's report (one row per object, replacing the previous one unless the stored
/// check is newer) and says what changed. Concurrent reports for the same object are serialised
/// on the object's row, so each overall change is seen exactly once.
pub async fn record(
    conn: &mut PgConnection,
    agent_id: Uuid,
    reports: &[Report],
) -> StoreResult<Recorded> {
    let mut ids: Vec<Uuid> = reports.iter().map(|r| r.deployment_object_id).collect();
    ids.sort();
    ids.dedup();
    // Lock the objects in id order (no deadlocks between agents reporting overlapping sets);
    // NO KEY UPDATE leaves foreign-key checks of other writers unblocked.
    let before = sql!(query!(
        [
            "SELECT d.id, d.stack_id, ",
            overall!(),
            " FROM deployment_objects d WHERE d.id = ANY($1) ORDER BY d.id FOR NO KEY UPDATE"
        ],
        &ids
    ))
    .fetch_all(&mut *conn)
    .await?;
    let previous: std::collections::HashMap<Uuid, HealthStatus> = sqlx::query!(
        r#"SELECT deployment_object_id, status AS "status: HealthStatus" FROM deployment_health
            WHERE agent_id = $1 AND deployment_object_id = ANY($2)"#,
        agent_id,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|row| (row.deployment_object_id, row.status))
    .collect();
    let mut agent_changes = Vec::new();
    for report in reports {
        let written = sqlx::query_scalar!(
            "INSERT INTO deployment_health (agent_id, deployment_object_id, status, summary, checked_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (agent_id, deployment_object_id) DO UPDATE
                SET status = EXCLUDED.status, summary = EXCLUDED.summary,
                    checked_at = EXCLUDED.checked_at
              WHERE deployment_health.checked_at <= EXCLUDED.checked_at
             RETURNING id",
            agent_id,
            report.deployment_object_id,
            report.status as _,
            report.summary.as_deref(),
            report.checked_at
        )
        .fetch_optional(&mut *conn)
        .await?;
        let before = previous.get(&report.deployment_object_id);
        if written.is_some()
            && before != Some(&report.status)
            && !agent_changes
                .iter()
                .any(|(id, _, _)| *id == report.deployment_object_id)
        {
            agent_changes.push((report.deployment_object_id, before.copied(), report.status));
        }
    }
    let after = sql!(query!(
        [
            "SELECT d.id, ",
            overall!(),
            " FROM deployment_objects d WHERE d.id = ANY($1) ORDER BY d.id"
        ],
        &ids
    ))
    .fetch_all(&mut *conn)
    .await?;
    let overall_changes = before
        .into_iter()
        .zip(after)
        .filter(|(old, new)| old.overall != new.overall)
        .map(|(old, new)| OverallChange {
            deployment_object_id: old.id,
            stack_id: old.stack_id,
            previous: old.overall,
            current: new.overall,
        })
        .collect();
    Ok(Recorded {
        agent_changes,
        overall_changes,
    })
}

/// Every agent's record for an object, by agent id.
pub async fn for_object(
    conn: &mut PgConnection,
    deployment_object_id: Uuid,
) -> StoreResult<Vec<DeploymentHealth>> {
    Ok(sqlx::query_as!(
        DeploymentHealth,
        r#"SELECT id, agent_id, deployment_object_id, status AS "status: _", summary, checked_at,
                  created_at, updated_at
             FROM deployment_health WHERE deployment_object_id = $1 ORDER BY agent_id"#,
        deployment_object_id
    )
    .fetch_all(conn)
    .await?)
}

/// Per-object summaries of a stack's health records, newest object first.
pub async fn for_stack(
    conn: &mut PgConnection,
    stack_id: Uuid,
) -> StoreResult<Vec<DeploymentObjectHealthSummary>> {
    let rows = sql!(query!(
        [
            r#"SELECT d.id,
                  count(*) FILTER (WHERE h.status = 'healthy') AS "healthy!",
                  count(*) FILTER (WHERE h.status = 'degraded') AS "degraded!",
                  count(*) FILTER (WHERE h.status = 'failing') AS "failing!",
                  max("#,
            severity!("h.status"),
            r#")::bigint AS "rank!"
             FROM deployment_objects d JOIN deployment_health h ON h.deployment_object_id = d.id
            WHERE d.stack_id = $1
            GROUP BY d.id, d.sequence_id
            ORDER BY d.sequence_id DESC"#
        ],
        stack_id
    ))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| DeploymentObjectHealthSummary {
            id: row.id,
            status: HealthStatus::of_severity(row.rank),
            healthy_agents: row.healthy,
            degraded_agents: row.degraded,
            failing_agents: row.failing,
        })
        .collect())
}

/// Health records of live agents by status, for the metrics gauge (every status present, zero
/// when none).
pub async fn count_by_status(pool: &sqlx::PgPool) -> StoreResult<Vec<(HealthStatus, i64)>> {
    Ok(sqlx::query!(
        r#"SELECT s.status AS "status!: HealthStatus", count(h.id) AS "count!"
             FROM unnest($1::text[]) AS s(status)
             LEFT JOIN deployment_health h ON h.status = s.status
                  AND h.agent_id IN (SELECT id FROM agents WHERE deleted_at IS NULL)
            GROUP BY s.status"#,
        HealthStatus::ALL as _
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| (row.status, row.count))
    .collect())
}
