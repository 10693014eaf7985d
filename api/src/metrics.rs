//! Prometheus metrics of the broker.
//!
//! Requests (`brokkr_http_*`, with the long polls and connections open right now), database
//! queries and pool (`brokkr_database_*`), refused API keys, and how long agents take to report
//! on a new deployment object (`brokkr_deployment_propagation_seconds`). Gauges about the fleet
//! (agents, heartbeat ages, stacks, deployment objects, health reports, overdue work-order
//! claims) are read from the database at every scrape, so they are true whenever Prometheus
//! looks, not only after some list call. `brokkr_ready` is the answer `/readyz` would give.
//! `brokkr_build_info` and the process metrics come from [`brokkr_runtime::metrics`].

use std::time::Duration;

use brokkr_schema::models::AgentEventStatus;
use brokkr_schema::store;
use prometheus::{
    Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, core::Collector,
};
use sqlx::PgPool;

/// Latency buckets of HTTP requests: up to the 60 s a long poll of the target state may wait.
const HTTP_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The broker's metrics registry.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    long_polls_open: IntGauge,
    connections_open: IntGauge,
    db_queries: IntCounterVec,
    db_duration: HistogramVec,
    db_pool: IntGaugeVec,
    ready: IntGauge,
    active_agents: Gauge,
    heartbeat_age: GaugeVec,
    stacks: Gauge,
    deployment_objects: Gauge,
    health_reports: IntGaugeVec,
    overdue_claims: IntGauge,
    propagation: HistogramVec,
    auth_failures: IntCounterVec,
}

/// Decrements its gauge when dropped: an open long poll or connection, counted while it lasts.
pub struct OpenGuard(IntGauge);

