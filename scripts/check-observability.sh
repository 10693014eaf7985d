#!/usr/bin/env bash
# Checks deploy/observability against the code: the Grafana dashboards are what
# dashboards.py writes; `promtool check rules` and `promtool test rules` (alerts.test.yml fires
# and does not fire each alert on synthetic series); then the end-to-end test
# e2e/tests/observability.rs: broker, worker and agent (with kubesim) started by the harness,
# `promtool check metrics` on each live /metrics, a real Prometheus scraping them and evaluating
# the rules, and every metric name used by a dashboard panel or a rule scraped from them.
#
#   scripts/check-observability.sh     # needs PostgreSQL at $DATABASE_URL
#
# promtool and prometheus come from the Debian package `prometheus`, installed here when missing
# (bounded by `timeout`). The end-to-end part is bounded by BROKKR_OBSERVABILITY_CHECK_TIMEOUT
# (default 300 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RULES=deploy/observability/prometheus

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "installing the Debian package prometheus (promtool, prometheus)"
    export DEBIAN_FRONTEND=noninteractive
    if ! timeout 240 apt-get install -y --no-install-recommends prometheus; then
        timeout 180 apt-get update
        timeout 240 apt-get install -y --no-install-recommends prometheus
    fi
fi
promtool --version 2>&1 | sed -n 1p

echo "dashboards current (deploy/observability/grafana/dashboards.py --check)"
python3 deploy/observability/grafana/dashboards.py --check
promtool check rules "$RULES/alerts.yml"
# promtool resolves rule_files relative to the test file.
promtool test rules "$RULES/alerts.test.yml"

# The binaries the end-to-end test runs (cheap when scripts/test.sh built them already).
cargo build --quiet -p brokkr-api -p brokkr-jobs -p brokkr-agent -p brokkr-e2e --bins
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
timeout "${BROKKR_OBSERVABILITY_CHECK_TIMEOUT:-300}" \
    cargo test --quiet -p brokkr-e2e --test observability -- --ignored
