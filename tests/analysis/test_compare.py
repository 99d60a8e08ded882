"""``mpmon-analyze compare``: real runs of a Pool program where one function was made 30 % slower and
another left alone; five repeated runs of the unchanged program; the CI gate's exit codes; the page in
headless Chromium. Then the per-function figures (self time, errors, new and vanished functions) on the
synthetic runs of :mod:`.logfactory`, whose totals are known."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import analyze, run_python

from mpmon import schema
from mpmon.analysis import compare, compare_cli, compare_page

from . import logfactory as lf
from .test_browser import open_in_browser

SCRIPT = textwrap.dedent(
    """
    import multiprocessing
    import sys
    import time

    import mpmon

    FACTOR = {"resize": 1.0}


    @mpmon.Timer(log_to_console=False)
    def resize(x):
        time.sleep(0.002 * FACTOR["resize"])
        return x


    @mpmon.Timer(log_to_console=False)
    def encode(x):
        time.sleep(0.002)
        return x


    def task(item):
        x, factor = item
        FACTOR["resize"] = factor
        return resize(x) + encode(x)


    if __name__ == "__main__":
        calls = int(sys.argv[1])
        for spec in sys.argv[2:]:  # log_dir:tag:factor, one run each
            log_dir, tag, factor = spec.split(":")
            mpmon.start_collector(log_dir=log_dir, tag=tag, log_to_console=False)
            with multiprocessing.Pool(2) as pool:
                pool.map(task, [(x, float(factor)) for x in range(calls)], chunksize=10)
            mpmon.stop_collector()
    """
)
CALLS = 300
UNCHANGED = [f"same{i}" for i in range(1, 6)]
GATE = "10%"


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A baseline run in ``baseline/``; in ``logs/`` five unchanged runs and one whose ``resize`` sleeps
    30 % longer (interleaved, so that a drift of the machine's load hits both kinds)."""
    base = tmp_path_factory.mktemp("compare")
    (base / "app.py").write_text(SCRIPT)
    order = ["same1", "slow", "same2", "same3", "same4", "same5"]
    specs = ["baseline:base:1"] + [f"logs:{tag}:{1.3 if tag == 'slow' else 1}" for tag in order]
    run_python(["app.py", CALLS, *specs], base, timeout=180)
    events = [
        line
        for name in ("baseline", "logs")
        for line in map(json.loads, (base / name / schema.TIMING_LOG).read_text().splitlines())
        if line.get("event") == schema.RUN_START_EVENT
    ]
    ids = {e["tag"]: e["run_id"] for e in events}
    return {"base": base, "ids": ids}


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _changes(data: dict[str, Any]) -> dict[str, str]:
    return {f["function"]: f["change"] for f in data["functions"]}


