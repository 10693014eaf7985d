#!/usr/bin/env bash
# Runs the whole Brokkr stack on this machine: PostgreSQL + brokkr-broker + brokkr-worker +
# a cluster (kubesim, a SIMULATED Kubernetes API, unless you give a kubeconfig) + brokkr-agent.
#
#   deploy/local-stack.sh            # build, start, print the admin PAK and URLs, Ctrl-C stops
#
# The broker serves the API; the worker delivers webhooks from the job queues in the same
# database. Both get the same environment, database and webhook encryption key. The agent is
# registered through the API (agent `local-agent`, cluster `kubesim` or `local`) and applies
# what is targeted at it to the cluster. If any process exits, the script stops the others and
# exits with an error.
#
# Database: $DATABASE_URL's server if set, else PostgreSQL on 127.0.0.1:5432 (user postgres,
# no password), else a private cluster in ./.stack/pgdata on port 5433 (PostgreSQL is installed
# with apt-get first when missing and we are root). The broker and the worker use the database
# `brokkr` of that server, created when missing. Setting BROKKR__DATABASE__URL instead uses that
# URL as it is.
#
# Environment:
#   BROKKR_PORT               broker port (default 3000)
#   BROKKR_WORKER_PORT        worker port: /healthz, /readyz, /metrics (default 3001)
#   BROKKR_HOST               bind address of both (default 127.0.0.1; 0.0.0.0 for every interface)
#   BROKKR_STACK_DB           database name (default brokkr)
#   BROKKR_STACK_PRIVATE_PG=1 always use the private cluster
#   BROKKR_STACK_PG_PORT      private cluster port (default 5433)
#   BROKKR_STACK_FOLLOW_LOGS  1 (default) shows both logs after start-up, 0 keeps them quiet
#   BROKKR_STACK_EXIT_AFTER_START=1  stop again as soon as everything is up (smoke test)
#   BROKKR_STACK_KUBECONFIG   kubeconfig of a real cluster for the agent (default: start kubesim)
#   BROKKR_STACK_AGENT=0      start neither kubesim nor the agent
#   BROKKR_KUBESIM_PORT       kubesim port (default 6443)
#   BROKKR_AGENT_PORT         agent port: /healthz, /readyz, /health, /metrics (default 3002)
#   any BROKKR__SECTION__KEY  passed to the broker and the worker (see the README's configuration
#                             table), e.g. BROKKR__WEBHOOKS__ALLOWED_NETWORKS=127.0.0.0/8 to let
#                             webhooks reach receivers on this machine
#
# Files in ./.stack: broker.out (stdout), broker.log (logs), worker.log (the worker's output),
# kubesim.log + kubesim.kubeconfig (the simulated cluster), agent.log, agent.pak (mode 600),
# admin.pak (mode 600; one per database in admin-paks/), encryption.key (mode 600, webhook
# encryption key), pgdata/ (private cluster).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
fi

STACK=$ROOT/.stack
PORT=${BROKKR_PORT:-3000}
WORKER_PORT=${BROKKR_WORKER_PORT:-3001}
HOST=${BROKKR_HOST:-127.0.0.1}
DB=${BROKKR_STACK_DB:-brokkr}
FOLLOW=${BROKKR_STACK_FOLLOW_LOGS:-1}
if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
    brokkr_die "BROKKR_PORT must be a port number, got '$PORT'"
fi
if ! [[ $WORKER_PORT =~ ^[0-9]+$ ]] || ((WORKER_PORT < 1 || WORKER_PORT > 65535)); then
    brokkr_die "BROKKR_WORKER_PORT must be a port number, got '$WORKER_PORT'"
