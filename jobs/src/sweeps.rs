//! Periodic sweeps: `stale_claim_reap` (lapsed delivery leases and work-order claims go back to
//! pending),
//! `retention_cleanup` (old audit entries, finished deliveries with their attempts, finished
//! jobs) and `diagnostic_cleanup` (overdue diagnostic requests expire, old ones go).
//!
//! Every worker schedules every sweep, once per time slot of the sweep's interval, with the slot
//! in the job's idempotency key: however many workers run, each slot has exactly one job, run by
//! exactly one of them. Intervals and retention periods are read from the live settings, so a
//! reload takes effect at once: a scheduler waiting out a long interval wakes up and re-plans.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use brokkr_schema::config::Settings;
use brokkr_schema::error_chain;
use brokkr_schema::jobs::{
    DIAGNOSTIC_CLEANUP, RETENTION_CLEANUP, STALE_CLAIM_REAP, SweepJob, WEBHOOK_DELIVERY,
    WebhookDeliveryJob,
};
use brokkr_schema::live::LiveSettings;
use brokkr_schema::store::changes::{self, Actor, Change};
use brokkr_schema::store::outage::{Backoff, Outage};
use brokkr_schema::store::{
    self, StoreResult, diagnostics, notify::Channels, retention, webhooks::deliveries, work_orders,
};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::metrics::WorkerMetrics;

/// What the sweep handlers need.
pub struct SweepContext {
    pub pool: PgPool,
    pub channels: Channels,
    pub metrics: Arc<WorkerMetrics>,
    /// Retention periods are read from here at each run.
    pub live: Arc<LiveSettings>,
}

