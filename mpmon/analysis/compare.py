"""Two runs side by side per function (``mpmon-analyze compare``), and the CI gate on top of it.

Each run is reduced by :func:`run_durations` to a small per-function table (calls, errors, p50, p95,
total and self time, all from every row) plus a bounded sample of each function's per-call durations
(:func:`.compare_stats.bounded_sample`); :func:`compare` lines the two up and asks
:mod:`.compare_stats` whether each change is beyond noise. :func:`run_durations` is the one place that
reads log files: DuckDB queries over the scanned run (:mod:`.scanned`) give the per-function figures,
exact, and the samples, so its memory grows with functions, not calls; the original module's logs are
loaded (they are small).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.compute as pc

from mpmon.analysis import compare_stats as cs
from mpmon.analysis import scanned
from mpmon.analysis.batches import STREAM_MEMORY, query_batches
from mpmon.analysis.load import AnalysisError, Run, read_log_dir, select_run
from mpmon.analysis.scan import sql_text

__all__ = [
    "COLUMNS",
    "COMPARE_FORMAT",
    "DEFAULT_MIN_CHANGE",
    "Comparison",
    "RunDurations",
    "compare",
    "comparison_dict",
    "run_durations",
    "slower_than",
]

COLUMNS = ("run_id", "call_id", "parent_id", "function", "duration_s", "status")
"""The results columns a comparison reads (the loader adds the keys run selection needs)."""
COMPARE_FORMAT = "mpmon-compare/1"
DEFAULT_MIN_CHANGE = 0.05
"""Without --fail-if-slower or --min-change, a change smaller than 5 % of the median is 'unchanged'."""
SEED = 20260601  # the sample is reproducible: the same two runs give the same page


@dataclass(frozen=True)
class RunDurations:
    """One run reduced for comparison: which run, its per-function figures, its duration samples."""

    log_dir: Path
    run_ids: tuple[str, ...]
    tag: str
    selection: str
    functions: pd.DataFrame  # index function: calls, errors, p50_s, p95_s, total_s, self_s
    samples: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = field(repr=False)

    @property
    def label(self) -> str:
        """How the run is named on the page and in the table."""
        ids = ", ".join(self.run_ids) or "?"
        return f"{ids} ({self.tag})" if self.tag else ids


def run_durations(log_dir: Path, run_ids: Sequence[str | None]) -> list[RunDurations]:
    """Each run of ``run_ids`` (None: the most recent) of one log directory, reduced for comparison.

    Durations of calls that ended in an error stay out of p50, p95 and the sample (a call that fails
    fast is no speed-up), but count in total time. A scanned directory is aggregated where its rows lie
    (:func:`_scan_reduce`); the original module's logs are read once with :data:`COLUMNS` only.
    """
    rng = np.random.default_rng(SEED)
    reduced, data = [], None
    for run_id in run_ids:
        run = scanned.open_run(log_dir, run_id)
        if run is None:
            data = read_log_dir(log_dir, COLUMNS) if data is None else data
            reduced.append(_reduce(select_run(data, run_id), rng))
            continue
        try:
            reduced.append(_scan_reduce(run))
        finally:
            if run.source is not None:
                run.source.close()
    return reduced


_OK = "status <> 'error' AND duration_s IS NOT NULL"
_FIGURES = f"""
WITH spent AS (
    SELECT parent_id, sum(duration_s) AS spent FROM {scanned.RUN_VIEW}
    WHERE parent_id <> '' GROUP BY parent_id
)
SELECT c.function, count(*) AS calls, sum(c.duration_s) AS total_s,
       sum(greatest(c.duration_s - coalesce(s.spent, 0), 0)) AS self_s,
       quantile_cont(c.duration_s, 0.5) FILTER (WHERE c.status <> 'error') AS p50_s,
       quantile_cont(c.duration_s, 0.95) FILTER (WHERE c.status <> 'error') AS p95_s,
       count(*) FILTER (WHERE {_OK.replace("status", "c.status").replace("duration_s", "c.duration_s")}) AS ok
