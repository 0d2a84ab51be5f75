#!/usr/bin/env bash
# A second Docker host on this machine, for trying a cluster that spans machines:
#   scripts/second-host.sh up <name> [--ssh|--tls]
#       start it; prints the docker:host value for its stacks: its socket (unix://...) by default;
#       with --ssh, ssh://root@10.77.0.<n> (an sshd of its own); with --tls, tcp://10.77.0.<n>:2376
#       (its dockerd with --tlsverify). Each up makes the host's access what it asks for.
#   scripts/second-host.sh client <name>
#       the environment a client of that address needs, one NAME=value a line (empty: unset):
#       --ssh: HOME (its .ssh holds the key the sshd accepts and a known_hosts line for its host
#       key) and SSH_AUTH_SOCK= ; --tls: DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem,
#       cert.pem, key.pem)
#   scripts/second-host.sh socket <name>   its socket (unix://...), whichever way its stacks reach it
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
#
# Reached as a remote machine is (everything under the host's run dir, removed by down):
# - --ssh: OpenSSH's sshd (this machine's /usr/sbin/sshd, package openssh-server) run in the
#   namespace with a config of its own: listening on 10.77.0.<n>:22 only, its own host key and pid
#   file, public keys only (a key made here, and $SECOND_HOST_SSH_KEY's public key if given), for
#   the user running this script, and SetEnv DOCKER_HOST=<the host's socket>, so the
#   `docker system dial-stdio` a client runs there reaches this host's engine, not this machine's.
#   No sshd is started outside the namespace.
# - --tls: the host's dockerd also listens on tcp://10.77.0.<n>:2376 with --tlsverify: a CA,
#   a server certificate for IP 10.77.0.<n> and a client certificate, made here with openssl.
set -euo pipefail

log() { echo "[second-host] $*" >&2; }
usage() { echo "usage: $0 up <name> [--ssh|--tls] | client|socket|down|address <name>" >&2; exit 2; }

cmd="${1:-}"; name="${2:-}"; access="${3:-}"
[ -n "$cmd" ] && [ -n "$name" ] || usage
[[ "$name" =~ ^[a-z][a-z0-9]{0,9}$ ]] || { log "name '$name': expected a lower case letter, then up to 9 lower case letters or digits"; exit 2; }
case "$cmd:$access" in
  up:|up:--ssh|up:--tls) ;;
  up:*) usage ;;
  *:) ;;
  *) usage ;;
esac

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
ssh_dir="$run_dir/sshd"          # sshd's config, host key, authorized keys, pid file and log
tls_dir="$run_dir/tls"           # the CA and the engine's server certificate
client_dir="$run_dir/client"     # what a client needs: HOME=$client_dir (.ssh), tls/ (DOCKER_CERT_PATH)
tls_port=2376
ssh_user="$(id -un)"
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

# Waits for a TCP port of the host to accept connections (from this machine, over the LAN).
wait_port() { # $1: port, $2: seconds
  for _ in $(seq 1 "$2"); do
    timeout 1 bash -c "exec 3<>/dev/tcp/$peer_addr/$1" 2>/dev/null && return 0
    sleep 1
  done
  return 1
}

# ---- TLS: a CA, the engine's certificate (IP SAN 10.77.0.<n>, serverAuth), a client's (clientAuth)
make_tls() {
  command -v openssl >/dev/null 2>&1 || { log "openssl is missing (apt-get install -y openssl)"; exit 1; }
  if [ -f "$tls_dir/server-cert.pem" ] && [ "$(cat "$tls_dir/address" 2>/dev/null)" = "$peer_addr" ] && [ -f "$client_dir/tls/key.pem" ]; then return 0; fi
  log "TLS: CA, server certificate for IP $peer_addr and a client certificate ($client_dir/tls)"
  rm -rf "$tls_dir" "$client_dir/tls"
  mkdir -p "$tls_dir" "$client_dir/tls"
  chmod 700 "$tls_dir" "$client_dir/tls"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -days 30 -keyout "$tls_dir/ca-key.pem" -out "$tls_dir/ca.pem" \
    -subj "/CN=slurm-cluster second host $name CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  sign() { # $1: key and csr prefix, $2: subject, $3: extensions
    openssl req "${ec[@]}" -keyout "$1-key.pem" -out "$1.csr" -subj "$2" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA "$tls_dir/ca.pem" -CAkey "$tls_dir/ca-key.pem" -set_serial "0x$(openssl rand -hex 8)" \
      -days 30 -out "$1-cert.pem" -extfile <(printf '%s\n' "$3") 2>/dev/null
    rm -f "$1.csr"
  }
  sign "$tls_dir/server" "/CN=$peer_addr" "$(printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature' "$peer_addr")"
  sign "$tls_dir/client" "/CN=slurm-cluster client" "$(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature')"
  cp "$tls_dir/ca.pem" "$client_dir/tls/ca.pem"
  mv "$tls_dir/client-cert.pem" "$client_dir/tls/cert.pem"
  mv "$tls_dir/client-key.pem" "$client_dir/tls/key.pem"
  echo "$peer_addr" >"$tls_dir/address"
}