/// Runs one `stale_claim_reap` job: lapsed leases go back to pending, and broker-delivered
/// deliveries among them get a new `webhook_delivery` job (the one that held the lease may have
/// died with its worker, or ended while another attempt held it); lapsed work-order claims are
/// handled by [`reap_work_orders`]. Returns how many deliveries and orders changed.
pub async fn reap_stale_claims(ctx: &SweepContext, job: SweepJob) -> StoreResult<usize> {
    let started = Instant::now();
    let reaped = async {
        let mut tx = brokkr_schema::store::begin(&ctx.pool).await?;
        let released = deliveries::release_lapsed(&mut tx).await?;
        let queue = ctx.channels.queue(WEBHOOK_DELIVERY);
        for (delivery_id, attempt) in &released {
            let retry = WebhookDeliveryJob {
                delivery_id: *delivery_id,
                attempt: *attempt,
            };
            let key = format!("{}:reaped:{}", retry.idempotency_key(), job.slot);
            store::jobs::push(&mut tx, &queue, &retry, None, &key).await?;
        }
        tx.commit().await?;
        StoreResult::Ok(released.len())
    }
    .await;
    if let Ok(n) = &reaped
        && *n > 0
    {
        tracing::info!(
            released = n,
            "lapsed delivery leases returned to pending and re-queued"
        );
    }
    let orders = reap_work_orders(ctx).await;
    let total = match (reaped, orders) {
        (Ok(deliveries), Ok(orders)) => Ok(deliveries + orders),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let outcome = if total.is_ok() { "success" } else { "error" };
    ctx.metrics
        .record_job(STALE_CLAIM_REAP, outcome, started.elapsed());
    total
}

/// How overdue a `RETRY_PENDING` order must be before the sweep releases it itself (its
/// `work_order_retry` job normally does, on time): a safety net for a lost job.
pub const OVERDUE_RETRY_GRACE_SECONDS: i64 = 60;

/// The work-order part of `stale_claim_reap`, in one transaction: a claim older than its
/// `claim_timeout_seconds` counts as a failed attempt: the order returns to `PENDING` while it
/// has retries left, else it moves to the log as failed (`workorder.failed`). Also releases
/// retries whose job is long overdue. Returns how many orders changed.
pub async fn reap_work_orders(ctx: &SweepContext) -> StoreResult<usize> {
    let mut tx = brokkr_schema::store::begin(&ctx.pool).await?;
    let system = Actor::system();
    let lapsed = work_orders::lock_lapsed_claims(&mut tx).await?;
    for order in &lapsed {
        let error = format!(
            "claim timed out: not completed within {} s",
            order.claim_timeout_seconds
        );
        if order.retry_count < order.max_retries {
            if let Some(returned) =
                work_orders::return_lapsed_claim(&mut tx, order.id, &error).await?
            {
                changes::record(
                    &mut tx,
                    &ctx.channels,
                    &system,
                    Change::WorkOrderClaimExpired {
                        order: &returned,
                        agent_id: order.claimed_by,
                    },
                )
                .await?;
            }
        } else if let Some(log) =
            work_orders::finish(&mut tx, order.id, false, Some(&error)).await?
        {
            // One change: the failure's log entry says the claim timed out.
            changes::record(
                &mut tx,
                &ctx.channels,
                &system,
                Change::WorkOrderFinished { log: &log },
            )
            .await?;
        }
    }
    let overdue =
        work_orders::release_overdue_retries(&mut tx, OVERDUE_RETRY_GRACE_SECONDS).await?;
    for order in &overdue {
        changes::record(
            &mut tx,
            &ctx.channels,
            &system,
            Change::WorkOrderReleased { order },
        )
        .await?;
    }
    tx.commit().await?;
    if !lapsed.is_empty() || !overdue.is_empty() {
        tracing::info!(
            lapsed_claims = lapsed.len(),
            overdue_retries = overdue.len(),
            "work orders returned to pending"
        );
    }
    Ok(lapsed.len() + overdue.len())
}

/// Runs one `retention_cleanup` job.
pub async fn clean_up(ctx: &SweepContext) -> StoreResult<retention::Cleaned> {
    let started = Instant::now();
    let queues: Vec<String> = brokkr_schema::jobs::QUEUES
        .iter()
        .map(|q| ctx.channels.queue(q))
        .collect();
    let settings = ctx.live.current();
    let days = |d: u64| i64::try_from(d).unwrap_or(i64::MAX);
    let mut conn = ctx.pool.acquire().await?;
    let cleaned = retention::cleanup(
        &mut conn,
        days(settings.broker.audit_log_retention_days),
        days(settings.broker.webhook_cleanup_retention_days),
        &queues,
    )
    .await;
    let outcome = if cleaned.is_ok() { "success" } else { "error" };
    ctx.metrics
        .record_job(RETENTION_CLEANUP, outcome, started.elapsed());
    if let Ok(c) = &cleaned {
        tracing::info!(
            audit_logs = c.audit_logs,
            deliveries = c.deliveries,
            jobs = c.jobs,
            workers = c.workers,
            "retention cleanup done"
        );
    }
    cleaned
}

/// Runs one `diagnostic_cleanup` job: overdue requests expire, finished ones older than
/// `broker.diagnostic_max_age_hours` are removed with their results.
pub async fn clean_diagnostics(ctx: &SweepContext) -> StoreResult<diagnostics::Swept> {
    let started = Instant::now();
    let max_age = i64::try_from(ctx.live.current().broker.diagnostic_max_age_hours)
        .unwrap_or(i64::from(i32::MAX));
    let swept = async {
        let mut conn = ctx.pool.acquire().await?;
        diagnostics::expire_and_clean(&mut conn, max_age).await
    }
    .await;
    let outcome = if swept.is_ok() { "success" } else { "error" };
    ctx.metrics
        .record_job(DIAGNOSTIC_CLEANUP, outcome, started.elapsed());
    if let Ok(s) = &swept
        && (s.expired > 0 || s.deleted > 0)
    {
        tracing::info!(
            expired = s.expired,
            deleted = s.deleted,
            "diagnostic requests expired and cleaned"
        );
    }
    swept
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Schedules the sweep `base` every `interval(settings)` seconds until `stop` turns true. A
/// reload that changes the interval wakes the scheduler, which plans the next slot anew.
pub async fn schedule(
    pool: PgPool,
    channels: Channels,
    base: &'static str,
    live: Arc<LiveSettings>,
    interval: fn(&Settings) -> u64,
    mut stop: watch::Receiver<bool>,
) {
    let queue = channels.queue(base);
    let mut reloads = live.subscribe();
    let mut outage = Outage::new(base);
    let mut backoff = Backoff::default();
    loop {
        let interval_secs = i64::try_from(interval(&live.current()).max(1)).unwrap_or(i64::MAX);
        let job = SweepJob::for_time(unix_now(), interval_secs);
        let pushed = async {
            let mut tx = brokkr_schema::store::begin(&pool).await?;
            store::jobs::push(&mut tx, &queue, &job, None, &job.idempotency_key(base)).await?;
            tx.commit().await?;
            StoreResult::Ok(())
        }
        .await;
        match pushed {
            Ok(()) => {
                outage.resolved();
                backoff.reset();
            }
            Err(e) => {
                // Try again soon rather than skipping the slot: an hourly sweep would
                // otherwise wait an hour after a database restart.
                outage.failed(&error_chain(&e));
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_delay()) => continue,
                    _ = stop.changed() => return,
                }
            }
        }
        // Sleep to the start of the next slot, or until the interval is changed.
        let next_slot_start = job.slot.saturating_add(1).saturating_mul(interval_secs);
        let wait = u64::try_from(next_slot_start.saturating_sub(unix_now()))
            .unwrap_or(0)
            .max(1);
        let sleep = tokio::time::sleep(Duration::from_secs(wait));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                _ = stop.changed() => return,
                changed = reloads.changed() => {
                    if changed.is_err() {
                        // The settings are gone with their process; keep the current plan.
                        (&mut sleep).await;
                        break;
                    }
                    let now = i64::try_from(interval(&reloads.borrow_and_update()).max(1))
                        .unwrap_or(i64::MAX);
                    if now != interval_secs {
                        tracing::info!(sweep = base, interval_seconds = now, "sweep interval changed");
                        break;
                    }
                }
            }
        }
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_per_slot() {
        let a = SweepJob::for_time(1_000, 30);
        let b = SweepJob::for_time(1_019, 30);
        let c = SweepJob::for_time(1_020, 30);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a.idempotency_key("stale_claim_reap"),
            "stale_claim_reap:30:33"
        );
    }
}
