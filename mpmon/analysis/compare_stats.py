"""The statistics of ``mpmon-analyze compare``: is a function's change between two runs beyond noise?

Pure numpy on per-call durations. The verdict is a two-sided Mann-Whitney U (rank-sum) test, normal
approximation with tie and continuity corrections: it asks whether a call of run B tends to take longer
(or shorter) than a call of run A, with no assumption on the shape of either distribution (durations are
skewed and often bimodal). With thousands of calls it finds even a 1 % shift, so a change is only called
a change when it is also larger than a minimum ratio of medians (as ``asv compare`` pairs its factor with
its test). The figure's interval is a percentile bootstrap of the ratio of medians. Each run's durations
reach these functions as a bounded uniform sample per function (:func:`bounded_sample`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "ALPHA",
    "MIN_CALLS",
    "RESAMPLES",
    "SAMPLE_LIMIT",
    "RankTest",
    "bounded_sample",
    "mann_whitney",
    "ratio_interval",
]

SAMPLE_LIMIT = 10_000
"""Per function and run at most this many durations are kept (a uniform random sample, float32)."""
ALPHA = 0.01
"""A change is beyond noise when the rank test's two-sided p-value is below this."""
MIN_CALLS = 8
"""Fewer calls than this in either run: no test (the normal approximation needs a few per side)."""
RESAMPLES = 400
"""Bootstrap resamples for the interval of the ratio of medians."""
_CHUNK = 50  # resamples drawn at once: bounds the index array to _CHUNK x SAMPLE_LIMIT

Durations = np.ndarray[Any, np.dtype[np.floating[Any]]]


class RankTest:
    """The outcome of :func:`mann_whitney`: U of run B, its z score (positive: B tends to be slower)
    and the two-sided p-value."""

    __slots__ = ("p_value", "u", "z")

    def __init__(self, u: float, z: float, p_value: float) -> None:
        self.u, self.z, self.p_value = u, z, p_value

    def __repr__(self) -> str:
        return f"RankTest(u={self.u}, z={self.z:.3f}, p_value={self.p_value:.3g})"


def mann_whitney(a: Durations, b: Durations) -> RankTest:
    """Two-sided Mann-Whitney U test of ``b`` against ``a`` (normal approximation, tie-corrected).

    U counts the pairs (x in a, y in b) with y > x, ties counting one half.
    """
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("the rank test needs at least one value on each side")
    values = np.concatenate([np.asarray(a, np.float64), np.asarray(b, np.float64)])
    ranks, tie_sizes = _average_ranks(values)
    u = float(ranks[n1:].sum()) - n2 * (n2 + 1) / 2
    n = n1 + n2
    mean = n1 * n2 / 2
    ties = float((tie_sizes.astype(np.float64) ** 3 - tie_sizes).sum())
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:  # every value equal: no evidence of any change
        return RankTest(u, 0.0, 1.0)
    excess = u - mean
    corrected = max(abs(excess) - 0.5, 0.0)  # continuity correction, towards the mean
    z = math.copysign(corrected / math.sqrt(variance), excess)
    return RankTest(u, z, math.erfc(abs(z) / math.sqrt(2)))


def _average_ranks(values: Durations) -> tuple[Durations, np.ndarray[Any, np.dtype[np.int64]]]:
    """1-based ranks, tied values sharing their average rank; and the size of every group of ties."""
    order = np.argsort(values, kind="mergesort")
    _, inverse, counts = np.unique(values[order], return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average = ends - (counts - 1) / 2  # the mean of ranks ends-counts+1 .. ends
    ranks = np.empty(len(values), np.float64)
    ranks[order] = average[inverse]
    return ranks, counts[counts > 1].astype(np.int64)


def ratio_interval(
    a: Durations, b: Durations, rng: np.random.Generator, level: float = 0.95, resamples: int = RESAMPLES
) -> tuple[float, float]:
    """A percentile bootstrap interval of median(b) / median(a): each side resampled with replacement."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = _medians(b, rng, resamples) / _medians(a, rng, resamples)
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def _medians(values: Durations, rng: np.random.Generator, resamples: int) -> Durations:
    """The medians of ``resamples`` bootstrap resamples of ``values``, drawn a chunk at a time."""
    out = np.empty(resamples, np.float64)
    for start in range(0, resamples, _CHUNK):
        count = min(_CHUNK, resamples - start)
        picks = rng.integers(0, len(values), size=(count, len(values)))
        out[start : start + count] = np.median(np.asarray(values)[picks], axis=1)
    return out


def bounded_sample(values: Durations, rng: np.random.Generator, limit: int = SAMPLE_LIMIT) -> Durations:
    """``values`` as float32, or a uniform random sample of ``limit`` of them (without replacement)."""
    if len(values) > limit:
        values = values[np.sort(rng.choice(len(values), size=limit, replace=False))]
    return np.asarray(values, np.float32)
