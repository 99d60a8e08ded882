# Sourced by the other scripts: make .venv (once) and install mpmon into it with its test tools and the
# optional integrations (Dask, Ray, OTLP), whose tests run real components. The install is skipped
# when nothing it depends on changed since the last one (a stamp of pyproject.toml, this script and the
# interpreter in .venv); MPMON_REINSTALL=1 forces it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp_file=.venv/.mpmon-install-stamp
stamp="$(cat pyproject.toml scripts/venv.sh | sha256sum | cut -d' ' -f1) $(.venv/bin/python -VV | tr -d '\n')"
if [ "${MPMON_REINSTALL:-0}" = 1 ] || [ ! -f "$stamp_file" ] || [ "$(cat "$stamp_file")" != "$stamp" ]; then
  rm -f "$stamp_file"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test,bench,dask,ray,otlp]"
  printf '%s' "$stamp" > "$stamp_file"
fi
