"""The workflow itself: lint, formatting, and the tiny study end to end."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY = ROOT / ".test" / "config" / "config.yaml"


def snakemake(*args, cwd=ROOT, timeout=1200):
    cmd = [str(BIN / "snakemake"), "-s", str(ROOT / "workflow" / "Snakefile"), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_lint_is_clean():
    res = snakemake("--lint", "--configfile", str(TINY))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Lints for" not in res.stdout + res.stderr, res.stdout + res.stderr


def test_workflow_is_snakefmt_formatted():
    files = [str(ROOT / "workflow" / "Snakefile"), *map(str, (ROOT / "workflow" / "rules").glob("*.smk"))]
    res = subprocess.run([str(BIN / "snakefmt"), "--check", *files], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_invalid_config_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("ratios: [0.25, 0.5]", "ratios: [1.5]"))
    res = snakemake("-n", "--configfile", str(bad), "--directory", str(tmp_path))
    assert res.returncode != 0
    assert "ratios" in res.stdout + res.stderr


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny")
    res = snakemake("--cores", "2", "--configfile", str(TINY), "--directory", str(work))
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]
    rep = snakemake("--configfile", str(TINY), "--directory", str(work), "--report", str(work / "results/report.html"))
    assert rep.returncode == 0, rep.stdout[-3000:] + rep.stderr[-3000:]
    return work


def test_tiny_study_leaves_every_output(tiny_run):
    r = tiny_run / "results"
    expected = [
        "tables/summary.csv", "tables/summary.md", "figures/psnr_vs_ratio.png", "figures/speedup_vs_ratio.png",
        "figures/psnr_vs_latency.png", "figures/examples_mri.png", "figures/examples_sr.png", "report.html",
        "bench/mri/du.csv", "bench/sr/du.json", "models/mri/du/base_history.csv",
    ]
    for task in ("mri", "sr"):
        expected += [f"data/{task}/{s}.h5" for s in ("train", "val", "test")]
        for ratio in ("0.25", "0.5"):
            expected.append(f"pruned/{task}/du/l1-r{ratio}.pt")
            expected += [f"finetuned/{task}/du/l1-r{ratio}/{s}.pt" for s in ("supervised", "school", "selfsup")]
    missing = [p for p in expected if not (r / p).is_file()]
    assert not missing, missing
    assert all((tiny_run / "logs").rglob("*.log"))


def test_tiny_study_numbers_are_sane(tiny_run):
    table = pd.read_csv(tiny_run / "results" / "tables" / "summary.csv")
    required = {"task", "arch", "criterion", "ratio", "strategy", "psnr", "ssim", "params", "macs", "latency_ms",
                "speedup"}
    assert required <= set(table.columns)
    assert len(table) == 2 * (1 + 1 + 2 * 4)
    for task, part in table.groupby("task"):
        classical = part[part.strategy == "classical"].psnr.item()
        unpruned = part[part.strategy == "unpruned"]
        assert unpruned.psnr.item() > classical, f"{task}: the trained network must beat the classical baseline"
        pruned = part[~part.strategy.isin(["classical", "unpruned"])]
        assert (pruned.params < unpruned.params.item()).all()
        assert (pruned.macs < unpruned.macs.item()).all()
        assert pruned.groupby("ratio").params.nunique().eq(1).all(), "a ratio's variants share one architecture"
        assert table.psnr.between(5, 60).all() and table.ssim.between(0, 1).all()
        assert (part.dropna(subset=["speedup"]).speedup > 0).all()
        assert unpruned.speedup.item() == 1.0


def test_rerun_has_nothing_to_do(tiny_run):
    res = snakemake("-n", "--configfile", str(TINY), "--directory", str(tiny_run))
    assert res.returncode == 0
    assert "Nothing to be done" in res.stdout + res.stderr
