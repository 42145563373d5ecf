"""The paper-scale configs build their whole DAG on synthetic stand-ins of the data."""

import shutil
import subprocess

import pytest
import yaml

from spade.study.config import fit_defaults
from spade.options import STRATEGY_SETTINGS

from conftest import SNAKEMAKE, write_fastmri_folder
from conftest import ROOT, job_counts, snakemake, write_images

PAPER = ROOT / "config" / "paper"


def stand_ins(tmp_path, name):
    """Tiny local folders in the real layouts, and the config override that points at them."""
    if name == "fastmri_brain_multicoil":
        write_fastmri_folder(tmp_path / "multicoil_train", 3)
        return {"data": {"mri": {"fastmri": {"root": [str(tmp_path / "multicoil_train")]}}}}
    write_images(tmp_path / "DIV2K_train_HR", 2)
    write_images(tmp_path / "DIV2K_valid_HR", 1)
    tests = {}
    for s in ("Set5", "Set14", "BSD100"):
        write_images(tmp_path / s / "HR", 1, size=(36, 36))
        tests[s] = str(tmp_path / s)
    return {"data": {"sr": {"folders": {"train": str(tmp_path / "DIV2K_train_HR"),
                                        "val": str(tmp_path / "DIV2K_valid_HR"), "test": tests}}}}


@pytest.mark.parametrize("name,expected", [
    # 2 archs x 5 ratios: 10 prunings, 30 fine-tunings, 2 scratch controls; every network of an
    # arch scored in one job per split (test, and val for the headline's choice), the DEQ's by
    # its own rule
    ("fastmri_brain_multicoil", {"make_dataset": 1, "train_unpruned": 2, "prune": 10, "finetune": 30,
                                 "train_scratch": 2, "evaluate_networks": 2, "evaluate_deq_networks": 2, "benchmark": 2, "summary": 1}),
    ("sr_div2k_x2", {"make_dataset": 1, "train_unpruned": 2, "prune": 10, "finetune": 30, "train_scratch": 2,
                     "evaluate_networks": 2, "evaluate_deq_networks": 2}),
    ("sr_div2k_x4", {"make_dataset": 1, "train_unpruned": 2, "prune": 10, "finetune": 30, "train_scratch": 2,
                     "evaluate_networks": 2, "evaluate_deq_networks": 2}),
])
def test_paper_config_builds_its_dag_on_stand_ins(tmp_path, name, expected):
    paper = PAPER / f"{name}.yaml"
    cfg = yaml.safe_load(paper.read_text())
    assert cfg["device"] == "cuda" and cfg["ratios"] == [0.05, 0.1, 0.2, 0.3, 0.4]
    override = tmp_path / "paths.yaml"
    override.write_text(yaml.safe_dump(stand_ins(tmp_path / "data", name)))
    work = tmp_path / "work"
    work.mkdir()
    res = snakemake("-n", "--configfile", str(paper), str(override), "--directory", str(work))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    counts = job_counts(res.stdout + res.stderr)
    assert {k: counts.get(k) for k in expected} == expected
    # the same config without the stand-ins stops at once, naming the missing path
    res = snakemake("-n", "--configfile", str(paper), "--directory", str(work))
    assert res.returncode != 0
    assert "/data/" in res.stdout + res.stderr and "Missing input" in res.stdout + res.stderr


def test_paper_models_are_the_papers():
    mri = yaml.safe_load((PAPER / "fastmri_brain_multicoil.yaml").read_text())
    assert mri["models"]["deq"]["mri"]["prior"] == {"name": "edsr", "features": 64, "blocks": 13, "res_scale": 1.0}
    assert mri["models"]["varnet"]["mri"]["cascades"] == 8
    assert mri["models"]["varnet"]["mri"]["prior"] == {"name": "unet", "features": 18, "pools": 4}
    assert mri["data"]["mri"]["acceleration"] == 6 and mri["data"]["mri"]["fastmri"]["mask"] == "fixed"
    for scale in (2, 4):
        sr = yaml.safe_load((PAPER / f"sr_div2k_x{scale}.yaml").read_text())
        assert sr["data"]["sr"]["scale"] == scale and set(sr["data"]["sr"]["folders"]["test"]) == {
            "Set5", "Set14", "BSD100"}
        assert sr["models"]["deq"]["sr"]["prior"]["blocks"] == 13


@pytest.mark.parametrize("name", ["fastmri_brain_multicoil", "sr_div2k_x2", "sr_div2k_x4"])
def test_paper_config_runs_the_budgets_it_writes(tmp_path, name):
    """Run as the README says, from the repository root (a copy here, so that the run writes
    nothing into the checkout): the resolved config holds the paper file's budgets, none of
    the embedded default's."""
    repo = tmp_path / "repo"
    for part in ("workflow", "config", "spade"):
        shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    paths = repo / "paths.yaml"
    paths.write_text(yaml.safe_dump(stand_ins(tmp_path / "data", name)))
    res = subprocess.run([str(SNAKEMAKE), "results/config.yaml", "--cores", "1", "--configfile",
                          f"config/paper/{name}.yaml", "paths.yaml"], cwd=repo, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    resolved = yaml.safe_load((repo / "results" / "config.yaml").read_text())
    paper = yaml.safe_load((PAPER / f"{name}.yaml").read_text())
    assert [p.rsplit("/", 1)[-1] for p in resolved["config_files"]] == [f"{name}.yaml", "paths.yaml"]
    pairs = [(t, a) for t in paper["tasks"] for a in paper["archs"] if t in paper["models"].get(a, {})]
    assert pairs
    for stage in ("train", "finetune"):
        for task, arch in pairs:
            expected = {**paper[stage][task], **paper["models"][arch][task].get(stage, {})}
            got = resolved["budgets"][stage][task][arch]
            assert {k: got[k] for k in expected} == expected, (stage, task, arch)
            # the rest: the strategies' settings, and the schema's fit defaults the config leaves out
            filled = set(got) - set(expected) - set(STRATEGY_SETTINGS)
            defaults = {k: v for k, v in fit_defaults().items() if k in filled}
            assert {k: got[k] for k in filled} == defaults, (stage, task, arch)
    assert resolved["config"]["models"] == paper["models"]
