"""The one Markdown table builder every report table uses, its number reader, and the
cells and captions of a comparison with its interval."""

from __future__ import annotations

import pandas as pd

from spade.study.stats import format_difference, interval_words


def table(header: list[str], rows: list[list]) -> list[str]:
    """The lines of one Markdown table (cells already formatted)."""
    return ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(map(str, row)) + " |" for row in rows)]


def num(value) -> float:
    """A table value as a float, NaN where it is missing."""
    return float("nan") if value is None or pd.isna(value) else float(value)


def unit_kind(r) -> str:
    """What a row's interval resamples: subject, volume or image."""
    kind = r.get("unit_kind")
    return kind if isinstance(kind, str) and kind else "image"


def comparison(r, name: str = "minus_unpruned") -> str:
    """A row's comparison ``name`` (:data:`spade.study.report.summary.COMPARISONS`) as text: the
    difference with its interval, or with fewer than 8 units its range and sign count."""
    diff = r.get(f"{name}_db")
    if diff is None or pd.isna(diff):
        return ""
    return format_difference(diff, num(r.get(f"{name}_low")), num(r.get(f"{name}_high")), one=unit_kind(r),
                             units=r.get("units"), higher=r.get(f"{name}_higher"))


def interval_label(part: pd.DataFrame) -> str:
    """What the intervals of a task and split are, for a caption: a 95% bootstrap over its
    units, or the range and sign count where it has fewer than 8."""
    kinds = part.unit_kind.dropna() if "unit_kind" in part else pd.Series(dtype=object)
    kind = kinds.iloc[0] if len(kinds) else "image"
    count = part.units.max() if "units" in part and part.units.notna().any() else None
    return interval_words(count, kind)
