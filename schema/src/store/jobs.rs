//! Pushing jobs onto the apalis-postgres queues inside the caller's transaction.
//!
//! A job pushed with the request's connection exists exactly when the request's transaction
//! commits. The idempotency key makes a second push of the same job a no-op, so a retried
//! request or two workers scheduling the same sweep cannot enqueue twice.
//!
//! A job pushed while a traced span runs carries that span's `traceparent` in the job's
//! metadata ([`TRACEPARENT`]), so the worker's span for the job continues the trace of the
//! request (or job) that caused it.

use std::time::SystemTime;

use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::metadata::MetadataStore;
use serde::Serialize;
use sqlx::PgConnection;

use super::{StoreError, StoreResult};
pub use crate::trace_context::TRACEPARENT;

/// For each of `queues` with pending jobs: the queue, how many jobs wait, and how long (seconds)
/// the oldest due one has waited.
pub async fn pending_depths(
    pool: &sqlx::PgPool,
    queues: &[String],
) -> StoreResult<Vec<(String, i64, Option<f64>)>> {
    Ok(sqlx::query!(
        r#"SELECT job_type, count(*) AS "pending!",
                  EXTRACT(EPOCH FROM (now() - min(run_at) FILTER (WHERE run_at <= now())))::float8
                      AS oldest_wait
             FROM apalis.jobs WHERE job_type = ANY($1) AND status = 'Pending'
            GROUP BY job_type"#,
        queues
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.job_type, r.pending, r.oldest_wait))
    .collect())
}

/// Pushes one JSON job onto `queue`, to run at `run_at` (now when `None`). `conn` must be inside
/// a transaction (the duplicate check uses a savepoint).
pub async fn push<T: Serialize>(
    conn: &mut PgConnection,
    queue: &str,
    payload: &T,
    run_at: Option<SystemTime>,
    idempotency_key: &str,
) -> StoreResult<()> {
    let args = serde_json::to_vec(payload)
        .map_err(|e| StoreError::Queue(format!("job payload cannot be encoded: {e}")))?;
    let mut builder = TaskBuilder::new(args).idempotency_key(idempotency_key);
    if let Some(traceparent) = crate::trace_context::current() {
        let mut metadata = MetadataStore::new();
        // A fresh store has no key yet, so the insert cannot collide.
        let _ = metadata.insert(TRACEPARENT, traceparent);
        builder = builder.with_metadata(metadata);
    }
    if let Some(at) = run_at {
        builder = builder.run_at_time(at);
    }
    let task = builder.build();
    // A duplicate idempotency key is a job that already exists: nothing to do.
    sqlx::query!("SAVEPOINT brokkr_job_push")
        .execute(&mut *conn)
        .await?;
    match apalis_postgres::queries::push_tasks(&mut *conn, queue, vec![task]).await {
        Ok(()) => {
            sqlx::query!("RELEASE SAVEPOINT brokkr_job_push")
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        Err(e) if is_unique_violation(&e) => {
            sqlx::query!("ROLLBACK TO SAVEPOINT brokkr_job_push")
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        // A lost connection stays a database error, so callers see the outage (503), not a
        // refused job.
        Err(apalis_postgres::Error::Database(e)) => Err(StoreError::Database(e)),
        Err(e) => Err(StoreError::Queue(format!("cannot enqueue job: {e}"))),
    }
}

fn is_unique_violation(err: &apalis_postgres::Error) -> bool {
    match err {
        apalis_postgres::Error::Database(sqlx::Error::Database(db)) => {
            db.code().as_deref() == Some("23505")
        }
        _ => false,
    }
}

/// Applies apalis-postgres' own migrations (schema `apalis`), then tunes one index.
///
/// apalis acknowledges finished jobs with `WHERE id = ANY(...) AND lock_by = $worker`. With a
/// plain index on `lock_by` the planner tends to walk every job the worker ever locked (finished
/// jobs keep `lock_by`), so acknowledgements slow down as a worker ages. A partial index on the
/// jobs still in flight serves the queries that look jobs up by worker (re-enqueueing the jobs
/// of a dead worker) and leaves acknowledgements to the primary key.
pub async fn migrate_queues(pool: &sqlx::PgPool) -> StoreResult<()> {
    apalis_postgres::PostgresStorage::<()>::setup(pool)
        .await
        .map_err(|e| StoreError::Queue(format!("cannot set up job queues: {e}")))?;
    let mut tx = super::begin(pool).await?;
    // Several processes may start at once: one tunes, the others wait and find it done.
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('brokkr.apalis_index_tuning'))")
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "CREATE INDEX IF NOT EXISTS brokkr_apalis_jobs_active_lock_by ON apalis.jobs (lock_by)
          WHERE status IN ('Queued', 'Running')"
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("DROP INDEX IF EXISTS apalis.idx_apalis_jobs_lock_by")
        .execute(&mut *tx)
        .await?;
    sqlx::query!("DROP INDEX IF EXISTS apalis.lidx")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
