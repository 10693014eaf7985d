#!/usr/bin/env bash
# Checks the API contract:
# 1. the committed OpenAPI document (api/openapi.json) is what the code produces, validates with
#    openapi-spec-validator and lints clean with Redocly's recommended rules
#    (api/contract/redocly.yaml);
# 2. the SDKs in clients/ are what scripts/generate-clients.sh generates from it;
# then, against a real broker and worker (needs PostgreSQL at $DATABASE_URL):
# 3. webhook deliveries verify with the `standardwebhooks` library and GitHub's
#    `@octokit/webhooks-methods` (api/contract/check_webhooks.py);
# 4. the SDK contract tests: a scenario in each SDK, installed from clients/ as a user would
#    (`pip install ./clients/python`, `npm install ./clients/typescript`), calls every operation
#    and checks every answer (api/contract/sdk_contract.py);
# 5. schemathesis fuzzes every operation as admin, generator and agent, checking for 5xx,
#    undocumented statuses and content types, and answers that break their schema; the broker
#    must stay up (api/contract/fuzz.py; BROKKR_FUZZ_EXAMPLES cases per operation and phase,
#    default 5).
#
#   scripts/check-openapi.sh                  # everything
#   scripts/check-openapi.sh --document-only  # 1 and 2
#
# Tools come from PyPI and npm at the versions pinned in api/contract/requirements.txt and
# api/contract/package.json (+ package-lock.json), installed once into target/contract-tools.
# Needs python3, node and npm. Each step is bounded by BROKKR_OPENAPI_CHECK_TIMEOUT (default
# 300 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TOOLS=$ROOT/target/contract-tools
CONTRACT=api/contract
LIMIT=${BROKKR_OPENAPI_CHECK_TIMEOUT:-300}
document_only=0
[[ ${1:-} == --document-only ]] && document_only=1

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

echo "SDKs:"
bash scripts/generate-clients.sh --check
[[ $document_only == 1 ]] && exit 0

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
echo "webhook signatures:"
PYTHONPATH=$TOOLS/py timeout "$LIMIT" python3 "$CONTRACT/check_webhooks.py" \
    --bin-dir "$ROOT/target/debug" --node-modules "$TOOLS/npm/node_modules"

echo "SDK contract tests:"
sdk=$(mktemp -d)
trap 'rm -f "$produced"; rm -rf "$sdk"' EXIT
# Installed as a user would; the Python SDK's dependencies (httpx, attrs) are among the tools.
timeout "$LIMIT" python3 -m pip install --quiet --disable-pip-version-check \
    --root-user-action=ignore --no-deps --target "$sdk/py" ./clients/python
mkdir -p "$sdk/ts"
echo '{"private": true, "type": "module"}' >"$sdk/ts/package.json"
timeout "$LIMIT" npm install --prefix "$sdk/ts" --install-links --no-audit --no-fund \
    --loglevel=error "$ROOT/clients/typescript"
PYTHONPATH=$sdk/py:$TOOLS/py timeout "$LIMIT" python3 "$CONTRACT/sdk_contract.py" \
    --bin-dir "$ROOT/target/debug" --ts-dir "$sdk/ts" --tsc "$TOOLS/npm/node_modules/.bin/tsc"

echo "schemathesis:"
PYTHONPATH=$TOOLS/py timeout "$LIMIT" python3 "$CONTRACT/fuzz.py" --bin-dir "$ROOT/target/debug" \
    --max-examples "${BROKKR_FUZZ_EXAMPLES:-5}"
echo "API contract checks passed"
