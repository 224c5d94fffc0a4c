#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the second test pass (issue 7), from
# Debian's package, and print the TEST_DATABASE_URL to use. Usage: eval "$(.ci/postgres.sh)"
set -euo pipefail
# The first free port from 54329 (a server left over from another run must not stop this one).
PORT="${PGTEST_PORT:-}"
if [ -z "$PORT" ]; then
    for candidate in $(seq 54329 54399); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then PORT=$candidate; break; fi
    done
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        (apt-get install -y -q postgresql || (apt-get update -q && apt-get install -y -q postgresql)) >&2
    else
        sudo apt-get install -y -q postgresql >&2
    fi
fi
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
DATA="$(mktemp -d /tmp/jsx-pg.XXXXXX)"
# The server refuses to run as root: run it as the package's postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$DATA"
as_pg "'$BIN/initdb' -D '$DATA/data' -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8" >&2
# Loopback only; durability off: the data is thrown away after the run.
as_pg "'$BIN/pg_ctl' -D '$DATA/data' -l '$DATA/log' -w start -o \"-p $PORT -k '$DATA' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off\"" >&2
echo "export TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/jsx_test"
echo "export PGTEST_STOP=\"$BIN/pg_ctl -D $DATA/data -m immediate stop\""
