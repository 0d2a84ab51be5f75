#!/usr/bin/env bash
# Make sure a Docker engine answers: install docker.io if missing, start dockerd if not running.
# Used by CI and by people on a fresh Debian/Ubuntu machine with no Docker service manager.
set -euo pipefail

log() { echo "[start-docker] $*" >&2; }

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io from Debian packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if docker info >/dev/null 2>&1; then
  log "Docker engine already answers"
  exit 0
fi

log "starting dockerd in the background (log: /var/log/dockerd.log)"
nohup dockerd >/var/log/dockerd.log 2>&1 &

for i in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "Docker engine up after ${i}s"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60s; last lines of its log:"
tail -n 20 /var/log/dockerd.log >&2
exit 1
