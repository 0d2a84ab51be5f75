#!/usr/bin/env bash
# Build the Debian base image from a Debian mirror with debootstrap and tag it with the
# official name (default debian:trixie-slim), for hosts that cannot pull from a registry.
#   scripts/base-image.sh [image-tag] [suite] [mirror]
# Does nothing when the tag already exists (set FORCE=1 to rebuild).
set -euo pipefail

tag="${1:-debian:trixie-slim}"
suite="${2:-${tag#*:}}"
suite="${suite%-slim}"
mirror="${3:-${DEBIAN_MIRROR:-http://deb.debian.org/debian}}"

log() { echo "[base-image] $*" >&2; }

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  log "$tag already present; nothing to do (FORCE=1 rebuilds)"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
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
