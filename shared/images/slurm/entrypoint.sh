#!/bin/bash
# Starts one Slurm role in the foreground: slurmdbd, controller (slurmctld) or worker (slurmd).
# Config files and the munge key arrive as uploads; this script fixes their owners and modes,
# waits (bounded) for the role's dependency, and says what it waits for.
set -euo pipefail

role="${1:-}"
log() { echo "[entrypoint:${role}] $*" >&2; }

# wait_for <what> <seconds> <command...>: retry, fail with a clear message after about <seconds>.
# Five tries a second for the first 5 s, then one a second: the daemons start side by side and each
# waits for the one before it (database, slurmdbd, slurmctld), so a whole second lost at each link
# was most of the gap to the first job; a wait that goes on (64 workers for a controller still
# starting, a database initialising its volume) costs no more than before.
wait_for() {
  local what="$1" seconds="$2"; shift 2
  local i=0 waited=0 pause
  while true; do
    i=$((i + 1))
    if "$@" >/dev/null 2>&1; then
      log "${what}: ready after ${i} attempt(s)"
      return 0
    fi
    if ((waited >= seconds * 10)); then break; fi
    if ((i == 1 || i % 25 == 0)); then log "waiting for ${what} (${i} attempts, up to ${seconds}s)"; fi
    # In tenths of a second.
    if ((waited < 50)); then pause=2; else pause=10; fi
    sleep "$((pause / 10)).$((pause % 10))"
    waited=$((waited + pause))
  done
  log "gave up waiting for ${what} after ${seconds}s (${i} attempts)"
  return 1
}

# fatal <message>: a mode that cannot work here says why and what to change, then stops.
fatal() {
  log "FATAL: $*"
  exit 78
}

install_munge_key() {
  if [ ! -s /etc/munge/munge.key ]; then
    fatal "no munge key at /etc/munge/munge.key; the deployment must upload one"
  fi
  # munged refuses a key, or a directory on its path, that others may write or that munge does not
  # own: the upload lands as root, so owner and modes are set here and munged runs with its checks.
  install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
}

start_munge() {
  install_munge_key
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  wait_for "munged" 10 munge -n
}

# The JWT key (controller and slurmdbd only) belongs to SlurmUser, readable by no one else.
install_jwt_key() {
  [ -s /etc/slurm/jwt_hs256.key ] || fatal "no JWT key at /etc/slurm/jwt_hs256.key; the deployment must upload one"
  chown slurm:slurm /etc/slurm/jwt_hs256.key
  chmod 0600 /etc/slurm/jwt_hs256.key
  # Slurm 26.05 with monitoring: the key slurmctld's HTTP listener checks the exporter's metrics token with.
  if [ -e /etc/slurm/slurmctld_http_jwt.key ]; then
    chown slurm:slurm /etc/slurm/slurmctld_http_jwt.key
    chmod 0600 /etc/slurm/slurmctld_http_jwt.key
  fi
}

cgroup_conf() { sed -n "s/^$1=//p" /etc/slurm/cgroup.conf 2>/dev/null; }
cgroupfs_type() { stat -fc %T /sys/fs/cgroup; }

# Checks (and on cgroup v2 prepares) the cgroup filesystem for the plugin cgroup.conf names,
# so a host that cannot give a mode what it needs fails here with a message, not in slurmd.
prepare_cgroups() {
  local plugin; plugin=$(cgroup_conf CgroupPlugin)
  case "$plugin" in
    ""|disabled) return 0 ;;
    cgroup/v1)
      [ "$(cgroupfs_type)" = tmpfs ] || fatal "cgroup.conf asks for cgroup/v1 but this host runs cgroup v2; set slurm-cluster:hostCgroupVersion=2 (or auto)"
      local probe="/sys/fs/cgroup/memory/slurm-cluster-probe-$$"
      mkdir "$probe" 2>/dev/null && rmdir "$probe" ||
        fatal "cgroup v1 controllers under /sys/fs/cgroup are not writable; the worker needs its own parent cgroup in each controller bind-mounted read-write, as the program declares it (or use slurm-cluster:cgroupMode=none)"
      ;;
    cgroup/v2)
      [ "$(cgroupfs_type)" = cgroup2fs ] || fatal "cgroup.conf asks for cgroup/v2 but this host runs cgroup v1; set slurm-cluster:hostCgroupVersion=1 (or auto)"
      if ! mkdir /sys/fs/cgroup/slurm-cluster-probe 2>/dev/null; then
        mount -o remount,rw /sys/fs/cgroup 2>/dev/null ||
          fatal "/sys/fs/cgroup is read-only and cannot be remounted: the worker needs Docker 28+ with writable-cgroups=true, or (slurm-cluster:allowHostCgroupWrite=true) CAP_SYS_ADMIN with no AppArmor mount rule in the way (or use slurm-cluster:cgroupMode=none)"
        mkdir /sys/fs/cgroup/slurm-cluster-probe
      fi
      rmdir /sys/fs/cgroup/slurm-cluster-probe
      if [ "$(cgroup_conf IgnoreSystemd)" = yes ]; then
        # cgroup v2 allows no processes in a cgroup whose controllers are delegated to children:
        # move everything at the namespace root into a leaf, then let slurmd enable controllers.
        mkdir -p /sys/fs/cgroup/init
        while read -r pid; do echo "$pid" >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true; done </sys/fs/cgroup/cgroup.procs
      fi
      ;;
    *) fatal "unknown CgroupPlugin=$plugin in cgroup.conf" ;;
  esac
}

