#!/bin/bash
# Initialises the data directory on first start, then runs mariadbd in the foreground.
# Database, user and password come from files uploaded by the deployment; they are applied
# on every start (idempotently), so a new password in the stack reaches an existing volume.
set -euo pipefail
log() { echo "[entrypoint:database] $*" >&2; }

secrets=/etc/slurm-cluster
for f in database-name database-user database-password; do
  [ -s "$secrets/$f" ] || { log "missing $secrets/$f; the deployment must upload it"; exit 1; }
done
name=$(cat "$secrets/database-name")
user=$(cat "$secrets/database-user")
password=$(cat "$secrets/database-password")
case "$name$user$password" in
  *[!A-Za-z0-9_]*) log "database name, user and password must be letters, digits or _"; exit 1 ;;
esac

datadir=/var/lib/mysql
install -d -o mysql -g mysql -m 0750 "$datadir"
install -d -o mysql -g mysql -m 0755 /run/mysqld
if [ ! -d "$datadir/mysql" ]; then
  log "initialising a new data directory"
  mariadb-install-db --user=mysql --datadir="$datadir" --auth-root-authentication-method=socket \
    --skip-test-db >/dev/null
fi

init=/run/mysqld/init.sql
umask 077
cat >"$init" <<SQL
CREATE DATABASE IF NOT EXISTS \`$name\`;
CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$password';
ALTER USER '$user'@'%' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`$name\`.* TO '$user'@'%';
FLUSH PRIVILEGES;
SQL
chown mysql:mysql "$init"
# The init file holds the password: removed as soon as the server answers, which it does only after
# running the file. The watcher is bounded and detached (tini, PID 1, reaps it, not mariadbd).
( (
  for _ in $(seq 1 300); do
    if mariadb-admin --protocol=socket ping >/dev/null 2>&1; then
      rm -f "$init"
      exit 0
    fi
    sleep 1
  done
) & )
log "starting mariadbd (database ${name}, user ${user})"
exec mariadbd --user=mysql --datadir="$datadir" --init-file="$init"
