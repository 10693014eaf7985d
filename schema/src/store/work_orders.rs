//! Work orders: the active queue (`work_orders` with its targeting tables) and the write-once
//! log of finished orders (`work_order_log`).
//!
//! Life of an order: `PENDING` → claimed by one eligible agent in a single conditional `UPDATE`
//! (`CLAIMED`) → completed: moved to the log; or failed and retryable with retries left:
//! `RETRY_PENDING` until `backoff_seconds × 2^retry_count` has passed, then `PENDING` again (a
//! `work_order_retry` job, scheduled for that moment, does it). A claim held longer than
//! `claim_timeout_seconds` counts as a failed attempt and returns the order to `PENDING` (or to
//! the log once its retries are used up).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::notify::Channels;
use super::{StoreError, StoreResult};
use crate::jobs::{WORK_ORDER_RETRY, WorkOrderRetryJob};
use crate::models::{WorkOrder, WorkOrderLog, WorkOrderStatus};

/// The columns of [`WorkOrder`], a fragment of [`sql!`].
macro_rules! order_columns {
    (@sql $k:tt) => {
        sql!(@resume $k [
            r#"id, created_at, updated_at, work_type, yaml_content, status AS "status: _",
               claimed_by, claimed_at, claim_timeout_seconds, max_retries, retry_count,
               backoff_seconds, next_retry_after, last_error, last_error_at"#
        ])
    };
}

/// The columns of [`WorkOrderLog`], a fragment of [`sql!`].
macro_rules! log_columns {
    (@sql $k:tt) => {
        sql!(@resume $k [
            "id, work_type, created_at, claimed_at, completed_at, claimed_by, success,
             retries_attempted, result_message, yaml_content, max_retries, backoff_seconds,
             claim_timeout_seconds"
        ])
    };
}

/// Ids of the orders agent `$1` may claim: targeted directly, or sharing one of its labels, or
/// one of its annotations (same key and value), a fragment of [`sql!`]. Each branch is served
/// by an index.
macro_rules! eligible_order_ids {
    (@sql $k:tt) => {
        sql!(@resume $k [
            "
    SELECT t.work_order_id FROM work_order_targets t WHERE t.agent_id = $1
    UNION
    SELECT l.work_order_id FROM work_order_labels l
      JOIN agent_labels al ON al.label = l.label WHERE al.agent_id = $1
    UNION
    SELECT a.work_order_id FROM work_order_annotations a
      JOIN agent_annotations aa ON aa.key = a.key AND aa.value = a.value WHERE aa.agent_id = $1"
        ])
    };
}

/// The longest a retry waits, however large `backoff_seconds × 2^retry_count` grows (30 days).
pub const MAX_RETRY_DELAY_SECONDS: i64 = 30 * 24 * 3600;

/// Seconds a failed order waits before its retry number `retry_count` (1 for the first retry):
/// `backoff_seconds × 2^retry_count`, at most [`MAX_RETRY_DELAY_SECONDS`].
pub fn retry_delay_seconds(backoff_seconds: i32, retry_count: i32) -> i64 {
    let exponent = u32::try_from(retry_count.clamp(0, 62)).unwrap_or(0);
    i64::from(backoff_seconds.max(1))
        .saturating_mul(1_i64 << exponent)
        .min(MAX_RETRY_DELAY_SECONDS)
}

/// A new order's settings (validated by the caller).
#[derive(Debug, Clone)]
pub struct NewWorkOrder<'a> {
    pub work_type: &'a str,
    pub yaml_content: &'a str,
    pub max_retries: i32,
    pub backoff_seconds: i32,
    pub claim_timeout_seconds: i32,
}

/// Who may claim an order (any one match is enough).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targeting {
    pub agent_ids: Vec<Uuid>,
    pub labels: Vec<String>,
    /// (key, value) pairs.
    pub annotations: Vec<(String, String)>,
}

impl Targeting {
    /// True when no agent could ever claim the order.
    pub fn is_empty(&self) -> bool {
        self.agent_ids.is_empty() && self.labels.is_empty() && self.annotations.is_empty()
    }
}

