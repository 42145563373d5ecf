"""Uncertainty (spade.stats): the bootstrap resamples whole volumes, the interval for a
median of timing rounds has the coverage it claims, and the verdicts follow the intervals."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from spade.stats import (NOT_RESOLVED, cluster_bootstrap, format_difference, format_ratio, median_interval,
                         paired_difference, resolved)


def test_bootstrap_resamples_volumes_not_slices():
    """Two volumes of 10 slices each, every slice of a volume with the same difference:
    resampling slices would give a narrow interval around the mean; resampling volumes
    spans the two volumes' means (the only honest statement with two volumes)."""
    values = np.r_[np.full(10, 0.5), np.full(10, -0.1)]
    units = ["a"] * 10 + ["b"] * 10
    mean, low, high = cluster_bootstrap(values, units, seed=0)
    assert mean == pytest.approx(0.2) and low == pytest.approx(-0.1) and high == pytest.approx(0.5)
    _, low_slices, high_slices = cluster_bootstrap(values, range(20), seed=0)
    assert low_slices > 0.05 and high_slices < 0.35  # the anticonservative answer
    assert math.isnan(cluster_bootstrap(values, ["a"] * 20)[1]), "one volume: no interval"


def test_bootstrap_matches_the_exact_resampling_distribution():
    """With three units, enumerate all 27 equally likely draws: the percentile interval
    must match that exact distribution's 2.5% and 97.5% quantiles within Monte Carlo error."""
    values, units = np.array([1.0, 2.0, 2.0, 7.0]), ["a", "b", "b", "c"]
    sums, counts = {"a": 1.0, "b": 4.0, "c": 7.0}, {"a": 1, "b": 2, "c": 1}
    exact = [sum(sums[u] for u in d) / sum(counts[u] for u in d) for d in itertools.product("abc", repeat=3)]
    lo, hi = np.percentile(exact, [2.5, 97.5], method="inverted_cdf")  # 1.0 and 7.0: each has p = 1/27
    mean, low, high = cluster_bootstrap(values, units, seed=1, draws=20000)
    assert mean == pytest.approx(3.0)
    assert low == pytest.approx(lo) and high == pytest.approx(hi)
    mean, low, high = cluster_bootstrap(values, units, seed=1, draws=20000, level=0.8)
    lo, hi = np.percentile(exact, [10, 90], method="inverted_cdf")
    assert low == pytest.approx(lo, abs=0.2) and high == pytest.approx(hi, abs=0.2)


def test_paired_difference_pairs_images_and_counts_units():
    a = pd.DataFrame({"image": ["x1", "x2", "y1"], "volume": ["x", "x", "y"], "psnr": [30.0, 31.0, 20.0]})
    b = pd.DataFrame({"image": ["y1", "x2", "x1"], "volume": ["y", "x", "x"], "psnr": [19.0, 30.0, 29.0]})
    out = paired_difference(a, b, "psnr", "volume")
    assert out["diff"] == pytest.approx(1.0) and out["images"] == 3 and out["units"] == 2
    assert out["low"] == pytest.approx(1.0) and out["high"] == pytest.approx(1.0)  # every pair differs by 1


def test_median_interval_coverage_is_the_binomial_one():
    """For n rounds the interval (x_(k), x_(n+1-k)) covers the median with probability
    1 - 2 P(Bin(n, 1/2) < k); checked by simulation on a skewed distribution."""
    median, low, high, coverage = median_interval([5, 1, 4, 2, 3, 6])
    assert (median, low, high) == (3.5, 1, 6) and coverage == pytest.approx(1 - 2 / 64)
    _, low, high, coverage = median_interval(range(1, 11))
    assert (low, high) == (2, 9) and coverage == pytest.approx(1 - 2 * 11 / 1024)
    rng = np.random.default_rng(0)
    true_median = np.log(2)  # of Exponential(1)
    hits = [median_interval(rng.exponential(size=10))[1:3] for _ in range(4000)]
    observed = np.mean([lo <= true_median <= hi for lo, hi in hits])
    assert observed == pytest.approx(1 - 2 * 11 / 1024, abs=0.01)


def test_verdicts_follow_the_intervals():
    assert resolved(0.1, 0.3) and resolved(-0.3, -0.1) and not resolved(-0.1, 0.3)
    assert not resolved(float("nan"), float("nan"))
    assert format_difference(0.2, 0.1, 0.3) == "+0.20 [+0.10, +0.30]"
    assert format_difference(0.2, -0.1, 0.5).endswith(NOT_RESOLVED)
    assert NOT_RESOLVED in format_difference(0.2, float("nan"), float("nan"))
    assert format_ratio(1.5, 1.2, 1.7) == "1.50x [1.20, 1.70]"
    assert format_ratio(1.1, 0.95, 1.2).endswith(NOT_RESOLVED)
