#!/usr/bin/env bash
# The whole test suite, slow matrix included, plus the linters.
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
.venv/bin/ruff check mpmon tests benchmarks examples
.venv/bin/ruff format --check mpmon tests benchmarks examples
.venv/bin/mypy mpmon tests/typing
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
