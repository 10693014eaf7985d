//! Job types of the worker's PostgreSQL-backed queues (apalis-postgres), one queue per type.
//!
//! Queue names carry the tenant schema (`webhook_delivery__tenant_a`), because apalis keeps every
//! queue in one shared `apalis` schema of the database. Payloads are JSON.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Delivers one webhook delivery (an attempt; failures schedule the next one).
pub const WEBHOOK_DELIVERY: &str = "webhook_delivery";
/// Returns failed retryable work orders to PENDING after their backoff.
pub const WORK_ORDER_RETRY: &str = "work_order_retry";
/// Returns lapsed claims and leases (work orders, agent-held deliveries) to pending.
pub const STALE_CLAIM_REAP: &str = "stale_claim_reap";
/// Deletes audit entries, deliveries and attempts older than their retention.
pub const RETENTION_CLEANUP: &str = "retention_cleanup";
/// Renders a template into a stack (template rollouts).
pub const TEMPLATE_RENDER: &str = "template_render";
/// Expires overdue diagnostic requests and removes old finished ones.
pub const DIAGNOSTIC_CLEANUP: &str = "diagnostic_cleanup";

/// Every queue.
pub const QUEUES: &[&str] = &[
    WEBHOOK_DELIVERY,
    WORK_ORDER_RETRY,
    STALE_CLAIM_REAP,
    RETENTION_CLEANUP,
    TEMPLATE_RENDER,
    DIAGNOSTIC_CLEANUP,
];

/// The name of queue `base` for the tenant `schema`.
pub fn queue_name(base: &str, schema: Option<&str>) -> String {
    match schema {
        Some(s) => format!("{base}__{s}"),
        None => base.to_owned(),
    }
}

/// Payload of [`WEBHOOK_DELIVERY`] jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDeliveryJob {
    /// The `webhook_deliveries` row to attempt.
    pub delivery_id: Uuid,
    /// The attempt this job makes (1-based); part of the idempotency key.
    pub attempt: i32,
}

impl WebhookDeliveryJob {
    /// Idempotency key: one job per delivery attempt, however often it is enqueued.
    pub fn idempotency_key(&self) -> String {
        format!("delivery:{}:{}", self.delivery_id, self.attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_and_keys() {
        assert_eq!(queue_name(WEBHOOK_DELIVERY, None), "webhook_delivery");
        assert_eq!(
            queue_name(WEBHOOK_DELIVERY, Some("t1")),
            "webhook_delivery__t1"
        );
        let id = Uuid::nil();
        let job = WebhookDeliveryJob {
            delivery_id: id,
            attempt: 2,
        };
        assert_eq!(job.idempotency_key(), format!("delivery:{id}:2"));
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(
            serde_json::from_str::<WebhookDeliveryJob>(&json).unwrap(),
            job
        );
    }
}

/// Payload of the periodic sweeps ([`STALE_CLAIM_REAP`], [`RETENTION_CLEANUP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepJob {
    /// The time slot (Unix seconds ÷ interval) the sweep is for; part of its idempotency key,
    /// so however many workers schedule it, one job per slot exists.
    pub slot: i64,
    /// The interval (seconds) the slot is counted in: an interval changed by a reload starts
    /// a new series of keys instead of colliding with the old one.
    #[serde(default)]
    pub interval: i64,
}

impl SweepJob {
    /// The sweep of `queue` for the slot containing `unix_seconds`.
    pub fn for_time(unix_seconds: i64, interval_seconds: i64) -> Self {
        let interval = interval_seconds.max(1);
        Self {
            slot: unix_seconds.div_euclid(interval),
            interval,
        }
    }

    /// Idempotency key of the sweep of `queue` in this slot.
    pub fn idempotency_key(&self, queue: &str) -> String {
        format!("{queue}:{}:{}", self.interval, self.slot)
    }
}

/// Payload of [`WORK_ORDER_RETRY`] jobs: return a failed order to `PENDING` once its backoff
/// has passed (the job is scheduled to run then).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkOrderRetryJob {
    /// The `work_orders` row in `RETRY_PENDING`.
    pub work_order_id: Uuid,
    /// The order's `retry_count` when the retry was scheduled: a job of an older failure does
    /// nothing.
    pub retry_count: i32,
}

impl WorkOrderRetryJob {
    /// Idempotency key: one job per retry of an order.
    pub fn idempotency_key(&self) -> String {
        format!(
            "work_order_retry:{}:{}",
            self.work_order_id, self.retry_count
        )
    }
}

/// Payload of [`TEMPLATE_RENDER`] jobs: re-render one stack of a template rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRenderJob {
    /// The `template_rollouts` row.
    pub rollout_id: Uuid,
    /// The stack to re-render.
    pub stack_id: Uuid,
}

impl TemplateRenderJob {
    /// Idempotency key: one job per stack of a rollout.
    pub fn idempotency_key(&self) -> String {
        format!("template_render:{}:{}", self.rollout_id, self.stack_id)
    }
}
