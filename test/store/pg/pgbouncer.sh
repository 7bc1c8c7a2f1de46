#!/usr/bin/env bash
# PgBouncer in transaction pooling mode in front of a throwaway cluster (pg-cluster.sh), for
# test/store/pg/pgbouncer-*.test.ts: listening on a unix socket in a folder of its own under
# $PG_CLUSTER_DIR (port 6432, no TCP; several can run at once), trust authentication,
# default_pool_size=2 and server_round_robin so that consecutive transactions of one client land
# on different server connections. No ignore_startup_parameters: a startup parameter PgBouncer does
# not know fails the login, as it does for operators.
#
#   source test/store/pg/pg-cluster.sh; source test/store/pg/pgbouncer.sh
#   pg_cluster_start && pgbouncer_start      # prints its folder (the socket's), exports EMBER_SYNC_TEST_PGBOUNCER_DIR
#   pgbouncer_stop [folder]                  # (pg_cluster_stop deletes the folder anyway)
#
# Needs the pgbouncer binary (Debian: apt-get install pgbouncer; 1.18 in Debian 12) on PATH, in
# /usr/sbin, or PGBOUNCER_BIN=/path/to/pgbouncer.

pgbouncer_bin() {
  if [ -n "${PGBOUNCER_BIN:-}" ]; then
    printf '%s\n' "$PGBOUNCER_BIN"
    return 0
  fi
  command -v pgbouncer 2>/dev/null && return 0
  [ -x /usr/sbin/pgbouncer ] && printf '%s\n' /usr/sbin/pgbouncer && return 0
  return 1
}

# Starts PgBouncer for the cluster in PG_CLUSTER_DIR (pool size $1, default 2); prints and exports
# EMBER_SYNC_TEST_PGBOUNCER_DIR (its socket folder; port 6432). Returns 1 (and says why) if it cannot.
pgbouncer_start() {
  local bin pool=${1:-2}
  if ! bin=$(pgbouncer_bin); then
    echo "pgbouncer: no pgbouncer binary found; Debian: apt-get install pgbouncer" >&2
    return 1
  fi
  if [ -z "${PG_CLUSTER_DIR:-}" ] || [ ! -d "$PG_CLUSTER_DIR" ]; then
    echo "pgbouncer: no cluster (PG_CLUSTER_DIR): pg_cluster_start first" >&2
    return 1
  fi
  local dir
  # PgBouncer refuses to run as root: as postgres (pg-cluster.sh's pg_cluster_as), in a folder it owns.
  dir=$(pg_cluster_as mktemp -d "$PG_CLUSTER_DIR/bouncer.XXXXXX") || return 1
  pg_cluster_as tee "$dir/users.txt" >/dev/null <<<'"postgres" ""'
  pg_cluster_as tee "$dir/pgbouncer.ini" >/dev/null <<EOF
[databases]
* = host=$PG_CLUSTER_DIR port=5432

[pgbouncer]
unix_socket_dir = $dir
listen_port = 6432
pool_mode = transaction
default_pool_size = $pool
server_round_robin = 1
max_client_conn = 500
auth_type = trust
auth_file = $dir/users.txt
pidfile = $dir/pgbouncer.pid
logfile = $dir/pgbouncer.log
admin_users = postgres
; A server that was down is tried again after 1 s (15 s by default): the restart test waits less.
server_login_retry = 1
EOF
  if ! pg_cluster_as "$bin" -d -q "$dir/pgbouncer.ini"; then
    echo "pgbouncer: did not start:" >&2
    cat "$dir/pgbouncer.log" >&2 2>/dev/null
    return 1
  fi
  local i
  for i in $(seq 1 100); do
    [ -S "$dir/.s.PGSQL.6432" ] && break
    sleep 0.05
  done
  if [ ! -S "$dir/.s.PGSQL.6432" ]; then
    echo "pgbouncer: no socket in $dir after 5 s:" >&2
    cat "$dir/pgbouncer.log" >&2 2>/dev/null
    return 1
  fi
  # A test process killed before its clean-up leaves no PgBouncer behind: it goes with its folder (pg_cluster_stop
  # deletes the cluster's). Detached, so that a caller reading our output does not wait for it.
  local pid
  pid=$(cat "$dir/pgbouncer.pid")
  setsid bash -c 'while [ -d "$1" ] && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill "$2" 2>/dev/null' pgbouncer-watch "$dir" "$pid" </dev/null >/dev/null 2>&1 &
  export EMBER_SYNC_TEST_PGBOUNCER_DIR=$dir
  printf '%s\n' "$dir"
  echo "pgbouncer: $("$bin" --version | head -n 1) on $dir (port 6432, transaction mode, default_pool_size=$pool)" >&2
}

# Stops the PgBouncer in folder $1 (default: EMBER_SYNC_TEST_PGBOUNCER_DIR). Safe to call twice.
pgbouncer_stop() {
  local dir=${1:-${EMBER_SYNC_TEST_PGBOUNCER_DIR:-}}
  [ -n "$dir" ] || return 0
  [ -f "$dir/pgbouncer.pid" ] || return 0
  local pid
  pid=$(cat "$dir/pgbouncer.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  local i
  # Gone, or a zombie its parent (init, when it daemonized) has not reaped yet: it listens no more either way.
  for i in $(seq 1 100); do
    case $(ps -o stat= -p "$pid" 2>/dev/null) in '' | Z*) break ;; esac
    sleep 0.05
  done
  rm -f "$dir/pgbouncer.pid"
  [ "$dir" = "${EMBER_SYNC_TEST_PGBOUNCER_DIR:-}" ] && unset EMBER_SYNC_TEST_PGBOUNCER_DIR
  return 0
}
