#!/usr/bin/env bash
# Generates the SDKs in clients/ from the committed OpenAPI document (api/openapi.json):
# - clients/python: openapi-python-client (config clients/openapi-python-client.yaml) writes
#   pyproject.toml and the package brokkr_client/;
# - clients/typescript: openapi-typescript writes src/schema.ts, then tsc compiles it and the
#   hand-written src/index.ts into dist/ (committed, so `npm install ./clients/typescript` needs
#   no build step).
# Hand-written and kept: the READMEs, clients/typescript/{package.json,tsconfig.json,src/index.ts}.
#
#   scripts/generate-clients.sh          # regenerate the SDKs in place
#   scripts/generate-clients.sh --check  # fail when the committed SDKs differ from what it generates
#
# The generators are pinned in api/contract/requirements.txt and api/contract/package.json
# (+ package-lock.json) and installed once into target/contract-tools. Needs python3, node, npm.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
check=0
[[ ${1:-} == --check ]] && check=1

# shellcheck source=scripts/lib/contract-tools.sh
source "$ROOT/scripts/lib/contract-tools.sh"
brokkr_contract_tools "$ROOT"
NODE_BIN=$BROKKR_TOOLS/npm/node_modules/.bin

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# Python. openapi-python-client formats its output with ruff (a dependency, in py/bin).
PYTHONPATH=$BROKKR_TOOLS/py PATH=$BROKKR_TOOLS/py/bin:$PATH timeout 120 \
    python3 -m openapi_python_client generate --path api/openapi.json \
    --config clients/openapi-python-client.yaml --meta uv --output-path "$stage/py-out" \
    --fail-on-warning >/dev/null
mkdir -p "$stage/python"
cp -r "$stage/py-out/pyproject.toml" "$stage/py-out/brokkr_client" "$stage/python/"
cp clients/python/README.md "$stage/python/"
find "$stage/python" -name __pycache__ -prune -exec rm -rf {} +

# TypeScript.
mkdir -p "$stage/typescript/src"
cp clients/typescript/package.json clients/typescript/tsconfig.json clients/typescript/README.md \
    "$stage/typescript/"
cp clients/typescript/src/index.ts "$stage/typescript/src/"
# --default-non-nullable=false: a request field with a default may be left out (openapi-typescript
# otherwise makes it required, in requests too).
timeout 120 "$NODE_BIN/openapi-typescript" api/openapi.json -o "$stage/typescript/src/schema.ts" \
    --default-non-nullable=false >/dev/null
ln -s "$BROKKR_TOOLS/npm/node_modules" "$stage/typescript/node_modules"
timeout 120 "$NODE_BIN/tsc" -p "$stage/typescript"
rm "$stage/typescript/node_modules"

if [[ $check == 1 ]]; then
    if ! diff -r --exclude=__pycache__ --exclude=node_modules -q clients/python "$stage/python" ||
        ! diff -r --exclude=node_modules -q clients/typescript "$stage/typescript"; then
        echo "the SDKs in clients/ are not what scripts/generate-clients.sh generates from" \
            "api/openapi.json; regenerate them with scripts/generate-clients.sh" >&2
        exit 1
    fi
    echo "clients/python and clients/typescript are what the generators produce"
else
    rm -rf clients/python/brokkr_client clients/python/pyproject.toml \
        clients/typescript/src/schema.ts clients/typescript/dist
    cp -r "$stage/python/pyproject.toml" "$stage/python/brokkr_client" clients/python/
    cp -r "$stage/typescript/src/schema.ts" clients/typescript/src/
    cp -r "$stage/typescript/dist" clients/typescript/
    echo "regenerated clients/python and clients/typescript from api/openapi.json"
fi
