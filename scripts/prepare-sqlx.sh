#!/usr/bin/env bash
# Regenerates the query cache of the store's build-time-checked queries (`.sqlx/` at the
# workspace root), or with --check fails when the committed cache is not what the current
# queries and migrations produce.
#
#   scripts/prepare-sqlx.sh           # rewrite .sqlx/ (run it after changing a query or a migration)
#   scripts/prepare-sqlx.sh --check   # compare only (scripts/test.sh runs this)
#
# Every build reads the cache only (`SQLX_OFFLINE=true` in .cargo/config.toml), so no build needs
# a database. This script is the one place that asks one: it creates a scratch database on the
# server scripts/lib/postgres.sh finds ($DATABASE_URL, else 127.0.0.1:5432 as user postgres,
# else a private cluster), applies `migrations/` and the job-queue migrations shipped with
# apalis-postgres with psql, then type-checks brokkr-schema with the query macros online
# (`SQLX_OFFLINE=false`): each `query!`/`query_as!`/`query_scalar!` describes its statement
# against the scratch database and writes `query-<sha256 of the SQL>.json` into
# `SQLX_OFFLINE_DIR`, a temporary directory that then replaces (or is compared with) `.sqlx/`.
# No sqlx-cli is needed. The scratch database is dropped afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"

check=0
case ${1:-} in
--check) check=1 ;;
"") ;;
*) brokkr_die "usage: scripts/prepare-sqlx.sh [--check]" ;;
esac

scratch_db="brokkr_sqlx_prepare_$$"
generated=$(mktemp -d)
stamp=$(mktemp)
# Keeps the modification time of the file touched below, to put it back afterwards.
touch -r schema/src/lib.rs "$stamp"
cleanup() {
    rm -rf "$generated" "$stamp"
    if [[ -n $BROKKR_PG_URL ]]; then
        psql "$BROKKR_PG_URL" -X -q -c "DROP DATABASE IF EXISTS \"$scratch_db\"" >/dev/null 2>&1 || true
    fi
    brokkr_pg_stop_private
}
trap cleanup EXIT
trap 'exit 130' INT TERM

brokkr_pg_ensure "$ROOT/.stack"
psql "$BROKKR_PG_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$scratch_db\"" >/dev/null
scratch_url=$(brokkr_pg_url_with_db "$BROKKR_PG_URL" "$scratch_db")

# The job-queue schema (`apalis`), which store queries read too, comes from the migrations in the
# apalis-postgres package that Cargo.lock pins (fetched for this machine's platform only).
host=$(rustc -vV | sed -n 's/^host: //p')
cargo fetch --quiet --locked --target "$host"
apalis_version=$(cargo pkgid --locked apalis-postgres | sed 's/.*@//')
apalis_dir=$(find "${CARGO_HOME:-$HOME/.cargo}"/registry/src -maxdepth 2 -type d \
    -name "apalis-postgres-$apalis_version" | head -n 1)
[[ -n $apalis_dir && -d $apalis_dir/migrations ]] ||
    brokkr_die "the migrations of apalis-postgres $apalis_version were not found"

# Each migration in a transaction of its own, in file-name order, as sqlx applies them.
for file in migrations/*.sql "$apalis_dir"/migrations/*.sql; do
    PGOPTIONS='-c client_min_messages=warning' \
        psql "$scratch_url" -X -q -1 -v ON_ERROR_STOP=1 -f "$file" >/dev/null ||
        brokkr_die "migration $file failed on the scratch database"
done

# Dependencies first, offline as every build: apalis-postgres (the other crate using the macros)
# then compiles from the cache it ships, never against the scratch database. brokkr-schema itself
# may fail here when .sqlx/ is out of date; the online build below is what counts.
cargo check --quiet --locked -p brokkr-schema --features db --lib >/dev/null 2>&1 || true
# Cargo does not track SQLX_OFFLINE, so make brokkr-schema recompile: its macros then expand
# against the scratch database. Should anything else be compiled online after all, its queries
# are written too; those of apalis-postgres are removed below by the names of its own cache.
touch schema/src/lib.rs
brokkr_say "cargo check -p brokkr-schema --features db (query macros online)"
SQLX_OFFLINE=false SQLX_OFFLINE_DIR=$generated DATABASE_URL=$scratch_url \
    cargo check --quiet --locked -p brokkr-schema --features db --lib
for shipped in "$apalis_dir"/.sqlx/query-*.json; do
    rm -f "$generated/$(basename "$shipped")"
done
compgen -G "$generated/query-*.json" >/dev/null || brokkr_die "the build wrote no query data"

if [[ $check == 1 ]]; then
    if ! diff -r -q .sqlx "$generated" >/dev/null 2>&1; then
        diff -r -u .sqlx "$generated" | head -n 60 >&2 || true
        echo ".sqlx/ is not what the store's queries produce; regenerate it with" >&2
        echo "    scripts/prepare-sqlx.sh" >&2
        # The next build must recompile against the committed cache (and fail), not reuse the
        # online build just made.
        touch schema/src/lib.rs
        exit 1
    fi
    echo ".sqlx/ is up to date ($(find .sqlx -name 'query-*.json' | wc -l) queries)"
else
    rm -rf .sqlx
    mkdir .sqlx
    cp "$generated"/query-*.json .sqlx/
    echo "wrote .sqlx/ ($(find .sqlx -name 'query-*.json' | wc -l) queries)"
fi
# The online build matches the committed cache now: put the touched file's time back, so builds
# in other target directories (and `cargo build`) do not recompile for nothing.
touch -r "$stamp" schema/src/lib.rs