@pytest.mark.slow
class TestRealRuns:
    def test_the_slower_function_is_flagged_and_the_gate_fails(self, real_runs: dict[str, Any]) -> None:
        """resize made 30 % slower: flagged and the gate exits 1; encode, unchanged, is not flagged.
        The console script runs in a fresh interpreter; the JSON agrees with the rows on disk."""
        base, slow = real_runs["base"], real_runs["ids"]["slow"]
        out = base / "gate.json"
        done = analyze(
            "compare", *("--baseline", str(base / "baseline"), slow, "--logdir", str(base / "logs")),
            *("--fail-if-slower", GATE, "--json", str(out), "--out", str(base / "pages")),
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert "gate: FAILED" in done.stdout and "resize" in done.stdout.splitlines()[-1]
        data = _json(out)
        assert _changes(data) == {"resize": "slower", "encode": "unchanged"}
        resize = next(f for f in data["functions"] if f["function"] == "resize")
        assert 1.15 < resize["ratio"] < 1.45 and resize["ratio_low"] < resize["ratio"] < resize["ratio_high"]
        assert resize["calls_a"] == resize["calls_b"] == CALLS and resize["p_value"] < 1e-6
        raw = pd.read_csv(base / "logs" / schema.RESULTS_CSV)
        rows = raw[(raw["run_id"] == slow) & (raw["function"] == "resize")]
        assert resize["total_b_s"] == pytest.approx(rows["duration_s"].sum())
        assert resize["p50_b_s"] == pytest.approx(rows["duration_s"].median())
        assert data["gate"]["failed"] == ["resize"]

    @pytest.mark.parametrize("tag", UNCHANGED)
    def test_repeated_unchanged_runs_raise_no_flag(self, real_runs: dict[str, Any], tag: str) -> None:
        """Each of five runs of the unchanged program against the baseline: nothing flagged, gate 0."""
        base = real_runs["base"]
        out = base / f"{tag}.json"
        args = ["--baseline", str(base / "baseline"), real_runs["ids"][tag], "--logdir", str(base / "logs")]
        code = compare_cli.main([*args, "--fail-if-slower", GATE, "--json", str(out), "--no-report", "-q"])
        data = _json(out)
        assert _changes(data) == {"resize": "unchanged", "encode": "unchanged"}, data["functions"]
        assert code == 0 and data["gate"]["failed"] == []

    def test_the_gate_looks_only_at_the_named_functions(self, real_runs: dict[str, Any]) -> None:
        """--function encode passes on the slow run; --function resize fails; run ids as prefixes."""
        logs, ids = real_runs["base"] / "logs", real_runs["ids"]
        args = ["compare", ids["same1"][:16], ids["slow"][:16], "--logdir", str(logs), "--no-report", "-q"]
        assert compare_cli.main([*args[1:], "--fail-if-slower", GATE, "--function", "encode"]) == 0
        done = analyze(*args, "--fail-if-slower", GATE, "--function", "resize")
        assert done.returncode == 1, done.stderr

    def test_two_log_directories_and_the_default_pair(
        self, real_runs: dict[str, Any], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Two directories compare their most recent runs; with no run named, the two most recent runs
        of --logdir (same4 then same5); the table names both runs and every function."""
        base, ids = real_runs["base"], real_runs["ids"]
        out = base / "dirs.json"
        assert (
            compare_cli.main([str(base / "baseline"), str(base / "logs"), "--json", str(out), "--no-report"])
            == 0
        )
        data = _json(out)
        assert data["a"]["run_ids"] == [ids["base"]] and data["b"]["run_ids"] == [ids["same5"]]
        capsys.readouterr()
        assert compare_cli.main(["--logdir", str(base / "logs"), "--no-report"]) == 0
        printed = capsys.readouterr().out
        assert f"A: {ids['same4']} (same4)" in printed and f"B: {ids['same5']} (same5)" in printed
        assert "resize" in printed and "encode" in printed and "self A" in printed

    def test_the_page_renders_in_chromium(self, real_runs: dict[str, Any], tmp_path: Path) -> None:
        """comparison.html opens from disk: its figure loads, nothing is logged as an error, it has the
        comparison section and the method, and it fits 1280 pixels."""
        base, ids = real_runs["base"], real_runs["ids"]
        pages = tmp_path / "pages"
        args = ["--baseline", str(base / "baseline"), ids["slow"], "--logdir", str(base / "logs")]
        assert compare_cli.main([*args, "--out", str(pages), "-q"]) == 0
        (folder,) = pages.iterdir()
        assert {p.name for p in folder.iterdir()} == {
            compare_page.COMPARISON_HTML, compare_page.COMPARISON_JSON,
            compare_page.COMPARISON_CSV, compare_page.RATIOS_PNG,
        }  # fmt: skip
        text = (folder / compare_page.COMPARISON_HTML).read_text()
        assert "Mann-Whitney U" in text and "uniform random sample" in text
        seen = open_in_browser(folder / compare_page.COMPARISON_HTML, tmp_path / "profile")
        facts = seen["facts"]
        assert seen["errors"] == []
        assert [i["loaded"] for i in facts["images"]] == [True]
        assert {"ratios", "comparison", "new-vanished", "method"} <= set(facts["ids"])
        assert set(facts["links"]) <= set(facts["ids"])
        assert facts["pageWidth"] <= facts["viewWidth"]


class TestFigures:
    def test_self_time_leaves_out_monitored_children(self, shared_two_runs: lf.TwoRuns) -> None:
        """task calls run a nested step: task's self time is its total less its steps'."""
        a, b = compare.run_durations(shared_two_runs[0], [lf.RUN_A, lf.RUN_B])
        for run, workers in ((a, 3), (b, 4)):
            task, step = run.functions.loc["task"], run.functions.loc["step"]
            assert task["self_s"] == pytest.approx(task["total_s"] - step["total_s"])
            assert task["self_s"] == pytest.approx(task["calls"] * (lf.TASK_S - lf.STEP_S))
            assert step["self_s"] == pytest.approx(step["total_s"])
            assert run.functions.loc["flaky", "errors"] == 2 * workers * (1 if workers == 3 else 1.5)

    def test_error_counts_and_the_json(self, shared_two_runs: lf.TwoRuns, tmp_path: Path) -> None:
        """flaky fails every time: its errors in both runs, and no duration sample to test."""
        out = tmp_path / "c.json"
        code = compare_cli.main(
            [lf.RUN_A, lf.RUN_B, "--logdir", str(shared_two_runs[0]), "--json", str(out), "--no-report"]
        )
        data = _json(out)
        flaky = next(f for f in data["functions"] if f["function"] == "flaky")
        assert code == 0 and (flaky["errors_a"], flaky["errors_b"]) == (6, 12)
        assert flaky["change"] == "too few calls" and flaky["ratio"] is None
        assert data["format"] == compare.COMPARE_FORMAT and data["gate"] is None
        assert data["method"]["test"].startswith("Mann-Whitney U")

    def test_new_and_vanished_functions(self, tmp_path: Path) -> None:
        """A function only in B is new, one only in A vanished; neither is tested nor gated."""
        rows_a = lf.make_run(lf.RUN_A, workers=2, tasks=10)
        rows_b = lf.make_run(lf.RUN_B, start=lf.T0 + pd.Timedelta(hours=1), workers=2, tasks=10)
        rows_b = [{**r, "function": "step_v2" if r["function"] == "step" else r["function"]} for r in rows_b]
        lf.write_run(tmp_path / "logs", rows_a, tag="a")
        lf.write_run(tmp_path / "logs", rows_b, tag="b")
        comparison = compare.compare(*compare.run_durations(tmp_path / "logs", [lf.RUN_A, lf.RUN_B]))
        assert comparison.changed("new") == ["step_v2"] and comparison.changed("vanished") == ["step"]
        assert compare.slower_than(comparison, 0.0) == []
        page = compare_page.write_comparison(comparison, tmp_path / "out")
        assert "new in B: <b>step_v2</b>" in page.read_text()


class TestBadInput:
    @pytest.mark.parametrize(
        ("args", "says"),
        [
            (["nosuchrun", lf.RUN_B], "run id 'nosuchrun' is unknown"),
            ([lf.RUN_A, lf.RUN_B, "--fail-if-slower", "ten"], "not a percentage"),
            (
                [lf.RUN_A, lf.RUN_B, "--fail-if-slower", "10%", "--function", "nope"],
                "'nope' is in neither run",
            ),
            ([lf.RUN_A], "give two runs"),
            (["--baseline", "/nonexistent/dir", lf.RUN_B], "does not exist"),
            ([lf.RUN_A, lf.RUN_B, "--function", "task"], "add --fail-if-slower"),
            ([lf.RUN_A, lf.RUN_B, "--json", "/nonexistent/c.json"], "/nonexistent does not exist"),
        ],
    )
    def test_one_line_and_exit_2(
        self, shared_two_runs: lf.TwoRuns, capsys: pytest.CaptureFixture[str], args: list[str], says: str
    ) -> None:
        """A mistake in what was asked for: exit 2, one line on stderr saying what, no traceback."""
        code = compare_cli.main([*args, "--logdir", str(shared_two_runs[0]), "--no-report"])
        err = capsys.readouterr().err
        assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err

    def test_the_report_command_line_is_unchanged(self, shared_two_runs: lf.TwoRuns) -> None:
        """``mpmon-analyze --logdir X ...`` still reads the report's flags (compare is only a first word)."""
        done = analyze("--logdir", str(shared_two_runs[0]), "--list-runs")
        assert done.returncode == 0 and lf.RUN_A in done.stdout and lf.RUN_B in done.stdout, done.stderr
        done = analyze("compare", "--logdir", str(shared_two_runs[0]), "--no-report", "-q")
        assert done.returncode == 0 and done.stdout == "", done.stderr
