"""Exact quantiles per group in bounded memory: a fine histogram first, then only the values of the bins
that hold the wanted ranks.

DuckDB's ``quantile_cont`` keeps every value of a group in memory (800 MB for 100M durations) and cannot
spill. Here one scan counts each function's durations in bins 1/BINS_PER_E of a natural-log unit wide
(about 0.1 %), which fixes which bin holds each wanted rank; a second scan fetches the values of those
bins alone (a few thousand per quantile), sorted in numpy. The result is pandas' linear rule exactly:
``v[lo] + (v[hi] - v[lo]) * (r - lo)`` at rank ``r = q * (n - 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]

__all__ = ["BINS_PER_E", "exact_quantiles"]

BINS_PER_E = 1_000
_NOT_POSITIVE = -(1 << 60)  # the bin of zero and negative durations (below every logarithm's)


def _bin(column: str) -> str:
    return (
        f"CASE WHEN {column} > 0 THEN CAST(floor(ln({column}) * {BINS_PER_E}) AS BIGINT) "
        f"ELSE {_NOT_POSITIVE} END"
    )


def exact_quantiles(
    con: duckdb.DuckDBPyConnection, view: str, column: str, levels: Sequence[float]
) -> dict[tuple[str, str], list[float]]:
    """(function, module) -> the ``levels`` quantiles of ``column`` (nulls left out), exact."""
    counts = con.sql(
        f"SELECT function, module, {_bin(column)} AS bin, count(*) AS n FROM {view} "
        f"WHERE {column} IS NOT NULL GROUP BY ALL ORDER BY function, module, bin"
    ).df()
    wanted: list[tuple[str, str, int, int]] = []  # function, module, bin, offset in the bin
    plans: dict[tuple[str, str], list[tuple[float, int, int]]] = {}
    for (function, module), group in counts.groupby(["function", "module"], sort=False):
        bins, cum = group["bin"].to_numpy(), np.cumsum(group["n"].to_numpy())
        total = int(cum[-1])
        plan = []
        for q in levels:
            rank = q * (total - 1)
            lo = int(np.floor(rank))
            hi = min(lo + 1, total - 1)
            for r in (lo, hi):
                i = int(np.searchsorted(cum, r, side="right"))
                wanted.append(
                    (str(function), str(module), int(bins[i]), r - int(cum[i] - group["n"].iloc[i]))
                )
            plan.append((rank, lo, hi))
        plans[(str(function), str(module))] = plan
    if not wanted:
        return {}
    keys = pd.DataFrame(wanted, columns=["function", "module", "bin", "offset"])
    con.register("_quantile_bins", keys[["function", "module", "bin"]].drop_duplicates())
    values = con.sql(
        f"SELECT function, module, bin, list_sort(list({column})) AS v FROM "
        f"(SELECT function, module, {_bin(column)} AS bin, {column} FROM {view} WHERE {column} IS NOT NULL) "
        "JOIN _quantile_bins USING (function, module, bin) GROUP BY ALL"
    ).df()
    con.unregister("_quantile_bins")
    sorted_bins = {(str(r.function), str(r.module), int(r.bin)): np.asarray(r.v) for r in values.itertuples()}
    return {key: _interpolate(key, plan, counts, sorted_bins) for key, plan in plans.items()}


def _interpolate(
    key: tuple[str, str],
    plan: list[tuple[float, int, int]],
    counts: pd.DataFrame,
    sorted_bins: dict[tuple[str, str, int], Any],
) -> list[float]:
    """The quantiles of one group from the sorted values of the bins holding its ranks."""
    group = counts[(counts["function"] == key[0]) & (counts["module"] == key[1])]
    bins, cum = group["bin"].to_numpy(), np.cumsum(group["n"].to_numpy())

    def value(rank: int) -> float:
        i = int(np.searchsorted(cum, rank, side="right"))
        before = int(cum[i] - group["n"].iloc[i])
        return float(sorted_bins[(key[0], key[1], int(bins[i]))][rank - before])

    out = []
    for rank, lo, hi in plan:
        a, b = value(lo), value(hi)
        out.append(a + (b - a) * (rank - lo))
    return out