impl OpenGuard {
    /// Counts one more open thing on `gauge` until the guard is dropped.
    pub fn open(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> prometheus::Result<C> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> prometheus::Result<Self> {
        let registry = brokkr_runtime::metrics::registry("broker")?;
        let r = &registry;
        let metrics = Self {
            http_requests: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "brokkr_http_requests_total",
                        "HTTP requests by endpoint, method and status",
                    ),
                    &["endpoint", "method", "status"],
                )?,
            )?,
            http_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "brokkr_http_request_duration_seconds",
                        "HTTP request latency (a long poll includes its wait)",
                    )
                    .buckets(HTTP_BUCKETS.to_vec()),
                    &["endpoint", "method"],
                )?,
            )?,
            long_polls_open: register(
                r,
                IntGauge::new(
                    "brokkr_http_long_polls_open",
                    "Target-state long polls waiting for a change right now",
                )?,
            )?,
            connections_open: register(
                r,
                IntGauge::new(
                    "brokkr_http_connections_open",
                    "TCP connections of HTTP clients open right now",
                )?,
            )?,
            db_queries: register(
                r,
                IntCounterVec::new(
                    Opts::new("brokkr_database_queries_total", "Database queries by type"),
                    &["query_type"],
                )?,
            )?,
            db_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "brokkr_database_query_duration_seconds",
                        "Database query latency",
                    )
                    .buckets(vec![
                        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ]),
                    &["query_type"],
                )?,
            )?,
            db_pool: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "brokkr_database_pool_connections",
                        "Connections of the database pool, by state (idle, in_use)",
                    ),
                    &["state"],
                )?,
            )?,
            ready: register(
                r,
                IntGauge::new(
                    "brokkr_ready",
                    "1 while /readyz answers 200 (database and notification listener up), else 0",
                )?,
            )?,
            active_agents: register(
                r,
                Gauge::new("brokkr_active_agents", "Live agents with status ACTIVE")?,
            )?,
            heartbeat_age: register(
                r,
                GaugeVec::new(
                    Opts::new(
                        "brokkr_agent_heartbeat_age_seconds",
                        "Seconds since each agent's last heartbeat",
                    ),
                    &["agent_id", "agent_name"],
                )?,
            )?,
            stacks: register(r, Gauge::new("brokkr_stacks", "Live stacks")?)?,
            deployment_objects: register(
                r,
                Gauge::new("brokkr_deployment_objects", "Live deployment objects")?,
            )?,
            health_reports: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "brokkr_deployment_health_reports",
                        "Deployment health records of live agents, by status",
                    ),
                    &["status"],
                )?,
            )?,
            overdue_claims: register(
                r,
                IntGauge::new(
                    "brokkr_work_order_claims_overdue",
                    "Claimed work orders held past their claim timeout",
                )?,
            )?,
            propagation: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "brokkr_deployment_propagation_seconds",
                        "Time from a deployment object's creation to an agent's report on it, \
                         by reported status",
                    )
                    .buckets(vec![
                        0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
                        3600.0,
                    ]),
                    &["status"],
                )?,
            )?,
            auth_failures: register(
                r,
                IntCounterVec::new(
                    Opts::new("brokkr_auth_failures_total", "Refused API keys by reason"),
                    &["reason"],
                )?,
            )?,
            registry,
        };
        for state in ["idle", "in_use"] {
            metrics.db_pool.with_label_values(&[state]);
        }
        // Shown from the start so rates over them exist: the reported statuses, and the reasons
        // `auth` refuses keys for.
        for status in AgentEventStatus::ALL {
            metrics
                .propagation
                .with_label_values(&[status.as_str().to_ascii_lowercase().as_str()]);
        }
        for reason in ["malformed_key", "unknown_key"] {
            metrics.auth_failures.with_label_values(&[reason]);
        }
        Ok(metrics)
    }

    /// Counts one HTTP request.
    pub fn record_http(&self, path: &str, method: &str, status: u16, elapsed: Duration) {
        let endpoint = normalize_endpoint(path);
        self.http_requests
            .with_label_values(&[endpoint.as_str(), method, status.to_string().as_str()])
            .inc();
        self.http_duration
            .with_label_values(&[endpoint.as_str(), method])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts an open long poll until the guard is dropped.
    pub fn long_poll_opened(&self) -> OpenGuard {
        OpenGuard::open(&self.long_polls_open)
    }

    /// The gauge of open client connections (see [`crate::connections`]).
    pub fn connections_open(&self) -> &IntGauge {
        &self.connections_open
    }

    /// Counts one refused API key.
    pub fn record_auth_failure(&self, reason: &str) {
        self.auth_failures.with_label_values(&[reason]).inc();
    }

    /// Counts one database query.
    pub fn record_db(&self, query_type: &str, elapsed: Duration) {
        self.db_queries.with_label_values(&[query_type]).inc();
        self.db_duration
            .with_label_values(&[query_type])
            .observe(elapsed.as_secs_f64());
    }

    /// Observes how long after its creation a deployment object got an agent's report.
    pub fn record_propagation(&self, status: AgentEventStatus, elapsed: chrono::TimeDelta) {
        let seconds = elapsed.num_milliseconds().max(0) as f64 / 1000.0;
        self.propagation
            .with_label_values(&[status.as_str().to_ascii_lowercase().as_str()])
            .observe(seconds);
    }

    /// Refreshes the gauges (readiness as `/readyz` found it; the fleet gauges from the
    /// database while it answers) and renders the text exposition. While the database is away
    /// the fleet gauges keep their last values.
    pub async fn scrape(&self, pool: &PgPool, ready: bool) -> String {
        self.ready.set(i64::from(ready));
        let size = i64::from(pool.size());
        let idle = i64::try_from(pool.num_idle()).unwrap_or(size);
        self.db_pool.with_label_values(&["idle"]).set(idle);
        self.db_pool
            .with_label_values(&["in_use"])
            .set((size - idle).max(0));
        if ready && let Err(e) = self.refresh_fleet(pool).await {
            tracing::warn!(error = %e, "metrics: cannot refresh fleet gauges");
        }
        brokkr_runtime::metrics::render(&self.registry)
    }

    async fn refresh_fleet(&self, pool: &PgPool) -> Result<(), store::StoreError> {
        self.active_agents
            .set(store::agents::active_count(pool).await? as f64);
        self.stacks.set(store::stacks::count(pool).await? as f64);
        self.deployment_objects
            .set(store::deployment_objects::count(pool).await? as f64);
        for (status, count) in store::health::count_by_status(pool).await? {
            self.health_reports
                .with_label_values(&[status.as_str()])
                .set(count);
        }
        self.overdue_claims
            .set(store::work_orders::overdue_claims(pool).await?);
        let ages = store::agents::heartbeat_ages(pool).await?;
        // Reset so deleted agents disappear from the series.
        self.heartbeat_age.reset();
        for (id, name, age) in ages {
            self.heartbeat_age
                .with_label_values(&[id.to_string().as_str(), name.as_str()])
                .set(age.max(0.0));
        }
        Ok(())
    }
}

/// Replaces id-like path segments (UUIDs, numbers) with `:id` to bound label cardinality.
pub fn normalize_endpoint(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let uuid_like = segment.len() == 36 && segment.matches('-').count() == 4;
            let numeric = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
            if uuid_like || numeric { ":id" } else { segment }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_normalised() {
        assert_eq!(
            normalize_endpoint("/api/v1/agents/9b2f1c3e-1111-2222-3333-444455556666/events"),
            "/api/v1/agents/:id/events"
        );
        assert_eq!(normalize_endpoint("/api/v1/items/42"), "/api/v1/items/:id");
        assert_eq!(normalize_endpoint("/healthz"), "/healthz");
    }

    #[test]
    fn an_open_guard_counts_while_it_lives() {
        let metrics = Metrics::new().expect("metrics");
        let first = metrics.long_poll_opened();
        let second = metrics.long_poll_opened();
        assert_eq!(metrics.long_polls_open.get(), 2);
        drop(first);
        assert_eq!(metrics.long_polls_open.get(), 1);
        drop(second);
        assert_eq!(metrics.long_polls_open.get(), 0);
    }
}
