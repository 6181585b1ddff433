#!/usr/bin/env bash
# The collection's Prometheus rules, checked and unit-tested with promtool:
#   tests/prometheus/run_promtool.sh [--defaults PATH] [--output-dir DIR] [--config PROMETHEUS_YML]
#
#   1. renders roles/monitoring/templates/mindie_rules.yml.j2 with the role's defaults (render_rules.py; --defaults,
#      default roles/monitoring/defaults/main.yml; the values must be those the tests were written for) into DIR
#      (default build/prometheus), next to a copy of tests/prometheus/mindie_rules_test.yml;
#   2. promtool check rules on the rendered file;
#   3. promtool test rules on the copy of the tests;
#   4. with --config, promtool check config --syntax-only on that prometheus.yml (a rendered prometheus.yml.j2: its
#      rule_files and file_sd paths are those of the monitor host, which need not exist here).
# promtool is $PROMTOOL (default: promtool on PATH; Debian bookworm's `prometheus` package ships it, 2.42); the
# Python that renders is $PYTHON (default: the checkout's .venv, else python3). Exits non-zero on the first failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
promtool=${PROMTOOL:-promtool}
python=${PYTHON:-}
if [[ -z $python ]]; then
    if [[ -x $repo/.venv/bin/python ]]; then python=$repo/.venv/bin/python; else python=python3; fi
fi
defaults=$repo/roles/monitoring/defaults/main.yml
out=$repo/build/prometheus
config=

usage() { sed -n '2,3p' "$0" | sed 's/^# //' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --defaults) defaults=${2:?--defaults needs a path}; shift 2 ;;
        --output-dir) out=${2:?--output-dir needs a path}; shift 2 ;;
        --config) config=${2:?--config needs a path}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "run_promtool.sh: unknown argument $1" >&2; usage ;;
    esac
done

if ! command -v "$promtool" >/dev/null 2>&1; then
    echo "run_promtool.sh: promtool not found ($promtool); install Prometheus's promtool" \
         "(Debian: apt-get install --no-install-recommends prometheus) or set PROMTOOL" >&2
    exit 2
fi
"$promtool" --version 2>&1 | head -n 1

mkdir -p "$out"
"$python" "$here/render_rules.py" --defaults "$defaults" --output-dir "$out" --check-test-defaults >/dev/null
cp "$here/mindie_rules_test.yml" "$out/mindie_rules_test.yml"

echo "== promtool check rules"
"$promtool" check rules "$out/mindie_rules.yml"
echo "== promtool test rules"
(cd "$out" && "$promtool" test rules mindie_rules_test.yml)
if [[ -n $config ]]; then
    echo "== promtool check config --syntax-only $config"
    "$promtool" check config --syntax-only "$config"
fi
