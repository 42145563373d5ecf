"""Uncertainty of every comparison the study draws: paired differences with a bootstrap
over whole volumes, and intervals for the median of timing rounds.

A difference between two variants is computed image by image (both scored on the same
images), averaged, and given a 95% interval by resampling whole units: an MRI volume
(slices of one head are not independent) or, where the split records no groups, an
image (an SR test photograph). A difference whose interval holds 0 (a speedup whose
interval holds 1) is "not resolved". Nothing here imports torch.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

LEVEL = 0.95
BOOTSTRAP_DRAWS = 4000
NOT_RESOLVED = "not resolved"


def cluster_bootstrap(values, units, seed: int = 0, level: float = LEVEL,
                      draws: int = BOOTSTRAP_DRAWS) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` and its percentile bootstrap interval,
    resampling the distinct ``units`` with replacement (each draw keeps every value of a
    unit drawn, so a draw's mean weighs units by their size). One unit: no interval (NaN)."""
    values = np.asarray(values, dtype=float)
    codes, _ = pd.factorize(pd.Series(list(units)))
    sums = np.bincount(codes, weights=values)
    counts = np.bincount(codes).astype(float)
    mean = float(sums.sum() / counts.sum())
    if len(sums) < 2:
        return mean, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(sums), size=(draws, len(sums)))
    boot = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(boot, [tail, 100 - tail])
    return mean, float(low), float(high)


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, metric: str = "psnr", unit: str | None = None,
                      seed: int = 0) -> dict:
    """``a`` minus ``b`` image by image on the images both scored (per-image score rows
    with an ``image`` column; ``unit``: the column naming each image's resampling unit,
    None: the image itself). Returns the mean difference, its interval and the counts."""
    key = ["image"] + ([unit] if unit else [])
    pairs = a[key + [metric]].merge(b[key + [metric]], on=key, suffixes=("_a", "_b"), validate="one_to_one")
    if pairs.empty:
        return {"diff": float("nan"), "low": float("nan"), "high": float("nan"), "images": 0, "units": 0}
    diffs = pairs[f"{metric}_a"] - pairs[f"{metric}_b"]
    units = pairs[unit] if unit else pairs["image"]
    mean, low, high = cluster_bootstrap(diffs.to_numpy(), units, seed)
    return {"diff": mean, "low": low, "high": high, "images": len(pairs), "units": int(units.nunique())}


def resolved(low: float, high: float, null: float = 0.0) -> bool:
    """The interval excludes ``null`` (an interval not computed is not resolved)."""
    return bool(not (math.isnan(low) or math.isnan(high)) and (low > null or high < null))


def format_difference(diff: float, low: float, high: float, digits: int = 2, null: float = 0.0,
                      unit: str = "", one: str = "unit") -> str:
    """``+0.31 [+0.12, +0.50]``; with "not resolved" where the interval holds ``null``;
    ``one``: what the resampled unit is (subject, volume, image), named where there is only
    one of them."""
    if math.isnan(diff):
        return ""
    text = f"{diff:+.{digits}f}{unit}"
    if math.isnan(low):
        return f"{text} (one {one}: no interval; {NOT_RESOLVED})"
    text += f" [{low:+.{digits}f}, {high:+.{digits}f}]"
    return text if resolved(low, high, null) else f"{text} {NOT_RESOLVED}"


def format_ratio(value: float, low: float, high: float) -> str:
    """A speedup ``1.42x [1.31, 1.50]``; "not resolved" where the interval holds 1."""
    if math.isnan(value):
        return ""
    if math.isnan(low):
        return f"{value:.2f}x"
    text = f"{value:.2f}x [{low:.2f}, {high:.2f}]"
    return text if resolved(low, high, 1.0) else f"{text} {NOT_RESOLVED}"


def median_interval(values, level: float = LEVEL) -> tuple[float, float, float, float]:
    """``(median, low, high, coverage)``: the distribution-free interval for the median
    of independent rounds, from order statistics: the narrowest symmetric pair ``(x_(k),
    x_(n+1-k))`` whose coverage under the binomial(n, 1/2) law reaches ``level``; with too
    few rounds for that, the range (and its lower coverage, which is returned)."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    median = float(np.median(x))
    if n < 2:
        return median, float("nan"), float("nan"), float("nan")
    cdf = np.cumsum([math.comb(n, i) for i in range(n + 1)]) / 2**n  # P(B <= i)
    best = 1  # the range: k = 1
    for k in range(1, n // 2 + 1):
        if 1 - 2 * cdf[k - 1] >= level:  # P(x_(k) <= median <= x_(n+1-k))
            best = k
    coverage = float(1 - 2 * cdf[best - 1])
    return median, float(x[best - 1]), float(x[n - best]), coverage
