#!/usr/bin/env bash
# `make test`: lint, then the whole pytest suite; ends with one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
start=$(date +%s)

echo "test: lint (make lint)"
lint_out=$(make --no-print-directory lint 2>&1)
lint_rc=$?
if [ $lint_rc -ne 0 ]; then
  echo "$lint_out"
  echo "test: FAIL: lint (run 'make fmt' or fix what it says above)"
  exit 1
fi
echo "test: lint clean"

echo "test: pytest (unit + integration; servers start on free loopback ports)"
log=$(mktemp)
"$VENV/bin/python" -m pytest -q "$@" | tee "$log"
rc=${PIPESTATUS[0]}
summary=$(grep -E '^[0-9]+ (passed|failed)|^(=+ )?[0-9]+ (passed|failed)|no tests ran' "$log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')
rm -f "$log"
elapsed=$(( $(date +%s) - start ))
if [ "$rc" -eq 0 ]; then
  echo "test: PASS: lint clean, ${summary:-pytest ok} (${elapsed}s total)"
else
  echo "test: FAIL: ${summary:-pytest exited $rc} (${elapsed}s total)"
fi
exit "$rc"
