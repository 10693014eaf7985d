//! Prometheus metrics of the broker (the original's names).
//!
//! Gauges about the fleet (`brokkr_active_agents`, `brokkr_stacks_total`,
//! `brokkr_deployment_objects_total`, `brokkr_agent_heartbeat_age_seconds`) are read from the
//! database at every scrape, so they are true whenever Prometheus looks, not only after some
//! list call.

use std::time::Duration;

use brokkr_schema::store;
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
    TextEncoder,
};
use sqlx::PgPool;

/// The broker's metrics registry.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    db_queries: IntCounterVec,
    db_duration: HistogramVec,
    active_agents: Gauge,
    heartbeat_age: GaugeVec,
    stacks_total: Gauge,
    deployment_objects_total: Gauge,
    auth_failures: IntCounterVec,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "brokkr_http_requests_total",
                "HTTP requests by endpoint, method and status",
            ),
            &["endpoint", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "brokkr_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["endpoint", "method"],
        )?;
        let db_queries = IntCounterVec::new(
            Opts::new("brokkr_database_queries_total", "Database queries by type"),
            &["query_type"],
        )?;
        let db_duration = HistogramVec::new(
            HistogramOpts::new(
                "brokkr_database_query_duration_seconds",
                "Database query latency",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["query_type"],
        )?;
        let active_agents = Gauge::new("brokkr_active_agents", "Live agents with status ACTIVE")?;
        let heartbeat_age = GaugeVec::new(
            Opts::new(
                "brokkr_agent_heartbeat_age_seconds",
                "Seconds since each agent's last heartbeat",
            ),
            &["agent_id", "agent_name"],
        )?;
        let stacks_total = Gauge::new("brokkr_stacks_total", "Live stacks")?;
        let deployment_objects_total =
            Gauge::new("brokkr_deployment_objects_total", "Live deployment objects")?;
        let auth_failures = IntCounterVec::new(
            Opts::new("brokkr_auth_failures_total", "Refused API keys by reason"),
            &["reason"],
        )?;
        registry.register(Box::new(auth_failures.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(db_queries.clone()))?;
        registry.register(Box::new(db_duration.clone()))?;
        registry.register(Box::new(active_agents.clone()))?;
        registry.register(Box::new(heartbeat_age.clone()))?;
        registry.register(Box::new(stacks_total.clone()))?;
        registry.register(Box::new(deployment_objects_total.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            db_queries,
            db_duration,
            active_agents,
            heartbeat_age,
            stacks_total,
            deployment_objects_total,
            auth_failures,
        })
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

    /// Refreshes the fleet gauges from the database and renders the text exposition.
    /// If the database is unreachable the gauges keep their last values.
    pub async fn scrape(&self, pool: &PgPool) -> String {
        if let Err(e) = self.refresh_gauges(pool).await {
            tracing::warn!(error = %e, "metrics: cannot refresh fleet gauges");
        }
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %e, "metrics: encoding failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    async fn refresh_gauges(&self, pool: &PgPool) -> Result<(), store::StoreError> {
        self.active_agents
            .set(store::agents::active_count(pool).await? as f64);
        self.stacks_total
            .set(store::stacks::count(pool).await? as f64);
        self.deployment_objects_total
            .set(store::deployment_objects::count(pool).await? as f64);
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
}
