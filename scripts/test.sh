#!/usr/bin/env bash
# `make test`: set up, start the sandbox fleet, run the suite on SQLite and, at the same time, on
# PostgreSQL (when one answers at PG_URL). The two rounds share nothing that could make them meet: the
# PostgreSQL round has a sandbox fleet of its own (hosts from SANDBOX_FIRST_INDEX + 20, state in
# var/sandbox-pg), its own Redis database and its own test database. Most of the suite waits on guests,
# workers and browsers (about a third of the two cores busy while the sandbox tests run): side by side
# the rounds take little longer than one. Its output is kept in test-output/postgres-round.log and
# shown when the SQLite round has ended.
#
# A fleet that this run started is stopped when it ends, whether the suite passed, failed or was
# interrupted: a clone that is then deleted must not leave hosts holding the sandbox addresses. A fleet
# that was already running before (a developer's `make run`) is left alone.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOSTS=${HOSTS:-3}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/kvmdash}
FIRST=${SANDBOX_FIRST_INDEX:-1}
PG_FIRST=$((FIRST + 20))
PG_SANDBOX_DIR=${DASHBOARD_VAR_DIR:-$PWD/var}/sandbox-pg
PG_LOG=test-output/postgres-round.log
read -r -a pytest_args <<< "${PYTEST_ARGS:-}"

bash scripts/setup.sh || exit $?

pg_round() {  # a command in the environment of the PostgreSQL round (the suite itself: below)
  DATABASE_URL="$PG_URL" SANDBOX_FIRST_INDEX="$PG_FIRST" SANDBOX_DIR="$PG_SANDBOX_DIR" REDIS_URL="$PG_REDIS" "$@"
}

started_fleet=0
started_pg_fleet=0
pg_pid=""
finish() {
  if [ -n "$pg_pid" ] && kill -0 "$pg_pid" 2>/dev/null; then
    echo "==> Stopping the PostgreSQL round"
    kill -TERM -- "-$pg_pid" 2>/dev/null
    wait "$pg_pid" 2>/dev/null
  fi
  if [ "$started_fleet" = 1 ]; then
    echo "==> Stopping the sandbox fleet this run started"
    "$PY" manage.py sandbox down
  fi
  if [ "$started_pg_fleet" = 1 ]; then
    echo "==> Stopping the PostgreSQL round's sandbox fleet"
    pg_round "$PY" manage.py sandbox down
  fi
}
trap finish EXIT
# bash runs the EXIT trap on `exit`, not when a signal kills it: turn the signals into exits.
trap 'exit 130' INT
trap 'exit 143' TERM

if ! "$PY" manage.py sandbox running; then
  started_fleet=1
fi
"$PY" manage.py sandbox up --hosts "$HOSTS" || exit $?
"$PY" manage.py migrate --noinput || exit $?
"$PY" manage.py bootstrap_demo --hosts "$HOSTS" || exit $?

with_pg=0
if "$PY" scripts/pg_answers.py "$PG_URL"; then
  with_pg=1
  PG_REDIS=$("$PY" scripts/redis_other_db.py) || exit $?
  if ! pg_round "$PY" manage.py sandbox running; then
    started_pg_fleet=1
  fi
  echo "==> The PostgreSQL round's sandbox fleet (hosts from $PG_FIRST)"
  pg_round "$PY" manage.py sandbox up --hosts "$HOSTS" || exit $?
  mkdir -p test-output
  echo "==> The suite on PostgreSQL ($PG_URL) runs alongside; its output: $PG_LOG"
  # Its own process group, so that stopping it stops its workers and browsers too. tests/test_make.py
  # runs `make` itself and touches no database: once, in the SQLite round, is enough (it also needs
  # port 8000 to itself).
  # (A simple command in the background is exec'd in place, and a script's background job is no group
  # leader, so setsid makes the group without forking: $! is the group's id.)
  env DATABASE_URL="$PG_URL" SANDBOX_FIRST_INDEX="$PG_FIRST" SANDBOX_DIR="$PG_SANDBOX_DIR" REDIS_URL="$PG_REDIS" \
    setsid "$PY" -m pytest -p no:cacheprovider --ignore=tests/test_make.py "${pytest_args[@]}" \
    > "$PG_LOG" 2>&1 &
  pg_pid=$!
else
  echo "==> PostgreSQL does not answer at $PG_URL: the PostgreSQL round is skipped"
fi

echo "==> The suite on SQLite"
"$PY" -m pytest "${pytest_args[@]}"
status=$?

if [ "$with_pg" = 1 ]; then
  wait "$pg_pid"
  pg_status=$?
  pg_pid=""
  echo "==> The suite on PostgreSQL ($PG_URL): its output"
  cat "$PG_LOG"
  if [ "$status" = 0 ]; then
    status=$pg_status
  fi
fi
exit "$status"
