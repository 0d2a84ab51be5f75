#!/bin/bash
# Starts one Slurm role in the foreground: slurmdbd, controller (slurmctld) or worker (slurmd).
# Config files and the munge key arrive as uploads; this script fixes their owners and modes,
# waits (bounded) for the role's dependency, and says what it waits for.
set -euo pipefail

role="${1:-}"
log() { echo "[entrypoint:${role}] $*" >&2; }

# wait_for <what> <tries> <command...>: retry once a second, fail with a clear message.
wait_for() {
  local what="$1" tries="$2"; shift 2
  local i
  for ((i = 1; i <= tries; i++)); do
    if "$@" >/dev/null 2>&1; then
      log "${what}: ready after ${i} attempt(s)"
      return 0
    fi
    if ((i == 1 || i % 10 == 0)); then log "waiting for ${what} (${i}/${tries})"; fi
    sleep 1
  done
  log "gave up waiting for ${what} after ${tries} attempts"
  return 1
}

start_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    log "no munge key at /etc/munge/munge.key; the deployment must upload one"; exit 1
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  runuser -u munge -- /usr/sbin/munged --force
  wait_for "munged" 10 munge -n
}

tcp_open() { timeout 2 bash -c "</dev/tcp/$1/$2"; }

case "$role" in
  slurmdbd)
    start_munge
    chown slurm:slurm /etc/slurm/slurmdbd.conf
    chmod 0600 /etc/slurm/slurmdbd.conf
    db_host=$(sed -n 's/^StorageHost=//p' /etc/slurm/slurmdbd.conf)
    db_port=$(sed -n 's/^StoragePort=//p' /etc/slurm/slurmdbd.conf)
    wait_for "accounting database at ${db_host}:${db_port}" 120 tcp_open "$db_host" "$db_port"
    exec slurmdbd -D
    ;;
  controller)
    start_munge
    state_dir=$(sed -n 's/^StateSaveLocation=//p' /etc/slurm/slurm.conf)
    install -d -o slurm -g slurm -m 0755 "$state_dir"
    chown -R slurm:slurm "$state_dir"
    cluster=$(sed -n 's/^ClusterName=//p' /etc/slurm/slurm.conf)
    wait_for "slurmdbd (sacctmgr answers)" 120 sacctmgr -n list cluster
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$cluster"; then
      log "registering cluster ${cluster} in accounting"
      sacctmgr -i add cluster "$cluster"
    fi
    exec slurmctld -D
    ;;
  worker)
    start_munge
    install -d -o root -g root -m 0755 /var/lib/slurm/slurmd
    controller=$(sed -n 's/^SlurmctldHost=//p' /etc/slurm/slurm.conf)
    wait_for "slurmctld on ${controller}" 120 scontrol ping
    exec slurmd -D
    ;;
  *)
    echo "usage: slurm-entrypoint slurmdbd|controller|worker" >&2
    exit 64
    ;;
esac