FROM {scanned.RUN_VIEW} c LEFT JOIN spent s ON s.parent_id = c.call_id
GROUP BY c.function
"""
_HASH_SPAN = 2**64
_MARGIN = 1.2  # a function's sample is drawn with this much to spare, then cut to the limit


def _scan_reduce(run: Run) -> RunDurations:
    """A scanned run as per-function figures (exact: DuckDB's ``quantile_cont`` is numpy's linear rule)
    and duration samples (:func:`_scan_samples`)."""
    assert run.source is not None
    table = run.source.sql(_FIGURES).df()
    table["function"] = table["function"].astype(str)
    table = table.set_index("function").sort_index()
    samples = _scan_samples(run, table["ok"])
    errors = run.errors["function"].astype(str).value_counts()
    table = table[table["calls"] > 0].join(errors.rename("errors"), how="outer")
    table[["calls", "errors"]] = table[["calls", "errors"]].fillna(0).astype("int64")
    table = table[["calls", "errors", "p50_s", "p95_s", "total_s", "self_s"]].rename_axis("function")
    return RunDurations(run.log_dir, run.run_ids, run.tag, run.selection, table, samples)


def _scan_samples(run: Run, ok: pd.Series) -> dict[str, np.ndarray[Any, np.dtype[np.float32]]]:
    """Each function's durations of calls that did not fail: all of them up to
    :data:`.compare_stats.SAMPLE_LIMIT`, else those whose call ids hash lowest (a uniform sample, the
    same for the same run). Rows are kept by a hash threshold set from the function's count (no sort),
    streamed in batches, then cut to the limit: memory grows with functions, not calls."""
    limit = cs.SAMPLE_LIMIT
    kept = {f: min(_HASH_SPAN - 1, int((limit * _MARGIN + 50) / n * _HASH_SPAN)) for f, n in ok.items() if n}
    if not kept:
        return {}
    values = ", ".join(f"({sql_text(f)}, {t}::UBIGINT)" for f, t in kept.items())
    query = (
        f"SELECT c.function, c.duration_s, hash(c.call_id, {SEED}) AS h FROM {scanned.RUN_VIEW} c "
        f"JOIN (VALUES {values}) AS k(function, threshold) ON k.function = c.function "
        f"WHERE {_OK.replace('status', 'c.status').replace('duration_s', 'c.duration_s')} "
        f"AND hash(c.call_id, {SEED}) <= k.threshold"
    )
    parts: dict[str, list[pa.RecordBatch]] = {}
    for batch in query_batches(run, query, memory_limit=STREAM_MEMORY, threads=1):
        names = batch.column(0).dictionary_encode()
        for code, name in enumerate(names.dictionary.to_pylist()):
            parts.setdefault(str(name), []).append(batch.filter(pc.equal(names.indices, code)))
    samples = {}
    for name, batches in parts.items():
        drawn = pa.Table.from_batches(batches)
        durations, hashes = drawn["duration_s"].to_numpy(), drawn["h"].to_numpy()
        if len(durations) > limit:
            durations = durations[np.argsort(hashes, kind="stable")[:limit]]
        samples[name] = np.asarray(durations, np.float32)
    return samples


def _reduce(run: Run, rng: np.random.Generator) -> RunDurations:
    """One selected run as per-function figures and duration samples (numpy on category codes)."""
    calls = run.calls
    function = calls["function"].astype("category")
    names = pd.Index([str(n) for n in function.cat.categories], name="function")
    codes = function.cat.codes.to_numpy()
    durations = calls["duration_s"].to_numpy(np.float64)
    table = pd.DataFrame(
        {
            "calls": np.bincount(codes, minlength=len(names)),
            "total_s": np.bincount(codes, weights=durations, minlength=len(names)),
            "self_s": np.bincount(codes, weights=_self_times(calls, durations), minlength=len(names)),
        },
        index=names,
    )
    ok = (calls["status"] != "error").to_numpy(dtype=bool)
    quantiles, samples = {}, {}
    for code, chunk in _split(codes[ok], durations[ok], len(names)):
        quantiles[names[code]] = np.quantile(chunk, [0.5, 0.95])
        samples[names[code]] = cs.bounded_sample(chunk, rng)
    table[["p50_s", "p95_s"]] = pd.DataFrame.from_dict(quantiles, orient="index").reindex(names)
    errors = run.errors["function"].astype(str).value_counts()
    table = table[table["calls"] > 0].join(errors.rename("errors"), how="outer")
    table[["calls", "errors"]] = table[["calls", "errors"]].fillna(0).astype("int64")
    table = table[["calls", "errors", "p50_s", "p95_s", "total_s", "self_s"]].rename_axis("function")
    return RunDurations(run.log_dir, run.run_ids, run.tag, run.selection, table, samples)


def _split(
    codes: np.ndarray[Any, Any], values: np.ndarray[Any, Any], count: int
) -> Iterator[tuple[int, Any]]:
    """(code, values of that code) for every code that has values."""
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(count + 1))
    for code in range(count):
        if bounds[code + 1] > bounds[code]:
            yield code, values[order[bounds[code] : bounds[code + 1]]]


def _self_times(calls: pd.DataFrame, durations: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Each call's duration less those of its monitored children (rows whose parent_id is its call_id),
    never below zero. The children are found by a hash lookup in Arrow."""
    nested = (calls["parent_id"] != "").to_numpy(dtype=bool)
    if not nested.any():
        return durations
    parents = pa.array(calls["parent_id"].to_numpy(object)[nested], pa.string())
    position = pc.index_in(parents, value_set=pa.array(calls["call_id"].to_numpy(object), pa.string()))
    position = pc.fill_null(position, -1).to_numpy()
    found = position >= 0
    spent = np.bincount(position[found], weights=durations[nested][found], minlength=len(durations))
    return np.clip(durations - spent, 0.0, None)


