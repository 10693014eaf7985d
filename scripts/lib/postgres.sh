# shellcheck shell=bash
# Finding (or starting) a PostgreSQL server for the local stack and the test suite.
#
# Sourced by deploy/local-stack.sh and scripts/test.sh; defines functions only.
#
# brokkr_pg_ensure picks a server in this order and sets BROKKR_PG_URL to a URL of that server's
# `postgres` database (a superuser connection that may create databases):
#   1. $DATABASE_URL, when set;
#   2. a server answering on 127.0.0.1:5432 as user `postgres` without a password;
#   3. a private cluster in $BROKKR_STACK_DIR/pgdata (default ./.stack/pgdata) on port
#      $BROKKR_STACK_PG_PORT (default 5433), created with initdb and started with pg_ctl; when
#      PostgreSQL is not installed and we are root, `apt-get install -y postgresql` first.
# BROKKR_STACK_PRIVATE_PG=1 skips 1 and 2 and always uses the private cluster.
# When it started the private cluster itself, it sets BROKKR_PG_STARTED=1 so the caller can stop
# it again with brokkr_pg_stop_private.

BROKKR_PG_URL=""
BROKKR_PG_STARTED=0
BROKKR_PG_DATA=""
BROKKR_PG_BIN=""

brokkr_say() { printf '==> %s\n' "$*" >&2; }
brokkr_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# True when `psql` can run a query against URL.
brokkr_pg_query_ok() {
    command -v psql >/dev/null 2>&1 || return 1
    PGCONNECT_TIMEOUT=3 psql "$1" -X -A -t -q -c 'SELECT 1' >/dev/null 2>&1
}

# True when something accepts PostgreSQL connections on HOST PORT (no login attempted).
brokkr_pg_port_answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$1" -p "$2" -t 3
    else
        (: <"/dev/tcp/$1/$2") 2>/dev/null
    fi
}

