#!/usr/bin/env bash
# The whole test suite, slow matrix included, plus the linters.
#   bash scripts/test.sh [PYTEST ARGS]          everything (what CI runs, through .ci/run)
#   bash scripts/test.sh --fast [PYTEST ARGS]   the linters and the unit set (tests/unit): about half a
#                                               minute, for the edit-test loop
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
targets=()
if [ "${1:-}" = "--fast" ]; then
  shift
  targets=(tests/unit)
fi
.venv/bin/ruff check mpmon tests benchmarks examples
.venv/bin/ruff format --check mpmon tests benchmarks examples
.venv/bin/mypy mpmon tests/typing
status=0
.venv/bin/python -m pytest "$@" "${targets[@]}" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
