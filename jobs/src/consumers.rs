//! Queue consumers that outlive database outages.
//!
//! An apalis consumer stops for good at its first database error (a failed fetch, heartbeat or
//! acknowledgement ends its stream). [`supervise`] runs one consumer after another for a queue:
//! when one stops without being asked to, the queue is reported not running (the worker's
//! `/readyz` turns 503), the database is probed with backoff and jitter until it answers, and a
//! new consumer starts under a new worker name. The new name matters: jobs the old consumer had
//! taken stay locked by the old name, whose heartbeat has stopped, so any live consumer of the
//! queue re-enqueues them once three heartbeats are missed (the job's lease), and nothing stays
//! acquired forever. A delivery attempt that was already recorded is not sent again.
//!
//! A consumer that keeps failing although the database answers (say, its queue tables are
//! broken) is given up after [`GIVE_UP_AFTER`] restarts in a row; the worker then exits with an
//! error, so its supervisor (Kubernetes, systemd) restarts the process.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use brokkr_schema::store::outage::{self, Backoff, Outage};
use sqlx::PgPool;
use tokio::sync::watch;

/// Restarts in a row, each failing within [`HEALTHY_RUN`] while the database answered, after
/// which a consumer is given up.
pub const GIVE_UP_AFTER: u32 = 20;
/// A consumer that ran this long without failing is considered recovered.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
/// How long the database probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether one queue's consumer is running, for readiness and metrics.
#[derive(Debug)]
pub struct ConsumerStatus {
    /// The queue's base name (`webhook_delivery`, ...).
    pub queue: &'static str,
    running: AtomicBool,
    restarts: AtomicU64,
}

impl ConsumerStatus {
    /// A consumer of `queue`, not running yet.
    pub fn new(queue: &'static str) -> Arc<Self> {
        Arc::new(ConsumerStatus {
            queue,
            running: AtomicBool::new(false),
            restarts: AtomicU64::new(0),
        })
    }

    /// True while a consumer of the queue runs.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// How often the consumer was restarted after a failure.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Acquire)
    }
}

/// Why a supervised consumer stopped for good.
#[derive(Debug, thiserror::Error)]
#[error("queue consumer {queue} gave up after {restarts} failed restarts: {cause}")]
pub struct GaveUp {
    pub queue: &'static str,
    pub restarts: u32,
    pub cause: String,
}

/// Runs consumers of `status.queue` until `stop` turns true. `start(name, stop)` builds and runs
/// one consumer named `name` until it stops (asked to by `stop`, or failing). Between
/// consumers, `pool` is probed with backoff until the database answers.
pub async fn supervise<F, Fut, E>(
    status: Arc<ConsumerStatus>,
    base_name: String,
    pool: PgPool,
    mut stop: watch::Receiver<bool>,
    mut start: F,
) -> Result<(), GaveUp>
where
    F: FnMut(String, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let mut outage = Outage::new(status.queue);
    let mut backoff = Backoff::default();
    let mut generation: u64 = 0;
    let mut quick_failures: u32 = 0;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let name = format!("{base_name}-{}-{generation}", status.queue);
        status.running.store(true, Ordering::Release);
        let started = Instant::now();
        // On its own task: a panic inside the queue machinery is a failure like any other.
        let run = tokio::spawn(start(name, stop.clone()));
        let result = run.await;
        status.running.store(false, Ordering::Release);
        if *stop.borrow() {
            return Ok(());
        }
        let cause = match result {
            Ok(Ok(())) => "the consumer stopped by itself".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("the consumer task failed: {e}"),
        };
        if started.elapsed() >= HEALTHY_RUN {
            quick_failures = 0;
            backoff.reset();
        }
        outage.failed(&cause);
        generation += 1;
        status.restarts.fetch_add(1, Ordering::AcqRel);
        // Wait, then until the database answers.
        loop {
            tokio::select! {
                _ = tokio::time::sleep(backoff.next_delay()) => {}
                _ = stop.wait_for(|s| *s) => return Ok(()),
            }
            match outage::probe(&pool, PROBE_TIMEOUT).await {
                Ok(()) => break,
                Err(e) => outage.failed(&e),
            }
        }
        quick_failures += 1;
        if quick_failures > GIVE_UP_AFTER {
            return Err(GaveUp {
                queue: status.queue,
                restarts: quick_failures - 1,
                cause,
            });
        }
        outage.resolved();
    }
}
