#!/usr/bin/env bash
# Checks the API contract: the committed OpenAPI document (api/openapi.json) is what the code
# produces, validates with openapi-spec-validator and lints clean with Redocly's recommended
# rules (api/contract/redocly.yaml); and webhook deliveries of a real broker and worker verify
# with the `standardwebhooks` library and GitHub's `@octokit/webhooks-methods`
# (api/contract/check_webhooks.py).
#
#   scripts/check-openapi.sh                 # everything (needs PostgreSQL at $DATABASE_URL)
#   scripts/check-openapi.sh --skip-webhooks # the document only
#
# Tools come from PyPI and npm at the versions pinned in api/contract/requirements.txt and
# api/contract/package.json (+ package-lock.json), installed once into target/contract-tools.
# Needs python3, node and npm. Bounded by BROKKR_OPENAPI_CHECK_TIMEOUT (default 300 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TOOLS=$ROOT/target/contract-tools
CONTRACT=api/contract
LIMIT=${BROKKR_OPENAPI_CHECK_TIMEOUT:-300}
skip_webhooks=0
[[ ${1:-} == --skip-webhooks ]] && skip_webhooks=1

# shellcheck source=scripts/lib/contract-tools.sh
source "$ROOT/scripts/lib/contract-tools.sh"
brokkr_contract_tools "$ROOT"

cargo build --quiet -p brokkr-api -p brokkr-jobs --bins
produced=$(mktemp)
trap 'rm -f "$produced"' EXIT
target/debug/brokkr-broker openapi >"$produced"
if ! cmp -s "$produced" api/openapi.json; then
    echo "api/openapi.json is not what the code produces; regenerate it with" >&2
    echo "    cargo run -q -p brokkr-api --bin brokkr-broker -- openapi > api/openapi.json" >&2
    exit 1
fi
echo "openapi-spec-validator:"
PYTHONPATH=$TOOLS/py timeout "$LIMIT" python3 -m openapi_spec_validator api/openapi.json
echo "redocly lint (recommended rules):"
set +e
lint=$(timeout "$LIMIT" "$TOOLS/npm/node_modules/.bin/redocly" lint api/openapi.json \
    --config "$CONTRACT/redocly.yaml" --format=summary 2>&1)
status=$?
set -e
# Without Redocly's Node.js deprecation banner.
printf '%s\n' "$lint" | grep -v -e '[║╔╚]' -e '^ *$' || true
# Warnings fail too: a remaining one is listed, with its reason, in redocly.yaml.
if [[ $status != 0 ]] || grep -qE '^(error|warning) ' <<<"$lint"; then
    echo "redocly lint found problems" >&2
    exit 1
fi

if [[ $skip_webhooks == 0 ]]; then
    export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
    PYTHONPATH=$TOOLS/py timeout "$LIMIT" python3 "$CONTRACT/check_webhooks.py" \
        --bin-dir "$ROOT/target/debug" --node-modules "$TOOLS/npm/node_modules"
fi
echo "API contract checks passed"
