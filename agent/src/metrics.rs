//! Prometheus metrics of the agent, served at `/metrics` of the health server.
//!
//! The seed's metric names are kept. Unlike the seed, every metric is registered at start (so
//! it shows up before it is first touched), the heartbeat counter counts only heartbeats the
//! broker accepted, the poll timestamp is only set by target-state polls, and Kubernetes
//! operations are counted on the deployment path too.
//!
//! A task that wants its own metrics registers them in [`AgentMetrics::registry`]:
//!
//! ```ignore
//! let claimed = prometheus::IntCounter::new("brokkr_agent_work_orders_claimed_total", "...")?;
//! ctx.metrics.registry().register(Box::new(claimed.clone()))?;
//! ```

use std::time::Duration;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

/// The agent's metrics and the registry that serves them.
#[derive(Clone)]
pub struct AgentMetrics {
    registry: Registry,
    /// `brokkr_agent_poll_requests_total{status=success|error}`: target-state polls.
    pub poll_requests: IntCounterVec,
    /// `brokkr_agent_poll_duration_seconds`: time of a target-state poll (a long poll includes
    /// the time it waited for a change).
    pub poll_duration: Histogram,
    /// `brokkr_agent_kubernetes_operations_total{operation=apply|delete|get|list|...}`.
    pub kube_operations: IntCounterVec,
    /// `brokkr_agent_kubernetes_operation_duration_seconds{operation}`.
    pub kube_duration: HistogramVec,
    /// `brokkr_agent_kubernetes_operation_errors_total{operation}`: calls that failed for good
    /// (after retries).
    pub kube_errors: IntCounterVec,
    /// `brokkr_agent_heartbeat_sent_total`: heartbeats the broker accepted.
    pub heartbeats: IntCounter,
    /// `brokkr_agent_last_successful_poll_timestamp`: unix time of the last successful poll.
    pub last_successful_poll: Gauge,
    /// `brokkr_agent_deployment_reconciles_total{outcome=success|failure}`.
    pub reconciles: IntCounterVec,
    /// `brokkr_agent_applied_deployment_objects`: entries of the applied registry.
    pub applied_deployment_objects: IntGauge,
    /// `brokkr_agent_drift_corrections_total`: objects changed outside Brokkr and applied again.
    pub drift_corrections: IntCounter,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AgentMetrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let poll_requests = IntCounterVec::new(
            Opts::new(
                "brokkr_agent_poll_requests_total",
                "Target-state polls of the broker, by outcome.",
            ),
            &["status"],
        )
        .expect("static metric definition");
        let poll_duration = Histogram::with_opts(
            HistogramOpts::new(
                "brokkr_agent_poll_duration_seconds",
                "Duration of target-state polls (a long poll includes its wait).",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )
        .expect("static metric definition");
        let kube_operations = IntCounterVec::new(
            Opts::new(
                "brokkr_agent_kubernetes_operations_total",
                "Kubernetes API operations, by operation.",
            ),
            &["operation"],
        )
        .expect("static metric definition");
        let kube_duration = HistogramVec::new(
            HistogramOpts::new(
                "brokkr_agent_kubernetes_operation_duration_seconds",
                "Duration of Kubernetes API operations (retries included).",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["operation"],
        )
        .expect("static metric definition");
        let kube_errors = IntCounterVec::new(
            Opts::new(
                "brokkr_agent_kubernetes_operation_errors_total",
                "Kubernetes API operations that failed after retries, by operation.",
            ),
            &["operation"],
        )
        .expect("static metric definition");
        let heartbeats = IntCounter::new(
            "brokkr_agent_heartbeat_sent_total",
            "Heartbeats accepted by the broker.",
        )
        .expect("static metric definition");
        let last_successful_poll = Gauge::new(
            "brokkr_agent_last_successful_poll_timestamp",
            "Unix time of the last successful target-state poll.",
        )
        .expect("static metric definition");
        let reconciles = IntCounterVec::new(
            Opts::new(
                "brokkr_agent_deployment_reconciles_total",
                "Deployment objects applied (or removed), by outcome.",
            ),
            &["outcome"],
        )
        .expect("static metric definition");
        let applied_deployment_objects = IntGauge::new(
            "brokkr_agent_applied_deployment_objects",
            "Deployment objects currently applied by this agent.",
        )
        .expect("static metric definition");
        let drift_corrections = IntCounter::new(
            "brokkr_agent_drift_corrections_total",
            "Objects found changed outside Brokkr and applied again (drift corrections).",
        )
        .expect("static metric definition");
        for collector in [
            Box::new(poll_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(poll_duration.clone()),
            Box::new(kube_operations.clone()),
            Box::new(kube_duration.clone()),
            Box::new(kube_errors.clone()),
            Box::new(heartbeats.clone()),
            Box::new(last_successful_poll.clone()),
            Box::new(reconciles.clone()),
            Box::new(applied_deployment_objects.clone()),
            Box::new(drift_corrections.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        // Show both label values of the poll counter from the start.
        for status in ["success", "error"] {
            poll_requests.with_label_values(&[status]);
        }
        for outcome in ["success", "failure"] {
            reconciles.with_label_values(&[outcome]);
        }
        Self {
            registry,
            poll_requests,
            poll_duration,
            kube_operations,
            kube_duration,
            kube_errors,
            heartbeats,
            last_successful_poll,
            reconciles,
            applied_deployment_objects,
            drift_corrections,
        }
    }

    /// The registry behind `/metrics`; feature tasks register their own collectors here.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records one Kubernetes operation (`apply`, `delete`, `get`, `list`, `create`, `logs`, ...).
    pub fn record_kube(&self, operation: &str, elapsed: Duration, ok: bool) {
        self.kube_operations.with_label_values(&[operation]).inc();
        self.kube_duration
            .with_label_values(&[operation])
            .observe(elapsed.as_secs_f64());
        if !ok {
            self.kube_errors.with_label_values(&[operation]).inc();
        }
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_metric_is_served_from_the_start() {
        let metrics = AgentMetrics::new();
        let text = metrics.render();
        for name in [
            "brokkr_agent_poll_requests_total",
            "brokkr_agent_poll_duration_seconds",
            "brokkr_agent_heartbeat_sent_total",
            "brokkr_agent_last_successful_poll_timestamp",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
        metrics.record_kube("apply", Duration::from_millis(5), true);
        metrics.record_kube("delete", Duration::from_millis(5), false);
        let text = metrics.render();
        assert!(text.contains("brokkr_agent_kubernetes_operations_total{operation=\"apply\"} 1"));
        assert!(
            text.contains("brokkr_agent_kubernetes_operation_errors_total{operation=\"delete\"} 1")
        );
    }
}
