"""The statistics of ``mpmon-analyze compare``: is a function's change between two runs beyond noise?

Pure numpy on per-call durations. The verdict is a two-sided Mann-Whitney U (rank-sum) test, normal
approximation with tie and continuity corrections: it asks whether a call of run B tends to take longer
(or shorter) than a call of run A, with no assumption on the shape of either distribution (durations are
skewed and often bimodal). With thousands of calls it finds even a 1 % shift, so a change is only called
a change when it is also larger than a minimum ratio of medians (as ``asv compare`` pairs its factor with
its test). The ratio's interval combines the two medians' distribution-free intervals. Each run's durations
reach these functions as a bounded uniform sample per function (:func:`bounded_sample`).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = [
    "ALPHA",
    "MIN_CALLS",
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


def ratio_interval(a: Durations, b: Durations, level: float = 0.95) -> tuple[float, float]:
    """An interval of median(b) / median(a): each median's distribution-free interval (order statistics
    around the middle, from the binomial law of ranks) read as a standard error of its logarithm, the
    two combined on the log scale. O(n) per side, so thousands of functions cost nothing."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    center_a, spread_a = _log_median(a, z)
    center_b, spread_b = _log_median(b, z)
    half = z * math.hypot(spread_a, spread_b)
    return math.exp(center_b - center_a - half), math.exp(center_b - center_a + half)


def _log_median(values: Durations, z: float) -> tuple[float, float]:
    """log(median) and the standard error of it implied by the median's order-statistic interval."""
    n = len(values)
    reach = z * math.sqrt(n) / 2
    low, high = max(math.floor(n / 2 - reach), 0), min(math.ceil(n / 2 + reach), n - 1)
    ordered = np.partition(np.asarray(values, np.float64), [low, (n - 1) // 2, n // 2, high])
    median = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    if ordered[low] <= 0 or median <= 0:
        return math.log(median) if median > 0 else -math.inf, math.inf
    return math.log(median), (math.log(ordered[high]) - math.log(ordered[low])) / (2 * z)


def bounded_sample(values: Durations, rng: np.random.Generator, limit: int = SAMPLE_LIMIT) -> Durations:
    """``values`` as float32, or a uniform random sample of ``limit`` of them (without replacement)."""
    if len(values) > limit:
        values = values[np.sort(rng.choice(len(values), size=limit, replace=False))]
    return np.asarray(values, np.float32)