# URL with its database (path) replaced by DB; user, password, host, port and query are kept.
brokkr_pg_url_with_db() {
    local url=$1 db=$2 scheme rest query="" authority
    scheme=${url%%://*}
    rest=${url#*://}
    if [[ $rest == *\?* ]]; then
        query=${rest#*\?}
        rest=${rest%%\?*}
    fi
    authority=${rest%%/*}
    printf '%s://%s/%s%s' "$scheme" "$authority" "$db" "${query:+?$query}"
}

# The directory holding initdb and pg_ctl, newest version first.
brokkr_pg_find_bin() {
    local dir
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    # shellcheck disable=SC2012
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
        if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    return 1
}

brokkr_pg_apt_install() {
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        brokkr_die "PostgreSQL is not installed. Install it (Debian: sudo apt-get install -y postgresql), or set DATABASE_URL to a server you can use."
    fi
    brokkr_say "PostgreSQL is not installed; installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q postgresql >&2
}

# Runs a command as the user that owns the private cluster (initdb refuses to run as root).
brokkr_pg_as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Where the private cluster lives. As root the server runs as `postgres`, which must be able to
# reach the directory; when it cannot (a checkout under /root, say), a directory under /var/tmp
# named after the checkout is used instead.
brokkr_pg_private_dir() {
    local stack=$1 preferred
    preferred="$stack/pgdata"
    if [[ $(id -u) -ne 0 ]]; then
        printf '%s\n' "$preferred"
        return
    fi
    id postgres >/dev/null 2>&1 ||
        brokkr_die "running as root but there is no 'postgres' user to own the private cluster (install the postgresql package)"
    if runuser -u postgres -- test -x "$stack" 2>/dev/null; then
        printf '%s\n' "$preferred"
    else
        printf '/var/tmp/brokkr-pgdata-%s\n' "$(printf '%s' "$stack" | cksum | cut -d' ' -f1)"
    fi
}

brokkr_pg_start_private() {
    local stack=$1 port=${BROKKR_STACK_PG_PORT:-5433}
    [[ $port =~ ^[0-9]+$ ]] || brokkr_die "BROKKR_STACK_PG_PORT must be a port number, got '$port'"
    if ! BROKKR_PG_BIN=$(brokkr_pg_find_bin); then
        brokkr_pg_apt_install
        BROKKR_PG_BIN=$(brokkr_pg_find_bin) || brokkr_die "initdb/pg_ctl not found even after installing PostgreSQL"
    fi
    if ! command -v psql >/dev/null 2>&1; then PATH="$BROKKR_PG_BIN:$PATH"; fi
    mkdir -p "$stack"
    chmod 755 "$stack"
    BROKKR_PG_DATA=$(brokkr_pg_private_dir "$stack")
    if [[ ! -f $BROKKR_PG_DATA/PG_VERSION ]]; then
        brokkr_say "creating a private PostgreSQL cluster in $BROKKR_PG_DATA"
        mkdir -p "$BROKKR_PG_DATA"
        chmod 700 "$BROKKR_PG_DATA"
        if [[ $(id -u) -eq 0 ]]; then chown postgres: "$BROKKR_PG_DATA"; fi
        brokkr_pg_as_owner "$BROKKR_PG_BIN/initdb" -D "$BROKKR_PG_DATA" -U postgres \
            --auth=trust --encoding=UTF8 >"$stack/initdb.log" 2>&1 ||
            brokkr_die "initdb failed; see $stack/initdb.log"
    fi
    if brokkr_pg_as_owner "$BROKKR_PG_BIN/pg_ctl" -D "$BROKKR_PG_DATA" status >/dev/null 2>&1; then
        brokkr_say "private PostgreSQL cluster already running ($BROKKR_PG_DATA)"
    else
        if brokkr_pg_port_answers 127.0.0.1 "$port"; then
            brokkr_die "port $port is taken by another server; set BROKKR_STACK_PG_PORT to a free port"
        fi
        brokkr_say "starting the private PostgreSQL cluster on 127.0.0.1:$port"
        local -a cmd=("$BROKKR_PG_BIN/pg_ctl" -D "$BROKKR_PG_DATA" -l "$BROKKR_PG_DATA/server.log"
            -w -t 60 -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200"
            start)
        if [[ $(id -u) -eq 0 ]]; then cmd=(runuser -u postgres -- "${cmd[@]}"); fi
        # A session of its own, so a Ctrl-C in the terminal reaches only the caller's trap, which
        # stops the server in order.
        if command -v setsid >/dev/null 2>&1; then cmd=(setsid -w "${cmd[@]}"); fi
        "${cmd[@]}" </dev/null >/dev/null 2>&1 ||
            brokkr_die "the private PostgreSQL cluster did not start; see $BROKKR_PG_DATA/server.log"
        BROKKR_PG_STARTED=1
    fi
    BROKKR_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
    brokkr_pg_query_ok "$BROKKR_PG_URL" ||
        brokkr_die "cannot connect to the private cluster at $BROKKR_PG_URL"
}

# Stops the private cluster when brokkr_pg_ensure started it.
brokkr_pg_stop_private() {
    if [[ $BROKKR_PG_STARTED == 1 && -n $BROKKR_PG_DATA ]]; then
        brokkr_say "stopping the private PostgreSQL cluster"
        brokkr_pg_as_owner "$BROKKR_PG_BIN/pg_ctl" -D "$BROKKR_PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
        BROKKR_PG_STARTED=0
    fi
}

brokkr_pg_ensure() {
    local stack=$1
    if [[ ${BROKKR_STACK_PRIVATE_PG:-0} != 1 ]]; then
        if [[ -n ${DATABASE_URL:-} ]]; then
            if ! command -v psql >/dev/null 2>&1; then
                local bin
                if bin=$(brokkr_pg_find_bin); then PATH="$bin:$PATH"; fi
            fi
            command -v psql >/dev/null 2>&1 ||
                brokkr_die "psql is needed (Debian: apt-get install -y postgresql-client)"
            brokkr_pg_query_ok "$DATABASE_URL" ||
                brokkr_die "DATABASE_URL is set but the server does not answer: $DATABASE_URL"
            brokkr_say "using the PostgreSQL server of DATABASE_URL"
            BROKKR_PG_URL=$DATABASE_URL
            return 0
        fi
        local local_url="postgres://postgres@127.0.0.1:5432/postgres"
        if brokkr_pg_port_answers 127.0.0.1 5432; then
            if brokkr_pg_query_ok "$local_url"; then
                brokkr_say "using the PostgreSQL server on 127.0.0.1:5432"
                BROKKR_PG_URL=$local_url
                return 0
            fi
            brokkr_say "a server answers on 127.0.0.1:5432 but refuses user postgres without a password (set DATABASE_URL to use it); using a private cluster instead"
        fi
    fi
    brokkr_pg_start_private "$stack"
}

# Creates database DB on the server of BROKKR_PG_URL when it does not exist yet.
brokkr_pg_create_db() {
    local db=$1
    [[ $db =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || brokkr_die "invalid database name '$db'"
    if [[ -z $(psql "$BROKKR_PG_URL" -X -A -t -q -c "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
        brokkr_say "creating database $db"
        psql "$BROKKR_PG_URL" -X -q -c "CREATE DATABASE \"$db\"" >/dev/null
    fi
}
