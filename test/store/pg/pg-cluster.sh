#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the PostgreSQL tests (test/store/pg/): a fresh
# initdb in a temp dir under /tmp, listening on a unix socket in that dir only (no
# TCP port, so several can run at once), trust authentication, stopped and deleted
# at the end. Run as the `postgres` user when we are root (initdb refuses root).
#
#   test/store/pg/pg-cluster.sh npm test     # runs a command with EMBER_SYNC_TEST_DATABASE_URL set
#   source test/store/pg/pg-cluster.sh       # defines pg_cluster_start / pg_cluster_stop (.ci/run)
#
# Needs PostgreSQL's server binaries (Debian: apt-get install postgresql): the
# newest /usr/lib/postgresql/*/bin, or PG_BIN=/path/to/bin, or initdb on PATH.

pg_cluster_bin() {
  if [ -n "${PG_BIN:-}" ]; then
    printf '%s\n' "$PG_BIN"
    return 0
  fi
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
    printf '%s\n' "$dir"
    return 0
  fi
  if command -v initdb >/dev/null; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

# Runs a server binary as postgres when we are root, as ourselves otherwise.
pg_cluster_as() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Starts a cluster; exports EMBER_SYNC_TEST_DATABASE_URL and PG_CLUSTER_DIR. Returns 1 (and says why) if it cannot.
pg_cluster_start() {
  local bin
  if ! bin=$(pg_cluster_bin); then
    echo "pg-cluster: no PostgreSQL server binaries (initdb) found; Debian: apt-get install postgresql" >&2
    return 1
  fi
  # Under /tmp whatever TMPDIR says: a unix socket path must stay under 108 bytes.
  PG_CLUSTER_DIR=$(mktemp -d /tmp/ember-sync-pg.XXXXXX) || return 1
  export PG_CLUSTER_DIR
  if [ "$(id -u)" = 0 ]; then
    if ! chown postgres: "$PG_CLUSTER_DIR"; then
      echo "pg-cluster: running as root needs the postgres user (Debian's postgresql package creates it)" >&2
      pg_cluster_stop
      return 1
    fi
  fi
  if ! pg_cluster_as "$bin/initdb" -D "$PG_CLUSTER_DIR/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$PG_CLUSTER_DIR/initdb.log" 2>&1; then
    echo "pg-cluster: initdb failed:" >&2
    cat "$PG_CLUSTER_DIR/initdb.log" >&2
    pg_cluster_stop
    return 1
  fi
  if ! pg_cluster_resume; then
    pg_cluster_stop
    return 1
  fi
  # node-postgres (pg-connection-string): an empty host and ?host=<socket dir> connect through
  # <dir>/.s.PGSQL.5432.
  export EMBER_SYNC_TEST_DATABASE_URL="postgres://postgres@/postgres?host=$PG_CLUSTER_DIR"
  echo "pg-cluster: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on $PG_CLUSTER_DIR (EMBER_SYNC_TEST_DATABASE_URL=$EMBER_SYNC_TEST_DATABASE_URL)" >&2
}

# Starts the server of the cluster in PG_CLUSTER_DIR (again, after pg_cluster_pause).
pg_cluster_resume() {
  local bin
  bin=$(pg_cluster_bin) || return 1
  # Unix socket only; the server's durability settings are left at their defaults (fsync on),
  # so the tests see commits as production does.
  if ! pg_cluster_as "$bin/pg_ctl" -D "$PG_CLUSTER_DIR/data" -l "$PG_CLUSTER_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses='' -k '$PG_CLUSTER_DIR' -c max_connections=200" start >/dev/null; then
    echo "pg-cluster: the server did not start:" >&2
    cat "$PG_CLUSTER_DIR/server.log" >&2
    return 1
  fi
}

# Stops the server of the cluster in PG_CLUSTER_DIR (fast shutdown: sessions are ended), keeping
# its data: a restart under load (test/store/pg/pg-restart.test.ts).
pg_cluster_pause() {
  local bin
  bin=$(pg_cluster_bin) || return 1
  pg_cluster_as "$bin/pg_ctl" -D "$PG_CLUSTER_DIR/data" -m fast -w -t 30 stop >/dev/null
}

# Stops the cluster started by pg_cluster_start and deletes its dir. Safe to call twice.
pg_cluster_stop() {
  local dir=${PG_CLUSTER_DIR:-}
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  if [ -f "$dir/data/postmaster.pid" ]; then
    local bin
    bin=$(pg_cluster_bin) && pg_cluster_as "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      echo "pg-cluster: could not stop the server in $dir" >&2
  fi
  rm -rf "$dir"
  unset PG_CLUSTER_DIR EMBER_SYNC_TEST_DATABASE_URL
}

# Executed (not sourced): run the arguments with a cluster, stop it however they end.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  if [ $# -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]   (e.g. $0 npm test)" >&2
    exit 2
  fi
  trap pg_cluster_stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  pg_cluster_start
  "$@"
fi
