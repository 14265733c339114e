#!/bin/bash
# The official postgres image's contract, in short: on an empty $PGDATA, initdb with
# POSTGRES_PASSWORD for the `postgres` superuser and password logins over TCP; then run the
# server as the unprivileged `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail
if [ "${1:-}" != postgres ]; then
    exec "$@"
fi
mkdir -p "$PGDATA" /var/run/postgresql
chown -R postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups)
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    "${as_postgres[@]}" initdb -D "$PGDATA" -U postgres --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8
    rm -f "$pwfile"
fi
exec "${as_postgres[@]}" "$@"
