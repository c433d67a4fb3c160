#!/usr/bin/env bash
# `make test`: set up, start the sandbox fleet, run the suite on SQLite and then on PostgreSQL (when one
# answers at PG_URL). A fleet that this run started is stopped when it ends, whether the suite passed,
# failed or was interrupted: a clone that is then deleted must not leave hosts holding the sandbox
# addresses. A fleet that was already running before (a developer's `make run`) is left alone.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOSTS=${HOSTS:-3}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/kvmdash}
read -r -a pytest_args <<< "${PYTEST_ARGS:-}"

bash scripts/setup.sh || exit $?

started_fleet=0
stop_fleet() {
  if [ "$started_fleet" = 1 ]; then
    echo "==> Stopping the sandbox fleet this run started"
    "$PY" manage.py sandbox down
  fi
}
trap stop_fleet EXIT
# bash runs the EXIT trap on `exit`, not when a signal kills it: turn the signals into exits.
trap 'exit 130' INT
trap 'exit 143' TERM

if ! "$PY" manage.py sandbox running; then
  started_fleet=1
fi
"$PY" manage.py sandbox up --hosts "$HOSTS" || exit $?
"$PY" manage.py migrate --noinput || exit $?
"$PY" manage.py bootstrap_demo --hosts "$HOSTS" || exit $?

"$PY" -m pytest "${pytest_args[@]}"
status=$?
if [ "$status" = 0 ]; then
  if "$PY" scripts/pg_answers.py "$PG_URL"; then
    echo "==> The suite again on PostgreSQL ($PG_URL)"
    DATABASE_URL="$PG_URL" "$PY" -m pytest "${pytest_args[@]}"
    status=$?
  else
    echo "==> PostgreSQL does not answer at $PG_URL: the PostgreSQL run was skipped"
  fi
fi
exit "$status"
