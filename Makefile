# One entry point for people and CI. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
# sam build looks for python3.13 on PATH: the venv's comes first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export UV_PYTHON_DOWNLOADS := never
# checkov pins more than the project can share: it runs in a uv tool environment of its own,
# its dependencies resolved as they were on one day, so that every run checks the same way.
CHECKOV_VERSION := 3.3.30
CHECKOV_RESOLVED_AS_OF := 2026-12-01T00:00:00Z
# Two builds that never mix: the deployed architecture where sam deploy looks, and the
# host's (x86_64) for local containers where only sam local looks (samconfig.toml).
BUILD_DIR := .aws-sam/build
LOCAL_BUILD_DIR := .aws-sam/build-local
CONFIG_ENV ?= default

.PHONY: help install demo demo-sam-local check test test-sam-local lint build build-local deploy bench clean

# The container tests and the sam-local demo need a container engine: the one that answers
# (DOCKER_HOST, a Docker or podman socket), else one provisioned by the script when this
# machine allows it (root and apt); otherwise the container tests are skipped, saying why.
define container_engine
if ! $(PY) -c 'import sys; from asyncrun.runtimes.containers import engine_problem; sys.exit(engine_problem() is not None)'; then \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -x scripts/provision-container-engine.sh ]; then \
    echo "$@: no container engine answers: provisioning one (scripts/provision-container-engine.sh)" >&2; \
    if engine=$$(scripts/provision-container-engine.sh); then eval "$$engine"; export DOCKER_HOST; \
    else echo "$@: provisioning failed: the container tests will be skipped" >&2; fi; \
  fi; \
fi
endef
# The timeline's browser tests need Chromium and its driver from Debian's packages: installed
# here when missing and this machine allows it (root and apt); otherwise those tests are
# skipped, saying why.
define browser
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
    echo "$@: installing chromium and chromium-driver for the timeline's browser tests" >&2; \
    scripts/install-browser.sh || echo "$@: installing them failed: the browser tests will be skipped" >&2; \
  fi; \
fi
endef
# Stop unless a container engine answers (for the targets that need one).
define require_container_engine
$(PY) -c 'import sys; from asyncrun.runtimes.containers import engine_problem; p = engine_problem(); p and sys.exit("$@: " + p)'
endef
# pytest's "no tests collected" is a failure, not a pass.
define pytest_status
rc=$$?; if [ $$rc -eq 5 ]; then echo "$@: pytest collected no tests; that is a failure, not a pass" >&2; exit 1; fi; exit $$rc
endef

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## Create .venv from Python 3.13 with every dependency (reused when nothing changed)

$(VENV)/.installed: pyproject.toml asyncrun/pyproject.toml uv.lock scripts/find-python313.sh
	@python313=$$(scripts/find-python313.sh); \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
	  echo "install: creating $(VENV) from $$python313"; rm -rf $(VENV); "$$python313" -m venv $(VENV); \
	fi
	@[ -x $(VENV)/bin/uv ] || $(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv sync --frozen --compile-bytecode --python $(PY)
	@touch $@

demo: install ## Run the whole pipeline locally with asyncrun (no AWS account, no Docker); draw its timeline
	@mkdir -p .cache
	$(VENV)/bin/asyncrun --html .cache/demo-timeline.html demo

demo-sam-local: install ## The demo with the functions in Lambda runtime containers (sam local start-lambda)
	@$(container_engine); $(require_container_engine); \
	$(VENV)/bin/asyncrun --executor sam-local --html .cache/demo-sam-local-timeline.html demo

check: lint test ## What CI runs: make lint, then make test

test: install ## Run the whole test suite (container tests when an engine answers, browser tests when Chromium is there)
	@$(browser); $(container_engine); $(PY) -m pytest; $(pytest_status)

test-sam-local: install ## Only the tests that run functions in containers (sam local invoke, conformance on sam-local)
	@$(container_engine); $(require_container_engine); \
	$(PY) -m pytest -m containers; $(pytest_status)

lint: install ## ruff, mypy, sam validate --lint and checkov
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	sam validate --lint
	$(VENV)/bin/uv tool run --python $(PY) --exclude-newer $(CHECKOV_RESOLVED_AS_OF) --from "checkov==$(CHECKOV_VERSION)" \
	  checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

# The layer carries native modules for one architecture only: the stack's for a deploy,
# x86_64 for local containers (layers/shared/Makefile; a plain `sam build` makes both).
build: install ## sam build for deploying: the stack's architecture (arm64), into .aws-sam/build
	LAYER_ARCHITECTURES=$$($(PY) scripts/check_deploy_architecture.py --print-architecture --config-env $(CONFIG_ENV)) \
	  sam build --build-dir $(BUILD_DIR) --config-env $(CONFIG_ENV)

build-local: install ## sam build for local containers: x86_64, into .aws-sam/build-local (sam local reads it)
	LAYER_ARCHITECTURES=x86_64 sam build --build-dir $(LOCAL_BUILD_DIR) --parameter-overrides Architecture=x86_64

deploy: build ## make build, check its architecture, sam deploy, check live runs it (CONFIG_ENV=dev|prod)
	$(PY) scripts/check_deploy_architecture.py --build-dir $(BUILD_DIR) --config-env $(CONFIG_ENV)
	sam deploy --config-env $(CONFIG_ENV)
	$(PY) scripts/check_live_is_latest.py --config-env $(CONFIG_ENV)

bench: install ## Every figure beside its baseline and goal: benchmarks/results.json and results.md (not part of make test)
	@$(container_engine); $(PY) benchmarks/run.py

clean: ## Remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
