//! Pushing jobs onto the apalis-postgres queues inside the caller's transaction.
//!
//! A job pushed with the request's connection exists exactly when the request's transaction
//! commits. The idempotency key makes a second push of the same job a no-op, so a retried
//! request or two workers scheduling the same sweep cannot enqueue twice.

use std::time::SystemTime;

use apalis_core::task::builder::TaskBuilder;
use serde::Serialize;
use sqlx::PgConnection;

use super::{StoreError, StoreResult};

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
    if let Some(at) = run_at {
        builder = builder.run_at_time(at);
    }
    let task = builder.build();
    // A duplicate idempotency key is a job that already exists: nothing to do.
    sqlx::query("SAVEPOINT brokkr_job_push")
        .execute(&mut *conn)
        .await?;
    match apalis_postgres::queries::push_tasks(&mut *conn, queue, vec![task]).await {
        Ok(()) => {
            sqlx::query("RELEASE SAVEPOINT brokkr_job_push")
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        Err(e) if is_unique_violation(&e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT brokkr_job_push")
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
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

/// Applies apalis-postgres' own migrations (schema `apalis`).
pub async fn migrate_queues(pool: &sqlx::PgPool) -> StoreResult<()> {
    apalis_postgres::PostgresStorage::<()>::setup(pool)
        .await
        .map_err(|e| StoreError::Queue(format!("cannot set up job queues: {e}")))
}
