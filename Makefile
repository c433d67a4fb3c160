# Two commands: `make run` serves the dashboard on a sandbox fleet; `make test` runs the suite.
SHELL := /bin/bash
PY := .venv/bin/python
HOSTS ?= 3
# The one address `make run` serves and prints. honcho hands each Procfile process a PORT of its own
# (5000 for the first when the environment has none), so the Procfile reads WEB_PORT instead.
PORT ?= 8000

.PHONY: setup fleet run serve test test-postgres bench lint down clean

setup:
	bash scripts/setup.sh

# Start (or keep) the sandbox fleet and put the demo data in the database.
fleet: setup
	$(PY) manage.py sandbox up --hosts $(HOSTS)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap_demo --hosts $(HOSTS)

run: fleet
	$(PY) manage.py collectstatic --noinput -v 0
	@$(MAKE) --no-print-directory serve

# Serve what the Procfile lists (PROCESSES="web" serves the web process alone) on PORT.
serve:
	@echo "==> Serving on http://127.0.0.1:$(PORT) (Ctrl-C stops $(or $(PROCESSES),web, worker and watcher))"
	WEB_PORT=$(PORT) exec .venv/bin/honcho start -f Procfile $(PROCESSES)

PG_URL ?= postgres://postgres@127.0.0.1:5432/kvmdash
export HOSTS PG_URL PYTEST_ARGS

# The whole suite on SQLite, then again on PostgreSQL (the production database) when one answers.
# A sandbox fleet that this run starts is stopped when it ends, passed, failed or interrupted.
test:
	bash scripts/test.sh

test-postgres: fleet
	DATABASE_URL="$(PG_URL)" $(PY) -m pytest $(PYTEST_ARGS)

bench: fleet
	$(PY) -m bench.run

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

down:
	-$(PY) manage.py sandbox down

clean: down
	rm -rf var .venv node_modules
