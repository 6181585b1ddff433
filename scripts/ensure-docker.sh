#!/usr/bin/env bash
# Make sure a Docker engine answers. Where none runs: install docker.io with apt
# (when root on Debian/Ubuntu) and start dockerd in the background.
# Exits non-zero with what to do when that is not possible.
set -euo pipefail

answers() { timeout 20 docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && answers; then
    exit 0
fi

fail() {
    echo "ERROR: no Docker engine answers and this script cannot start one: $*" >&2
    echo "       Start a Docker engine yourself (e.g. 'sudo systemctl start docker', or" >&2
    echo "       'sudo dockerd &'), make sure 'docker info' works for this user, then re-run." >&2
    exit 1
}

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || fail "dockerd is not installed and we are not root (cannot apt-get install docker.io)."
    command -v apt-get >/dev/null 2>&1 || fail "dockerd is not installed and apt-get is not available."
    echo "docker: installing docker.io (and debootstrap for the sandbox base image) with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || fail "apt-get update failed."
    apt-get install -y -qq docker.io debootstrap >/dev/null || fail "apt-get install docker.io failed."
fi

if pgrep -x dockerd >/dev/null 2>&1 && [ "$(id -u)" != 0 ]; then
    fail "a dockerd runs but does not answer this user (DOCKER_HOST=${DOCKER_HOST:-unset}; is the user in the docker group?)."
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || fail "dockerd is installed but not running, and starting it needs root."
    echo "docker: starting dockerd (log: /var/log/dockerd.log)"
    setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
fi

for _ in $(seq 1 60); do
    if answers; then
        echo "docker: engine answers ($(docker version -f '{{.Server.Version}}'))"
        exit 0
    fi
    sleep 1
done
tail -n 20 /var/log/dockerd.log >&2 || true
fail "dockerd was started but did not answer within 60 s (see /var/log/dockerd.log)."
