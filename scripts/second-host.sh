#!/usr/bin/env bash
# A second Docker host on this machine, for trying a cluster that spans machines:
#   scripts/second-host.sh up <name>     start it; prints the docker:host value for its stacks
#   scripts/second-host.sh down <name>   stop it (its images stay in its data-root for next time)
#   scripts/second-host.sh address <name>  print the host's own address and this machine's on the LAN
#
# The host is a network namespace with its own Docker engine (own data-root, exec-root and
# socket). It shares nothing with this machine but its network link: a veth pair whose far end is
# the host's only interface, 10.77.0.<n>/24 (n from the name, or $SECOND_HOST_NUMBER), and whose
# near end is plugged into a bridge, sc-lan, where this machine is 10.77.0.1: a small LAN, as
# the Ubuntu workstation, the MacBook and the NAS share one at home. Every second host's
# containers reach this machine's published ports at 10.77.0.1 (one address, as on a real LAN),
# and this machine reaches the ports a host publishes at its 10.77.0.<n>; a host's traffic to
# anywhere else (Debian's mirror, for image builds) is routed through this machine and masqueraded.
# Its data-root is /var/lib/slurm-cluster/hosts/<name>: images built there (arm64 ones under
# emulation take minutes) are kept across down/up.
set -euo pipefail

log() { echo "[second-host] $*" >&2; }
usage() { echo "usage: $0 up|down|address <name>" >&2; exit 2; }

cmd="${1:-}"; name="${2:-}"
[ -n "$cmd" ] && [ -n "$name" ] || usage
[[ "$name" =~ ^[a-z][a-z0-9]{0,9}$ ]] || { log "name '$name': expected a lower case letter, then up to 9 lower case letters or digits"; exit 2; }

# The host's number on the LAN 10.77.0.0/24, from the name unless given.
number="${SECOND_HOST_NUMBER:-$(( $(printf '%s' "$name" | cksum | cut -d' ' -f1) % 200 + 20 ))}"
ns="sc-$name"
lan="sc-lan"            # the bridge this machine and every second host are on
host_if="sch-$name"     # this machine's end of the host's link (interface names are at most 15 characters)
peer_if="scp-$name"     # the second host's end
local_addr="10.77.0.1"
peer_addr="10.77.0.$number"
data_root="/var/lib/slurm-cluster/hosts/$name"
run_dir="/run/slurm-cluster/hosts/$name"
socket="$run_dir/docker.sock"
uplink="$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')"

engine_up() { DOCKER_HOST="unix://$socket" docker version >/dev/null 2>&1; }

forward_rules() { # $1: -A/-C/-D
  local op="$1"
  iptables -w "$op" FORWARD -i "$lan" -j ACCEPT 2>/dev/null || return 1
  iptables -w "$op" FORWARD -o "$lan" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT 2>/dev/null || return 1
  if [ -n "$uplink" ]; then
    iptables -w -t nat "$op" POSTROUTING -s 10.77.0.0/24 -o "$uplink" -j MASQUERADE 2>/dev/null || return 1
  fi
}

up() {
  for tool in ip iptables dockerd docker; do
    command -v "$tool" >/dev/null 2>&1 || { log "$tool is missing (apt-get install -y iproute2 iptables docker.io)"; exit 1; }
  done
  if ! ip link show "$lan" >/dev/null 2>&1; then
    log "LAN bridge $lan, this machine at $local_addr"
    ip link add "$lan" type bridge
    ip addr add "$local_addr/24" dev "$lan"
    ip link set "$lan" up
  fi
  if ! ip netns list | grep -qw "$ns"; then
    log "network namespace $ns, on $lan as $peer_addr"
    ip netns add "$ns"
    ip link add "$host_if" type veth peer name "$peer_if"
    ip link set "$peer_if" netns "$ns"
    ip link set "$host_if" master "$lan"
    ip link set "$host_if" up
    ip netns exec "$ns" ip addr add "$peer_addr/24" dev "$peer_if"
    ip netns exec "$ns" ip link set "$peer_if" up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip route add default via "$local_addr"
  fi
  sysctl -qw net.ipv4.ip_forward=1
  # Docker's FORWARD policy is DROP: let the link's traffic through (once).
  forward_rules -C || forward_rules -A
  if engine_up; then
    log "engine already running"
  else
    mkdir -p "$data_root" "$run_dir"
    log "starting dockerd in $ns (data-root $data_root, log $run_dir/dockerd.log)"
    # nsenter, not `ip netns exec`: that remounts /sys for the namespace, hiding the cgroup
    # hierarchies dockerd needs. setsid: the engine outlives this script and its shell.
    setsid nsenter --net="/run/netns/$ns" dockerd \
      --host "unix://$socket" --data-root "$data_root" --exec-root "$run_dir/exec" \
      --pidfile "$run_dir/docker.pid" --cgroup-parent "/slurm-cluster-host-$name" \
      >"$run_dir/dockerd.log" 2>&1 < /dev/null &
    pid=$!
    for _ in $(seq 1 60); do engine_up && break; kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    engine_up || { log "dockerd did not answer on $socket; last lines of its log:"; tail -n 20 "$run_dir/dockerd.log" >&2; exit 1; }
  fi
  log "up: its containers reach this machine at $local_addr; publish its ports on $peer_addr"
  echo "unix://$socket"
}

down() {
  if [ -f "$run_dir/docker.pid" ] && kill -0 "$(cat "$run_dir/docker.pid")" 2>/dev/null; then
    pid="$(cat "$run_dir/docker.pid")"
    log "stopping dockerd ($pid); containers stop with it"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && { log "dockerd $pid did not stop in 60 s"; exit 1; }
  fi
  if ip netns list | grep -qw "$ns"; then
    ip link del "$host_if" 2>/dev/null || true
    ip netns del "$ns"
  fi
  # The LAN goes with its last host.
  if ip link show "$lan" >/dev/null 2>&1 && [ -z "$(ip link show master "$lan" 2>/dev/null)" ]; then
    forward_rules -C && forward_rules -D || true
    ip link del "$lan"
  fi
  log "down ($data_root kept)"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  address) echo "$peer_addr $local_addr" ;;
  *) usage ;;
esac
