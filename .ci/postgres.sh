#!/usr/bin/env bash
# PostgreSQL for BuildGrid's scheduler (the remote-execution tests): `start` installs it
# from Debian if it is missing, makes a throwaway cluster on 127.0.0.1 and prints its
# connection URL; `stop` stops it by the process id it recorded. Each test server then
# makes its own database in it.
set -euo pipefail
dir="${ORCH_CI_PG_DIR:-/tmp/orch-ci-postgres}"
port="${ORCH_CI_PG_PORT:-55439}"
bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
# The server refuses to run as root: as root, it runs as the postgres user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${1:-}" in
start)
    if [ -z "$(bin)" ] || [ ! -x "$(bin)/initdb" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_pg "$(bin)/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1
    as_pg "$(bin)/pg_ctl" -D "$dir/data" -o "-h 127.0.0.1 -p $port -k $dir" -l "$dir/log" -w start >/dev/null
    head -1 "$dir/data/postmaster.pid" >"$dir/pid"
    echo "postgresql://postgres@127.0.0.1:$port"
    ;;
stop)
    if [ -f "$dir/pid" ]; then
        pid=$(cat "$dir/pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        rm -rf "$dir"
    fi
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
