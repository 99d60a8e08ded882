# Sourced by the other scripts: make .venv (once) and install mpmon into it with its test tools and the
# optional integrations (Dask, Ray, OTLP), whose tests run real components.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test,bench,dask,ray,otlp]"