fi
((WORKER_PORT != PORT)) || brokkr_die "BROKKR_WORKER_PORT and BROKKR_PORT must differ (both are $PORT)"
case $HOST in
0.0.0.0 | '' | '::' | '[::]') PROBE_HOST=127.0.0.1 ;;
*) PROBE_HOST=$HOST ;;
esac
[[ $HOST == *:* && $HOST != \[* ]] && HOST="[$HOST]"
BASE_URL="http://${PROBE_HOST/127.0.0.1/localhost}:$PORT"
PROBE_URL="http://$PROBE_HOST:$PORT"
WORKER_URL="http://${PROBE_HOST/127.0.0.1/localhost}:$WORKER_PORT"
WORKER_PROBE_URL="http://$PROBE_HOST:$WORKER_PORT"

mkdir -p "$STACK"
chmod 755 "$STACK"

if (: <"/dev/tcp/$PROBE_HOST/$PORT") 2>/dev/null; then
    brokkr_die "something already listens on $PROBE_HOST:$PORT (an earlier local stack?); stop it or set BROKKR_PORT"
fi
if (: <"/dev/tcp/$PROBE_HOST/$WORKER_PORT") 2>/dev/null; then
    brokkr_die "something already listens on $PROBE_HOST:$WORKER_PORT (an earlier local stack?); stop it or set BROKKR_WORKER_PORT"
fi
command -v cargo >/dev/null 2>&1 || brokkr_die "cargo not found: install the Rust toolchain (https://rustup.rs)"
command -v curl >/dev/null 2>&1 || brokkr_die "curl not found (Debian: apt-get install -y curl)"

WITH_AGENT=${BROKKR_STACK_AGENT:-1}
KUBESIM_PORT=${BROKKR_KUBESIM_PORT:-6443}
AGENT_PORT=${BROKKR_AGENT_PORT:-3002}
if [[ $WITH_AGENT == 1 ]]; then
    if ! [[ $AGENT_PORT =~ ^[0-9]+$ ]] || ((AGENT_PORT < 1 || AGENT_PORT > 65535)); then
        brokkr_die "BROKKR_AGENT_PORT must be a port number, got '$AGENT_PORT'"
    fi
    if [[ -n ${BROKKR_STACK_KUBECONFIG:-} ]]; then
        [[ -r $BROKKR_STACK_KUBECONFIG ]] || brokkr_die "BROKKR_STACK_KUBECONFIG: cannot read $BROKKR_STACK_KUBECONFIG"
    elif (: <"/dev/tcp/127.0.0.1/$KUBESIM_PORT") 2>/dev/null; then
        brokkr_die "something already listens on 127.0.0.1:$KUBESIM_PORT; stop it or set BROKKR_KUBESIM_PORT"
    fi
    if (: <"/dev/tcp/$PROBE_HOST/$AGENT_PORT") 2>/dev/null; then
        brokkr_die "something already listens on $PROBE_HOST:$AGENT_PORT; stop it or set BROKKR_AGENT_PORT"
    fi
fi

BROKER_PID=""
WORKER_PID=""
KUBESIM_PID=""
AGENT_PID=""
TAIL_PID=""
# shellcheck disable=SC2317  # called by the traps
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $TAIL_PID ]]; then kill "$TAIL_PID" 2>/dev/null || true; fi
    if [[ -n $AGENT_PID ]] && kill -0 "$AGENT_PID" 2>/dev/null; then
        brokkr_say "stopping brokkr-agent (SIGTERM)"
        kill -TERM "$AGENT_PID" 2>/dev/null || true
        wait "$AGENT_PID" 2>/dev/null || true
    fi
    if [[ -n $KUBESIM_PID ]] && kill -0 "$KUBESIM_PID" 2>/dev/null; then
        kill -TERM "$KUBESIM_PID" 2>/dev/null || true
        wait "$KUBESIM_PID" 2>/dev/null || true
    fi
    # Both get SIGTERM at once and then both are waited for: the worker finishes in-flight
    # deliveries (up to worker.shutdown_deadline_seconds), the broker in-flight requests.
    if [[ -n $WORKER_PID ]] && kill -0 "$WORKER_PID" 2>/dev/null; then
        brokkr_say "stopping brokkr-worker (SIGTERM, in-flight deliveries may finish)"
        kill -TERM "$WORKER_PID" 2>/dev/null || true
    fi
    if [[ -n $BROKER_PID ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
        brokkr_say "stopping brokkr-broker (SIGTERM, in-flight requests may finish)"
        kill -TERM "$BROKER_PID" 2>/dev/null || true
    fi
    if [[ -n $WORKER_PID ]]; then wait "$WORKER_PID" 2>/dev/null || true; fi
    if [[ -n $BROKER_PID ]]; then wait "$BROKER_PID" 2>/dev/null || true; fi
    brokkr_pg_stop_private
    exit "$rc"
}
# shellcheck disable=SC2317
on_signal() {
    echo >&2
    exit 130
}
trap cleanup EXIT
trap on_signal INT TERM

# --- database -------------------------------------------------------------------------------
if [[ -n ${BROKKR__DATABASE__URL:-} ]]; then
    brokkr_say "using BROKKR__DATABASE__URL as it is"
else
    brokkr_pg_ensure "$STACK"
    brokkr_pg_create_db "$DB"
    export BROKKR__DATABASE__URL
    BROKKR__DATABASE__URL=$(brokkr_pg_url_with_db "$BROKKR_PG_URL" "$DB")
fi

# --- webhook encryption key (kept across runs so stored secrets stay readable) ---------------
if [[ -z ${BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY:-} ]]; then
    if [[ ! -s $STACK/encryption.key ]]; then
        brokkr_say "generating a webhook encryption key in .stack/encryption.key"
        (
            umask 077
            if command -v openssl >/dev/null 2>&1; then
                openssl rand -hex 32
            else
                od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
                echo
            fi >"$STACK/encryption.key"
        )
    fi
    chmod 600 "$STACK/encryption.key"
    BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY=$(tr -d ' \n' <"$STACK/encryption.key")
    [[ $BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY =~ ^[0-9a-fA-F]{64}$ ]] ||
        brokkr_die ".stack/encryption.key must hold 64 hex characters; delete it to get a new one"
    export BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY
fi

# --- build ----------------------------------------------------------------------------------
if [[ $WITH_AGENT == 1 ]]; then
    brokkr_say "building the broker, worker, agent and kubesim (cargo build --release)"
    cargo build --release -p brokkr-api -p brokkr-jobs -p brokkr-agent -p brokkr-e2e --bin brokkr-broker \
        --bin brokkr-worker --bin brokkr-agent --bin kubesim
else
    brokkr_say "building brokkr-broker and brokkr-worker (cargo build --release -p brokkr-api -p brokkr-jobs)"
    cargo build --release -p brokkr-api -p brokkr-jobs
fi
BROKER_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/brokkr-broker
WORKER_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/brokkr-worker
AGENT_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/brokkr-agent
KUBESIM_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/kubesim
[[ -x $BROKER_BIN ]] || brokkr_die "built binary not found at $BROKER_BIN"
[[ -x $WORKER_BIN ]] || brokkr_die "built binary not found at $WORKER_BIN"

# --- start ----------------------------------------------------------------------------------
export BROKKR__BROKER__LISTEN_ADDR="$HOST:$PORT"
: >"$STACK/broker.out"
chmod 600 "$STACK/broker.out"
: >"$STACK/broker.log"
brokkr_say "starting brokkr-broker on $HOST:$PORT (logs: .stack/broker.log)"
"$BROKER_BIN" serve >"$STACK/broker.out" 2>"$STACK/broker.log" </dev/null &
BROKER_PID=$!

ready=0
for _ in $(seq 1 240); do
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
        wait "$BROKER_PID" && rc=0 || rc=$?
        BROKER_PID=""
        echo "--- last lines of .stack/broker.log ---" >&2
        tail -n 20 "$STACK/broker.log" >&2
        brokkr_die "brokkr-broker exited during start-up (exit code $rc)"
    fi
    if curl -fsS -o /dev/null --max-time 2 "$PROBE_URL/readyz" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.25
done
[[ $ready == 1 ]] || brokkr_die "brokkr-broker did not become ready within 60 s; see .stack/broker.log"

# The worker starts once the broker is ready, so the migrations have been applied already.
export BROKKR__WORKER__LISTEN_ADDR="$HOST:$WORKER_PORT"
: >"$STACK/worker.log"
brokkr_say "starting brokkr-worker on $HOST:$WORKER_PORT (logs: .stack/worker.log)"
"$WORKER_BIN" >"$STACK/worker.log" 2>&1 </dev/null &
WORKER_PID=$!

ready=0
for _ in $(seq 1 240); do
    if ! kill -0 "$WORKER_PID" 2>/dev/null; then
        wait "$WORKER_PID" && rc=0 || rc=$?
        WORKER_PID=""
        echo "--- last lines of .stack/worker.log ---" >&2
        tail -n 20 "$STACK/worker.log" >&2
        brokkr_die "brokkr-worker exited during start-up (exit code $rc)"
    fi
    if curl -fsS -o /dev/null --max-time 2 "$WORKER_PROBE_URL/readyz" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.25
done
[[ $ready == 1 ]] || brokkr_die "brokkr-worker did not become ready within 60 s; see .stack/worker.log"

# --- admin PAK ------------------------------------------------------------------------------
is_admin_pak() {
    [[ -n $1 ]] && curl -fsS --max-time 5 -X POST -H "Authorization: Bearer $1" \
        "$PROBE_URL/api/v1/auth/pak" 2>/dev/null | grep -q '"admin": *true'
}
# .stack/admin.pak holds the admin PAK of the database used last; .stack/admin-paks/ keeps one
# per database (and tenant schema), so switching databases does not lose a PAK.
PAK_FILE="$STACK/admin-paks/$(printf '%s|%s' "$BROKKR__DATABASE__URL" "${BROKKR__DATABASE__SCHEMA:-}" | cksum | cut -d' ' -f1)"
save_pak() {
    (
        umask 077
        mkdir -p "$STACK/admin-paks"
        printf '%s\n' "$1" >"$PAK_FILE"
        printf '%s\n' "$1" >"$STACK/admin.pak"
    )
    chmod 600 "$PAK_FILE" "$STACK/admin.pak"
}
ADMIN_PAK=$(sed -n 's/^Admin PAK: //p' "$STACK/broker.out" | tail -n 1)
PAK_NOTE=""
if [[ -n $ADMIN_PAK ]]; then
    save_pak "$ADMIN_PAK"
    PAK_NOTE="new database: this admin PAK was created now and saved to .stack/admin.pak"
else
    for candidate in "$PAK_FILE" "$STACK/admin.pak"; do
        if [[ -s $candidate ]] && is_admin_pak "$(head -n 1 "$candidate")"; then
            ADMIN_PAK=$(head -n 1 "$candidate")
            break
        fi
    done
    if [[ -n $ADMIN_PAK ]]; then
        save_pak "$ADMIN_PAK"
        PAK_NOTE="known from an earlier run; in .stack/admin.pak"
    elif [[ -n ${BROKKR__BROKER__PAK_HASH:-} ]]; then
        ADMIN_PAK="(the PAK whose hash you set in BROKKR__BROKER__PAK_HASH)"
        PAK_NOTE="chosen through broker.pak_hash"
    else
        # The database was initialised elsewhere (or the PAK was rotated): issue a new one.
        brokkr_say "the admin PAK of this database is unknown here; rotating it"
        ADMIN_PAK=$("$BROKER_BIN" rotate admin 2>>"$STACK/broker.log" | tail -n 1)
        is_admin_pak "$ADMIN_PAK" || brokkr_die "could not obtain an admin PAK (see .stack/broker.log)"
        save_pak "$ADMIN_PAK"
        PAK_NOTE="rotated now (the previous admin PAK no longer works) and saved to .stack/admin.pak"
    fi
fi

# --- cluster and agent ----------------------------------------------------------------------
# wait_up PID NAME LOG URL: waits until URL answers 2xx, failing if the process exits first.
wait_up() {
    local pid=$1 name=$2 log=$3 url=$4 rc
    for _ in $(seq 1 240); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" && rc=0 || rc=$?
            echo "--- last lines of .stack/$log ---" >&2
            tail -n 20 "$STACK/$log" >&2
            brokkr_die "$name exited during start-up (exit code $rc)"
        fi
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.25
    done
    brokkr_die "$name did not come up within 60 s; see .stack/$log"
}
json_field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n 1; }

