# The local path (no Docker). Two commands matter: `make demo` and `make test`; `make` lists all.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
SCALE ?= 0.01
SEED ?= 42
STAMP := $(VENV)/.installed

# The interpreter that creates .venv: the first of these that runs and is Python 3.11-3.14 (the
# versions the locked packages and the PostgreSQL wheel support). A name on PATH is not enough:
# pyenv puts shims for every version it knows on PATH, and they fail unless that version is active.
SUPPORTED_PYTHONS := 3.11 3.12 3.13 3.14
PYTHON_CANDIDATES := python3 $(addprefix python,$(SUPPORTED_PYTHONS))
IS_SUPPORTED := 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 14))'
PYTHON ?= $(firstword $(foreach p,$(PYTHON_CANDIDATES),$(shell $(p) -c $(IS_SUPPORTED) >/dev/null 2>&1 && echo $(p))))

.PHONY: help venv demo airflow airflow-stop scale-out test test-image-deps lint lock pg-start pg-stop pg-url clean bench

help: ## List the targets (this text)
	@echo "Usage: make TARGET [VARIABLE=value ...]   (the local path: no Docker, nothing outside this folder)"
	@echo
	@awk -F ':.*## ' '/^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: SCALE=$(SCALE) (source size, 1.0 = StackOverflow2010), SEED=$(SEED), KEEP=1 (demo, scale-out),"
	@echo "  DETACH=1 / REGENERATE=1 (airflow), PYTEST_ARGS, REPEAT/BENCH_ARGS (bench), PYTHON (interpreter for .venv)"

venv: $(STAMP) ## Create .venv from the locked requirements (every other target does it first)

# uv installs the locked requirements in seconds; `sync` makes .venv exactly the lock (removing
# what is not in it), so a fresh machine gets exactly what CI tested.
$(STAMP): requirements-dev.txt requirements.txt
	@test -n "$(PYTHON)" || { echo "No Python $(firstword $(SUPPORTED_PYTHONS))-$(lastword $(SUPPORTED_PYTHONS)) found: tried $(PYTHON_CANDIDATES) on PATH." >&2; \
	  echo "Install one of Python $(SUPPORTED_PYTHONS) (e.g. apt-get install python3.12, brew install python@3.12)," >&2; \
	  echo "or name one: make $(or $(MAKECMDGOALS),venv) PYTHON=/path/to/python3.12" >&2; exit 1; }
	@$(PYTHON) -c $(IS_SUPPORTED) || { echo "PYTHON=$(PYTHON) is not Python $(firstword $(SUPPORTED_PYTHONS))-$(lastword $(SUPPORTED_PYTHONS)): $$($(PYTHON) --version 2>&1)" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(PY) -m uv pip sync --quiet --python $(PY) requirements-dev.txt
	touch $(STAMP)

demo: venv ## Throwaway PostgreSQL, a generated source, the streaming DAG, the verification table (KEEP=1 leaves it running)
	$(PY) -m localdev.demo --scale $(SCALE) --seed $(SEED) $(if $(KEEP),--keep)

# A real Airflow (API server + UI, scheduler, DAG processor, LocalExecutor) on the throwaway
# PostgreSQL, in the foreground until Ctrl-C; the generated source is kept between runs.
airflow: venv ## A real Airflow (UI and REST API on 127.0.0.1) (DETACH=1: in the background; REGENERATE=1: new source)
	$(PY) -m localdev.airflow start --scale $(SCALE) --seed $(SEED) $(if $(REGENERATE),--regenerate) $(if $(DETACH),--detach)

airflow-stop: venv ## Stop what `make airflow` started (Airflow and its PostgreSQL)
	$(PY) -m localdev.airflow stop

# What Astro's hosted executors do across machines, on this one: Debian's redis-server as the Celery
# broker (installed here when missing and we may use apt-get), moto's S3 API for staging, two Celery
# workers each in its own folder. Prints what each worker ran and a verification of every table.
scale-out: venv ## The bulk DAG on CeleryExecutor: two workers sharing no folder, staging on a local S3 API
	command -v redis-server >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq redis-server; } || { echo "install redis-server (apt-get install redis-server)"; exit 1; }
	$(PY) -m localdev.scale_out --scale $(SCALE) --seed $(SEED) $(if $(KEEP),--keep)

# Needs pgloader on PATH (Debian's package; installed here when missing and we may use apt-get).
# With REPLICATION_TEST_MSSQL_URL set, the SQL Server read path is measured too, against freebcp
# (Debian's freetds-bin, installed the same way): bench/tds_read.py, ADR 0010.
REPEAT ?= 3
bench: venv ## Every contender side by side, medians of REPEAT runs into docs/bench/ (needs pgloader)
	command -v pgloader >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq pgloader; } || { echo "install pgloader (apt-get install pgloader)"; exit 1; }
	$(PY) -m bench.run --scale $(SCALE) --seed $(SEED) --repeat $(REPEAT) $(BENCH_ARGS)
ifneq ($(REPLICATION_TEST_MSSQL_URL),)
	command -v freebcp >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq freetds-bin; } || { echo "install freebcp (apt-get install freetds-bin)"; exit 1; }
	$(PY) -m bench.tds_read --scale $(SCALE) --seed $(SEED) --repeat $(REPEAT)
endif

# REPLICATION_TEST_STRICT: a test whose dev-only package is missing fails here instead of skipping,
# so a broken .venv cannot pass as a green run.
test: venv ## The whole suite against a real PostgreSQL the project starts itself
	REPLICATION_TEST_STRICT=1 $(PY) -m pytest $(PYTEST_ARGS)

# What `astro dev pytest` sees: the image's packages (requirements.txt) and pytest, nothing from
# requirements-dev.txt. Collection must succeed; what needs a dev-only package skips, saying which.
IMAGE_VENV := .venv-image
test-image-deps: venv ## The suite with only requirements.txt + pytest installed, as in `astro dev pytest`
	test -x $(IMAGE_VENV)/bin/python || $(PY) -m uv venv --quiet --python $(PY) $(IMAGE_VENV)
	$(PY) -m uv pip install --quiet --python $(IMAGE_VENV)/bin/python -r requirements.txt "apache-airflow==$$(sed -n 's/^apache-airflow==//p' requirements-dev.txt)" pytest
	$(IMAGE_VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: venv ## ruff check (including the Airflow 3 AIR rules) and ruff format --check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

lock: venv ## Recompile requirements-dev.txt from requirements-dev.in (after changing either requirements file)
	$(PY) -m uv pip compile --quiet --universal --python-version 3.11 requirements-dev.in -o requirements-dev.txt

pg-start: venv ## Start the throwaway PostgreSQL `demo` and print its URL
	@$(PY) -m localdev.postgres start --name demo

pg-stop: venv ## Stop the throwaway PostgreSQL `demo`
	@$(PY) -m localdev.postgres stop --name demo

pg-url: venv ## Print the URL of the running throwaway PostgreSQL `demo`
	@$(PY) -m localdev.postgres url --name demo

clean: ## Stop the throwaway servers; remove their data, the Airflow homes and staged files
	-$(PY) -m localdev.postgres stop --name demo
	-for d in .pgdata/pytest-*; do [ -d "$$d" ] && $(PY) -m localdev.postgres stop --name "$${d#.pgdata/}"; done
	rm -rf .pgdata .airflow .staging
