# ascend.mindie: development, test and sandbox entry points.
#   make demo          a 2-node sandbox fleet, deployed, verified and asked about an image
#   make test          everything CI runs: lint, sanity, units, integration, molecule
#   make sandbox-up    NODES=4 PROFILES=800i-a2-32g,800i-a2-64g [LAYOUTS=800i-a2-64g=2x4] [FLEET=name] [PORT_BASE=31040]
#                      [LB=1: a load balancer host] [MONITOR=1: a Prometheus host]
#                      [UPGRADE_IMAGES=1: MindIE 1.0.1 and 1.0.1-broken tarballs on the nodes]
#   make sandbox-down  [FLEET=name]
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODES ?= 2
PROFILES ?= 800i-a2-32g,800i-a2-64g
FLEET ?= mindie-sandbox
PORT_BASE ?= 31040
# mindie_instance_layout per hardware profile, written into the sandbox inventory: the 64G nodes serve two
# 4-card instances (the guide's other 64G choice), the 32G ones the default 1x8. LAYOUTS= for 1x8 everywhere.
LAYOUTS ?= 800i-a2-64g=2x4

# This checkout is resolved as ascend.mindie through build/collections (see
# ansible.cfg); community.docker comes from the `ansible` package in the venv,
# which ansible-core finds on sys.path by itself.
COLLECTIONS := $(CURDIR)/build/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)

.PHONY: help venv docker collection-link lint sanity units integration prometheus-rules molecule test demo \
        sandbox-images sandbox-up sandbox-down sandbox-status bench-sandbox bench-precheck bench-deploy bench-deploy-mitogen bench-image \
        bench-deploy-layouts bench-heal bench-rollout bench-benchmark bench-verify bench-bundle bundle build clean

help:
	@sed -n '2,5p' Makefile | sed 's/^# //'

$(BIN)/.installed: requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@touch $@

venv: $(BIN)/.installed

docker:
	@bash scripts/ensure-docker.sh

# ascend.mindie resolved from this checkout, without installing it.
collection-link:
	@mkdir -p $(COLLECTIONS)/ansible_collections/ascend
	@ln -sfn $(CURDIR) $(COLLECTIONS)/ansible_collections/ascend/mindie

lint: venv collection-link
	$(BIN)/yamllint -s .
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ansible-lint --profile production

sanity: venv
	bash scripts/sanity.sh

# tests/unit needs no Docker engine and skips nothing; tests/integration needs the engine
# and the sandbox images, and fails without them.
UNIT_JOBS ?= 2
units: venv
	ASCEND_MINDIE_NO_SKIPS=1 $(BIN)/python -m pytest tests/unit -q -rs -n $(UNIT_JOBS)

integration: venv docker
	$(BIN)/python -m pytest tests/integration -q -rs

# The monitoring role's rules: rendered with its defaults, promtool check rules / test rules (their unit tests,
# tests/prometheus/mindie_rules_test.yml) and check config, with the promtool of the sandbox's service-host image.
prometheus-rules: venv docker sandbox-images
	PROMTOOL=$(CURDIR)/tests/prometheus/promtool-in-image.sh bash tests/prometheus/run_promtool.sh

# Every scenario (or S="fleet service"), MOLECULE_JOBS (3) at a time, each on its own sandbox fleet; the
# images are built first so the lanes only read them. Logs: build/molecule-logs/<scenario>.log.
MOLECULE_JOBS ?= 3
molecule: venv docker collection-link sandbox-images
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python scripts/molecule_lanes.py --jobs $(MOLECULE_JOBS) $(MOLECULE_ARGS) $(S)

# The integration tests run before the molecule lanes, beside sanity only: their readiness-latency test (a 20 ms
# poller) failed once when it ran as one more job beside three lanes of scenarios. ansible-test sanity is
# single-threaded and the integration tests mostly wait on their simulator, so on a 2-core machine the two side
# by side take as long as sanity alone (CI, 2026-12: ~49 % and ~75 % idle while each ran by itself).
test: venv docker
	$(MAKE) lint
	$(MAKE) -j2 --output-sync=target sanity integration
	$(MAKE) units
	$(MAKE) prometheus-rules
	$(MAKE) molecule

sandbox-images: venv docker
	$(BIN)/python sandbox/fleet.py images

sandbox-up: venv docker collection-link
	$(BIN)/python sandbox/fleet.py up --name $(FLEET) --nodes $(NODES) --profiles $(PROFILES) --layouts '$(LAYOUTS)' --port-base $(PORT_BASE) \
	  $(if $(filter 1 yes true,$(LB)),--lb) $(if $(filter 1 yes true,$(MONITOR)),--monitor) \
	  $(if $(filter 1 yes true,$(UPGRADE_IMAGES)),--upgrade-images)

sandbox-down: venv docker
	$(BIN)/python sandbox/fleet.py down --name $(FLEET)

sandbox-status: venv docker
	$(BIN)/python sandbox/fleet.py status --name $(FLEET)

# The foundation bars: cold / re-run / cached bring-up of a 4-node fleet.
bench-sandbox: venv docker
	$(BIN)/python benchmarks/sandbox_up.py --nodes $(if $(filter command line,$(origin NODES)),$(NODES),4)

# The prechecks bar: playbooks/precheck.yml on a 4-node fleet.
bench-precheck: venv docker collection-link
	$(BIN)/python benchmarks/precheck_fleet.py

