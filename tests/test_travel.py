"""A decorated function travels like the function: by reference where that works, by value (cloudpickle)
where the engines would send the plain function by value: a function of the script's `__main__`, of a
notebook cell. Settings travel with it, mpmon's per-process state never does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import clean_env, read_csv, run_program

pytest.importorskip("cloudpickle")

TRAVEL = """
import json, pickle, subprocess, sys
import cloudpickle
import mpmon
from travelmod import imported

def plain(x):
    return x + 1

@mpmon.ErrorCatcher
@mpmon.Timer(log_to_console=False, max_arg_length=7)
def work(x):
    return plain(x) if x < 3 else work(x - 1)  # a global of __main__, and itself

PROTOCOL = cloudpickle.DEFAULT_PROTOCOL
LOAD = ("import pickle, sys; f = pickle.loads(sys.stdin.buffer.read()); "
        "print(type(f).__name__, f.__name__, f(5))")

def elsewhere(payload):
    done = subprocess.run([sys.executable, "-c", LOAD], input=payload, capture_output=True)
    return done.stdout.decode().strip() or done.stderr.decode().strip().splitlines()[-1]

if __name__ == "__main__":
    by_value = cloudpickle.dumps(work)
    print(json.dumps({
        "plain_by_value": elsewhere(cloudpickle.dumps(plain)),
        "decorated_by_value": elsewhere(by_value),
        "state_left_behind": all(s not in by_value for s in (b"Sender", b"CallStack", b"RLock", b"_local")),
        "settings_kept": pickle.loads(by_value).__wrapped__.settings.max_arg_length,
        "pickle_by_reference": len(pickle.dumps(work)) < 40,  # "__main__", "work": a reference
        "imported_by_reference": cloudpickle.dumps(imported) == pickle.dumps(imported, PROTOCOL),
        "same_after_round_trip": pickle.loads(pickle.dumps(work)) is work,
    }))
"""


@pytest.mark.slow
def test_main_function_travels_by_value_under_cloudpickle_and_by_reference_otherwise(tmp_path: Path) -> None:
    """cloudpickle sends a `__main__` function (and its decorated twin, stacked decorators and recursion
    included) by value to a process without that function; plain pickle and an importable function keep
    the reference."""
    (tmp_path / "travelmod.py").write_text("import mpmon\n\n@mpmon.Timer\ndef imported(x):\n    return x\n")
    found = json.loads(run_program(tmp_path, TRAVEL).stdout.splitlines()[-1])
    assert found["plain_by_value"] == "function plain 6"
    assert found["decorated_by_value"] == "function work 3"
    assert found["state_left_behind"] is True
    assert found["settings_kept"] == 7
    assert found["pickle_by_reference"] is True
    assert found["imported_by_reference"] is True
    assert found["same_after_round_trip"] is True


CELLS = [
    "import mpmon\nfrom joblib import Parallel, delayed\nmpmon.start_collector('logs', log_to_console=False)",
    "def plain(x):\n    return x * 10\n\n@mpmon.Timer(log_to_console=False)\ndef work(x):\n    return x * 10",
    "assert Parallel(n_jobs=2)(delayed(plain)(i) for i in range(12)) == [i * 10 for i in range(12)]",
    "assert Parallel(n_jobs=2)(delayed(work)(i) for i in range(12)) == [i * 10 for i in range(12)]",
    "mpmon.stop_collector()",
]


@pytest.mark.slow
def test_notebook_cell_function_runs_under_loky(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A function defined in a notebook cell, run headlessly in a real ipykernel, goes to loky's workers
    by value, decorated as undecorated; each call is one row."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    for name, value in clean_env().items():
        monkeypatch.setenv(name, value)
    for name in [n for n in os.environ if n.startswith("MPMON_")]:
        monkeypatch.delenv(name)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    frame = read_csv(tmp_path / "logs")
    assert len(frame) == 12
    assert set(frame["function"]) == {"work"} and set(frame["module"]) == {"__main__"}
