"""The tiny study's summary rows, to the digit the summary prints: a change that is meant to
keep behaviour (a refactor) keeps them. tests/data/tiny_summary_rows.csv was written from the
tiny study of 437dfc5, before the typed fit options and the registries; a change that is
meant to alter the numbers rewrites it (SPADE_WRITE_GOLDEN=1) and says so in its commit.

Timings and what follows from them (latencies, speedups, shares, fit seconds, memory) vary
between runs and are left out; every quality, size and design column is compared."""

import os
from pathlib import Path

import pandas as pd

GOLDEN = Path(__file__).parent / "data" / "tiny_summary_rows.csv"
TIMED = ("latency", "speedup", "runtime", "time_saved", "share", "batch", "bench_images", "fit_seconds", "fit_peak",
         "device", "rounds")


def _rows(summary_csv: Path) -> pd.DataFrame:
    table = pd.read_csv(summary_csv, keep_default_na=False, na_values=[""])
    keep = [c for c in table.columns if not any(part in c for part in TIMED)]
    table = table[keep]
    for column in table.select_dtypes("float").columns:  # as the summary prints them: dB to 0.01
        table[column] = table[column].round(4 if "ssim" in column else 2)
    return table.sort_values(["task", "split", "set", "arch", "criterion", "ratio", "strategy"],
                             na_position="first", kind="stable").reset_index(drop=True)


def test_the_tiny_study_gives_the_recorded_summary_rows(tiny_run):
    rows = _rows(tiny_run / "results" / "tables" / "summary.csv")
    if os.environ.get("SPADE_WRITE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        rows.to_csv(GOLDEN, index=False)
    golden = pd.read_csv(GOLDEN, keep_default_na=False, na_values=[""])
    assert list(rows.columns) == list(golden.columns), "the summary's non-timing columns changed"
    assert len(rows) == len(golden) > 20
    for column in golden.columns:
        mine, theirs = rows[column], golden[column]
        differs = ~((mine == theirs) | (mine.isna() & theirs.isna()))
        assert not differs.any(), (column, rows.loc[differs, ["task", "arch", "ratio", "strategy", "split", column]],
                                   theirs[differs].tolist())
