# shellcheck shell=bash
# The pinned tools of the API contract checks and the SDK generator, installed once into
# target/contract-tools: PyPI packages of api/contract/requirements.txt into
# target/contract-tools/py (used with PYTHONPATH), npm packages of api/contract/package.json +
# package-lock.json into target/contract-tools/npm. Reinstalled when a pin changes.
#
# Sourced by scripts/check-openapi.sh and scripts/generate-clients.sh; defines
# brokkr_contract_tools ROOT, which installs what is missing and sets BROKKR_TOOLS.

brokkr_contract_tools() {
    local root=$1 contract=$1/api/contract
    BROKKR_TOOLS=$root/target/contract-tools
    if ! cmp -s "$contract/requirements.txt" "$BROKKR_TOOLS/py/requirements.txt" 2>/dev/null; then
        echo "installing Python contract tools into $BROKKR_TOOLS/py" >&2
        rm -rf "$BROKKR_TOOLS/py"
        timeout 300 python3 -m pip install --quiet --disable-pip-version-check \
            --no-warn-script-location --target "$BROKKR_TOOLS/py" -r "$contract/requirements.txt"
        cp "$contract/requirements.txt" "$BROKKR_TOOLS/py/requirements.txt"
    fi
    if ! cmp -s "$contract/package-lock.json" "$BROKKR_TOOLS/npm/package-lock.json" 2>/dev/null; then
        echo "installing npm contract tools into $BROKKR_TOOLS/npm" >&2
        rm -rf "$BROKKR_TOOLS/npm"
        mkdir -p "$BROKKR_TOOLS/npm"
        cp "$contract/package.json" "$contract/package-lock.json" "$BROKKR_TOOLS/npm/"
        timeout 240 npm ci --prefix "$BROKKR_TOOLS/npm" --no-audit --no-fund --loglevel=error
    fi
}
