#!/bin/bash
# The official mariadb image's contract, in short, on Debian's mariadb-server: on an empty
# datadir (/var/lib/mysql, usually a volume) create the system tables, then
#   MARIADB_ROOT_PASSWORD | MYSQL_ROOT_PASSWORD           root's password, for root@localhost and
#                                                         root@MARIADB_ROOT_HOST (default '%')
#   MARIADB_ALLOW_EMPTY_ROOT_PASSWORD | MYSQL_ALLOW_EMPTY_PASSWORD   or none at all
#   MARIADB_RANDOM_ROOT_PASSWORD | MYSQL_RANDOM_ROOT_PASSWORD        or a random one (printed)
#   MARIADB_DATABASE | MYSQL_DATABASE                     a database to create
#   MARIADB_USER | MYSQL_USER, MARIADB_PASSWORD | MYSQL_PASSWORD     a user with all rights on it
#   /docker-entrypoint-initdb.d/*.sql, *.sql.gz, *.sh     run once, in order, into that database
# (every *_PASSWORD may be given as *_PASSWORD_FILE instead). Then run the server as `mysql`.
# A command starting with `-` is options for mariadbd; any other command is run as is.
# During initialisation the server listens on no port and a private socket, so neither clients
# nor the HEALTHCHECK see it before it is ready for real.
set -euo pipefail

if [ "${1:0:1}" = - ]; then set -- mariadbd "$@"; fi
if [ "$1" != mariadbd ] && [ "$1" != mysqld ]; then exec "$@"; fi

log() { echo "$(date -u +%FT%TZ) [entrypoint] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# env MARIADB_X MYSQL_X: the first set of the two (or of their *_FILE), else empty.
env_of() {
    local name
    for name in "$@"; do
        if [ -n "${!name:-}" ]; then printf '%s' "${!name}"; return; fi
        local file=${name}_FILE
        if [ -n "${!file:-}" ]; then cat "${!file}"; return; fi
    done
}
sql_string() { local s=${1//\\/\\\\}; printf "'%s'" "${s//\'/\'\'}"; }
sql_name() { printf '`%s`' "${1//\`/\`\`}"; }

datadir=$("$1" "${@:2}" --verbose --help 2>/dev/null | awk '$1 == "datadir" { print $2; exit }')
datadir=${datadir:-/var/lib/mysql}
mkdir -p "$datadir" /run/mysqld
chown mysql:mysql "$datadir" /run/mysqld

if [ ! -d "$datadir/mysql" ]; then
    root_password=$(env_of MARIADB_ROOT_PASSWORD MYSQL_ROOT_PASSWORD)
    allow_empty=$(env_of MARIADB_ALLOW_EMPTY_ROOT_PASSWORD MYSQL_ALLOW_EMPTY_PASSWORD)
    random=$(env_of MARIADB_RANDOM_ROOT_PASSWORD MYSQL_RANDOM_ROOT_PASSWORD)
    database=$(env_of MARIADB_DATABASE MYSQL_DATABASE)
    user=$(env_of MARIADB_USER MYSQL_USER)
    password=$(env_of MARIADB_PASSWORD MYSQL_PASSWORD)
    root_host=$(env_of MARIADB_ROOT_HOST MYSQL_ROOT_HOST)
    root_host=${root_host:-%}
    if [ -n "$random" ]; then
        root_password=$(head -c 18 /dev/urandom | base64)
        log "GENERATED ROOT PASSWORD: $root_password"
    fi
    [ -n "$root_password" ] || [ -n "$allow_empty" ] ||
        die "the database is uninitialised and none of MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD, MARIADB_RANDOM_ROOT_PASSWORD is set"
    health_password=$(head -c 18 /dev/urandom | base64)
    [ "$user" != root ] || die "MARIADB_USER=root: root is set up by MARIADB_ROOT_PASSWORD"
    [ -z "$user" ] || [ -n "$password" ] || die "MARIADB_USER is set but MARIADB_PASSWORD is not"

    log "initialising $datadir"
    mariadb-install-db --user=mysql --datadir="$datadir" --auth-root-authentication-method=normal \
        --skip-test-db --skip-name-resolve >/dev/null
    socket=/run/mysqld/init.sock
    setpriv --reuid=mysql --regid=mysql --init-groups "$@" --skip-networking --socket="$socket" &
    pid=$!
    client=(mariadb --protocol=socket --socket="$socket" -uroot --database=mysql)
    for _ in $(seq 300); do
        if "${client[@]}" -e 'SELECT 1' >/dev/null 2>&1; then break; fi
        kill -0 "$pid" 2>/dev/null || die "the server stopped during initialisation"
        sleep 0.1
    done
    {
        echo "SET @@SESSION.SQL_LOG_BIN=0;"
        echo "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host != 'localhost');"
        echo "DELETE FROM mysql.proxies_priv WHERE NOT (User = 'root' AND Host = 'localhost');"
        echo "FLUSH PRIVILEGES;"
        echo "DROP DATABASE IF EXISTS test;"
        echo "SET PASSWORD FOR 'root'@'localhost' = PASSWORD($(sql_string "$root_password"));"
        if [ "$root_host" != localhost ]; then
            echo "CREATE USER 'root'@$(sql_string "$root_host") IDENTIFIED BY $(sql_string "$root_password");"
            echo "GRANT ALL ON *.* TO 'root'@$(sql_string "$root_host") WITH GRANT OPTION;"
        fi
        if [ -n "$database" ]; then
            echo "CREATE DATABASE IF NOT EXISTS $(sql_name "$database");"
        fi
        if [ -n "$user" ]; then
            echo "CREATE USER $(sql_string "$user")@'%' IDENTIFIED BY $(sql_string "$password");"
            if [ -n "$database" ]; then
                echo "GRANT ALL ON $(sql_name "$database").* TO $(sql_string "$user")@'%';"
            fi
        fi
        # The HEALTHCHECK's own login (USAGE only): a ping without one logs "Access denied" each time.
        echo "CREATE USER 'healthcheck'@'localhost' IDENTIFIED BY $(sql_string "$health_password");"
        echo "FLUSH PRIVILEGES;"
    } | "${client[@]}"
    printf '[client]\nuser=healthcheck\npassword=%s\n' "$health_password" >"$datadir/.my-healthcheck.cnf"
    chmod 600 "$datadir/.my-healthcheck.cnf"
    client+=(--password="$root_password")
    [ -z "$database" ] || client+=(--database="$database")
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sql) log "running $f"; "${client[@]}" <"$f" ;;
            *.sql.gz) log "running $f"; gunzip -c "$f" | "${client[@]}" ;;
            *.sh) log "running $f"; . "$f" ;;
            *) [ ! -e "$f" ] || log "ignoring $f" ;;
        esac
    done
    kill -TERM "$pid"
    wait "$pid" || die "the initialisation server exited with status $?"
    log "initialised; starting the server"
fi
exec setpriv --reuid=mysql --regid=mysql --init-groups "$@"