tcp_open() { timeout 2 bash -c "</dev/tcp/$1/$2"; }

# The cluster's users (name:uid:gid lines from the stack config), the same on every Slurm
# container: slurmctld resolves a job's uid to its name, slurmd runs the job as it. The list is on
# the shared volume, where the deployment keeps it current (role "users" applies it to a running
# container), so a container created later has the users from its start. No password (no login);
# home on the shared volume.
USERS_FILE=/shared/.slurm-cluster/users
create_users() {
  [ -s "$USERS_FILE" ] || return 0
  local name uid gid
  while IFS=: read -r name uid gid; do
    [ -n "$name" ] || continue
    getent group "$gid" >/dev/null || groupadd -g "$gid" "$name"
    if ! getent passwd "$name" >/dev/null; then
      useradd -u "$uid" -g "$gid" -d "/shared/home/$name" -M -s /bin/bash "$name"
    fi
    if [ ! -d "/shared/home/$name" ]; then
      # 0700: no other user reads a home (job scripts, output, keys), whatever groups they share.
      install -d -m 0755 /shared/home
      install -d -o "$uid" -g "$gid" -m 0700 "/shared/home/$name"
    fi
  done < "$USERS_FILE"
  log "users: $(cut -d: -f1 "$USERS_FILE" | paste -sd, -)"
}

# The users' SSH public keys ("user key" lines in $SLURM_CLUSTER_AUTHORIZED_KEYS), one root-owned
# file per user on the shared volume, where the login node's sshd looks (AuthorizedKeysFile): a
# user cannot add keys of their own, and a user the list no longer names loses their file.
KEYS_DIR=/shared/.slurm-cluster/authorized_keys
write_authorized_keys() {
  local staging="$KEYS_DIR.new.$$" user key
  rm -rf "$staging"
  install -d -m 0755 "$staging"
  while read -r user key; do
    [ -n "$user" ] || continue
    printf '%s\n' "$key" >> "$staging/$user"
  done <<< "${SLURM_CLUSTER_AUTHORIZED_KEYS:-}"
  chmod 0644 "$staging"/* 2>/dev/null || true
  rm -rf "$KEYS_DIR.old"
  [ ! -d "$KEYS_DIR" ] || mv "$KEYS_DIR" "$KEYS_DIR.old"
  mv "$staging" "$KEYS_DIR"
  rm -rf "$KEYS_DIR.old"
  log "SSH keys for: $(ls "$KEYS_DIR" | paste -sd, -)"
}

# A worker of a workers stack (SLURM_NODE_ADDRESS: its machine's address) takes only a node name
# that no other machine's node holds: slurmctld would give one name to two slurmd, flipping its
# address between them. A record from this machine (a replaced container), or of a node that is
# down or not responding (a machine that is gone), is this node's to take.
refuse_taken_name() {
  [ -n "${SLURM_NODE_ADDRESS:-}" ] || return 0
  local name line addr state
  name=$(hostname)
  line=$(scontrol show node -o "$name" 2>/dev/null) || return 0
  addr=$(printf '%s\n' "$line" | sed -n 's/.* NodeAddr=\([^ ]*\).*/\1/p')
  state=$(printf '%s\n' "$line" | sed -n 's/.* State=\([^ ]*\).*/\1/p')
  case "$state" in *DOWN*|*NOT_RESPONDING*|*FUTURE*) return 0 ;; esac
  [ -z "$addr" ] || [ "$addr" = "$SLURM_NODE_ADDRESS" ] || [ "$addr" = "$name" ] && return 0
  fatal "node name $name is already in the cluster, registered from $addr ($state) by another machine's stack; set slurm-cluster:nodePrefix to a name unique in the cluster (or, if that machine is gone: scontrol delete nodename=$name)"
}

