#!/usr/bin/env bash
# Entrypoint of pgstead/postgres: the run-time contract of the official postgres image on top of
# Debian's packages, so a Compose deployment written for `postgres:15` runs unchanged.
#
#   POSTGRES_PASSWORD / POSTGRES_PASSWORD_FILE   superuser password (required unless
#                                                POSTGRES_HOST_AUTH_METHOD=trust)
#   POSTGRES_USER (postgres)  POSTGRES_DB (= POSTGRES_USER)  PGDATA (/var/lib/postgresql/data)
#   POSTGRES_INITDB_ARGS (e.g. --data-checksums)  POSTGRES_INITDB_WALDIR
#   POSTGRES_HOST_AUTH_METHOD (scram-sha-256)     auth for TCP connections from anywhere
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz|*.sql.zst   run once, on first start
# Every *_FILE variant reads the value from a (mounted secret) file, so it stays out of
# `docker inspect`. Arguments starting with "-" are passed to postgres (e.g. -c ssl=on).
set -Eeuo pipefail
shopt -s nullglob

socket_dir=/var/run/postgresql
initdb_dir=/docker-entrypoint-initdb.d

log() { echo "pgstead-entrypoint: $*" >&2; }
die() { log "error: $*"; exit 1; }

# VAR comes from VAR or from the file named by VAR_FILE, never both.
env_or_file() {
    local var=$1 default=${2:-} file_var=${1}_FILE
    local value=$default
    if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
        die "both $var and $file_var are set; set only one"
    elif [[ -n ${!var:-} ]]; then
        value=${!var}
    elif [[ -n ${!file_var:-} ]]; then
        [[ -r ${!file_var} ]] || die "$file_var names ${!file_var}, which cannot be read"
        value=$(<"${!file_var}")
    fi
    export "$var=$value"
    unset "$file_var"
}

# postgres --help / --version and friends must not trigger initialisation.
wants_info() {
    local arg
    for arg in "$@"; do
        case $arg in
            -'?' | --help | --describe-config | -V | --version) return 0 ;;
        esac
    done
    return 1
}

resolve_environment() {
    env_or_file POSTGRES_USER postgres
    env_or_file POSTGRES_PASSWORD
    env_or_file POSTGRES_DB "$POSTGRES_USER"
    env_or_file POSTGRES_INITDB_ARGS
    export PGDATA=${PGDATA:-/var/lib/postgresql/data}
    export POSTGRES_HOST_AUTH_METHOD=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    export PGPORT=${PGPORT:-5432}
}

prepare_directories() {
    mkdir -p "$PGDATA" "$socket_dir"
    # A fresh or foreign-owned volume must belong to postgres, with the mode initdb insists on.
    if [[ $(id -u) == 0 ]]; then
        chown postgres:postgres "$PGDATA"
        chown postgres:postgres "$socket_dir"
        chmod 3777 "$socket_dir"
    fi
    chmod 0700 "$PGDATA" 2>/dev/null || true
}

psql_init() {
    psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --quiet \
        --host "$socket_dir" --port "$PGPORT" --username "$POSTGRES_USER" "$@"
}

run_initdb() {
    local -a args
    # Split on whitespace, like the official image, so "--data-checksums --locale=C.UTF-8" works.
    read -r -a args <<<"$POSTGRES_INITDB_ARGS"
    if [[ -n ${POSTGRES_INITDB_WALDIR:-} ]]; then
        args+=(--waldir "$POSTGRES_INITDB_WALDIR")
    fi
    if [[ -n $POSTGRES_PASSWORD ]]; then
        # The password reaches initdb through a pipe, never its command line.
        initdb --pgdata "$PGDATA" --username "$POSTGRES_USER" --no-instructions \
            --auth-local trust --auth-host "$POSTGRES_HOST_AUTH_METHOD" \
            --pwfile <(printf '%s\n' "$POSTGRES_PASSWORD") "${args[@]}"
    elif [[ $POSTGRES_HOST_AUTH_METHOD == trust ]]; then
        log "warning: no superuser password and POSTGRES_HOST_AUTH_METHOD=trust: anyone who can" \
            "reach the port is a superuser"
        initdb --pgdata "$PGDATA" --username "$POSTGRES_USER" --no-instructions \
            --auth-local trust --auth-host trust "${args[@]}"
    else
        die "the database is uninitialised and no superuser password is set: set" \
            "POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE"
    fi
    {
        echo
        echo "# pgstead entrypoint: any address, $POSTGRES_HOST_AUTH_METHOD"
        echo "host all all all $POSTGRES_HOST_AUTH_METHOD"
    } >>"$PGDATA/pg_hba.conf"
    # Inside a container the published port decides who can connect, so listen everywhere.
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
}

# A server on the socket only, for the init scripts; the user's postgres options apply to it too
# (shared_preload_libraries may be needed by CREATE EXTENSION).
start_init_server() {
    postgres -D "$PGDATA" "$@" -c listen_addresses='' -p "$PGPORT" &
    init_server_pid=$!
    local tries
    for ((tries = 0; tries < 120; tries++)); do
        pg_isready -q -h "$socket_dir" -p "$PGPORT" && return 0
        kill -0 "$init_server_pid" 2>/dev/null || die "the server for the init scripts did not start"
        sleep 0.5
    done
    die "the server for the init scripts was not ready within 60 s"
}

stop_init_server() {
    pg_ctl --pgdata "$PGDATA" --mode fast --wait stop >/dev/null
    wait "$init_server_pid" || true
}

create_database() {
    [[ $POSTGRES_DB == postgres ]] && return 0
    local exists
    # psql variables quote the name (:'db' as a literal, :"db" as an identifier).
    exists=$(psql_init --dbname postgres --tuples-only --no-align -v db="$POSTGRES_DB" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'db';
SQL
    )
    [[ $exists == 1 ]] && return 0
    psql_init --dbname postgres -v db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
}

run_init_scripts() {
    local f
    for f in "$initdb_dir"/*; do
        case $f in
            *.sh)
                # Executable scripts run on their own; the others are sourced, as upstream does.
                if [[ -x $f ]]; then
                    log "running $f"
                    "$f"
                else
                    log "sourcing $f"
                    # shellcheck disable=SC1090
                    . "$f"
                fi
                ;;
            *.sql) log "running $f"; psql_init --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) log "running $f"; gzip -dc "$f" | psql_init --dbname "$POSTGRES_DB" ;;
            *.sql.zst) log "running $f"; zstd -dcq "$f" | psql_init --dbname "$POSTGRES_DB" ;;
            *) log "ignoring $f" ;;
        esac
    done
}

initialise() {
    log "initialising a new cluster in $PGDATA"
    trap 'log "initialisation failed: $PGDATA is incomplete; empty it before starting again"' ERR
    run_initdb
    start_init_server "$@"
    create_database
    run_init_scripts
    stop_init_server
    trap - ERR
    log "initialisation complete"
}

main() {
    if [[ ${1:-} == -* ]]; then
        set -- postgres "$@"
    fi
    if [[ ${1:-} != postgres ]] || wants_info "$@"; then
        exec "$@"
    fi

    resolve_environment
    prepare_directories
    if [[ $(id -u) == 0 ]]; then
        # Re-run as postgres; the resolved environment (secrets included) goes along in memory.
        HOME=/var/lib/postgresql USER=postgres LOGNAME=postgres \
            exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
    fi

    if [[ ! -s $PGDATA/PG_VERSION ]]; then
        initialise "${@:2}"
    fi
    unset POSTGRES_PASSWORD PGPASSWORD
    exec "$@"
}

main "$@"