CLUSTER_NOTE="none (BROKKR_STACK_AGENT=0)"
AGENT_NOTE=""
if [[ $WITH_AGENT == 1 ]]; then
    if [[ -n ${BROKKR_STACK_KUBECONFIG:-} ]]; then
        KUBECONFIG_FOR_AGENT=$BROKKR_STACK_KUBECONFIG
        CLUSTER_NAME=local
        CLUSTER_NOTE="the cluster of $BROKKR_STACK_KUBECONFIG"
    else
        KUBECONFIG_FOR_AGENT=$STACK/kubesim.kubeconfig
        CLUSTER_NAME=kubesim
        brokkr_say "starting kubesim, a SIMULATED Kubernetes API, on 127.0.0.1:$KUBESIM_PORT (logs: .stack/kubesim.log)"
        "$KUBESIM_BIN" --listen "127.0.0.1:$KUBESIM_PORT" --kubeconfig-out "$KUBECONFIG_FOR_AGENT" \
            >"$STACK/kubesim.log" 2>&1 </dev/null &
        KUBESIM_PID=$!
        wait_up "$KUBESIM_PID" kubesim kubesim.log "http://127.0.0.1:$KUBESIM_PORT/version"
        CLUSTER_NOTE="kubesim (simulated) at http://127.0.0.1:$KUBESIM_PORT, kubeconfig .stack/kubesim.kubeconfig"
    fi
    if [[ $ADMIN_PAK != brokkr_* ]]; then
        AGENT_NOTE="not started: the admin PAK is not known to this script"
    else
        AGENT_NAME=local-agent
        auth=(-H "Authorization: Bearer $ADMIN_PAK")
        AGENT_PAK=""
        if [[ -s $STACK/agent.pak ]]; then
            AGENT_PAK=$(head -n 1 "$STACK/agent.pak")
            curl -fsS --max-time 5 -X POST -H "Authorization: Bearer $AGENT_PAK" \
                "$PROBE_URL/api/v1/auth/pak" 2>/dev/null | grep -q '"agent": *"' || AGENT_PAK=""
        fi
        if [[ -z $AGENT_PAK ]]; then
            found=$(curl -fsS --max-time 5 "${auth[@]}" -G "$PROBE_URL/api/v1/agents/search" \
                --data-urlencode "name=$AGENT_NAME" --data-urlencode "cluster_name=$CLUSTER_NAME" 2>/dev/null || true)
            agent_id=$(printf '%s' "$found" | json_field id)
            if [[ -n $agent_id ]]; then
                AGENT_PAK=$(curl -fsS --max-time 5 "${auth[@]}" -X POST \
                    "$PROBE_URL/api/v1/agents/$agent_id/rotate-pak" | json_field pak)
            else
                created=$(curl -fsS --max-time 5 "${auth[@]}" -H 'Content-Type: application/json' \
                    -d "{\"name\": \"$AGENT_NAME\", \"cluster_name\": \"$CLUSTER_NAME\"}" \
                    "$PROBE_URL/api/v1/agents" || true)
                AGENT_PAK=$(printf '%s' "$created" | json_field initial_pak)
                agent_id=$(printf '%s' "$created" | json_field id)
                # New agents start INACTIVE: activate this one.
                [[ -z $agent_id ]] || curl -fsS --max-time 5 "${auth[@]}" -X PUT \
                    -H 'Content-Type: application/json' -d '{"status": "ACTIVE"}' \
                    "$PROBE_URL/api/v1/agents/$agent_id" >/dev/null ||
                    brokkr_die "could not activate the agent (see .stack/broker.log)"
            fi
            [[ -n $AGENT_PAK ]] || brokkr_die "could not register the agent (see .stack/broker.log)"
            (
                umask 077
                printf '%s\n' "$AGENT_PAK" >"$STACK/agent.pak"
            )
        fi
        chmod 600 "$STACK/agent.pak"
        : >"$STACK/agent.log"
        brokkr_say "starting brokkr-agent for cluster $CLUSTER_NAME (logs: .stack/agent.log)"
        BROKKR__AGENT__BROKER_URL=$PROBE_URL BROKKR__AGENT__PAK=$AGENT_PAK \
            BROKKR__AGENT__AGENT_NAME=$AGENT_NAME BROKKR__AGENT__CLUSTER_NAME=$CLUSTER_NAME \
            BROKKR__AGENT__KUBECONFIG_PATH=$KUBECONFIG_FOR_AGENT \
            BROKKR__AGENT__HEALTH_PORT=$AGENT_PORT BROKKR__AGENT__HEALTH_BIND_ADDRESS=${PROBE_HOST} \
            "$AGENT_BIN" start >"$STACK/agent.log" 2>&1 </dev/null &
        AGENT_PID=$!
        wait_up "$AGENT_PID" brokkr-agent agent.log "http://$PROBE_HOST:$AGENT_PORT/readyz"
        AGENT_NOTE="$AGENT_NAME (cluster $CLUSTER_NAME), PAK in .stack/agent.pak; http://$PROBE_HOST:$AGENT_PORT/health"
    fi
