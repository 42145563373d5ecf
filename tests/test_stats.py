"""Uncertainty (spade.study.stats): units weigh the same, intervals are what their count supports, the interval for a
median of timing rounds has the coverage it claims, and the verdicts follow the intervals."""

import math

import numpy as np
import pandas as pd
import pytest

from spade.study.stats import (NOT_RESOLVED, format_difference, format_ratio, interval_words, median_interval,
                         paired_difference, resolved, unit_weighted)


def test_units_weigh_the_same_whatever_their_slice_count():
    """One head of 22 slices and two of one slice each: the mean is over subjects (each
    subject's own mean first), not over slices, where the large head would be 92% of it."""
    values = np.r_[np.full(22, -1.0), [3.0], [0.5]]
    units = ["b0"] * 22 + ["t1"] + ["s1045"]
    out = unit_weighted(values, units)
    assert out.mean == pytest.approx((-1.0 + 3.0 + 0.5) / 3) and out.units == 3
    assert values.mean() < 0 < out.mean  # the image mean would flip the sign


def test_fewer_than_eight_units_give_the_range_and_the_sign_count():
    """With 3 subjects a percentile bootstrap's bounds are just the lowest and highest subject
    (each all-one-subject resample has probability 1/27 > 2.5%): say so, as a range."""
    out = unit_weighted([0.5, 0.7, -0.1, 0.2], ["a", "a", "b", "c"])
    assert out.kind == "range" and (out.low, out.high) == (pytest.approx(-0.1), pytest.approx(0.6))
    assert (out.higher, out.lower) == (2, 1)
    text = format_difference(out.mean, out.low, out.high, one="subject", units=out.units, higher=out.higher)
    assert "range -0.10 to +0.60, 2 of 3 subjects higher" in text and text.endswith(NOT_RESOLVED)
    assert "[" not in text and "95%" not in interval_words(3, "subject")
    agree = unit_weighted([0.5, 0.2, 0.3], ["a", "b", "c"])
    assert not format_difference(agree.mean, agree.low, agree.high, one="subject", units=3,
                                 higher=agree.higher).endswith(NOT_RESOLVED)
    single = unit_weighted([0.5, 0.2], ["a", "a"])
    assert single.kind == "none" and math.isnan(single.low)


def test_eight_units_or_more_give_the_bootstrap_over_units():
    """From 8 units on: the percentile bootstrap of the mean of unit means, checked against
    the normal approximation for 40 units, and resampling units, not slices."""
    rng = np.random.default_rng(0)
    means = rng.normal(0.3, 1.0, size=40)
    values = np.repeat(means, 5) + rng.normal(0, 0.01, size=200)  # 5 near-identical slices per unit
    units = np.repeat(np.arange(40), 5)
    out = unit_weighted(values, units, seed=1, draws=20000)
    half = 1.96 * means.std(ddof=0) / np.sqrt(40)
    assert out.kind == "bootstrap" and out.units == 40
    assert out.high - out.low == pytest.approx(2 * half, rel=0.1)
    by_slice = unit_weighted(values, np.arange(200), seed=1)
    assert by_slice.high - by_slice.low < 0.6 * (out.high - out.low)  # the anticonservative answer
    assert interval_words(40, "subject").startswith("95%")


def test_paired_difference_pairs_images_and_counts_units():
    a = pd.DataFrame({"image": ["x1", "x2", "y1"], "volume": ["x", "x", "y"], "psnr": [30.0, 31.0, 20.0]})
    b = pd.DataFrame({"image": ["y1", "x2", "x1"], "volume": ["y", "x", "x"], "psnr": [19.0, 30.0, 29.0]})
    out = paired_difference(a, b, "psnr", "volume")
    assert out["diff"] == pytest.approx(1.0) and out["images"] == 3 and out["units"] == 2
    assert out["low"] == pytest.approx(1.0) and out["high"] == pytest.approx(1.0)  # every pair differs by 1
    assert (out["higher"], out["kind"]) == (2, "range")


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