case "$role" in
  slurmdbd)
    start_munge
    install_jwt_key
    chown slurm:slurm /etc/slurm/slurmdbd.conf
    chmod 0600 /etc/slurm/slurmdbd.conf
    db_host=$(sed -n 's/^StorageHost=//p' /etc/slurm/slurmdbd.conf)
    db_port=$(sed -n 's/^StoragePort=//p' /etc/slurm/slurmdbd.conf)
    wait_for "accounting database at ${db_host}:${db_port}" 120 tcp_open "$db_host" "$db_port"
    exec slurmdbd -D
    ;;
  controller)
    create_users
    start_munge
    install_jwt_key
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
    prepare_cgroups
    create_users
    start_munge
    install -d -o root -g root -m 0755 /var/lib/slurm/slurmd
    controller=$(sed -n 's/^SlurmctldHost=//p' /etc/slurm/slurm.conf)
    ctld_port=$(sed -n 's/^SlurmctldPort=//p' /etc/slurm/slurm.conf)
    # A TCP connect first: cheap enough for 64 workers waiting at once (each scontrol ping makes a
    # munge credential and an RPC); then one ping that slurmctld answers.
    wait_for "slurmctld's port on ${controller}:${ctld_port:-6817}" 120 tcp_open "$controller" "${ctld_port:-6817}"
    wait_for "slurmctld on ${controller}" 30 scontrol ping
    [ -s /etc/slurm/dynamic-node.conf ] || fatal "no /etc/slurm/dynamic-node.conf; the deployment must upload the node's size"
    refuse_taken_name
    # A dynamic node: slurmd registers this host by name, with the size the deployment gave it.
    exec slurmd -D -Z --conf "$(cat /etc/slurm/dynamic-node.conf)"
    ;;
  rest)
    # slurmrestd: Slurm's REST API. It refuses to run as root or SlurmUser, and with rest_auth/jwt it
    # passes each request's token on to slurmctld and slurmdbd, which check it with the JWT key.
    start_munge
    wait_for "slurmctld" 120 scontrol ping
    # slurmrestd unshares its files and System V IPC namespaces, which needs CAP_SYS_ADMIN; the
    # container already gives it namespaces of its own, so it is told not to (no capability added).
    export SLURMRESTD_SECURITY=disable_unshare_files,disable_unshare_sysv
    # auth/jwt first: slurmrestd then takes each request's token (with munge first it rejects them).
    export SLURM_JWT=daemon
    exec runuser -u slurmrestd -- slurmrestd -a rest_auth/jwt "0.0.0.0:${SLURMRESTD_PORT:-6820}"
    ;;
  exporter)
    # The Slurm exporter: asks slurmctld with the Slurm client commands, as its own user
    # (slurm-exporter, made by the exporter's image), which only reads what any user may read.
    start_munge
    # Slurm 26.05: its token for slurmctld's own metrics, readable by the exporter's user alone.
    if [ -e /etc/slurm-exporter/slurmctld.token ]; then
      chown slurm-exporter /etc/slurm-exporter/slurmctld.token
      chmod 0400 /etc/slurm-exporter/slurmctld.token
    fi
    wait_for "slurmctld" 120 scontrol ping
    exec runuser -u slurm-exporter -- node /opt/slurm-exporter/server.js
    ;;
  login)
    # The login node: users arrive by SSH (public keys from the stack config only) and use the
    # Slurm client commands as themselves. The stack's host key arrives as an upload.
    create_users
    start_munge
    [ -s /etc/ssh/ssh_host_ed25519_key ] || fatal "no SSH host key at /etc/ssh/ssh_host_ed25519_key; the deployment must upload one"
    chown root:root /etc/ssh/ssh_host_ed25519_key
    chmod 0600 /etc/ssh/ssh_host_ed25519_key
    install -d -m 0755 /run/sshd
    /usr/sbin/sshd -t || fatal "sshd refuses its configuration (above)"
    exec /usr/sbin/sshd -D -e
    ;;
  systemd)
    # Worker with systemd as PID 1: systemd starts munge and slurmd (units from Debian).
    prepare_cgroups
    create_users
    install_munge_key
    log "starting systemd"
    exec /sbin/init
    ;;
  users)
    # Run in a running container by the deployment when the users change: write the list (from
    # $SLURM_CLUSTER_USERS) when asked to, then create the users it names.
    if [ "${WRITE_USERS:-0}" = 1 ]; then
      install -d -m 0755 "$(dirname "$USERS_FILE")"
      printf '%s' "${SLURM_CLUSTER_USERS:-}" > "$USERS_FILE.tmp" && chmod 0644 "$USERS_FILE.tmp" && mv "$USERS_FILE.tmp" "$USERS_FILE"
      [ "${WRITE_KEYS:-0}" != 1 ] || write_authorized_keys
    fi
    create_users
    ;;
  *)
    echo "usage: slurm-entrypoint slurmdbd|controller|worker|systemd|rest|exporter|login|users" >&2
    exit 64
    ;;
esac
