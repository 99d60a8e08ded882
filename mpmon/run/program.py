"""What program a run is: its script's name and its Python runtime, for the run_start line.

Read once in the process that calls `start_collector()` (the collector process itself is always
`python -m mpmon.collector`, which says nothing about the user's program) and carried to the collector
in its settings. The analysis takes the OTLP `service.name` and `process.runtime.*` from them.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import PurePath

from .. import schema

__all__ = ["INTERACTIVE", "NOTEBOOK", "PYTHON_C", "PYTHON_STDIN", "describe", "script_name"]

PYTHON_C = "python-c"  # python -c "..."
PYTHON_STDIN = "python-stdin"  # python - < file
INTERACTIVE = "python-interactive"  # the plain interpreter's prompt, or an embedded one
NOTEBOOK = "jupyter-notebook"  # a Jupyter kernel that does not say which notebook it runs


def describe() -> dict[str, str]:
    """The run_start fields of this process's program (names from `schema.RUN_START_PROGRAM_KEYS`)."""
    facts = {
        schema.RUN_START_SCRIPT: script_name(),
        schema.RUNTIME_NAME: sys.implementation.name,
        schema.RUNTIME_VERSION: platform.python_version(),
        schema.RUNTIME_DESCRIPTION: sys.version,
        schema.EXECUTABLE_NAME: os.path.basename(sys.executable or ""),
    }
    return {key: value for key, value in facts.items() if value}


def script_name() -> str:
    """The program's name: `nightly_job` for `python path/nightly_job.py`, `pkg.mod` for `python -m
    pkg.mod` (`pkg` for `python -m pkg`), the command for a console script (`pytest`), the notebook's
    name in Jupyter when the server says it; else a stand-in: `python-c`, `python-stdin`,
    `python-interactive` or `jupyter-notebook`."""
    argv = getattr(sys, "argv", None) or [""]
    first = str(argv[0])
    if "ipykernel" in sys.modules and PurePath(first).stem in ("ipykernel_launcher", "__main__"):
        notebook = os.environ.get("JPY_SESSION_NAME", "")  # set by jupyter_server: the notebook's path
        return PurePath(notebook).stem or NOTEBOOK
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = getattr(spec, "name", None)
    if isinstance(name, str) and name not in ("__main__", "__mp_main__"):
        return name.removesuffix(".__main__")  # python -m pkg.mod
    if first == "-c":
        return PYTHON_C
    if first == "-":
        return PYTHON_STDIN
    return _stem(first) or INTERACTIVE


def _stem(path: str) -> str:
    """`nightly_job` for `path/nightly_job.py`; a directory or zip run as a script gives its own name."""
    pure = PurePath(path)
    return pure.stem if pure.suffix in (".py", ".pyw", ".pyz", ".zip") else pure.name
