//! On-demand diagnostics: the admin asks an agent about one deployment object, the agent claims
//! the request, collects and submits a result. Requests nobody finishes expire; finished ones
//! are removed after `broker.diagnostic_max_age_hours` (see [`expire_and_clean`]).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{StoreError, StoreResult};
use crate::models::{DiagnosticRequest, DiagnosticResult, DiagnosticStatus};

/// The columns of [`DiagnosticRequest`], a fragment of [`sql!`].
macro_rules! request_columns {
    (@sql $k:tt) => {
        sql!(@resume $k [
            r#"id, agent_id, deployment_object_id, status AS "status: _", requested_by,
               created_at, claimed_at, completed_at, expires_at"#
        ])
    };
}

/// The columns of [`DiagnosticResult`], a fragment of [`sql!`].
macro_rules! result_columns {
    (@sql $k:tt) => {
        sql!(@resume $k [
            "id, request_id, pod_statuses, events, log_tails, collected_at, created_at"
        ])
    };
}

/// Stores a pending request that expires `retention_minutes` from now.
pub async fn create(
    conn: &mut PgConnection,
    agent_id: Uuid,
    deployment_object_id: Uuid,
    requested_by: Option<&str>,
    retention_minutes: i64,
) -> StoreResult<DiagnosticRequest> {
    sql!(query_as!(
        DiagnosticRequest,
        [
            "INSERT INTO diagnostic_requests (agent_id, deployment_object_id, requested_by, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(mins => $4::bigint::int))
             RETURNING ",
            request_columns!()
        ],
        agent_id,
        deployment_object_id,
        requested_by,
        retention_minutes
    ))
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::classify(e, "diagnostic request already exists"))
}

/// A request.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> StoreResult<DiagnosticRequest> {
    sql!(query_as!(
        DiagnosticRequest,
        [
            "SELECT ",
            request_columns!(),
            " FROM diagnostic_requests WHERE id = $1"
        ],
        id
    ))
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// The newest result of a request, if one was submitted.
pub async fn result_of(
    conn: &mut PgConnection,
    request_id: Uuid,
) -> StoreResult<Option<DiagnosticResult>> {
    Ok(sql!(query_as!(
        DiagnosticResult,
        [
            "SELECT ",
            result_columns!(),
            " FROM diagnostic_results WHERE request_id = $1 ORDER BY created_at DESC LIMIT 1"
        ],
        request_id
    ))
    .fetch_optional(conn)
    .await?)
}

/// An agent's pending, unexpired requests, oldest first.
pub async fn pending_for_agent(
    conn: &mut PgConnection,
    agent_id: Uuid,
) -> StoreResult<Vec<DiagnosticRequest>> {
    Ok(sql!(query_as!(
        DiagnosticRequest,
        [
            "SELECT ",
            request_columns!(),
            " FROM diagnostic_requests
              WHERE agent_id = $1 AND status = 'pending' AND expires_at > now()
              ORDER BY created_at, id"
        ],
        agent_id
    ))
    .fetch_all(conn)
    .await?)
}

/// Why a claim or a submission was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such request.
    NotFound,
    /// The request is not in the state the step needs; carries its status.
    WrongStatus(DiagnosticStatus),
}

/// Claims a pending, unexpired request in one statement: of two concurrent claims exactly one
/// wins. A pending request past its expiry is marked expired on the way.
pub async fn claim(
    conn: &mut PgConnection,
    id: Uuid,
) -> StoreResult<Result<DiagnosticRequest, Refusal>> {
    let claimed = sql!(query_as!(
        DiagnosticRequest,
        [
            "UPDATE diagnostic_requests SET status = 'claimed', claimed_at = now()
              WHERE id = $1 AND status = 'pending' AND expires_at > now()
              RETURNING ",
            request_columns!()
        ],
        id
    ))
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(request) = claimed {
        return Ok(Ok(request));
    }
    let status = sqlx::query_scalar!(
        r#"UPDATE diagnostic_requests
              SET status = CASE WHEN status = 'pending' AND expires_at <= now()
                                THEN 'expired' ELSE status END
            WHERE id = $1 RETURNING status AS "status: DiagnosticStatus""#,
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(Err(match status {
        None => Refusal::NotFound,
        Some(s) => Refusal::WrongStatus(s),
    }))
}

/// Stores the result of a claimed request and marks it completed, atomically: the request must
/// still be claimed (not expired meanwhile) when the result lands.
pub async fn complete(
    conn: &mut PgConnection,
    id: Uuid,
    pod_statuses: &str,
    events: &str,
    log_tails: Option<&str>,
    collected_at: DateTime<Utc>,
) -> StoreResult<Result<DiagnosticResult, Refusal>> {
    let completed = sqlx::query_scalar!(
        "UPDATE diagnostic_requests SET status = 'completed', completed_at = now()
          WHERE id = $1 AND status = 'claimed' RETURNING id",
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if completed.is_none() {
        let status = sqlx::query_scalar!(
            r#"SELECT status AS "status: DiagnosticStatus" FROM diagnostic_requests WHERE id = $1"#,
            id
        )
        .fetch_optional(conn)
        .await?;
        return Ok(Err(match status {
            None => Refusal::NotFound,
            Some(s) => Refusal::WrongStatus(s),
        }));
    }
    let result = sql!(query_as!(
        DiagnosticResult,
        [
            "INSERT INTO diagnostic_results (request_id, pod_statuses, events, log_tails, collected_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING ",
            result_columns!()
        ],
        id,
        pod_statuses,
        events,
        log_tails,
        collected_at
    ))
    .fetch_one(conn)
    .await?;
    Ok(Ok(result))
}

/// What one diagnostics sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Pending or claimed requests past their expiry, now `expired`.
    pub expired: u64,
    /// Finished requests (with their results) older than the maximum age, removed.
    pub deleted: u64,
}

/// Expires overdue requests (pending or claimed but never completed) and removes finished
/// requests older than `max_age_hours`; results go with their request.
pub async fn expire_and_clean(conn: &mut PgConnection, max_age_hours: i64) -> StoreResult<Swept> {
    let expired = sqlx::query!(
        "UPDATE diagnostic_requests SET status = 'expired'
          WHERE status IN ('pending', 'claimed') AND expires_at <= now()"
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let deleted = sqlx::query!(
        "DELETE FROM diagnostic_requests
          WHERE status IN ('completed', 'failed', 'expired')
            AND COALESCE(completed_at, expires_at, created_at)
                < now() - make_interval(hours => $1::bigint::int)",
        max_age_hours
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(Swept { expired, deleted })
}
