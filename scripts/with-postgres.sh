#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on 127.0.0.1 (free port, temp dir), runs the given command with
# TEST_DATABASE_URL pointing at it, and stops it again whatever happens.
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "${PGBIN}" ]; then echo "PostgreSQL binaries not found (apt-get install postgresql)" >&2; exit 1; fi
DIR=$(mktemp -d /tmp/fhir-pg.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
RUNAS=()
if [ "$(id -u)" = "0" ]; then chown postgres "$DIR"; RUNAS=(runuser -u postgres --); fi
"${RUNAS[@]}" "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
stop() { "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap stop EXIT
"${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" -l "$DIR/log" -w start >/dev/null
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
export BENCH_DATABASE_URL="$TEST_DATABASE_URL"
"$@"
