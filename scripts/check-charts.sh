#!/usr/bin/env bash
# Checks deploy/: the Helm charts rendered with Helm's own engine (helm-python-sdk), linted,
# validated strictly against the Kubernetes 1.30 schemas, their configuration accepted by
# `brokkr-broker config check` / `brokkr-agent config check`, the agent's RBAC compared with its
# code, the values schemas, the Containerfile (hadolint), and the agent chart applied to kubesim
# with an agent configured by it reconciling. See deploy/charts/tests/check_charts.py.
#
#   scripts/check-charts.sh                  # everything (needs PostgreSQL at $DATABASE_URL)
#   scripts/check-charts.sh --skip-kubesim   # rendering, schemas, config, RBAC, lint only
#
# Python tools come from PyPI at the versions pinned in deploy/charts/tests/requirements.txt,
# installed once into target/chart-tools; kubectl is the one on PATH, else Debian's kubernetes-client
# (installed when root). Bounded by BROKKR_CHART_CHECK_TIMEOUT (default 300 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TOOLS=$ROOT/target/chart-tools
REQS=deploy/charts/tests/requirements.txt

if ! cmp -s "$REQS" "$TOOLS/requirements.txt" 2>/dev/null; then
    echo "installing chart check tools into $TOOLS"
    rm -rf "$TOOLS"
    timeout 240 python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
        --target "$TOOLS" -r "$REQS"
    cp "$REQS" "$TOOLS/requirements.txt"
fi
# kubectl (server-side apply to kubesim): an existing one is used as it is; otherwise Debian's
# kubernetes-client is installed when we are root, else we stop and say what is missing.
ensure_kubectl() {
    command -v kubectl >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "kubectl not found: installing the Debian package kubernetes-client"
        export DEBIAN_FRONTEND=noninteractive
        timeout 300 apt-get install -y -q --no-install-recommends kubernetes-client >/dev/null \
            || { timeout 300 apt-get update -q >/dev/null \
                 && timeout 300 apt-get install -y -q --no-install-recommends kubernetes-client >/dev/null; } \
            || true
    fi
    command -v kubectl >/dev/null || {
        echo "kubectl is needed for the kubesim check and was not found: install it (Debian, as root:" \
             "apt-get install kubernetes-client), or run scripts/check-charts.sh --skip-kubesim" >&2
        return 1
    }
}
case " $* " in
    *" --skip-kubesim "*) ;;
    *) ensure_kubectl || exit 1 ;;
esac
# The binaries the checks run (cheap when scripts/test.sh built them already).
cargo build --quiet -p brokkr-api -p brokkr-agent -p brokkr-e2e --bins

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PYTHONPATH=$TOOLS timeout "${BROKKR_CHART_CHECK_TIMEOUT:-300}" \
    python3 deploy/charts/tests/check_charts.py --bin-dir "$ROOT/target/debug" \
    --hadolint "$TOOLS/bin/hadolint" "$@"
