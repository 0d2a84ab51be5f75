#!/usr/bin/env bash
# Build the Debian base image from a Debian mirror with debootstrap and tag it with the
# official name (default debian:trixie-slim), for hosts that cannot pull from a registry.
#   scripts/base-image.sh [image-tag] [suite] [mirror]
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

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  log "$tag already present; nothing to do (FORCE=1 rebuilds)"
  exit 0
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
log "debootstrap --variant=minbase $suite from $mirror (about a minute)"
start=$(date +%s)
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
  log "debootstrap failed; last lines:"; tail -n 20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
# Trim what a slim image leaves out, and keep apt lists empty like the official image.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
log "importing as $tag"
tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$tag" >/dev/null
log "$tag built in $(( $(date +%s) - start ))s"
