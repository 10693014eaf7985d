//! `work_order_retry`: returns a failed work order to `PENDING` once its backoff has passed.
//!
//! The broker queues one job per retry, in the transaction that recorded the failure, scheduled
//! for the order's `next_retry_after` (`backoff_seconds × 2^retry_count` after the failure). The
//! job carries the retry it was queued for, so a job of an older failure, of a cancelled order
//! or of an order already released changes nothing.

use std::time::Instant;

use brokkr_schema::jobs::{WORK_ORDER_RETRY, WorkOrderRetryJob};
use brokkr_schema::models::WorkOrder;
use brokkr_schema::store::changes::{self, Actor, Change};
use brokkr_schema::store::notify::Channels;
use brokkr_schema::store::{StoreResult, work_orders};
use sqlx::PgPool;

use crate::metrics::WorkerMetrics;

/// What the retry handler needs.
pub struct RetryContext {
    pub pool: PgPool,
    pub channels: Channels,
    pub metrics: std::sync::Arc<WorkerMetrics>,
}

/// Runs one `work_order_retry` job: the order, back in `PENDING`, or `None` when the job had
/// nothing to do.
pub async fn run(ctx: &RetryContext, job: WorkOrderRetryJob) -> StoreResult<Option<WorkOrder>> {
    let started = Instant::now();
    let released = release(&ctx.pool, &ctx.channels, job).await;
    let outcome = if released.is_ok() { "success" } else { "error" };
    ctx.metrics
        .record_job(WORK_ORDER_RETRY, outcome, started.elapsed());
    if let Ok(Some(order)) = &released {
        tracing::info!(
            work_order = %order.id,
            retry_count = order.retry_count,
            "work order claimable again after its backoff"
        );
    }
    released
}

/// The job's work, in one transaction: release the order and audit it.
pub async fn release(
    pool: &PgPool,
    channels: &Channels,
    job: WorkOrderRetryJob,
) -> StoreResult<Option<WorkOrder>> {
    let mut tx = brokkr_schema::store::begin(pool).await?;
    let released = work_orders::release_retry(&mut tx, job.work_order_id, job.retry_count).await?;
    if let Some(order) = &released {
        changes::record(
            &mut tx,
            channels,
            &Actor::system(),
            Change::WorkOrderReleased { order },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(released)
}