# ---- SSH: sshd in the namespace, for this host's engine only
sshd_running() { [ -f "$ssh_dir/sshd.pid" ] && kill -0 "$(cat "$ssh_dir/sshd.pid")" 2>/dev/null; }

stop_sshd() {
  local pid p
  if sshd_running; then
    pid="$(cat "$ssh_dir/sshd.pid")"
    log "stopping sshd ($pid)"
    kill "$pid"
    for _ in $(seq 1 10); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  # Sessions outlive the listener: end those still in the namespace (dial-stdio of a client).
  if ip netns list | grep -qw "$ns"; then
    for p in $(ip netns pids "$ns" 2>/dev/null); do
      [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = /usr/sbin/sshd ] && kill "$p" 2>/dev/null || true
    done
  fi
  rm -rf "$ssh_dir" "$client_dir/.ssh"
}

start_sshd() {
  [ -x /usr/sbin/sshd ] || { log "/usr/sbin/sshd is missing (apt-get install -y openssh-server; no sshd is started on this machine)"; exit 1; }
  command -v ssh-keygen >/dev/null 2>&1 || { log "ssh-keygen is missing (apt-get install -y openssh-client)"; exit 1; }
  if sshd_running && [ -f "$client_dir/.ssh/known_hosts" ]; then log "sshd already running"; return 0; fi
  stop_sshd
  mkdir -p "$ssh_dir" "$client_dir/.ssh"
  chmod 700 "$ssh_dir" "$client_dir" "$client_dir/.ssh"
  # sshd's privilege separation directory (Debian's, normally made by its service).
  mkdir -p /run/sshd && chmod 755 /run/sshd
  ssh-keygen -q -t ed25519 -N '' -C "second host $name" -f "$ssh_dir/ssh_host_ed25519_key"
  ssh-keygen -q -t ed25519 -N '' -C "client of second host $name" -f "$client_dir/.ssh/id_ed25519"
  cp "$client_dir/.ssh/id_ed25519.pub" "$ssh_dir/authorized_keys"
  if [ -n "${SECOND_HOST_SSH_KEY:-}" ]; then
    [ -f "$SECOND_HOST_SSH_KEY" ] || { log "SECOND_HOST_SSH_KEY=$SECOND_HOST_SSH_KEY: no such public key file"; exit 1; }
    cat "$SECOND_HOST_SSH_KEY" >>"$ssh_dir/authorized_keys"
  fi
  chmod 600 "$ssh_dir/authorized_keys"
  # The client's known_hosts: this host's key under its address, as `ssh root@10.77.0.<n>` would record it.
  echo "$peer_addr $(cut -d' ' -f1,2 "$ssh_dir/ssh_host_ed25519_key.pub")" >"$client_dir/.ssh/known_hosts"
  cat >"$ssh_dir/sshd_config" <<CONF
# sshd of second host $name (scripts/second-host.sh): in network namespace $ns only
ListenAddress $peer_addr:22
HostKey $ssh_dir/ssh_host_ed25519_key
PidFile $ssh_dir/sshd.pid
AuthorizedKeysFile $ssh_dir/authorized_keys
AllowUsers $ssh_user
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowAgentForwarding no
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
# What the client runs here, \`docker system dial-stdio\`, reaches this host's engine.
SetEnv DOCKER_HOST=unix://$socket
CONF
  /usr/sbin/sshd -t -f "$ssh_dir/sshd_config" || { log "sshd refused its config $ssh_dir/sshd_config"; exit 1; }
  log "starting sshd in $ns on $peer_addr:22 (log $ssh_dir/sshd.log)"
  # It detaches itself; ip netns exec keeps it in the host's namespace.
  ip netns exec "$ns" /usr/sbin/sshd -f "$ssh_dir/sshd_config" -E "$ssh_dir/sshd.log"
  wait_port 22 20 || { log "sshd did not listen on $peer_addr:22; its log:"; tail -n 20 "$ssh_dir/sshd.log" >&2; exit 1; }
  # The check a client makes: this key, this host key, and dial-stdio reaching this host's engine.
  local root
  root="$(ssh -F /dev/null -i "$client_dir/.ssh/id_ed25519" -o IdentitiesOnly=yes -o UserKnownHostsFile="$client_dir/.ssh/known_hosts" \
    -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes "$ssh_user@$peer_addr" \
    docker info --format '{{.DockerRootDir}}' 2>&1)" || { log "ssh $ssh_user@$peer_addr docker info failed: $root"; exit 1; }
  [ "$root" = "$data_root" ] || { log "over ssh, docker reaches the engine with data-root $root, not this host's $data_root"; exit 1; }
}

