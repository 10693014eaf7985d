//! Prometheus metrics of the worker: queue depth and age per queue, job outcomes and durations,
//! deliveries by outcome, delivery attempt latency, subscriptions disabled for failing, the
//! queue consumers, and `brokkr_ready` (what `/readyz` would answer). `brokkr_build_info` and
//! the process metrics come from [`brokkr_runtime::metrics`].

use std::time::Duration;

use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use sqlx::PgPool;

/// The worker's registry.
pub struct WorkerMetrics {
    registry: Registry,
    queue_depth: GaugeVec,
    queue_age: GaugeVec,
    jobs: IntCounterVec,
    job_duration: HistogramVec,
    deliveries: IntCounterVec,
    attempt_latency: HistogramVec,
    consumer_up: GaugeVec,
    consumer_restarts: IntCounterVec,
    subscriptions_disabled: IntCounter,
    ready: IntGauge,
}

/// The outcomes of a delivery job, shown from the start so rates over them exist.
const DELIVERY_OUTCOMES: [&str; 4] = ["success", "retry", "dead", "skipped"];

impl WorkerMetrics {
    /// Registers every metric.
    pub fn new() -> prometheus::Result<Self> {
        let registry = brokkr_runtime::metrics::registry("worker")?;
        let queue_depth = GaugeVec::new(
            Opts::new("brokkr_queue_depth", "Jobs waiting to run, per queue"),
            &["queue"],
        )?;
        let queue_age = GaugeVec::new(
            Opts::new(
                "brokkr_queue_oldest_job_age_seconds",
                "Age of the oldest job due to run, per queue",
            ),
            &["queue"],
        )?;
        let jobs = IntCounterVec::new(
            Opts::new(
                "brokkr_jobs_total",
                "Jobs run by this worker, by queue and outcome",
            ),
            &["queue", "outcome"],
        )?;
        let job_duration = HistogramVec::new(
            HistogramOpts::new("brokkr_job_duration_seconds", "Time to run a job").buckets(vec![
                0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["queue"],
        )?;
        let deliveries = IntCounterVec::new(
            Opts::new(
                "brokkr_webhook_deliveries_total",
                "Delivery attempts by outcome (success, retry, dead, skipped)",
            ),
            &["outcome"],
        )?;
        let attempt_latency = HistogramVec::new(
            HistogramOpts::new(
                "brokkr_webhook_attempt_duration_seconds",
                "Latency of delivery attempts (request to response)",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["result"],
        )?;
        let consumer_up = GaugeVec::new(
            Opts::new(
                "brokkr_queue_consumer_up",
                "1 while this worker's consumer of the queue runs, 0 while it waits for the database",
            ),
            &["queue"],
        )?;
        let consumer_restarts = IntCounterVec::new(
            Opts::new(
                "brokkr_queue_consumer_restarts_total",
                "Times this worker's consumer of the queue was restarted after a failure",
            ),
            &["queue"],
        )?;
        let subscriptions_disabled = IntCounter::new(
            "brokkr_webhook_subscriptions_disabled_total",
            "Webhook subscriptions this worker disabled because every delivery failed for too long",
        )?;
        let ready = IntGauge::new(
            "brokkr_ready",
            "1 while /readyz answers 200 (database, queue consumers and job listener up), else 0",
        )?;
        registry.register(Box::new(subscriptions_disabled.clone()))?;
        registry.register(Box::new(ready.clone()))?;
        for outcome in DELIVERY_OUTCOMES {
            deliveries.with_label_values(&[outcome]);
        }
        registry.register(Box::new(consumer_up.clone()))?;
        registry.register(Box::new(consumer_restarts.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(queue_age.clone()))?;
        registry.register(Box::new(jobs.clone()))?;
        registry.register(Box::new(job_duration.clone()))?;
        registry.register(Box::new(deliveries.clone()))?;
        registry.register(Box::new(attempt_latency.clone()))?;
        Ok(Self {
            registry,
            queue_depth,
            queue_age,
            jobs,
            job_duration,
            deliveries,
            attempt_latency,
            consumer_up,
            consumer_restarts,
            subscriptions_disabled,
            ready,
        })
    }

    /// Counts a finished job.
    pub fn record_job(&self, queue: &str, outcome: &str, elapsed: Duration) {
        self.jobs.with_label_values(&[queue, outcome]).inc();
        self.job_duration
            .with_label_values(&[queue])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a delivery outcome.
    pub fn record_delivery(&self, outcome: &str) {
        self.deliveries.with_label_values(&[outcome]).inc();
    }

    /// Records the latency of one attempt (`result`: `2xx`, `error`, or the status class).
    pub fn record_attempt(&self, result: &str, elapsed: Duration) {
        self.attempt_latency
            .with_label_values(&[result])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a subscription disabled for failing.
    pub fn record_subscription_disabled(&self) {
        self.subscriptions_disabled.inc();
    }

    /// Refreshes the consumer metrics from `consumers`.
    pub fn record_consumers(&self, consumers: &[std::sync::Arc<crate::consumers::ConsumerStatus>]) {
        for c in consumers {
            self.consumer_up
                .with_label_values(&[c.queue])
                .set(if c.is_running() { 1.0 } else { 0.0 });
            // The consumer keeps the count; the counter catches up with it.
            let counter = self.consumer_restarts.with_label_values(&[c.queue]);
            let restarts = c.restarts();
            if restarts > counter.get() {
                counter.inc_by(restarts - counter.get());
            }
        }
    }

    /// Refreshes the gauges (readiness as `/readyz` found it; the queues while the database
    /// answers) and renders the text exposition.
    pub async fn scrape(&self, pool: &PgPool, queues: &[String], ready: bool) -> String {
        self.ready.set(i64::from(ready));
        let rows = brokkr_schema::store::jobs::pending_depths(pool, queues).await;
        match rows {
            Ok(rows) => {
                for queue in queues {
                    let (depth, age) = rows
                        .iter()
                        .find(|r| &r.0 == queue)
                        .map(|r| (r.1 as f64, r.2.unwrap_or(0.0)))
                        .unwrap_or((0.0, 0.0));
                    self.queue_depth
                        .with_label_values(&[queue.as_str()])
                        .set(depth);
                    self.queue_age
                        .with_label_values(&[queue.as_str()])
                        .set(age.max(0.0));
                }
            }
            // During a database outage the gauges keep their last values.
            Err(e) => tracing::debug!(error = %e, "metrics: cannot read queue depths"),
        }
        brokkr_runtime::metrics::render(&self.registry)
    }
}