@dataclass(frozen=True)
class Comparison:
    """Run A (the baseline) and run B side by side: one row per function of either run."""

    a: RunDurations
    b: RunDurations
    functions: pd.DataFrame
    min_change: float
    alpha: float

    def changed(self, kind: str) -> list[str]:
        """The functions whose ``change`` is ``kind`` (slower, faster, unchanged, new, vanished...)."""
        return [str(f) for f in self.functions.index[self.functions["change"] == kind]]


def compare(
    a: RunDurations, b: RunDurations, min_change: float = DEFAULT_MIN_CHANGE, alpha: float = cs.ALPHA
) -> Comparison:
    """Line up two reduced runs; every function in both gets its ratio, interval, p-value and change.

    A change is ``slower`` (``faster``) when the rank test's p-value is below ``alpha`` and the ratio
    of medians is above ``1 + min_change`` (below ``1 / (1 + min_change)``); ``unchanged`` otherwise.
    """
    table = a.functions.add_suffix("_a").join(b.functions.add_suffix("_b"), how="outer")
    table = table.rename(columns=lambda c: c.replace("_s_a", "_a_s").replace("_s_b", "_b_s"))
    for name in ("calls_a", "calls_b", "errors_a", "errors_b"):
        table[name] = table[name].fillna(0).astype("int64")
    present = zip(table["calls_a"] + table["errors_a"] > 0, table["calls_b"] + table["errors_b"] > 0)
    medians = zip(table["p50_a_s"].to_numpy(np.float64), table["p50_b_s"].to_numpy(np.float64))
    verdicts = []
    for f, (in_a, in_b), pair in zip(table.index, present, medians):
        if not (in_a and in_b):
            verdicts.append({**_NO_TEST, "change": "new" if in_b else "vanished"})
            continue
        samples = (a.samples.get(f, _NONE), b.samples.get(f, _NONE))
        verdicts.append(_verdict(samples, pair, (min_change, alpha)))
    table = table.join(pd.DataFrame(verdicts, index=table.index))
    order = np.lexsort((table.index.to_numpy(), -table["total_a_s"].fillna(0), -table["total_b_s"].fillna(0)))
    return Comparison(a, b, table.iloc[order], min_change, alpha)


