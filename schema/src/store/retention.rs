//! Retention: deleting what has outlived its configured lifetime.

use sqlx::PgConnection;

use super::StoreResult;

/// What one cleanup removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub audit_logs: u64,
    pub deliveries: u64,
    pub jobs: u64,
    /// Queue consumers gone for a day whose jobs are all gone too.
    pub workers: u64,
}

/// Deletes audit entries older than `audit_days`, finished deliveries (and, by cascade, their
/// attempts) older than `delivery_days`, finished jobs of `queues` older than `delivery_days`, and
/// the registrations of queue consumers unseen for a day that no job refers to any more (every
/// consumer restart after a database outage registers a new name).
pub async fn cleanup(
    conn: &mut PgConnection,
    audit_days: i64,
    delivery_days: i64,
    queues: &[String],
) -> StoreResult<Cleaned> {
    let audit_logs = sqlx::query!(
        "DELETE FROM audit_logs WHERE timestamp < now() - make_interval(days => $1::bigint::int)",
        audit_days
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let deliveries = sqlx::query!(
        "DELETE FROM webhook_deliveries
          WHERE status IN ('success', 'dead')
            AND completed_at < now() - make_interval(days => $1::bigint::int)",
        delivery_days
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let jobs = sqlx::query!(
        "DELETE FROM apalis.jobs
          WHERE job_type = ANY($2) AND status IN ('Done', 'Killed', 'Failed')
            AND done_at < now() - make_interval(days => $1::bigint::int)",
        delivery_days,
        queues
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // One pass over the jobs' lock holders (an anti-join), not one lookup per worker.
    let workers = sqlx::query!(
        "DELETE FROM apalis.workers w
          WHERE w.worker_type = ANY($1) AND w.last_seen < now() - interval '1 day'
            AND w.id NOT IN (SELECT DISTINCT lock_by FROM apalis.jobs WHERE lock_by IS NOT NULL)",
        queues
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(Cleaned {
        audit_logs,
        deliveries,
        jobs,
        workers,
    })
}
