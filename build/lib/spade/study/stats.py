"""Uncertainty of every comparison the study draws: paired differences weighted by unit,
their intervals, and intervals for the median of timing rounds.

A difference between two variants is computed image by image (both scored on the same
images), averaged within each unit (an MRI subject or volume, an SR photograph: slices of
one head are not independent), then averaged over units, each unit weighing the same. Its
interval is what its count of units supports:

* at least :data:`MIN_BOOTSTRAP_UNITS` units: the 95% percentile bootstrap over units;
* fewer: the range of the unit means with the count of units on each side of 0 ("3 of 3
  subjects higher"), never called 95%: with 3 units a resample repeating one unit has
  probability 1/27, so percentile bounds would only be the lowest and highest unit;
* one unit: no interval.

A difference whose interval (or range) holds 0, a speedup whose interval holds 1, is "not
resolved". Nothing here imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

LEVEL = 0.95
BOOTSTRAP_DRAWS = 4000
NOT_RESOLVED = "not resolved"
# Fewer units than this: the range and the sign count, not a bootstrap "95%" interval. With 8
# units the chance that a resample repeats one unit throughout (8 / 8**8) is far below 2.5%.
MIN_BOOTSTRAP_UNITS = 8


@dataclass(frozen=True)
class UnitMean:
    """A mean over units and its interval: ``low``/``high`` are 95% bootstrap bounds
    (``kind`` "bootstrap"), the lowest and highest unit mean ("range"), or NaN ("none": one
    unit); ``higher``/``lower``: units whose own mean is above / below 0."""

    mean: float
    low: float
    high: float
    units: int
    higher: int
    lower: int
    kind: str


def unit_means(values, units) -> pd.Series:
    """The mean of ``values`` within each distinct unit (in order of first appearance)."""
    frame = pd.DataFrame({"v": np.asarray(values, dtype=float), "u": list(units)})
    return frame.groupby("u", sort=False).v.mean()


def unit_weighted(values, units, seed: int = 0, level: float = LEVEL, draws: int = BOOTSTRAP_DRAWS) -> UnitMean:
    """The mean over units of each unit's mean of ``values``, with the interval its count of
    units supports (module docstring)."""
    means = unit_means(values, units).to_numpy()
    n = len(means)
    mean = float(means.mean()) if n else float("nan")
    higher, lower = int((means > 0).sum()), int((means < 0).sum())
    if n < 2:
        return UnitMean(mean, float("nan"), float("nan"), n, higher, lower, "none")
    if n < MIN_BOOTSTRAP_UNITS:
        return UnitMean(mean, float(means.min()), float(means.max()), n, higher, lower, "range")
    rng = np.random.default_rng(seed)
    boot = means[rng.integers(0, n, size=(draws, n))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(boot, [tail, 100 - tail])
    return UnitMean(mean, float(low), float(high), n, higher, lower, "bootstrap")


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, metric: str = "psnr", unit: str | None = None,
                      seed: int = 0) -> dict:
    """``a`` minus ``b`` image by image on the images both scored (per-image score rows
    with an ``image`` column; ``unit``: the column naming each image's unit, None: the image
    itself), weighted by unit. Returns the difference, its interval (:class:`UnitMean`) and
    the counts."""
    key = ["image"] + ([unit] if unit else [])
    pairs = a[key + [metric]].merge(b[key + [metric]], on=key, suffixes=("_a", "_b"), validate="one_to_one")
    if pairs.empty:
        return {"diff": float("nan"), "low": float("nan"), "high": float("nan"), "images": 0, "units": 0,
                "higher": 0, "lower": 0, "kind": "none"}
    diffs = pairs[f"{metric}_a"] - pairs[f"{metric}_b"]
    units = pairs[unit] if unit else pairs["image"]
    out = unit_weighted(diffs.to_numpy(), units, seed)
    return {"diff": out.mean, "low": out.low, "high": out.high, "images": len(pairs), "units": out.units,
            "higher": out.higher, "lower": out.lower, "kind": out.kind}


def resolved(low: float, high: float, null: float = 0.0) -> bool:
    """The interval excludes ``null`` (an interval not computed is not resolved)."""
    return bool(not (math.isnan(low) or math.isnan(high)) and (low > null or high < null))


def _count(value) -> int | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else int(value)


def format_difference(diff: float, low: float, high: float, digits: int = 2, null: float = 0.0,
                      unit: str = "", one: str = "unit", units=None, higher=None) -> str:
    """``+0.31 [+0.12, +0.50]`` (a 95% interval, with ``units`` of at least
    :data:`MIN_BOOTSTRAP_UNITS` or not given); with fewer ``units``, ``+0.31 (range +0.12 to
    +0.50, 3 of 3 subjects higher)``; "not resolved" where the interval or range holds
    ``null``; ``one``: what a unit is (subject, volume, image)."""
    if math.isnan(diff):
        return ""
    text = f"{diff:+.{digits}f}{unit}"
    if math.isnan(low):
        return f"{text} (one {one}: no interval; {NOT_RESOLVED})"
    count, up = _count(units), _count(higher)
    if count is not None and count < MIN_BOOTSTRAP_UNITS:
        side = f", {up} of {count} {one}s higher" if up is not None else f" over {count} {one}s"
        text += f" (range {low:+.{digits}f} to {high:+.{digits}f}{side})"
    else:
        text += f" [{low:+.{digits}f}, {high:+.{digits}f}]"
    return text if resolved(low, high, null) else f"{text} {NOT_RESOLVED}"


def interval_words(units, kind: str = "unit") -> str:
    """What an interval over ``units`` units is, for a table's caption."""
    count = _count(units)
    if count is None:
        return f"95% bootstrap interval over {kind}s"
    if count < 2:
        return f"no interval (one {kind})"
    if count < MIN_BOOTSTRAP_UNITS:
        return (f"range of the {count} {kind} means and how many {kind}s lie above 0 (fewer than "
                f"{MIN_BOOTSTRAP_UNITS} {kind}s: no bootstrap interval)")
    return f"95% percentile bootstrap interval over {count} {kind}s"


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
