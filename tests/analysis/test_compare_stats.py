"""The statistics of ``mpmon-analyze compare``: the rank test against reference values, the ratio's
interval, the bounded sample."""

from __future__ import annotations

import numpy as np
import pytest

from mpmon.analysis.compare_stats import SAMPLE_LIMIT, bounded_sample, mann_whitney, ratio_interval


class TestMannWhitney:
    def test_matches_the_reference_values(self) -> None:
        """U and the two-sided p-value equal scipy.stats.mannwhitneyu(b, a, method='asymptotic')
        (values computed once with scipy 1.17; scipy is not a dependency)."""
        a, b = np.arange(1.0, 9.0), np.arange(3.0, 12.0)
        test = mann_whitney(a, b)
        assert test.u == 54.0 and test.p_value == pytest.approx(0.09099666264147159, rel=1e-9)
        assert test.z > 0  # b tends to be larger

    def test_ties_are_corrected(self) -> None:
        """With many tied values the variance shrinks as scipy's tie correction says."""
        a = np.array([1, 1, 2, 2, 3, 3, 4, 5], dtype=float)
        b = np.array([2, 3, 3, 4, 4, 5, 5, 6, 6], dtype=float)
        test = mann_whitney(a, b)
        assert test.u == 57.0 and test.p_value == pytest.approx(0.045254793034050986, rel=1e-9)

    def test_u_counts_the_pairs(self) -> None:
        """U is the number of pairs where b's value is larger, ties counting one half."""
        rng = np.random.default_rng(3)
        a, b = rng.integers(0, 20, 40).astype(float), rng.integers(0, 20, 55).astype(float)
        pairs = (b[None, :] > a[:, None]).sum() + 0.5 * (b[None, :] == a[:, None]).sum()
        assert mann_whitney(a, b).u == pairs

    def test_identical_values_are_no_evidence(self) -> None:
        """Every value equal: p is 1, z is 0."""
        test = mann_whitney(np.full(10, 2e-3), np.full(12, 2e-3))
        assert test.p_value == 1.0 and test.z == 0.0

    def test_direction_follows_b(self) -> None:
        """z is negative when run B is faster, and the order of the arguments matters."""
        rng = np.random.default_rng(4)
        slow, fast = rng.lognormal(0.3, 0.1, 200), rng.lognormal(0.0, 0.1, 200)
        assert mann_whitney(slow, fast).z < 0 < mann_whitney(fast, slow).z
        assert mann_whitney(slow, fast).p_value < 1e-10


class TestRatioInterval:
    def test_covers_the_true_ratio(self) -> None:
        """Durations 30 % longer in B: the interval of median B / median A holds 1.3 and is narrow."""
        rng = np.random.default_rng(5)
        a = rng.lognormal(np.log(2e-3), 0.2, 3000)
        b = rng.lognormal(np.log(2.6e-3), 0.2, 3000)
        low, high = ratio_interval(a, b)
        assert low < 1.3 < high and high - low < 0.1


class TestBoundedSample:
    def test_small_runs_are_kept_whole_as_float32(self) -> None:
        values = np.linspace(1e-3, 2e-3, 500)
        kept = bounded_sample(values, np.random.default_rng(0))
        assert kept.dtype == np.float32 and np.allclose(kept, values)

    def test_large_runs_are_a_bounded_uniform_sample(self) -> None:
        """A million durations keep SAMPLE_LIMIT distinct ones, spread over the whole range."""
        values = np.arange(1_000_000, dtype=np.float64)
        kept = bounded_sample(values, np.random.default_rng(0))
        assert len(kept) == SAMPLE_LIMIT and len(np.unique(kept)) == SAMPLE_LIMIT
        assert abs(float(np.median(kept)) - 500_000) < 20_000
