//! `brokkr-jobs`: the Brokkr worker (binary `brokkr-worker`).
//!
//! The broker writes records and the jobs they cause in one transaction; this process consumes
//! the jobs from PostgreSQL-backed queues (apalis with apalis-postgres), one queue per job type
//! (`brokkr_schema::jobs`). Any number of workers can run: a job is locked by one of them, and a
//! job whose worker stops heartbeating (killed, partitioned) runs again elsewhere.
//!
//! - [`webhook_delivery`]: one attempt to deliver one event to one subscription: claim, record,
//!   retry or give up; the request itself (client, destination guard, headers, signatures,
//!   retry schedule) is `brokkr_runtime::webhooks`, shared with the broker and the agent;
//! - [`worker`]: queue set-up and graceful shutdown; [`server`]: `/healthz`, `/readyz`,
//!   `/metrics` on `worker.listen_addr`; [`metrics`]: queue and delivery metrics;
//!   [`queue_wakeups`]: consumers look for jobs when PostgreSQL announces them;
//!   [`consumers`]: every queue consumer is restarted after a database outage.
//!
//! - [`sweeps`]: the periodic `stale_claim_reap` and `retention_cleanup` jobs, scheduled by
//!   every worker with one idempotency key per time slot, so each sweep runs once per slot.
//!
//! - [`work_order_retry`]: returns a failed work order to `PENDING` when its backoff has passed.
//! - [`template_render`]: re-renders one stack of a template rollout with the new version (and
//!   render sandbox of `brokkr_runtime::render_sandbox`, which the broker uses too).

pub mod consumers;
pub mod metrics;
pub mod queue_wakeups;
pub mod server;
pub mod sweeps;
pub mod template_render;
pub mod webhook_delivery;
pub mod work_order_retry;
pub mod worker;
