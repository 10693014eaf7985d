#!/usr/bin/env bash
# Runs every test of the workspace: `cargo build --workspace --bins` (the end-to-end tests run
# the binaries), then `cargo test --workspace`, with a PostgreSQL server for the integration
# tests (each test creates a database of its own on it).
#
#   scripts/test.sh                 # all tests
#   scripts/test.sh -p brokkr-api   # extra arguments go to cargo test (-p narrows it)
#
# A full run (no -p) first runs scripts/prepare-sqlx.sh --check: the committed query cache
# (.sqlx/) is what the store's build-time-checked queries and the migrations produce
# (BROKKR_SKIP_SQLX_CHECK=1 skips it). It also runs scripts/check-openapi.sh: the committed
# OpenAPI document, the SDKs in clients/, webhook signatures checked with real verifier
# libraries, the SDK contract tests and schemathesis (BROKKR_SKIP_OPENAPI_CHECKS=1 skips them), scripts/check-charts.sh:
# the Helm charts and Containerfile in deploy/ (BROKKR_SKIP_CHART_CHECKS=1 skips them), and
# scripts/check-observability.sh: the dashboards and alert rules of deploy/observability with
# promtool and a real Prometheus scraping a running stack
# (BROKKR_SKIP_OBSERVABILITY_CHECKS=1 skips them).
#
# Server: $DATABASE_URL if set, else PostgreSQL on 127.0.0.1:5432 (user postgres, no password),
# else the private cluster of the local stack (./.stack/pgdata, port 5433), created and started
# here and stopped again afterwards (see scripts/lib/postgres.sh). DATABASE_URL is exported for
# the tests.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"

trap 'brokkr_pg_stop_private' EXIT
trap 'exit 130' INT TERM

brokkr_pg_ensure "$ROOT/.stack"
export DATABASE_URL=$BROKKR_PG_URL

# --workspace, unless the arguments pick packages themselves (cargo would ignore -p next to it).
scope=(--workspace)
for arg in "$@"; do
    case $arg in
    --) break ;;
    -p | -p* | --package | --package=*) scope=() ;;
    esac
done
if [[ ${#scope[@]} -gt 0 && ${BROKKR_SKIP_SQLX_CHECK:-0} != 1 ]]; then
    brokkr_say "scripts/prepare-sqlx.sh --check"
    bash "$ROOT/scripts/prepare-sqlx.sh" --check
fi
# The end-to-end tests (e2e/) start the broker, worker and agent binaries as processes; cargo
# only builds a package's own binaries for its tests, so build them all first.
brokkr_say "cargo build --workspace --bins"
cargo build --workspace --bins
brokkr_say "cargo test ${scope[*]} $*"
cargo test "${scope[@]}" "$@"
if [[ ${#scope[@]} -gt 0 && ${BROKKR_SKIP_OPENAPI_CHECKS:-0} != 1 ]]; then
    brokkr_say "scripts/check-openapi.sh"
    bash "$ROOT/scripts/check-openapi.sh"
fi
if [[ ${#scope[@]} -gt 0 && ${BROKKR_SKIP_CHART_CHECKS:-0} != 1 ]]; then
    brokkr_say "scripts/check-charts.sh"
    bash "$ROOT/scripts/check-charts.sh"
fi
if [[ ${#scope[@]} -gt 0 && ${BROKKR_SKIP_OBSERVABILITY_CHECKS:-0} != 1 ]]; then
    brokkr_say "scripts/check-observability.sh"
    bash "$ROOT/scripts/check-observability.sh"
fi
