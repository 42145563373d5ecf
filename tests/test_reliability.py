"""What users hit when a run breaks: a second Snakemake in the same folder is refused, a
kill -9 during training leaves a lock that `--unlock` clears and a rerun that resumes to the
uninterrupted result, a damaged intermediate stops the job that reads it naming the file,
and NaN in the data stops training without writing a model."""

import os
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest
import torch
from conftest import ROOT, SNAKEMAKE, TINY, snakemake, write_mri_split

from spade.study.data import DatasetFileError
from spade.study.stages import train_unpruned

MODEL = "results/models/mri/deq/unpruned.pt"
STATE = "results/models/mri/deq/unpruned.state.pt"


def test_kill_during_training_then_unlock_and_rerun_gives_the_uninterrupted_model(tiny_run, tmp_path):
    work = tmp_path / "work"
    cmd = [str(SNAKEMAKE), "-s", str(ROOT / "workflow" / "Snakefile"), "--cores", "1", "--configfile", str(TINY),
           "--directory", str(work), MODEL]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.time() + 600
        while not (work / STATE).exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert (work / STATE).exists() and first.poll() is None, "training never wrote its first epoch's state"
        # a second Snakemake asking for the same outputs starts now and is refused by the lock
        # (held by the first, then left behind by its kill)
        second = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        os.killpg(first.pid, signal.SIGKILL)  # at once: the first epoch of four is done
        first.wait(timeout=60)
        said = second.communicate(timeout=300)[0]
        assert second.returncode != 0 and "cannot be locked" in said
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert not (work / MODEL).exists(), "killed before the model was written"
    stale = snakemake("--cores", "1", "--configfile", str(TINY), "--directory", str(work), MODEL)
    assert stale.returncode != 0 and "--unlock" in stale.stdout + stale.stderr, "the stale lock is named"
    assert snakemake("--unlock", "--configfile", str(TINY), "--directory", str(work)).returncode == 0
    rerun = snakemake("--cores", "1", "--configfile", str(TINY), "--directory", str(work), MODEL)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    log = (work / "logs" / "train" / "mri" / "deq.log").read_text()
    assert "resuming from" in log, "the rerun resumed from the killed run's state"
    resumed = torch.load(work / MODEL, weights_only=True)["state_dict"]
    whole = torch.load(tiny_run / MODEL, weights_only=True)["state_dict"]
    assert resumed.keys() == whole.keys() and all(torch.equal(resumed[k], whole[k]) for k in whole)

    # a damaged intermediate: the job that reads it stops, naming it; no numbers are written
    model = work / MODEL
    model.write_bytes(model.read_bytes()[:200])
    out = "results/metrics/test/mri/deq/unpruned.csv"
    res = snakemake(out, "--cores", "1", "--configfile", str(TINY), "--directory", str(work), "--forcerun",
                    "evaluate_networks")  # the target first: --forcerun takes every name after it
    assert res.returncode != 0 and not (work / out).exists()
    # the first job that reads it (here pruning, on the way to the arch's evaluation) names it
    said = [p.read_text() for p in (work / "logs").rglob("*.log") if "not a loadable" in p.read_text()]
    assert said and all("unpruned.pt" in text for text in said), [p for p in (work / "logs").rglob("*.log")]
    assert not any((work / "results" / "metrics").glob("*/mri/deq/**/*.csv")), "no number of the damaged network"


def test_nan_in_the_data_stops_training_and_writes_no_model(tmp_path):
    train, val = tmp_path / "train.h5", tmp_path / "val.h5"
    write_mri_split(train, 4)
    write_mri_split(val, 2, seed=1)
    with h5py.File(train, "a") as f:
        f["x/000002"][0, 3, 3] = np.nan
    out = tmp_path / "model.pt"
    arch = {"prior": {"name": "dncnn", "features": 8, "layers": 3}, "steps": 2}
    with pytest.raises(DatasetFileError, match=r"train.h5: '/x/000002' holds NaN or inf"):
        train_unpruned("mri", "du", arch, {"epochs": 1, "batch_size": 2, "lr": 1e-3, "loss": "l1"}, 0, 1, train, val,
                       out, tmp_path / "h.csv", tmp_path / "s.pt")
    assert not out.exists() and not (tmp_path / "s.pt").exists()


def test_two_clean_runs_give_identical_numbers(tiny_run, extended_run):
    """The same config on the same machine, from nothing: the tiny extended study repeats
    the tiny study's SR du at ratio 0.5 (l1, school, scratch) in another folder; the
    same weights and the same quality columns of the summary."""
    import pandas as pd

    for model in ("models/sr/du/unpruned.pt", "pruned/sr/du/l1-r0.5.pt", "finetuned/sr/du/l1-r0.5/school.pt"):
        a = torch.load(tiny_run / "results" / model, weights_only=True)["state_dict"]
        b = torch.load(extended_run / "results" / model, weights_only=True)["state_dict"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), model
    key = ["task", "arch", "split", "criterion", "ratio", "target", "strategy"]
    cols = key + ["psnr", "ssim", "psnr_std", "params", "macs", "n_images"]
    read = lambda path: pd.read_csv(path, keep_default_na=False, na_values=[""])[cols].fillna(  # noqa: E731
        {"criterion": ""}).astype({"target": float})
    again = read(extended_run / "results/tables/summary.csv")
    again = again[(again.split == "test") & again.criterion.isin(["", "l1"]) & (again.target == 0)
                  & ~again.strategy.isin(["distill-iter", "unpruned-long"])]  # the recipe and its control
    first = read(tiny_run / "results/tables/summary.csv").merge(again[key], on=key)
    # classical, prior-off, unpruned, none, school, and scratch (the repeated comparison's there)
    assert len(again) == len(first) == 6
    pd.testing.assert_frame_equal(first.sort_values(key, ignore_index=True), again.sort_values(key, ignore_index=True),
                                  check_exact=True)
