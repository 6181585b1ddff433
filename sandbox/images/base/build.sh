#!/usr/bin/env bash
# Build the sandbox base image (Debian bookworm, minimal).
#
# Usage: build.sh IMAGE_NAME
#
# Pulls debian:bookworm-slim where a registry answers; otherwise bootstraps a
# minimal Debian with debootstrap from Debian's mirror and imports it. The image
# carries the label ascend.mindie.sandbox.hash with the hash of this script, so
# callers can tell whether it must be rebuilt.
set -euo pipefail

image=${1:?usage: build.sh IMAGE_NAME}
mirror=${SANDBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")" && pwd)
hash=$(sha256sum "$here/build.sh" | cut -c1-16)

if timeout 60 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
    echo "base: pulled debian:bookworm-slim"
    printf 'FROM debian:bookworm-slim\nLABEL ascend.mindie.sandbox.hash=%s\n' "$hash" \
        | docker build -q -t "$image" - >/dev/null
    exit 0
fi

echo "base: no registry answers; bootstrapping Debian bookworm with debootstrap (about a minute)"
if ! command -v debootstrap >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    else
        echo "base: debootstrap is not installed and no registry answers." >&2
        echo "      Install debootstrap (apt-get install debootstrap) or make debian:bookworm-slim pullable." >&2
        exit 1
    fi
fi

root=$(mktemp -d /var/tmp/mindie-sandbox-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
    echo "base: debootstrap failed; last lines of its log:" >&2
    tail -n 20 "$root.log" >&2
    rm -f "$root.log"
    exit 1
}
rm -f "$root.log"
# Keep the image small: no apt lists or caches, no docs.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" -c . | docker import \
    --change "LABEL ascend.mindie.sandbox.hash=$hash" \
    --change 'CMD ["/bin/bash"]' \
    --change 'ENV LANG=C.UTF-8' \
    - "$image" >/dev/null
echo "base: imported $image"