_NO_TEST = {"ratio": np.nan, "ratio_low": np.nan, "ratio_high": np.nan, "p_value": np.nan, "z": np.nan}
_NONE = np.empty(0, np.float32)


def _verdict(
    samples: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    medians: tuple[float, float],
    rule: tuple[float, float],
) -> dict[str, Any]:
    """ratio, ratio_low, ratio_high, p_value and change for one function: the ratio of the exact
    medians (every call), the interval and the test from the samples; ``rule`` is (min_change, alpha)."""
    a, b = samples
    if len(a) < cs.MIN_CALLS or len(b) < cs.MIN_CALLS:
        return {**_NO_TEST, "change": "too few calls"}
    min_change, alpha = rule
    ratio = medians[1] / medians[0] if medians[0] > 0 else np.inf
    low, high = cs.ratio_interval(a, b)
    test = cs.mann_whitney(a, b)
    change = "unchanged"
    if test.p_value < alpha and test.z > 0 and ratio > 1 + min_change:
        change = "slower"
    elif test.p_value < alpha and test.z < 0 and ratio < 1 / (1 + min_change):
        change = "faster"
    interval = {"ratio_low": low, "ratio_high": high}
    return {"ratio": ratio, **interval, "p_value": test.p_value, "z": test.z, "change": change}


def slower_than(comparison: Comparison, limit: float, functions: Sequence[str] = ()) -> list[str]:
    """The functions (of ``functions``, or all) slower by more than ``limit`` (0.1 = 10 %) and beyond
    noise: the CI gate fails on any. A named function in neither run is an :class:`AnalysisError`."""
    table = comparison.functions
    unknown = [f for f in functions if f not in table.index]
    if unknown:
        known = ", ".join(map(str, table.index[:8]))
        raise AnalysisError(f"--function {unknown[0]!r} is in neither run (functions: {known})")
    rows = table.loc[list(functions)] if functions else table
    beyond = (rows["p_value"] < comparison.alpha) & (rows["z"] > 0) & (rows["ratio"] > 1 + limit)
    return [str(f) for f in rows.index[beyond.to_numpy()]]


def comparison_dict(comparison: Comparison, gate: dict[str, Any] | None = None) -> dict[str, Any]:
    """The comparison as JSON-ready data (``--json``): both runs, the method, one record per function."""
    table = comparison.functions.replace([np.inf, -np.inf], np.nan)
    records = table.reset_index().astype(object).where(table.reset_index().notna(), None)
    return {
        "format": COMPARE_FORMAT,
        "a": _run_dict(comparison.a),
        "b": _run_dict(comparison.b),
        "method": method_dict(comparison),
        "functions": records.to_dict("records"),
        "new": comparison.changed("new"),
        "vanished": comparison.changed("vanished"),
        "gate": gate,
    }


def method_dict(comparison: Comparison) -> dict[str, Any]:
    """How 'beyond noise' was decided, in numbers and words (the page says the same)."""
    return {
        "test": "Mann-Whitney U, two-sided, normal approximation with tie and continuity corrections",
        "alpha": comparison.alpha,
        "min_change": comparison.min_change,
        "ratio": "median of run B / median of run A (calls that ended in an error left out)",
        "interval": "95 %: the medians' order-statistic intervals combined on the log scale",
        "sample": f"per function and run, a uniform random sample of at most {cs.SAMPLE_LIMIT:,} durations",
    }


def _run_dict(run: RunDurations) -> dict[str, Any]:
    """Which run, from where, and its totals."""
    return {
        "log_dir": str(run.log_dir.resolve()),
        "run_ids": list(run.run_ids),
        "tag": run.tag,
        "selection": run.selection,
        "calls": int(run.functions["calls"].sum()),
        "errors": int(run.functions["errors"].sum()),
    }
