"""Writes the Grafana dashboards of Brokkr (brokkr-*.json beside this file) from the panel lists
below, so the four dashboards share one layout and one datasource variable.

    python3 deploy/observability/grafana/dashboards.py           # rewrite the JSON files
    python3 deploy/observability/grafana/dashboards.py --check   # fail if they are not current

Every expression is PromQL over metrics the broker, worker and agent expose (checked against a
running stack by scripts/check-observability.sh).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def panel(title: str, kind: str, targets: list[tuple[str, str]], unit: str = "short",
          description: str = "", width: int = 12) -> dict:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
        "gridPos": {"w": width, "h": 8 if kind == "timeseries" else 4},
    }


def dashboard(uid: str, title: str, description: str, panels: list[dict]) -> dict:
    x = y = 0
    row_height = 0
    for i, p in enumerate(panels):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_height = 0, y + row_height, 0
        p["gridPos"].update({"x": x, "y": y})
        p["id"] = i + 1
        x += w
        row_height = max(row_height, h)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["brokkr"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource", "label": "Prometheus", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0,
        }]},
        "annotations": {"list": []},
        "panels": panels,
    }


def stat(title, expr, unit="short", description=""):
    return panel(title, "stat", [(expr, "")], unit, description, width=6)


RATE = "[$__rate_interval]"

FLEET = dashboard("brokkr-fleet", "Brokkr / Fleet", "Agents, heartbeats, deployment health and propagation.", [
    stat("Active agents", "max(brokkr_active_agents)"),
    stat("Stacks", "max(brokkr_stacks)"),
    stat("Deployment objects", "max(brokkr_deployment_objects)"),
    stat("Agents without heartbeat for 5 min",
         "count(max by (agent_id) (brokkr_agent_heartbeat_age_seconds) > 300) or vector(0)"),
    panel("Heartbeat age per agent", "timeseries",
          [("max by (agent_name) (brokkr_agent_heartbeat_age_seconds)", "{{agent_name}}")], "s"),
    panel("Deployment health reports by status", "timeseries",
          [("max by (status) (brokkr_deployment_health_reports)", "{{status}}")]),
    panel("Propagation time (creation to agent report), quantiles", "timeseries", [
        (f"histogram_quantile(0.5, sum by (le) (rate(brokkr_deployment_propagation_seconds_bucket{RATE})))", "p50"),
        (f"histogram_quantile(0.95, sum by (le) (rate(brokkr_deployment_propagation_seconds_bucket{RATE})))", "p95"),
    ], "s", "How long after a deployment object was created agents reported applying it."),
    panel("Agent reports by status", "timeseries",
          [(f"sum by (status) (rate(brokkr_deployment_propagation_seconds_count{RATE}))", "{{status}}")], "ops"),
    panel("Overdue work-order claims", "timeseries",
          [("max(brokkr_work_order_claims_overdue)", "overdue claims")]),
])

BROKER = dashboard("brokkr-broker", "Brokkr / Broker", "Requests, latency, long polls and the database.", [
    stat("Brokers up", 'sum(up * on (job, instance) group_left brokkr_build_info{process="broker"})'),
    stat("Brokers ready", 'sum(brokkr_ready{process="broker"})'),
    stat("Open long polls", "sum(brokkr_http_long_polls_open)"),
    stat("Open connections", "sum(brokkr_http_connections_open)"),
    panel("Requests by status", "timeseries",
          [(f"sum by (status) (rate(brokkr_http_requests_total{RATE}))", "{{status}}")], "reqps"),
    panel("Errors (5xx) by endpoint", "timeseries",
          [(f'sum by (endpoint, method) (rate(brokkr_http_requests_total{{status=~"5.."}}{RATE}))',
            "{{method}} {{endpoint}}")], "reqps"),
    panel("Latency p95 by endpoint (long polls excluded)", "timeseries", [(
        "histogram_quantile(0.95, sum by (le, endpoint) (rate(brokkr_http_request_duration_seconds_bucket"
        f'{{endpoint!~".*/target-state"}}{RATE})))', "{{endpoint}}")], "s"),
    panel("Long polls", "timeseries", [
        ("sum(brokkr_http_long_polls_open)", "waiting"),
        ("histogram_quantile(0.5, sum by (le) (rate(brokkr_http_request_duration_seconds_bucket"
         f'{{endpoint=~".*/target-state"}}{RATE})))', "p50 duration (s)"),
    ]),
    panel("Database queries by type", "timeseries",
          [(f"sum by (query_type) (rate(brokkr_database_queries_total{RATE}))", "{{query_type}}")], "ops"),
    panel("Database query latency p95", "timeseries", [(
        f"histogram_quantile(0.95, sum by (le, query_type) (rate(brokkr_database_query_duration_seconds_bucket{RATE})))",
        "{{query_type}}")], "s"),
    panel("Database pool connections", "timeseries",
          [("sum by (state) (brokkr_database_pool_connections)", "{{state}}")]),
    panel("Refused API keys by reason", "timeseries",
          [(f"sum by (reason) (rate(brokkr_auth_failures_total{RATE}))", "{{reason}}")], "ops"),
    panel("Resident memory", "timeseries", [(
        'process_resident_memory_bytes * on (job, instance) group_left brokkr_build_info{process="broker"}',
        "{{instance}}")], "bytes"),
    panel("CPU", "timeseries", [(
        f'rate(process_cpu_seconds_total{RATE}) * on (job, instance) group_left brokkr_build_info{{process="broker"}}',
        "{{instance}}")], "percentunit"),
])

WORKER = dashboard("brokkr-worker", "Brokkr / Worker", "Queues, webhook deliveries, retries and dead letters.", [
    stat("Workers ready", 'sum(brokkr_ready{process="worker"})'),
    stat("Jobs waiting", "sum(max by (queue) (brokkr_queue_depth))"),
    stat("Oldest due job", "max(brokkr_queue_oldest_job_age_seconds)", "s"),
    stat("Subscriptions disabled (24 h)", "sum(increase(brokkr_webhook_subscriptions_disabled_total[24h]))"),
    panel("Queue depth", "timeseries", [("max by (queue) (brokkr_queue_depth)", "{{queue}}")]),
    panel("Oldest due job age", "timeseries",
          [("max by (queue) (brokkr_queue_oldest_job_age_seconds)", "{{queue}}")], "s"),
    panel("Deliveries by outcome", "timeseries",
          [(f"sum by (outcome) (rate(brokkr_webhook_deliveries_total{RATE}))", "{{outcome}}")], "ops",
          "success, retry (failed, to be tried again), dead (retries used up), skipped."),
    panel("Retries and dead letters", "timeseries", [
        (f'sum(increase(brokkr_webhook_deliveries_total{{outcome="retry"}}{RATE}))', "retried"),
        (f'sum(increase(brokkr_webhook_deliveries_total{{outcome="dead"}}{RATE}))', "dead-lettered"),
    ]),
    panel("Delivery attempt latency p95 by result", "timeseries", [(
        f"histogram_quantile(0.95, sum by (le, result) (rate(brokkr_webhook_attempt_duration_seconds_bucket{RATE})))",
        "{{result}}")], "s"),
    panel("Jobs by queue and outcome", "timeseries",
          [(f"sum by (queue, outcome) (rate(brokkr_jobs_total{RATE}))", "{{queue}} {{outcome}}")], "ops"),
    panel("Job duration p95 by queue", "timeseries", [(
        f"histogram_quantile(0.95, sum by (le, queue) (rate(brokkr_job_duration_seconds_bucket{RATE})))",
        "{{queue}}")], "s"),
    panel("Queue consumers running", "timeseries", [
        ("sum by (queue) (brokkr_queue_consumer_up)", "{{queue}} up"),
        (f"sum by (queue) (increase(brokkr_queue_consumer_restarts_total{RATE}))", "{{queue}} restarts"),
    ]),
])

AGENTS = dashboard("brokkr-agents", "Brokkr / Agents", "Polls, applies and Kubernetes errors of the agents.", [
    stat("Agents scraped", 'count(brokkr_build_info{process="agent"})'),
    stat("Oldest successful poll", "max(time() - brokkr_agent_last_successful_poll_timestamp_seconds)", "s"),
    stat("Objects managed", "sum(brokkr_agent_managed_objects)"),
    stat("Drift corrections (24 h)", "sum(increase(brokkr_agent_drift_corrections_total[24h]))"),
    panel("Polls by outcome", "timeseries",
          [(f"sum by (status) (rate(brokkr_agent_poll_requests_total{RATE}))", "{{status}}")], "ops"),
    panel("Time since the last successful poll", "timeseries",
          [("time() - brokkr_agent_last_successful_poll_timestamp_seconds", "{{instance}}")], "s"),
    panel("Poll duration p95 (long polls wait up to 60 s)", "timeseries", [(
        f"histogram_quantile(0.95, sum by (le, instance) (rate(brokkr_agent_poll_duration_seconds_bucket{RATE})))",
        "{{instance}}")], "s"),
    panel("Applies by outcome", "timeseries",
          [(f"sum by (outcome) (rate(brokkr_agent_deployment_reconciles_total{RATE}))", "{{outcome}}")], "ops"),
    panel("Kubernetes operations by verb", "timeseries",
          [(f"sum by (operation) (rate(brokkr_agent_kubernetes_operations_total{RATE}))", "{{operation}}")], "ops"),
    panel("Kubernetes errors by verb", "timeseries", [(
        f'sum by (operation) (rate(brokkr_agent_kubernetes_operations_total{{outcome="error"}}{RATE}))',
        "{{operation}}")], "ops", "Operations that failed after the agent's retries."),
    panel("Kubernetes latency p95 by verb", "timeseries", [(
        f"histogram_quantile(0.95, sum by (le, operation) (rate(brokkr_agent_kubernetes_operation_duration_seconds_bucket{RATE})))",
        "{{operation}}")], "s"),
    panel("Deployment objects and objects managed", "timeseries", [
        ("sum by (instance) (brokkr_agent_applied_deployment_objects)", "{{instance}} deployment objects"),
        ("sum by (instance) (brokkr_agent_managed_objects)", "{{instance}} objects"),
    ]),
    panel("Heartbeats accepted", "timeseries",
          [(f"sum by (instance) (rate(brokkr_agent_heartbeat_sent_total{RATE}))", "{{instance}}")], "ops"),
])

DASHBOARDS = {"brokkr-fleet.json": FLEET, "brokkr-broker.json": BROKER,
              "brokkr-worker.json": WORKER, "brokkr-agents.json": AGENTS}


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for name, board in DASHBOARDS.items():
        text = json.dumps(board, indent=2) + "\n"
        path = HERE / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"dashboards not current (run {Path(__file__).name}): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
