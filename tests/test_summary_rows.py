"""The tiny study's summary rows against tests/data/tiny_summary_rows.csv, on any machine.

Measured on 2026-12-06 (a 2-core VM of this kind with AVX-512; the file was recorded on
another): the classical rows (zero-filled, TV, wavelet) reproduce to the last printed digit,
but every trained row may move by up to 1.2 dB, because the tiny study's fits branch on the
last bits of a float: a curve that stops after patience 1 stops one epoch earlier or later,
a kept epoch flips, a DEQ's solve stops at another iteration (and its MACs with it). Pinning
every library to the same instruction set (ATEN_CPU_CAPABILITY, DNNL_MAX_CPU_ISA, MKL_CBWR,
OPENBLAS_CORETYPE at AVX2) did not make the trained rows agree either (up to 1.5 dB). So:

* on the machine that recorded the file (its fingerprint, tests/data/tiny_summary_rows.machine.json:
  CPU model and flags, library versions), every column is compared exactly, to the digit the
  summary prints: a refactor meant to keep behaviour keeps them (the check of issue 32);
* on any other machine, what follows from the config alone is compared exactly (identities,
  widths, parameters, prior MACs, image and unit counts, the data a fit read), the untrained
  rows' scores within 0.05 dB and 0.002 SSIM, and the trained rows' scores within 3 dB (a
  broken stage, not a changed digit).

A change meant to alter the numbers rewrites the file and its fingerprint
(SPADE_WRITE_GOLDEN=1) and says so in its commit. Timings and what follows from them
(latencies, speedups, shares, fit seconds, memory) vary between runs and are left out."""


import hashlib
import json
import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd

GOLDEN = Path(__file__).parent / "data" / "tiny_summary_rows.csv"
MACHINE = GOLDEN.with_suffix(".machine.json")
TIMED = ("latency", "speedup", "runtime", "time_saved", "share", "batch", "bench_images", "fit_seconds", "fit_peak",
         "device", "rounds")
KEY = ["task", "split", "set", "arch", "criterion", "ratio", "strategy"]
DB_TOLERANCE = 0.05
SSIM_TOLERANCE = 0.002
# a trained row on another machine: a broken stage moves it by more (the measured spread, 1.5 dB)
TRAINED_DB_TOLERANCE = 3.0
# what follows from the config alone, the same on every machine
CONFIG_COLUMNS = ("target", "n_images", "n_units", "units", "unit_kind", "actual_ratio", "params", "prior_params",
                  "prior_macs", "convention", "fit_train_images", "fit_data", "best_classical")
UNTRAINED = ("classical",)


def machine() -> dict:
    """What decides the last bits of the tiny study's numbers: the CPU and the libraries."""
    import onnxruntime
    import torch

    cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else platform.processor()
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1] for line in cpu.splitlines() if line.startswith("flags")), "")
    return {"cpu": model, "flags": hashlib.sha256(" ".join(sorted(flags.split())).encode()).hexdigest()[:16],
            "machine": platform.machine(), "torch": torch.__version__, "numpy": np.__version__,
            "onnxruntime": onnxruntime.__version__}


def tolerance(column: str, trained: bool = True) -> float:
    """How far a column may move on a machine other than the recording one (0: exactly)."""
    if column in CONFIG_COLUMNS:
        return 0.0
    if column == "macs" and not trained:
        return 0.0
    scale = TRAINED_DB_TOLERANCE / DB_TOLERANCE if trained else 1.0
    if "ssim" in column:
        return SSIM_TOLERANCE * scale
    if column in ("psnr", "psnr_std", "prior_margin_db") or column.endswith(("_db", "_low", "_high")):
        return DB_TOLERANCE * scale
    return float("inf")  # counts that follow a fit's path: epochs run and kept, solver iterations, MACs of a DEQ


