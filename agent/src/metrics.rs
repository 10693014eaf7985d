//! Prometheus metrics of the agent, served at `/metrics` of the health server.
//!
//! Every metric is registered at start (so it shows up before it is first touched), the
//! heartbeat counter counts only heartbeats the broker accepted, the poll timestamp is only set
//! by target-state polls, and Kubernetes operations are counted by verb and outcome on every
//! path. `brokkr_build_info` and the process metrics come from [`brokkr_runtime::metrics`].
//!
//! A task that wants its own metrics registers them in [`AgentMetrics::registry`]:
//!
//! ```ignore
//! let claimed = prometheus::IntCounter::new("brokkr_agent_work_orders_claimed_total", "...")?;
//! ctx.metrics.registry().register(Box::new(claimed.clone()))?;
//! ```

use std::time::Duration;

use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry,
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
    /// `brokkr_agent_kubernetes_operations_total{operation=apply|delete|get|list|...,
    /// outcome=success|error}`.
    pub kube_operations: IntCounterVec,
    /// `brokkr_agent_kubernetes_operation_duration_seconds{operation}`.
    pub kube_duration: HistogramVec,
    /// `brokkr_agent_heartbeat_sent_total`: heartbeats the broker accepted.
    pub heartbeats: IntCounter,
    /// `brokkr_agent_last_successful_poll_timestamp_seconds`: unix time of the last successful
    /// poll.
    pub last_successful_poll: Gauge,
    /// `brokkr_agent_deployment_reconciles_total{outcome=success|failure}`.
    pub reconciles: IntCounterVec,
    /// `brokkr_agent_applied_deployment_objects`: entries of the applied registry.
    pub applied_deployment_objects: IntGauge,
    /// `brokkr_agent_managed_objects`: Kubernetes objects of the applied deployment objects.
    pub managed_objects: IntGauge,
    /// `brokkr_agent_drift_corrections_total`: objects of an applied deployment object found
    /// deleted from the cluster or changed, and set back by a drift-correction pass.
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
        let registry =
            brokkr_runtime::metrics::registry("agent").expect("static metric definition");
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
            .buckets(vec![
                0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 90.0,
            ]),
        )
        .expect("static metric definition");
        let kube_operations = IntCounterVec::new(
            Opts::new(
                "brokkr_agent_kubernetes_operations_total",
                "Kubernetes API operations, by operation and outcome (after retries).",
            ),
            &["operation", "outcome"],
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
        let heartbeats = IntCounter::new(
            "brokkr_agent_heartbeat_sent_total",
            "Heartbeats accepted by the broker.",
        )
        .expect("static metric definition");
        let last_successful_poll = Gauge::new(
            "brokkr_agent_last_successful_poll_timestamp_seconds",
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
        let managed_objects = IntGauge::new(
            "brokkr_agent_managed_objects",
            "Kubernetes objects of the deployment objects this agent has applied.",
        )
        .expect("static metric definition");
        let drift_corrections = IntCounter::new(
            "brokkr_agent_drift_corrections_total",
            "Objects found deleted or changed in the cluster and set back by a drift-correction pass.",
        )
        .expect("static metric definition");
        for collector in [
            Box::new(poll_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(poll_duration.clone()),
            Box::new(kube_operations.clone()),
            Box::new(kube_duration.clone()),
            Box::new(heartbeats.clone()),
            Box::new(last_successful_poll.clone()),
            Box::new(reconciles.clone()),
            Box::new(applied_deployment_objects.clone()),
            Box::new(managed_objects.clone()),
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
            heartbeats,
            last_successful_poll,
            reconciles,
            applied_deployment_objects,
            managed_objects,
            drift_corrections,
        }
    }

    /// The registry behind `/metrics`; feature tasks register their own collectors here.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records one Kubernetes operation (`apply`, `delete`, `get`, `list`, `create`, `logs`, ...).
    pub fn record_kube(&self, operation: &str, elapsed: Duration, ok: bool) {
        self.kube_operations
            .with_label_values(&[operation, if ok { "success" } else { "error" }])
            .inc();
        self.kube_duration
            .with_label_values(&[operation])
            .observe(elapsed.as_secs_f64());
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        brokkr_runtime::metrics::render(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_served_from_the_start_and_kube_calls_count_by_outcome() {
        let metrics = AgentMetrics::new();
        let text = metrics.render();
        for name in [
            "brokkr_agent_poll_requests_total",
            "brokkr_agent_poll_duration_seconds",
            "brokkr_agent_heartbeat_sent_total",
            "brokkr_agent_last_successful_poll_timestamp_seconds",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
        metrics.record_kube("apply", Duration::from_millis(5), true);
        metrics.record_kube("delete", Duration::from_millis(5), false);
        let text = metrics.render();
        assert!(text.contains(
            "brokkr_agent_kubernetes_operations_total{operation=\"apply\",outcome=\"success\"} 1"
        ));
        assert!(text.contains(
            "brokkr_agent_kubernetes_operations_total{operation=\"delete\",outcome=\"error\"} 1"
        ));
    }
}
