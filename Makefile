# The CRM platform: `make run` starts everything locally, `make test` runs the whole suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR):$(CURDIR)/gateway:$(CURDIR)/services/contacts:$(CURDIR)/services/interactions:$(CURDIR)/services/documents:$(CURDIR)/services/reporting

.PHONY: help venv run test lint format migrate bench chaos clean deploy-check image contracts

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==24.3.1
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed  ## create the virtual environment with the pinned dependencies

run: venv  ## run the whole system locally (RabbitMQ, migrations, four services, gateway)
	$(PY) scripts/run_local.py

test: venv  ## run the whole test suite (starts RabbitMQ and PostgreSQL when they are down)
	$(PY) scripts/ensure_infra.py --postgres
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: venv  ## ruff: lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv  ## ruff: fix what can be fixed and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrate: venv  ## apply every service's migrations to its database
	$(PY) -m crm_kernel.migrations

bench: venv  ## benchmarks under bench/ on a throw-away PostgreSQL database (BENCH_ARGS="--rows 200000")
	$(PY) scripts/ensure_infra.py --postgres
	@for script in bench/bench_*.py; do $(PY) $$script $(BENCH_ARGS) || exit 1; done

chaos: venv  ## fault injection under load on a private RabbitMQ and PostgreSQL; writes RELIABILITY.md
	$(PY) scripts/chaos.py $(CHAOS_ARGS)

clean:  ## remove local state (SQLite files, document blobs)
	rm -rf var

deploy-check: venv  ## check Dockerfile, compose and Kubernetes files (no Docker needed; RabbitMQ for the SIGTERM check)
	$(VENV)/bin/pytest tests/deploy -q $(PYTEST_ARGS)

image:  ## build the container image crm-platform:dev (needs Docker)
	docker build -t crm-platform:dev .

contracts: venv  ## regenerate contracts/<service>.json from the services' schemas, then the OpenAPI snapshot
	$(PY) -m crm_kernel.contracts contacts interactions documents reporting
	$(PY) -m gateway.openapi
