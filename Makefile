# Taper: `make run` serves the app with demo data, `make test` runs the suite.
VENV    := .venv
PY      := $(VENV)/bin/python
FLASK   := $(VENV)/bin/flask
STAMP   := $(VENV)/.installed
PYTHON  ?= $(shell command -v python3.11 || command -v python3)
PORT    ?= 5000
# pytest-xdist processes for `make test` (auto: one per core; 0: a single process).
TEST_WORKERS ?= auto
export FLASK_APP := taper

.PHONY: help install run test drill redis-server e2e chromium pdftoppm wrk bench lint format migrate check-migrations clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)  ## Create .venv and install requirements.txt

run: $(STAMP) instance/secret_key  ## Migrate the local SQLite database, load demo data, serve on 127.0.0.1:$(PORT)
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

# This instance's own random SECRET_KEY (mode 0600, git-ignored), made once; the development
# settings read it whenever SECRET_KEY is not in the environment (config.instance_secret_key).
instance/secret_key: | $(STAMP)
	$(PY) -c 'import config; config.instance_secret_key()'

test: $(STAMP)  ## Run the whole suite but the browser tests on every core (SQLite, or TEST_DATABASE_URL)
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "not e2e and not drill"

# Two gunicorn servers, a worker, a PostgreSQL database and a Redis of its own, one server
# killed and the worker restarted under load: nothing acknowledged is lost or doubled.
DRILL_DATABASE_URL ?= $(or $(TEST_DATABASE_URL),postgresql+psycopg://postgres@127.0.0.1:5432/test)

redis-server:  ## Install Debian's redis-server (the drill starts a Redis of its own) if missing
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }

drill: $(STAMP) redis-server  ## The fault drill (tests/drill, PostgreSQL: TEST_DATABASE_URL or the local server)
	TEST_DATABASE_URL="$(DRILL_DATABASE_URL)" $(PY) -m pytest -q -s -p no:cacheprovider -m drill tests/drill

# axe-core and the Nu HTML Checker (vnu-jar, run with java), pinned in tests/e2e/package.json.
E2E_NODE := tests/e2e/node_modules/.installed

$(E2E_NODE): tests/e2e/package.json
	cd tests/e2e && npm install --no-audit --no-fund --silent
	touch $(E2E_NODE)

chromium:  ## Install Debian's Chromium for the browser tests if it is missing
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

pdftoppm:  ## Install poppler's pdftoppm (the e2e run's picture of the PDF report) if missing
	@command -v pdftoppm >/dev/null || { apt-get update -qq && apt-get install -y -qq poppler-utils; }

# Also checks every page it loads with the Nu HTML Checker, and leaves screenshots and the
# checker's report in tests/e2e/artifacts/ (git-ignored) for reviewers.
e2e: $(STAMP) $(E2E_NODE) chromium pdftoppm  ## Run the browser tests in Debian's Chromium (installed if missing)
	$(PY) -m pytest -q -m e2e tests/e2e

lint: $(STAMP)  ## ruff (with security rules), format check, bandit on taper/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit -q -r taper

format: $(STAMP)  ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrate: $(STAMP)  ## Upgrade the database to the latest migration
	$(FLASK) db upgrade

check-migrations: $(STAMP)  ## Up, check and down on a fresh database (TEST_DATABASE_URL, default a temp SQLite)
	$(PY) -m tests.tools.migration_check

wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

bench: $(STAMP) wrk  ## Load, micro and export benchmarks on SQLite and PostgreSQL -> bench/results/
	$(PY) bench/micro.py
	$(PY) bench/run.py --db sqlite
	$(PY) bench/run.py --db postgresql
	$(PY) bench/export.py --db sqlite && $(PY) bench/export.py --db postgresql

clean:  ## Remove the virtualenv and caches (keeps instance/)
	rm -rf $(VENV) .pytest_cache .ruff_cache
