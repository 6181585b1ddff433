#!/usr/bin/env bash
# promtool from the sandbox's service-host image (Debian bookworm's `prometheus` package, the Prometheus the
# monitoring role installs there), for machines without it: PROMTOOL=tests/prometheus/promtool-in-image.sh.
# The working directory and the checkout are mounted at the same paths, so file arguments resolve as given.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
image=${SANDBOX_SERVICE_IMAGE:-mindie-sandbox/lb-node:latest}
exec docker run --rm --user "$(id -u):$(id -g)" -v "$repo:$repo" -v "$PWD:$PWD" -w "$PWD" \
    --entrypoint promtool "$image" "$@"
