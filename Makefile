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

.PHONY: help install demo test lint build bench clean

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

test: install ## Run the whole test suite
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "test: pytest collected no tests; that is a failure, not a pass" >&2; exit 1; fi; \
	exit $$rc

lint: install ## ruff, mypy and sam validate --lint
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	sam validate --lint

build: install ## sam build (no container needed)
	sam build

bench: install ## Measure cold imports, engine throughput, a large upload and the demo
	@mkdir -p .cache
	$(PY) bench/run.py --json .cache/bench.json

clean: ## Remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
