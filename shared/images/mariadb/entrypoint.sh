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

# The database is on one network only, the accounting network, with slurmdbd (README "Networks"):
# its user is granted to that network's range, whatever range Docker gave it, read from the one
# interface at every start (a replaced network may have another), and mariadbd listens there only.
# grant_host CIDR: MariaDB's host pattern for the range holding CIDR's address (network/netmask).
grant_host() {
  local ip=${1%/*} bits=${1#*/} a b c d
  IFS=. read -r a b c d <<<"$ip"
  local mask=$(( bits == 0 ? 0 : (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF ))
  local net=$(( ((a << 24) | (b << 16) | (c << 8) | d) & mask ))
  dotted() { echo "$(( ($1 >> 24) & 255 )).$(( ($1 >> 16) & 255 )).$(( ($1 >> 8) & 255 )).$(( $1 & 255 ))"; }
  echo "$(dotted "$net")/$(dotted "$mask")"
}
addresses=()
while read -r _ _ _ cidr _; do addresses+=("$cidr"); done < <(ip -o -4 addr show scope global)
if [ "${#addresses[@]}" -ne 1 ]; then
  log "expected one network (the accounting network), found ${#addresses[@]} addresses: ${addresses[*]:-none}"
  exit 1
fi
listen=${addresses[0]%/*}
client=$(grant_host "${addresses[0]}")

datadir=/var/lib/mysql
install -d -o mysql -g mysql -m 0750 "$datadir"
install -d -o mysql -g mysql -m 0755 /run/mysqld
# A data directory written by the image of another Slurm release: Debian gives the mysql user
# another uid in another suite (100 in trixie, 996 in forky), so its files are handed over.
if [ -n "$(find "$datadir" -mindepth 1 ! -user mysql -print -quit)" ]; then
  log "data directory owned by another uid (an image of another Debian release): chown to mysql ($(id -u mysql))"
  chown -R mysql:mysql "$datadir"
fi
if [ ! -d "$datadir/mysql" ]; then
  log "initialising a new data directory"
  mariadb-install-db --user=mysql --datadir="$datadir" --auth-root-authentication-method=socket \
    --skip-test-db >/dev/null
fi

init=/run/mysqld/init.sql
umask 077
cat >"$init" <<SQL
CREATE DATABASE IF NOT EXISTS \`$name\`;
DROP USER IF EXISTS '$user'@'%';
CREATE USER IF NOT EXISTS '$user'@'$client' IDENTIFIED BY '$password';
ALTER USER '$user'@'$client' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`$name\`.* TO '$user'@'$client';
CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY '$password';
ALTER USER '$user'@'localhost' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`$name\`.* TO '$user'@'localhost';
FLUSH PRIVILEGES;
SQL
chown mysql:mysql "$init"
# The init file holds the password: removed as soon as the server answers, which it does only after
# running the file. The watcher is bounded and detached (tini, PID 1, reaps it, not mariadbd).
( (
  for _ in $(seq 1 300); do
    if mariadb-admin --protocol=socket ping >/dev/null 2>&1; then
      rm -f "$init"
      # Grants to the ranges of earlier accounting networks go (this one and the socket stay).
      mariadb --protocol=socket -N -B -e \
        "SELECT Host FROM mysql.user WHERE User = '$user' AND Host NOT IN ('$client', 'localhost')" 2>/dev/null |
        while read -r stale; do mariadb --protocol=socket -e "DROP USER '$user'@'$stale'" || true; done
      exit 0
    fi
    sleep 1
  done
) & )
log "starting mariadbd on ${listen}:3306 (database ${name}, user ${user} from ${client} and the socket)"
exec mariadbd --user=mysql --datadir="$datadir" --init-file="$init" --bind-address="$listen"
