# The local path (no Docker). Two commands matter: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SCALE ?= 0.01
SEED ?= 42
STAMP := $(VENV)/.installed

.PHONY: venv demo airflow airflow-stop test lint lock pg-start pg-stop pg-url clean bench

venv: $(STAMP)

# uv installs the locked requirements in seconds; the lock pins every package, so a fresh
# machine gets exactly what CI tested.
$(STAMP): requirements-dev.txt requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (Airflow 3.3 providers)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(PY) -m uv pip install --quiet --python $(PY) -r requirements-dev.txt
	touch $(STAMP)

demo: venv
	$(PY) -m localdev.demo --scale $(SCALE) --seed $(SEED) $(if $(KEEP),--keep)

# A real Airflow (API server + UI, scheduler, DAG processor, LocalExecutor) on the throwaway
# PostgreSQL, in the foreground until Ctrl-C; DETACH=1 leaves it running for `make airflow-stop`;
# the generated source is kept between runs (REGENERATE=1 rebuilds it at SCALE).
airflow: venv
	$(PY) -m localdev.airflow start --scale $(SCALE) --seed $(SEED) $(if $(REGENERATE),--regenerate) $(if $(DETACH),--detach)

airflow-stop: venv
	$(PY) -m localdev.airflow stop

# Every contender side by side (psql COPY ceiling, pgloader, GenericTransfer, both DAGs under a real
# scheduler): medians of REPEAT runs into docs/bench/ (JSON, CSV, PNG). Needs pgloader on PATH
# (Debian's package; installed here when missing and we may use apt-get).
REPEAT ?= 3
bench: venv
	command -v pgloader >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq pgloader; } || { echo "install pgloader (apt-get install pgloader)"; exit 1; }
	$(PY) -m bench.run --scale $(SCALE) --seed $(SEED) --repeat $(REPEAT) $(BENCH_ARGS)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

lock:
	$(PY) -m uv pip compile --universal --python-version 3.11 requirements-dev.in -o requirements-dev.txt

pg-start: venv
	@$(PY) -m localdev.postgres start --name demo

pg-stop: venv
	@$(PY) -m localdev.postgres stop --name demo

pg-url: venv
	@$(PY) -m localdev.postgres url --name demo

clean:
	-$(PY) -m localdev.postgres stop --name demo
	-for d in .pgdata/pytest-*; do [ -d "$$d" ] && $(PY) -m localdev.postgres stop --name "$${d#.pgdata/}"; done
	rm -rf .pgdata .airflow .staging