/// Creates an order and its targeting. Every agent id must name a live agent.
pub async fn create(
    conn: &mut PgConnection,
    new: &NewWorkOrder<'_>,
    targeting: &Targeting,
) -> StoreResult<WorkOrder> {
    if !targeting.agent_ids.is_empty() {
        let unknown = sqlx::query_scalar!(
            r#"SELECT id AS "id!" FROM unnest($1::uuid[]) AS t(id)
                WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = t.id AND a.deleted_at IS NULL)"#,
            &targeting.agent_ids
        )
        .fetch_all(&mut *conn)
        .await?;
        if !unknown.is_empty() {
            let list: Vec<String> = unknown.iter().map(Uuid::to_string).collect();
            return Err(StoreError::MissingReference(format!(
                "Unknown agent ids in targeting: {}",
                list.join(", ")
            )));
        }
    }
    let order = sql!(query_as!(
        WorkOrder,
        [
            "INSERT INTO work_orders
                 (work_type, yaml_content, max_retries, backoff_seconds, claim_timeout_seconds)
             VALUES ($1, $2, $3, $4, $5) RETURNING ",
            order_columns!()
        ],
        new.work_type,
        new.yaml_content,
        new.max_retries,
        new.backoff_seconds,
        new.claim_timeout_seconds
    ))
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO work_order_targets (work_order_id, agent_id)
         SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING",
        order.id,
        &targeting.agent_ids
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO work_order_labels (work_order_id, label)
         SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
        order.id,
        &targeting.labels
    )
    .execute(&mut *conn)
    .await?;
    let (keys, values): (Vec<&str>, Vec<&str>) = targeting
        .annotations
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .unzip();
    sqlx::query!(
        "INSERT INTO work_order_annotations (work_order_id, key, value)
         SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v)
         ON CONFLICT (work_order_id, key) DO UPDATE SET value = EXCLUDED.value",
        order.id,
        &keys as &[&str],
        &values as &[&str]
    )
    .execute(&mut *conn)
    .await?;
    Ok(order)
}

/// Active orders, oldest first, optionally of one status and one type.
pub async fn list(
    conn: &mut PgConnection,
    status: Option<WorkOrderStatus>,
    work_type: Option<&str>,
) -> StoreResult<Vec<WorkOrder>> {
    Ok(sql!(query_as!(
        WorkOrder,
        [
            "SELECT ",
            order_columns!(),
            " FROM work_orders
          WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR work_type = $2)
          ORDER BY created_at, id"
        ],
        status.map(WorkOrderStatus::as_str),
        work_type
    ))
    .fetch_all(conn)
    .await?)
}

/// An active order.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> StoreResult<Option<WorkOrder>> {
    Ok(sql!(query_as!(
        WorkOrder,
        [
            "SELECT ",
            order_columns!(),
            " FROM work_orders WHERE id = $1"
        ],
        id
    ))
    .fetch_optional(conn)
    .await?)
}

/// An active order, locked until the caller's transaction ends.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> StoreResult<Option<WorkOrder>> {
    Ok(sql!(query_as!(
        WorkOrder,
        [
            "SELECT ",
            order_columns!(),
            " FROM work_orders WHERE id = $1 FOR UPDATE"
        ],
        id
    ))
    .fetch_optional(conn)
    .await?)
}

/// Deletes (cancels) an active order; its targeting goes with it.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> StoreResult<Option<WorkOrder>> {
    Ok(sql!(query_as!(
        WorkOrder,
        [
            "DELETE FROM work_orders WHERE id = $1 RETURNING ",
            order_columns!()
        ],
        id
    ))
    .fetch_optional(conn)
    .await?)
}