# The README's main command: a 2-node sandbox fleet (one 32G serving 1x8, one 64G serving 2x4), the
# whole deploy, one real answer about an image and a curl line to paste, then the official OpenAI
# client asks every instance of fleet-summary.json about the image.
demo: venv docker collection-link
	$(MAKE) --no-print-directory sandbox-up NODES=2 PROFILES=800i-a2-32g,800i-a2-64g LB=1 MONITOR=1 UPGRADE_IMAGES=1
	$(BIN)/ansible-playbook -i inventories/sandbox playbooks/deploy.yml
	$(BIN)/python scripts/demo_answer.py reports/fleet-summary.json
	$(BIN)/python scripts/openai_fleet_check.py reports/fleet-summary.json --expect-size --through-loadbalancer

# Deploy time of sandbox fleets of 1, 4, 8 and 16 nodes (images cached; a size that does not fit in memory is
# skipped and said so): first deploy, the idempotent re-run, controller CPU seconds per node, deploy(N)/deploy(1),
# and at 1 and 4 nodes the naive playbook (benchmarks/naive/deploy.yml) side by side. Writes reports/bench-deploy.json.
bench-deploy: venv docker collection-link
	$(BIN)/python benchmarks/deploy_fleet.py --sizes 1,4,8,16 --naive 1,4

# The same with Mitogen for Ansible (installed into build/mitogen from PyPI; an option, not a requirement):
# strategy mitogen_linear, the nodes' connection docker. Writes reports/bench-deploy-mitogen.json.
bench-deploy-mitogen: venv docker collection-link
	$(BIN)/python benchmarks/deploy_fleet.py --sizes 1,4,8,16 --naive 1,4 --mitogen

# The image sent once: bytes the controller sends (counted by a docker wrapper) to bring the image onto 4 fresh
# sandbox nodes with mindie_image_distribution direct and tree, the re-runs, and a tree with a rotten holder whose
# copy every receiver must refuse. Writes reports/bench-image.json.
bench-image: venv docker collection-link
	$(BIN)/python benchmarks/image_fleet.py --nodes 4

# Deploy time of 1x8 vs 2x4 on the same (64G) simulated node, each on a fresh fleet: first deploy and the
# idempotent re-run. Writes reports/bench-deploy-layouts.json.
bench-deploy-layouts: venv docker collection-link
	$(BIN)/python benchmarks/deploy_fleet.py --layouts 1x8,2x4 --profile 800i-a2-64g

# Self-healing without Ansible on a deployed 32G 1x8 + 64G 2x4 fleet: kill -9 of one instance's daemon to
# ready again (the other instances watched), docker restart of the 64G node to both instances ready.
# Writes reports/bench-heal.json.
bench-heal: venv docker collection-link
	$(BIN)/python benchmarks/heal_fleet.py bench

# Rollouts behind the load balancer of a deployed 32G 1x8 + 64G 2x4 fleet while a client keeps asking through it:
# to the broken build (halts at the canary), to 1.0.1, again (changed=0); failed requests, p50/p99 before and
# during, out-of-rotation times, capacity. Writes reports/bench-rollout.json.
bench-rollout: venv docker collection-link
	$(BIN)/python benchmarks/rollout_fleet.py bench

# The serving benchmark on 3 deployed 64G nodes behind a balancer, the third made slow on purpose: its report's
# figures against an independent client and MindIE's counters, ordered percentiles, real PNGs, the slow node named
# as the outlier. Writes reports/bench-benchmark.json.
bench-benchmark: venv docker collection-link
	$(BIN)/python benchmarks/benchmark_fleet.py bench

# The verify phase's probes one after another (mindie_verify_parallel=false) against all at once, alternated on
# one deployed node; the smoke-test task timed by profile_tasks. Writes reports/bench-verify.json.
bench-verify: venv docker collection-link
	$(BIN)/python benchmarks/verify_fleet.py

# The offline bundle (scripts/bundle.py): the collections, the controller's wheels, the MindIE image tarball, the
# model wheelhouse for the nodes (aarch64, Python 3.11), the weights' manifest, install.py and MANIFEST.sha256.
# Defaults: the sandbox's image and weights; a site passes its own, e.g.
#   make bundle BUNDLE_IMAGE=mindie:1.0.0-800I-A2-py311-openeuler24.03-lts BUNDLE_IMAGE_TAR=/srv/mindie.tar BUNDLE_WEIGHTS=/data/Qwen2-VL-7B-Instruct
BUNDLE_OUT ?= build/bundle
BUNDLE_IMAGE ?= mindie-sim:1.0.0-800I-A2-py311-openeuler24.03-lts
BUNDLE_IMAGE_TAR ?= .cache/sandbox/mindie-sim_1.0.0-800I-A2-py311-openeuler24.03-lts.tar
BUNDLE_WEIGHTS ?= .cache/sandbox/seed/Qwen2-VL-7B-Instruct
bundle: venv docker sandbox-images
	$(BIN)/python scripts/bundle.py build --out $(BUNDLE_OUT) --force --tar --image $(BUNDLE_IMAGE) \
	  --image-tar $(BUNDLE_IMAGE_TAR) --weights $(BUNDLE_WEIGHTS)

# The bundle end to end: built, a corrupted copy refused, installed on a controller container with no network,
# a sandbox node deployed from there with the bundle's image and wheelhouse (twice: changed=0). Writes
# reports/bench-bundle.json.
bench-bundle: venv docker collection-link
	$(BIN)/python benchmarks/bundle_fleet.py

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path build/

clean:
	rm -rf build .pytest_cache
