"""What every comparison weighs and resamples: a split's unit (an embedded MRI subject, a
fastMRI volume, an SR photograph; else the image itself), means taken within each unit
first and then over units, and the per-unit table printed beside those means."""

from __future__ import annotations

import pandas as pd

from spade.study.variants import IDENTITY

# a row of the summary: a variant on one split and test set
KEYS = list(IDENTITY) + ["split", "set"]

# the resampling unit of a split's images where the split records one (spade.study.data: groups): the
# embedded MRI's subjects, a real dataset's volumes; else its images
UNITS = ("subject", "volume", "photograph")


def split_unit(part: pd.DataFrame) -> str | None:
    """The column of ``part`` that names each image's resampling unit, if it records one."""
    return next((u for u in UNITS if u in part.columns and part[u].notna().all()), None)


def with_units(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with ``_unit``: each image's unit (its split's unit column, where the split
    records one: :func:`split_unit`; else the image itself)."""
    out = scores.copy()
    out["_unit"] = out["image"].astype(str)
    for _, part in out.groupby(["task", "split", "set"], sort=False, dropna=False):
        unit = split_unit(part)
        if unit:
            out.loc[part.index, "_unit"] = part[unit].astype(str)
    return out


def unit_weighted_means(scores: pd.DataFrame) -> pd.DataFrame:
    """Per row (``KEYS``): PSNR and SSIM averaged within each unit first, then over units,
    each unit (subject, volume, photograph) weighing the same whatever its image count; and
    ``n_units``."""
    per_unit = with_units(scores).groupby(KEYS + ["_unit"], sort=False, dropna=False)[["psnr", "ssim"]].mean()
    out = per_unit.groupby(KEYS, sort=False, dropna=False).agg(
        psnr=("psnr", "mean"), ssim=("ssim", "mean"), n_units=("psnr", "size"))
    return out.reset_index()


def per_unit_table(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per variant, split, set and unit: the unit's mean PSNR and SSIM and its image
    count (the per-subject table printed beside the subject-weighted means)."""
    frame = with_units(scores)
    out = frame.groupby(KEYS + ["_unit"], sort=False, dropna=False).agg(
        psnr=("psnr", "mean"), ssim=("ssim", "mean"), n_images=("psnr", "size")).reset_index()
    return out.rename(columns={"_unit": "unit"})
