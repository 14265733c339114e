#!/bin/sh
# HEALTHCHECK: the server answers on its socket (only the real server listens there, not the
# one the entrypoint runs while initialising), as the USAGE-only `healthcheck` user the
# entrypoint made (a datadir made elsewhere has none: `ping` also succeeds when access is denied).
cnf=/var/lib/mysql/.my-healthcheck.cnf
if [ -r "$cnf" ]; then set -- --defaults-extra-file="$cnf"; fi
exec mariadb-admin "$@" --protocol=socket --socket=/run/mysqld/mysqld.sock --connect-timeout=2 ping --silent
