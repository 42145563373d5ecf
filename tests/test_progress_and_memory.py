"""Long phases show they are alive, and splits are read lazily (bounded memory)."""

import re

import h5py
import numpy as np
import pytest
import torch

from spade.study.data import DatasetFileError, H5Split, read_physics
from spade.log import Heartbeat
from spade.models import build_model
from spade.physics import make_physics
from spade.train import fit, make_strategy

from conftest import TINY_SPECS


def test_heartbeat_reports_rate_and_time_left():
    lines, clock = [], iter([0.0, 10.0, 20.0, 30.0, 40.0])
    beat = Heartbeat("training", 4, lines.append, every=15.0)
    beat._clock = lambda: next(clock)
    beat.start = beat.last = beat._clock()
    for _ in range(4):
        beat.step()
    # 2 steps at t=20 (0.1 steps/s), 2 left: about 20 s; nothing at the end or in between
    assert lines == ["training: 2/4 steps (50%), 0.1 steps/s, about 20 s left"]


def test_training_logs_a_heartbeat_with_time_left(mri_files, tmp_path, monkeypatch):
    monkeypatch.setenv("SPADE_HEARTBEAT_SECONDS", "0")
    opts = {"epochs": 2, "batch_size": 2, "lr": 1e-3, "loss": "l1"}
    physics = make_physics(*read_physics(mri_files["train"]))
    lines = []
    fit(build_model(TINY_SPECS["dncnn"]), make_strategy("supervised", "mri", opts), physics,
        H5Split(mri_files["train"], True), H5Split(mri_files["val"], True), opts, 0, tmp_path / "s.pt",
        tmp_path / "h.csv", log=lines.append)
    beats = [line for line in lines if "left" in line]
    assert beats and all(re.search(r"\d+/\d+ steps \(\d+%\), [\d.e+-]+ steps/s, about .+ left", b) for b in beats)


def test_split_is_read_lazily_and_checked_on_read(mri_files, tmp_path):
    data = H5Split(mri_files["train"], True)
    assert not isinstance(data.y, list), "no list of every sample in memory"
    with h5py.File(mri_files["train"]) as f:
        first = sorted(f["y"].keys())[0]
        assert np.array_equal(data.y[0].numpy(), f["y"][first][()])
    assert len(list(data.x)) == len(data) and torch.equal(data[1][1], data.x[1])
    bad = tmp_path / "bad.h5"
    bad.write_bytes(mri_files["train"].read_bytes())
    with h5py.File(bad, "a") as f:
        name = sorted(f["x"].keys())[1]
        f["x"][name][0, 0, 0] = np.inf
    split = H5Split(bad, True)
    with pytest.raises(DatasetFileError, match=f"bad.h5: '/x/{name}' holds NaN or inf"):
        split[1]
