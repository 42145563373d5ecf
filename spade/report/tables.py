"""The one Markdown table builder every report table uses, and its number reader."""

from __future__ import annotations

import pandas as pd


def table(header: list[str], rows: list[list]) -> list[str]:
    """The lines of one Markdown table (cells already formatted)."""
    return ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(map(str, row)) + " |" for row in rows)]


def num(value) -> float:
    """A table value as a float, NaN where it is missing."""
    return float("nan") if value is None or pd.isna(value) else float(value)