dockerd_args() {
  local args=(--host "unix://$socket" --data-root "$data_root" --exec-root "$run_dir/exec"
    --pidfile "$run_dir/docker.pid" --cgroup-parent "/slurm-cluster-host-$name")
  if [ "$access" = --tls ]; then
    args+=(--host "tcp://$peer_addr:$tls_port" --tlsverify --tlscacert "$tls_dir/ca.pem"
      --tlscert "$tls_dir/server-cert.pem" --tlskey "$tls_dir/server-key.pem")
  fi
  printf '%s\n' "${args[@]}"
}

stop_dockerd() {
  if [ -f "$run_dir/docker.pid" ] && kill -0 "$(cat "$run_dir/docker.pid")" 2>/dev/null; then
    pid="$(cat "$run_dir/docker.pid")"
    log "stopping dockerd ($pid); containers stop with it"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && { log "dockerd $pid did not stop in 60 s"; exit 1; }
  fi
  return 0
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
  mkdir -p "$data_root" "$run_dir"
  [ "$access" = --tls ] && make_tls
  local wanted
  wanted="$(dockerd_args)"
  if engine_up && [ "$(cat "$run_dir/dockerd.args" 2>/dev/null)" = "$wanted" ]; then
    log "engine already running"
  else
    # Another access than the running engine's (TLS listener on or off): restart it.
    engine_up && stop_dockerd
    mapfile -t args <<<"$wanted"
    log "starting dockerd in $ns (data-root $data_root, log $run_dir/dockerd.log${access:+, $access})"
    # nsenter, not `ip netns exec`: that remounts /sys for the namespace, hiding the cgroup
    # hierarchies dockerd needs. setsid: the engine outlives this script and its shell.
    setsid nsenter --net="/run/netns/$ns" dockerd "${args[@]}" >"$run_dir/dockerd.log" 2>&1 < /dev/null &
    pid=$!
    for _ in $(seq 1 60); do engine_up && break; kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    engine_up || { log "dockerd did not answer on $socket; last lines of its log:"; tail -n 20 "$run_dir/dockerd.log" >&2; exit 1; }
    printf '%s\n' "$wanted" >"$run_dir/dockerd.args"
  fi
  if [ "$access" = --ssh ]; then start_sshd; else stop_sshd; fi
  if [ "$access" = --tls ]; then
    wait_port "$tls_port" 20 || { log "dockerd does not listen on $peer_addr:$tls_port"; exit 1; }
    # The check a client makes: the engine's certificate for this address, and ours accepted.
    DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$client_dir/tls" docker -H "tcp://$peer_addr:$tls_port" version >/dev/null \
      || { log "docker over TLS at tcp://$peer_addr:$tls_port failed"; exit 1; }
  else
    rm -rf "$tls_dir" "$client_dir/tls"
  fi
  log "up: its containers reach this machine at $local_addr; publish its ports on $peer_addr"
  case "$access" in
    --ssh) echo "ssh://$ssh_user@$peer_addr"; log "its client's environment: $0 client $name" ;;
    --tls) echo "tcp://$peer_addr:$tls_port"; log "its client's environment: $0 client $name" ;;
    *) echo "unix://$socket" ;;
  esac
}

client() {
  local any=
  if sshd_running && [ -f "$client_dir/.ssh/id_ed25519" ]; then
    echo "HOME=$client_dir"
    echo "SSH_AUTH_SOCK="
    any=1
  fi
  if [ -f "$client_dir/tls/key.pem" ]; then
    echo "DOCKER_TLS_VERIFY=1"
    echo "DOCKER_CERT_PATH=$client_dir/tls"
    any=1
  fi
  [ -n "$any" ] || { log "$name is not up with --ssh or --tls: its socket needs no client setup"; exit 1; }
}

down() {
  stop_sshd
  stop_dockerd
  if ip netns list | grep -qw "$ns"; then
    ip link del "$host_if" 2>/dev/null || true
    ip netns del "$ns"
  fi
  rm -rf "$tls_dir" "$client_dir" "$run_dir/dockerd.args"
  # The LAN goes with its last host.
  if ip link show "$lan" >/dev/null 2>&1 && [ -z "$(ip link show master "$lan" 2>/dev/null)" ]; then
    forward_rules -C && forward_rules -D || true
    ip link del "$lan"
  fi
  log "down ($data_root kept)"
}

case "$cmd" in
  up) up ;;
  client) client ;;
  down) down ;;
  socket) echo "unix://$socket" ;;
  address) echo "$peer_addr $local_addr" ;;
  *) usage ;;
esac
