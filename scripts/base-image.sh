#!/usr/bin/env bash
# Build the Debian base image from a Debian mirror with debootstrap and tag it with the
# official name (default debian:trixie-slim), for hosts that cannot pull from a registry.
#   [DOCKER_HOST=...] [PLATFORM=linux/arm64] scripts/base-image.sh [image-tag] [suite] [mirror]
# PLATFORM (linux/amd64 or linux/arm64) defaults to the engine's own architecture. Another
# architecture than this machine's is built under emulation: binfmt_misc with qemu-user-static
# (installed here when missing); where the kernel cannot run those binaries, it says so and stops.
# An engine of this machine's architecture other than the default one (scripts/second-host.sh)
# gets a copy of the default engine's image when it has one, instead of a new debootstrap.
# The mirror is, in order: the third argument, $DEBIAN_MIRROR, or the Debian mirror this host's apt
# already uses (/etc/apt/sources.list.d/*.sources or /etc/apt/sources.list), so an air-gapped
# site's own mirror is used without configuration. Does nothing when the tag already exists
# (set FORCE=1 to rebuild).
set -euo pipefail

tag="${1:-debian:trixie-slim}"
suite="${2:-${tag#*:}}"
suite="${suite%-slim}"

log() { echo "[base-image] $*" >&2; }

# The host's Debian archive mirror: the first URI apt uses for a suite that is not a security one.
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS=""; FS="\n" }
         /Types:[^\n]*deb/ && !/Suites:[^\n]*-security/ {
           for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { split(substr($i, 6), u, " "); print u[1]; exit } }' "$f"
  done | grep -m1 -E '/debian/?$' && return 0
  [ -f /etc/apt/sources.list ] &&
    awk '$1 == "deb" && $3 !~ /-security/ { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; exit } }' /etc/apt/sources.list |
    grep -m1 -E '/debian/?$'
}

mirror="${3:-${DEBIAN_MIRROR:-$(host_mirror || true)}}"

# Debian's name for an architecture: amd64, arm64 (docker info says x86_64, aarch64).
deb_arch() { case "$1" in x86_64|amd64|linux/amd64) echo amd64 ;; aarch64|arm64|linux/arm64) echo arm64 ;; *) echo "$1" ;; esac; }
engine_arch="$(deb_arch "$(docker info --format '{{.Architecture}}')")"
arch="$(deb_arch "${PLATFORM:-$engine_arch}")"
host_arch="$(dpkg --print-architecture 2>/dev/null || deb_arch "$(uname -m)")"

# One build of a tag per engine at a time: a second run (CI's background warm-up and a test, two
# terminals) waits for the first and then finds its image, instead of a second debootstrap.
lock_dir=/run/lock/slurm-cluster
mkdir -p "$lock_dir"
exec 9>"$lock_dir/base-image-$(printf '%s %s %s' "${DOCKER_HOST:-default}" "$tag" "$arch" | sha256sum | cut -c1-16).lock"
if ! flock -n 9; then
  log "another run is building $tag ($arch) on this engine; waiting for it"
  flock 9
fi

if [ "${FORCE:-0}" != 1 ] && [ "$(docker image inspect --format '{{.Architecture}}' "$tag" 2>/dev/null)" = "$arch" ]; then
  log "$tag ($arch) already present; nothing to do (FORCE=1 rebuilds)"
  exit 0
fi

# Another engine of this machine: copy the default engine's image of the same architecture.
default_engine="unix:///var/run/docker.sock"
if [ "${FORCE:-0}" != 1 ] && [ "${DOCKER_HOST:-$default_engine}" != "$default_engine" ] &&
   [ "$(docker -H "$default_engine" image inspect --format '{{.Architecture}}' "$tag" 2>/dev/null)" = "$arch" ]; then
  log "copying $tag ($arch) from the default engine"
  docker -H "$default_engine" save "$tag" | docker load >/dev/null
  exit 0
fi

if [ "$arch" != "$host_arch" ]; then
  qemu="/proc/sys/fs/binfmt_misc/qemu-$( [ "$arch" = arm64 ] && echo aarch64 || echo x86_64 )"
  if [ ! -e "$qemu" ]; then
    log "$arch binaries need emulation here ($host_arch machine): setting up binfmt_misc with qemu-user-static"
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    if ! dpkg -s qemu-user-static >/dev/null 2>&1; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support >/dev/null || true
    fi
    command -v update-binfmts >/dev/null 2>&1 && update-binfmts --enable >/dev/null 2>&1 || true
  fi
  if [ ! -e "$qemu" ] || ! grep -q enabled "$qemu"; then
    log "cannot build a $arch image on this $host_arch machine: the kernel runs no $arch binaries ($qemu is missing)."
    log "binfmt_misc needs to be mountable and qemu-user-static installed (apt-get install qemu-user-static binfmt-support);"
    log "in an unprivileged container neither works. Build on a $arch machine instead (e.g. the QNAP itself)."
    exit 1
  fi
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

if [ -z "$mirror" ]; then
  log "no Debian mirror: this host's apt names none; pass one as the third argument or set DEBIAN_MIRROR"
  exit 1
fi

root="$(mktemp -d /tmp/base-image.XXXXXX)"
trap 'rm -rf "$root"' EXIT
# A debootstrap older than the suite (bookworm's knows no forky) has no script for it; every Debian
# suite since jessie uses sid's script, which is what newer debootstraps link the name to.
script=()
[ -e "/usr/share/debootstrap/scripts/$suite" ] || script=(/usr/share/debootstrap/scripts/sid)
log "debootstrap --arch=$arch --variant=minbase $suite from $mirror (about a minute; longer under emulation)"
start=$(date +%s)
debootstrap --arch="$arch" --variant=minbase "$suite" "$root" "$mirror" "${script[@]}" >"$root.log" 2>&1 || {
  log "debootstrap failed; last lines:"; tail -n 20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
# Debian testing's Release file is valid for a week (Valid-Until); a mirror that is a frozen copy
# (an air-gapped site's, this build machine's) is past it, and apt then refuses the suite. The
# signatures are still checked: only the freshness check is turned off, and only when the mirror
# is already stale, so a live mirror keeps it.
valid_until="$(grep -h -m1 '^Valid-Until:' "$root"/var/lib/apt/lists/*Release 2>/dev/null | head -n1 | cut -d' ' -f2- || true)"
if [ -n "$valid_until" ] && [ "$(date -u -d "$valid_until" +%s 2>/dev/null || echo 0)" -lt "$(date -u +%s)" ]; then
  log "the mirror's $suite Release file expired on $valid_until: the image's apt will not check Valid-Until (signatures still checked)"
  printf '// %s: the mirror (%s) is a frozen copy whose Release file expired on %s.\nAcquire::Check-Valid-Until "false";\n' \
    "scripts/base-image.sh" "$mirror" "$valid_until" >"$root/etc/apt/apt.conf.d/99slurm-cluster-stale-mirror"
fi
# Trim what a slim image leaves out, and keep apt lists empty like the official image.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
log "importing as $tag ($arch)"
if [ "$arch" = "$engine_arch" ]; then
  tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$tag" >/dev/null
else
  # docker import records the engine's architecture whatever --platform says (Docker 20.10), and
  # a build for linux/$arch wants a base of that architecture: build it FROM scratch instead.
  ctx="$(mktemp -d /tmp/base-image-ctx.XXXXXX)"
  tar -C "$root" -cf "$ctx/rootfs.tar" .
  printf 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n' >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q --platform "linux/$arch" -t "$tag" "$ctx" >/dev/null
  rm -rf "$ctx"
fi
log "$tag built in $(( $(date +%s) - start ))s"
