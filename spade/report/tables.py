"""The one Markdown table builder every report table uses, its number reader, and the
resampled units an interval names."""

from __future__ import annotations

import pandas as pd


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


def units_label(part: pd.DataFrame) -> str:
    """The resampled units of a task and split, counted: "3 subjects", "one subject"."""
    kinds = part.unit_kind.dropna() if "unit_kind" in part else pd.Series(dtype=object)
    kind = kinds.iloc[0] if len(kinds) else "image"
    count = part.units.max() if "units" in part and part.units.notna().any() else float("nan")
    if pd.isna(count):
        return f"{kind}s"
    return f"one {kind}" if int(count) == 1 else f"{int(count)} {kind}s"
