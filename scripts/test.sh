#!/usr/bin/env bash
# `make test`: lint, and the whole pytest suite in two halves run at once: unit + integration
# (live on the terminal), and e2e (its log printed after: its native stack spends most of its
# time waiting for load runs and alerts, so the two share the machine well). Each half ends
# with its 15 slowest tests; the script ends with one summary line. TEST_HALVES=1 runs the
# suite as one pytest session instead (slower; one list of the slowest).
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The counts of a pytest run's last line ("12 passed, 1 skipped in 3.2s"), without the time.
counts() { grep -E '^(=+ )?[0-9]+ (passed|failed|deselected)|no tests ran' "$1" | tail -1 |
  sed -E 's/=//g; s/ in [0-9.]+s.*//; s/^ *//; s/ *$//'; }

echo "test: lint (make lint), alongside the tests"
make --no-print-directory lint >"$work/lint" 2>&1 &
lint_pid=$!

if [ "${TEST_HALVES:-2}" = 1 ]; then
  echo "test: pytest (unit, integration, e2e; one session; the 15 slowest at the end)"
  "$PY" -m pytest -q --durations=15 "$@" | tee "$work/all"
  rc=${PIPESTATUS[0]}
  summary=$(counts "$work/all")
else
  echo "test: pytest in two halves at once: unit + integration here, e2e (tests/e2e) after it"
  # Without arguments each half collects its own folders only; with them (PYTEST_ARGS: paths,
  # -k), each takes them and its mark.
  quick=(tests/unit tests/integration) e2e=(tests/e2e)
  [ $# -gt 0 ] && quick=(-m "not e2e" "$@") e2e=(-m e2e "$@")
  "$PY" -m pytest -q --durations=15 "${e2e[@]}" >"$work/e2e" 2>&1 &
  e2e_pid=$!
  "$PY" -m pytest -q --durations=15 "${quick[@]}" | tee "$work/quick"
  quick_rc=${PIPESTATUS[0]}
  wait "$e2e_pid"
  e2e_rc=$?
  echo
  echo "test: the e2e half (pytest -m e2e):"
  cat "$work/e2e"
  # 5: nothing collected in that half (PYTEST_ARGS chose tests of the other one).
  [ "$quick_rc" -eq 5 ] && [ "$e2e_rc" -ne 5 ] && quick_rc=0
  [ "$e2e_rc" -eq 5 ] && [ "$quick_rc" -ne 5 ] && e2e_rc=0
  rc=$(( quick_rc > e2e_rc ? quick_rc : e2e_rc ))
  summary="unit + integration: $(counts "$work/quick"); e2e: $(counts "$work/e2e")"
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
