#!/usr/bin/env bash
# `make test`: lint, and the whole pytest suite in three streams run at once, because most of
# the suite's time is spent waiting (load runs paced at a few requests a second, alerts' and
# scrapes' intervals), not computing:
#   1. unit + integration but the load runs (live on the terminal),
#   2. the integration tests that run k6 or Locust (-m loadrun), and the e2e test with a
#      native stack of its own (test_replicas.py),
#   3. the e2e tests on the shared native stack (-m shared_stack).
# Each stream ends with its 15 slowest tests; the script with one summary line.
# TEST_STREAMS=1 runs the suite as one pytest session instead (slower).
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The counts of a pytest run's last line ("12 passed, 1 skipped in 3.2s"), without the time.
counts() { grep -E '^(=+ )?[0-9]+ (passed|failed|deselected|error)|no tests ran' "$1" | tail -1 |
  sed -E 's/=//g; s/ in [0-9.]+s.*//; s/^ *//; s/ *$//'; }

echo "test: lint (make lint), alongside the tests"
make --no-print-directory lint >"$work/lint" 2>&1 &
lint_pid=$!

if [ "${TEST_STREAMS:-3}" = 1 ]; then
  echo "test: pytest (unit, integration, e2e; one session; the 15 slowest at the end)"
  "$PY" -m pytest -q --durations=15 "$@" | tee "$work/all"
  rc=${PIPESTATUS[0]}
  summary=$(counts "$work/all")
else
  echo "test: pytest in three streams at once: unit + integration here; the load runs and"
  echo "      the e2e tests (shown after it)"
  # Without arguments each stream collects its own folders only; with them (PYTEST_ARGS:
  # paths, -k), each takes them and its marks (a stream with nothing to run passes).
  first=(tests/unit tests/integration -m "not loadrun")
  second=(tests/integration tests/e2e -m "loadrun or (e2e and not shared_stack)")
  third=(tests/e2e -m shared_stack)
  if [ $# -gt 0 ]; then
    first=(-m "not loadrun and not e2e" "$@")
    second=(-m "loadrun or (e2e and not shared_stack)" "$@")
    third=(-m shared_stack "$@")
  fi
  "$PY" -m pytest -q --durations=15 "${third[@]}" >"$work/third" 2>&1 &
  third_pid=$!
  "$PY" -m pytest -q --durations=15 "${second[@]}" >"$work/second" 2>&1 &
  second_pid=$!
  "$PY" -m pytest -q --durations=15 "${first[@]}" | tee "$work/first"
  codes=("${PIPESTATUS[0]}")
  wait "$second_pid"; codes+=($?)
  wait "$third_pid"; codes+=($?)
  echo
  echo "test: the load runs and the e2e test with a stack of its own:"
  cat "$work/second"
  echo
  echo "test: the e2e tests on the shared native stack:"
  cat "$work/third"
  rc=0
  for code in "${codes[@]}"; do
    # 5: nothing collected in that stream (PYTEST_ARGS chose tests of another one).
    [ "$code" -ne 5 ] && [ "$code" -gt "$rc" ] && rc=$code
  done
  summary="unit + integration: $(counts "$work/first"); load runs: $(counts "$work/second"); e2e: $(counts "$work/third")"
fi

wait "$lint_pid"
lint_rc=$?
elapsed=$(( $(date +%s) - start ))
if [ "$lint_rc" -ne 0 ]; then
  cat "$work/lint"
  echo "test: FAIL: lint (run 'make fmt' or fix what it says above); pytest: ${summary:-exit $rc} (${elapsed}s total)"
  exit 1
fi
if [ "$rc" -eq 0 ]; then
  echo "test: PASS: lint clean, ${summary:-pytest ok} (${elapsed}s total)"
else
  echo "test: FAIL: ${summary:-pytest exited $rc} (${elapsed}s total)"
fi
exit "$rc"