/// The `PENDING` orders agent `agent_id` may claim, oldest first.
pub async fn pending_for_agent(
    conn: &mut PgConnection,
    agent_id: Uuid,
    work_type: Option<&str>,
) -> StoreResult<Vec<WorkOrder>> {
    Ok(sql!(query_as!(
        WorkOrder,
        [
            "SELECT ",
            order_columns!(),
            " FROM work_orders
          WHERE status = 'PENDING' AND id IN (",
            eligible_order_ids!(),
            ")
            AND ($2::text IS NULL OR work_type = $2)
          ORDER BY created_at, id"
        ],
        agent_id,
        work_type
    ))
    .fetch_all(conn)
    .await?)
}

/// Claims order `id` for live agent `agent_id`, if it is `PENDING` and the agent is eligible.
///
/// One statement: of two agents racing for the same order, the second `UPDATE` waits for the
/// first one's row lock, re-checks `status = 'PENDING'` against the committed row, and matches
/// nothing, so exactly one claim succeeds.
pub async fn claim(
    conn: &mut PgConnection,
    id: Uuid,
    agent_id: Uuid,
) -> StoreResult<Option<WorkOrder>> {
    Ok(sql!(query_as!(
        WorkOrder,
        [
            "UPDATE work_orders
            SET status = 'CLAIMED', claimed_by = $1, claimed_at = now()
          WHERE id = $2 AND status = 'PENDING'
            AND id IN (",
            eligible_order_ids!(),
            ")
            AND EXISTS (SELECT 1 FROM agents WHERE id = $1 AND deleted_at IS NULL)
      RETURNING ",
            order_columns!()
        ],
        agent_id,
        id
    ))
    .fetch_optional(conn)
    .await?)
}

/// Moves an active order to the log with its outcome (one statement: the order leaves the queue
/// exactly when its log entry appears).
pub async fn finish(
    conn: &mut PgConnection,
    id: Uuid,
    success: bool,
    message: Option<&str>,
) -> StoreResult<Option<WorkOrderLog>> {
    Ok(sql!(query_as!(
        WorkOrderLog,
        [
            "WITH done AS (DELETE FROM work_orders WHERE id = $1 RETURNING *)
         INSERT INTO work_order_log
             (id, work_type, created_at, claimed_at, claimed_by, success, retries_attempted,
              result_message, yaml_content, max_retries, backoff_seconds, claim_timeout_seconds)
         SELECT id, work_type, created_at, claimed_at, claimed_by, $2, retry_count, $3,
                yaml_content, max_retries, backoff_seconds, claim_timeout_seconds
           FROM done
      RETURNING ",
            log_columns!()
        ],
        id,
        success,
        message
    ))
    .fetch_optional(conn)
    .await?)
}

/// Records a failed attempt of order `id` and schedules its retry: `RETRY_PENDING`, one more
/// retry used, claimable again `delay_seconds` from now (see [`retry_delay_seconds`]).
pub async fn schedule_retry(
    conn: &mut PgConnection,
    id: Uuid,
    error: &str,
    delay_seconds: i64,
) -> StoreResult<Option<WorkOrder>> {
    Ok(sql!(query_as!(
        WorkOrder,
        [
            "UPDATE work_orders
            SET status = 'RETRY_PENDING', retry_count = retry_count + 1,
                claimed_by = NULL, claimed_at = NULL,
                last_error = $2, last_error_at = now(),
                next_retry_after = now() + make_interval(secs => $3::float8)
          WHERE id = $1
      RETURNING ",
            order_columns!()
        ],
        id,
        error,
        delay_seconds as f64
    ))
    .fetch_optional(conn)
    .await?)
}

/// When the retry job of an order due at `due` runs: the queue counts whole seconds, so the
/// time is rounded up (the job never runs before the order is due).
pub fn retry_job_run_at(due: DateTime<Utc>) -> SystemTime {
    let secs = due.timestamp() + i64::from(due.timestamp_subsec_nanos() > 0);
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// Queues the `work_order_retry` job of an order just put in `RETRY_PENDING`, in the caller's
/// transaction, to run when its backoff has passed.
pub async fn enqueue_retry(
    conn: &mut PgConnection,
    channels: &Channels,
    order: &WorkOrder,
) -> StoreResult<WorkOrderRetryJob> {
    let job = WorkOrderRetryJob {
        work_order_id: order.id,
        retry_count: order.retry_count,
    };
    let run_at = order.next_retry_after.map(retry_job_run_at);
    super::jobs::push(
        conn,
        &channels.queue(WORK_ORDER_RETRY),
        &job,
        run_at,
        &job.idempotency_key(),
    )
    .await?;
    Ok(job)
}

/// Returns order `id` to `PENDING` if it still waits for the retry `retry_count` was scheduled
/// for (a newer failure, a cancellation or an earlier release make this a no-op).
pub async fn release_retry(
    conn: &mut PgConnection,
    id: Uuid,
    retry_count: i32,
) -> StoreResult<Option<WorkOrder>> {
    Ok(sql!(query_as!(
        WorkOrder,
        [
            "UPDATE work_orders SET status = 'PENDING', next_retry_after = NULL
          WHERE id = $1 AND status = 'RETRY_PENDING' AND retry_count = $2
      RETURNING ",
            order_columns!()
        ],
        id,
        retry_count
    ))
    .fetch_optional(conn)
    .await?)
}

/// Returns to `PENDING` every `RETRY_PENDING` order whose retry is more than `grace_seconds`
/// overdue: a safety net for a retry job that was lost (e.g. its queue was purged).
pub async fn release_overdue_retries(
    conn: &mut PgConnection,
    grace_seconds: i64,
) -> StoreResult<Vec<WorkOrder>> {
    Ok(sql!(query_as!(
        WorkOrder,
        [
            "UPDATE work_orders SET status = 'PENDING', next_retry_after = NULL
          WHERE id IN (SELECT id FROM work_orders
                        WHERE status = 'RETRY_PENDING'
                          AND next_retry_after < now() - make_interval(secs => $1::float8)
                        FOR UPDATE SKIP LOCKED)
      RETURNING ",
            order_columns!()
        ],
        grace_seconds as f64
    ))
    .fetch_all(conn)
    .await?)
}

/// Claimed orders whose claim is older than their `claim_timeout_seconds`, locked (orders
/// another transaction holds are skipped: they are being completed right now).
pub async fn lock_lapsed_claims(conn: &mut PgConnection) -> StoreResult<Vec<WorkOrder>> {
    Ok(sql!(query_as!(
        WorkOrder,
        [
            "SELECT ",
            order_columns!(),
            " FROM work_orders
          WHERE status = 'CLAIMED'
            AND claimed_at + make_interval(secs => claim_timeout_seconds) < now()
          ORDER BY claimed_at
          FOR UPDATE SKIP LOCKED"
        ]
    ))
    .fetch_all(conn)
    .await?)
}

/// Returns a lapsed claim to `PENDING`, counting it as a failed attempt.
pub async fn return_lapsed_claim(
    conn: &mut PgConnection,
    id: Uuid,
    error: &str,
) -> StoreResult<Option<WorkOrder>> {
    Ok(sql!(query_as!(
        WorkOrder,
        [
            "UPDATE work_orders
            SET status = 'PENDING', retry_count = retry_count + 1,
                claimed_by = NULL, claimed_at = NULL,
                last_error = $2, last_error_at = now(), next_retry_after = NULL
          WHERE id = $1
      RETURNING ",
            order_columns!()
        ],
        id,
        error
    ))
    .fetch_optional(conn)
    .await?)
}

/// A log entry.
pub async fn get_log(conn: &mut PgConnection, id: Uuid) -> StoreResult<Option<WorkOrderLog>> {
    Ok(sql!(query_as!(
        WorkOrderLog,
        [
            "SELECT ",
            log_columns!(),
            " FROM work_order_log WHERE id = $1"
        ],
        id
    ))
    .fetch_optional(conn)
    .await?)
}

/// Filters of the log listing.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub work_type: Option<String>,
    pub success: Option<bool>,
    pub agent_id: Option<Uuid>,
}

/// Log entries, newest first, at most `limit`.
pub async fn list_log(
    conn: &mut PgConnection,
    filter: &LogFilter,
    limit: i64,
) -> StoreResult<Vec<WorkOrderLog>> {
    Ok(sql!(query_as!(
        WorkOrderLog,
        [
            "SELECT ",
            log_columns!(),
            " FROM work_order_log
          WHERE ($1::text IS NULL OR work_type = $1)
            AND ($2::bool IS NULL OR success = $2)
            AND ($3::uuid IS NULL OR claimed_by = $3)
          ORDER BY completed_at DESC, id
          LIMIT $4"
        ],
        filter.work_type.as_deref(),
        filter.success,
        filter.agent_id,
        limit
    ))
    .fetch_all(conn)
    .await?)
}

/// A finished order shown as a work order (`GET /work-orders/{id}` after it left the queue):
/// status `COMPLETED` or `FAILED`, with the settings it ran with.
pub fn from_log(log: &WorkOrderLog) -> WorkOrder {
    WorkOrder {
        id: log.id,
        created_at: log.created_at,
        updated_at: log.completed_at,
        work_type: log.work_type.clone(),
        yaml_content: log.yaml_content.clone(),
        status: WorkOrderStatus::finished(log.success),
        claimed_by: log.claimed_by,
        claimed_at: log.claimed_at,
        claim_timeout_seconds: log.claim_timeout_seconds,
        max_retries: log.max_retries,
        retry_count: log.retries_attempted,
        backoff_seconds: log.backoff_seconds,
        next_retry_after: None,
        last_error: if log.success {
            None
        } else {
            log.result_message.clone()
        },
        last_error_at: None,
    }
}

/// Claimed orders held past their claim timeout (the sweep that returns them is behind), for
/// the metrics gauge.
pub async fn overdue_claims(pool: &sqlx::PgPool) -> StoreResult<i64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM work_orders
            WHERE status = 'CLAIMED'
              AND claimed_at + make_interval(secs => claim_timeout_seconds) < now()"#
    )
    .fetch_one(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_per_retry_and_is_capped() {
        assert_eq!(retry_delay_seconds(60, 1), 120);
        assert_eq!(retry_delay_seconds(60, 2), 240);
        assert_eq!(retry_delay_seconds(60, 3), 480);
        assert_eq!(retry_delay_seconds(1, 0), 1);
        assert_eq!(retry_delay_seconds(60, 1000), MAX_RETRY_DELAY_SECONDS);
        assert_eq!(retry_delay_seconds(i32::MAX, 62), MAX_RETRY_DELAY_SECONDS);
    }
}