fi

DB_SHOWN=$(printf '%s' "$BROKKR__DATABASE__URL" | sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#')
cat <<EOF

  Brokkr is running (brokkr-broker pid $BROKER_PID, brokkr-worker pid $WORKER_PID)

  Admin PAK     $ADMIN_PAK
                $PAK_NOTE
  API           $BASE_URL/api/v1
  Swagger UI    $BASE_URL/swagger-ui/
  OpenAPI       $BASE_URL/docs/openapi.json
  Metrics       $BASE_URL/metrics
  Health        $BASE_URL/healthz  $BASE_URL/readyz
  Worker        $WORKER_URL/metrics
                $WORKER_URL/healthz  $WORKER_URL/readyz
  Database      $DB_SHOWN
  Cluster       $CLUSTER_NOTE
  Agent         ${AGENT_NOTE:-none}

  In another terminal:
    export BROKKR_URL=$BASE_URL
    export ADMIN_PAK=\$(cat $STACK/admin.pak)
    curl -s -X POST -H "Authorization: Bearer \$ADMIN_PAK" \$BROKKR_URL/api/v1/auth/pak

  Press Ctrl-C to stop.

EOF

if [[ ${BROKKR_STACK_EXIT_AFTER_START:-0} == 1 ]]; then
    exit 0
fi
if [[ $FOLLOW == 1 ]]; then
    logs=("$STACK/broker.log" "$STACK/worker.log")
    [[ -z $AGENT_PID ]] || logs+=("$STACK/agent.log")
    tail -n 0 -f --pid="$$" "${logs[@]}" >&2 &
    TAIL_PID=$!
fi
# Runs until Ctrl-C (the trap stops both) or until one of the two exits on its own: then the
# other is stopped too and the script fails, naming the one that went away.
alive() { [[ -z $1 ]] || kill -0 "$1" 2>/dev/null; }
while alive "$BROKER_PID" && alive "$WORKER_PID" && alive "$AGENT_PID" && alive "$KUBESIM_PID"; do
    sleep 1
done
if ! alive "$AGENT_PID"; then
    name=brokkr-agent log=agent.log pid=$AGENT_PID
    AGENT_PID=""
elif ! alive "$KUBESIM_PID"; then
    name=kubesim log=kubesim.log pid=$KUBESIM_PID
    KUBESIM_PID=""
elif ! kill -0 "$WORKER_PID" 2>/dev/null; then
    name=brokkr-worker log=worker.log pid=$WORKER_PID
    WORKER_PID=""
else
    name=brokkr-broker log=broker.log pid=$BROKER_PID
    BROKER_PID=""
fi
wait "$pid" && rc=0 || rc=$?
if [[ -n $TAIL_PID ]]; then
    kill "$TAIL_PID" 2>/dev/null || true
    TAIL_PID=""
fi
echo "--- last lines of .stack/$log ---" >&2
tail -n 20 "$STACK/$log" >&2
brokkr_die "$name exited unexpectedly (exit code $rc); stopping the rest of the stack"
