"""The workflow itself: lint, formatting, and the tiny study end to end."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, TINY, snakemake

BIN = Path(sys.executable).parent


def test_lint_is_clean():
    res = snakemake("--lint", "--configfile", str(TINY))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Lints for" not in res.stdout + res.stderr, res.stdout + res.stderr


def test_workflow_is_snakefmt_formatted():
    files = [str(ROOT / "workflow" / "Snakefile"), *map(str, (ROOT / "workflow" / "rules").glob("*.smk"))]
    res = subprocess.run([str(BIN / "snakefmt"), "--check", *files], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("good, bad, named", [
    ("ratios: [0.25, 0.5]", "ratios: [1.5]", "ratios"),
    ("finetune: {epochs: 2}", "finetune: {epoch: 2}", "epoch"),  # an arch's override: unknown key
])
def test_invalid_config_is_refused(tmp_path, good, bad, named):
    config = tmp_path / "bad.yaml"
    config.write_text(TINY.read_text().replace(good, bad))
    res = snakemake("-n", "--configfile", str(config), "--directory", str(tmp_path))
    assert res.returncode != 0
    assert named in res.stdout + res.stderr


STUDY = [("mri", "du"), ("mri", "deq"), ("mri", "varnet"), ("sr", "du"), ("sr", "deq")]
RATIOS = ("0.25", "0.5")
STRATEGIES = ("none", "supervised", "school", "selfsup")


def test_tiny_study_leaves_every_output(tiny_run):
    r = tiny_run / "results"
    expected = [
        "tables/summary.csv", "tables/summary.md", "tables/extra_timings.csv", "figures/psnr_vs_ratio.png", "figures/speedup_vs_ratio.png",
        "figures/psnr_vs_latency.png", "figures/examples_mri.png", "figures/examples_sr.png", "report.html",
    ]
    expected += [f"data/{task}/{s}.h5" for task in ("mri", "sr") for s in ("train", "val", "test")]
    for task, arch in STUDY:
        expected += [f"models/{task}/{arch}/base.pt", f"models/{task}/{arch}/base_history.csv",
                     f"bench/{task}/{arch}.csv", f"bench/{task}/{arch}.json"]
        for ratio in RATIOS:
            expected.append(f"pruned/{task}/{arch}/l1-r{ratio}.pt")
            expected += [f"finetuned/{task}/{arch}/l1-r{ratio}/{s}.pt" for s in STRATEGIES[1:]]
            expected += [f"metrics/{task}/{arch}/l1-r{ratio}/{s}.csv" for s in STRATEGIES]
    missing = [p for p in expected if not (r / p).is_file()]
    assert not missing, missing
    assert all((tiny_run / "logs").rglob("*.log"))


def test_tiny_study_numbers_are_sane(tiny_run):
    table = pd.read_csv(tiny_run / "results" / "tables" / "summary.csv")
    required = {"task", "arch", "criterion", "ratio", "strategy", "psnr", "ssim", "params", "macs", "latency_ms",
                "speedup", "iterations"}
    assert required <= set(table.columns)
    assert len(table) == 2 + len(STUDY) * (1 + len(RATIOS) * len(STRATEGIES))
    assert table.psnr.between(5, 60).all() and table.ssim.between(0, 1).all()
    for (task, arch), part in table[table.arch != "classical"].groupby(["task", "arch"]):
        classical = table[(table.task == task) & (table.strategy == "classical")].psnr.item()
        unpruned = part[part.strategy == "unpruned"]
        assert unpruned.psnr.item() > classical, f"{task}/{arch}: the trained network must beat the baseline"
        pruned = part[part.strategy != "unpruned"]
        assert (pruned.prior_params < unpruned.prior_params.item()).all()
        assert (pruned.speedup > 0).all() and unpruned.speedup.item() == 1.0
        if arch == "deq":  # iterations are measured, per variant
            assert part.iterations.between(1, 20).all()
        else:
            assert part.iterations.isna().all()
            assert pruned.groupby("ratio").macs.nunique().eq(1).all(), "a ratio's variants share one architecture"


def test_arch_fit_override_replaces_the_task_setting(tiny_run):
    """models.varnet.mri.finetune sets 2 epochs; the other MRI archs keep the task's 1."""
    for arch, epochs in (("varnet", 2), ("du", 1), ("deq", 1)):
        for strategy in STRATEGIES[1:]:
            history = pd.read_csv(tiny_run / "results" / "finetuned" / "mri" / arch / "l1-r0.25" / f"{strategy}_history.csv")
            assert len(history) == epochs, (arch, strategy)
    assert len(pd.read_csv(tiny_run / "results" / "models" / "mri" / "varnet" / "base_history.csv")) == 4


def test_rerun_has_nothing_to_do(tiny_run):
    res = snakemake("-n", "--configfile", str(TINY), "--directory", str(tiny_run))
    assert res.returncode == 0
    assert "Nothing to be done" in res.stdout + res.stderr


def test_extra_timings_are_labelled_and_kept_apart(tiny_run):
    extras = pd.read_csv(tiny_run / "results" / "tables" / "extra_timings.csv")
    assert set(extras.setting) == {"tol=0.01", "channels_last"}
    relaxed = extras[extras.setting == "tol=0.01"]
    # only pruned equilibrium networks are relaxed: every DEQ variant but the unpruned one, per batch size
    assert set(relaxed.arch) == {"deq"} and (relaxed.variant != "base").all()
    assert len(relaxed) == 2 * len(RATIOS) * len(STRATEGIES) * 2
    assert relaxed.iterations.between(1, 20).all()
    assert (extras.speedup_vs_eager_unpruned > 0).all()
    assert "## Labelled extra timings" in (tiny_run / "results" / "tables" / "summary.md").read_text()
