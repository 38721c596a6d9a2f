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

.PHONY: help install demo demo-sam-local test test-sam-local lint build bench clean

# The container tests and the sam-local demo need a container engine: the one that answers
# (DOCKER_HOST, a Docker or podman socket), else one provisioned by the script when this
# machine allows it (root and apt); otherwise the container tests are skipped, saying why.
define container_engine
if ! $(PY) -c 'import sys; from asyncrun.containers import engine_problem; sys.exit(engine_problem() is not None)'; then \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -x scripts/provision-container-engine.sh ]; then \
    echo "$@: no container engine answers: provisioning one (scripts/provision-container-engine.sh)" >&2; \
    if engine=$$(scripts/provision-container-engine.sh); then eval "$$engine"; export DOCKER_HOST; \
    else echo "$@: provisioning failed: the container tests will be skipped" >&2; fi; \
  fi; \
fi
endef
# Stop unless a container engine answers (for the targets that need one).
define require_container_engine
$(PY) -c 'import sys; from asyncrun.containers import engine_problem; p = engine_problem(); p and sys.exit("$@: " + p)'
endef
# pytest's "no tests collected" is a failure, not a pass.
define pytest_status
rc=$$?; if [ $$rc -eq 5 ]; then echo "$@: pytest collected no tests; that is a failure, not a pass" >&2; exit 1; fi; exit $$rc
endef

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## Create .venv from Python 3.13 with every dependency (reused when nothing changed)

$(VENV)/.installed: pyproject.toml uv.lock scripts/find-python313.sh
	@python313=$$(scripts/find-python313.sh); \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
	  echo "install: creating $(VENV) from $$python313"; rm -rf $(VENV); "$$python313" -m venv $(VENV); \
	fi
	@[ -x $(VENV)/bin/uv ] || $(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv sync --frozen --compile-bytecode --python $(PY)
	@touch $@

demo: install ## Run the whole pipeline locally with asyncrun: no AWS account, no Docker
	$(VENV)/bin/asyncrun demo

demo-sam-local: install ## The demo with the functions in Lambda runtime containers (sam local start-lambda)
	@$(container_engine); $(require_container_engine); \
	$(VENV)/bin/asyncrun --executor sam-local demo

test: install ## Run the whole test suite (the container tests too when a container engine answers)
	@$(container_engine); $(PY) -m pytest; $(pytest_status)

test-sam-local: install ## Only the tests that run functions in containers (sam local invoke, conformance on sam-local)
	@$(container_engine); $(require_container_engine); \
	$(PY) -m pytest -m containers; $(pytest_status)

lint: install ## ruff, mypy and sam validate --lint
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	sam validate --lint

build: install ## sam build (no container needed)
	sam build

bench: install ## Every figure beside its baseline and goal: benchmarks/results.json and results.md (not part of make test)
	$(PY) benchmarks/run.py

clean: ## Remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
