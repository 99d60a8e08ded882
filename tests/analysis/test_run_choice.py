"""Which run `mpmon-analyze` picks by default when a directory holds a cluster's run and a small run of
its client beside it (the same period): the run with the most calls, naming the other and `--run`."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from mpmon.analysis import load_run
from mpmon.analysis.cli import main

from . import logfactory as lf

CLUSTER = "20261125T180000Z-c1c1c1"
CLIENT = "20261125T180002Z-c2c2c2"


def _write(log_dir: Path, client_after_s: float) -> tuple[int, int]:
    """A cluster run of many calls, then a client run of a few starting `client_after_s` after it."""
    cluster = lf.make_run(CLUSTER, workers=4, tasks=10)
    client = lf.make_run(CLIENT, start=lf.T0 + pd.Timedelta(seconds=client_after_s), workers=1, tasks=2)
    lf.write_run(log_dir, cluster + client)
    return len(cluster), len(client)


def test_the_run_with_most_calls_of_the_recent_period_is_picked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The client's run started last, but in the cluster run's period: the cluster's is analysed, and
    the command says which other run exists and how to choose it."""
    cluster_calls, client_calls = _write(tmp_path / "logs", client_after_s=2)
    assert set(load_run(tmp_path / "logs")["run_id"]) == {CLUSTER}
    assert main(["--logdir", str(tmp_path / "logs"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^run +{CLUSTER} \(the run with the most calls of the 2 runs", out, re.M), out
    assert f"{CLIENT} ({client_calls} calls)" in out and "--run" in out
    assert len(load_run(tmp_path / "logs", run_id=CLIENT)) == client_calls < cluster_calls
    _write(tmp_path / "later", client_after_s=3600)  # a small run an hour later is its own period
    assert set(load_run(tmp_path / "later")["run_id"]) == {CLIENT}