def _rows(summary_csv: Path) -> pd.DataFrame:
    table = pd.read_csv(summary_csv, keep_default_na=False, na_values=[""])
    keep = [c for c in table.columns if not any(part in c for part in TIMED)]
    table = table[keep]
    for column in table.select_dtypes("float").columns:  # as the summary prints them: dB to 0.01
        table[column] = table[column].round(4 if "ssim" in column else 2)
    return table.sort_values(KEY, na_position="first", kind="stable").reset_index(drop=True)


def differing(mine: pd.DataFrame, golden: pd.DataFrame, exact: bool = False) -> dict[str, pd.DataFrame]:
    """Per column, the rows of ``mine`` that differ from ``golden`` by more than the column's
    tolerance (:func:`tolerance`; every tolerance 0 with ``exact``)."""
    out = {}
    trained = ~golden.strategy.isin(UNTRAINED).to_numpy()
    for column in golden.columns:
        a, b = mine[column], golden[column]
        both_missing = (a.isna() & b.isna()).to_numpy()
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            tol = np.array([0.0 if exact else tolerance(column, t) for t in trained])
            gap = np.abs(a.astype(float).to_numpy() - b.astype(float).to_numpy())
            bad = ~(both_missing | (gap <= tol + 1e-9))
        else:
            bad = ~(both_missing | (a == b).to_numpy())
        if bad.any():
            out[column] = mine.loc[bad, KEY + [column]].assign(recorded=b[bad].tolist())
    return out


def test_the_tolerance_holds_the_config_exactly_and_scores_by_what_trains_them():
    """Elsewhere: a classical row may move 0.02 dB but not 0.1; a trained row 1.5 dB (the
    measured spread) but not 4; widths and identities not at all. On the recording machine
    every digit counts."""
    row = {k: ["mri"] * 2 if k == "task" else ["x"] * 2 for k in KEY}
    golden = pd.DataFrame({**row, "psnr": [27.86, 25.00], "prior_macs": [1000, 1000], "minus_unpruned_db": [-0.30, 0],
                           "ssim": [0.8123, 0.7], "fit_best_epoch": [2, 0]}).assign(strategy=["supervised", "classical"])
    moved = golden.assign(psnr=[29.30, 25.02], minus_unpruned_db=[-1.1, 0], ssim=[0.83, 0.7012], fit_best_epoch=[4, 0])
    assert differing(moved, golden) == {}
    assert set(differing(moved, golden, exact=True)) == {"psnr", "minus_unpruned_db", "ssim", "fit_best_epoch"}
    assert set(differing(golden.assign(psnr=[27.86, 25.10]), golden)) == {"psnr"}
    assert set(differing(golden.assign(psnr=[31.90, 25.00]), golden)) == {"psnr"}
    assert set(differing(golden.assign(prior_macs=[1016, 1000]), golden)) == {"prior_macs"}
    assert set(differing(golden.assign(strategy=["y", "classical"]), golden)) == {"strategy"}


def test_the_tiny_study_gives_the_recorded_summary_rows(tiny_run):
    rows = _rows(tiny_run / "results" / "tables" / "summary.csv")
    if os.environ.get("SPADE_WRITE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        rows.to_csv(GOLDEN, index=False)
        MACHINE.write_text(json.dumps(machine(), indent=1) + "\n")
    golden = pd.read_csv(GOLDEN, keep_default_na=False, na_values=[""])
    rows = pd.read_csv(pd.io.common.StringIO(rows.to_csv(index=False)), keep_default_na=False, na_values=[""])
    assert list(rows.columns) == list(golden.columns), "the summary's non-timing columns changed"
    assert len(rows) == len(golden) > 20
    assert rows[KEY].equals(golden[KEY]), "the summary's rows are other variants than the recorded ones"
    recording = json.loads(MACHINE.read_text()) == machine()
    bad = differing(rows, golden, exact=recording)
    where = "the machine that recorded them: exactly" if recording else "another machine: within the tolerances"
    assert not bad, f"compared on {where}\n" + "\n".join(f"{c}:\n{frame.to_string()}" for c, frame in bad.items())
