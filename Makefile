# Two commands: `make run` serves the dashboard on a sandbox fleet; `make test` runs the suite.
SHELL := /bin/bash
PY := .venv/bin/python
HOSTS ?= 3

.PHONY: setup fleet run test test-postgres bench lint down clean

setup:
	bash scripts/setup.sh

# Start (or keep) the sandbox fleet and put the demo data in the database.
fleet: setup
	$(PY) manage.py sandbox up --hosts $(HOSTS)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap_demo --hosts $(HOSTS)

run: fleet
	$(PY) manage.py collectstatic --noinput -v 0
	@echo "==> Serving on http://127.0.0.1:$${PORT:-8000} (Ctrl-C stops web, worker and watcher)"
	.venv/bin/honcho start -f Procfile

PG_URL ?= postgres://postgres@127.0.0.1:5432/kvmdash

# The whole suite on SQLite, then again on PostgreSQL (the production database) when one answers.
test: fleet
	$(PY) -m pytest $(PYTEST_ARGS)
	@if $(PY) scripts/pg_answers.py "$(PG_URL)"; then \
	  echo "==> The suite again on PostgreSQL ($(PG_URL))"; \
	  DATABASE_URL="$(PG_URL)" $(PY) -m pytest $(PYTEST_ARGS); \
	else echo "==> PostgreSQL does not answer at $(PG_URL): the PostgreSQL run was skipped"; fi

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
