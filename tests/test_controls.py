"""The controls beside every pruning result (prior-off, scratch) and the unlabelled split
that the label-free strategies train on."""

import shutil

import h5py
import pandas as pd
import pytest
import torch

from spade.checkpoint import layer_shapes, load_model
from spade.study.data import DatasetFileError, H5Split, read_physics, write_split
from spade.models import build_model, prior_off
from spade.physics import make_physics
from spade.study.stages import evaluate, finetune, prune, train_scratch, train_unpruned

ARCH = {"prior": {"name": "edsr", "features": 8, "blocks": 1}, "steps": 2, "step_size": 1.0}
OPTS = {"epochs": 1, "batch_size": 4, "lr": 2e-3, "loss": "l1", "selfsup": {"mri": "ei"},
        "ssdu": {"loss_fraction": 0.4, "center_fraction": 0.1}, "ei": {"weight": 1.0, "rotate": True}}


@pytest.fixture
def study(mri_files, tmp_path):
    """A trained and a pruned tiny du, and an unlabelled split without /x."""
    unpruned, pruned = tmp_path / "unpruned.pt", tmp_path / "pruned.pt"
    train_unpruned("mri", "du", ARCH, {**OPTS, "epochs": 2}, 0, 1, mri_files["train"], mri_files["val"], unpruned,
                   tmp_path / "h.csv", tmp_path / "s.pt")
    prune(unpruned, mri_files["train"], 0.5, "l1", 0, pruned)
    source = H5Split(mri_files["test"], True)
    task, params = read_physics(mri_files["test"])
    write_split(tmp_path / "unlabelled.h5", task, "unlabelled", source.y, None, source.names, params, {})
    # the validation split as a label-free strategy sees it: a file with no ground truth
    shutil.copy(mri_files["val"], tmp_path / "val_no_x.h5")
    with h5py.File(tmp_path / "val_no_x.h5", "a") as f:
        del f["x"]
    return {**mri_files, "unpruned": unpruned, "pruned": pruned, "unlabelled": tmp_path / "unlabelled.h5",
            "val_no_x": tmp_path / "val_no_x.h5"}


def test_prior_off_is_the_physics_alone():
    torch.manual_seed(0)
    model = build_model({"arch": "du", "channels": 2, **ARCH})
    for p in model.prior.parameters():
        p.data.normal_(std=0.1)
    physics = make_physics("mri", {"mask": (torch.rand(16, 16) < 0.4).float().numpy()})
    y = physics.forward(torch.rand(1, 2, 16, 16))
    off = prior_off(model)
    x = physics.init(y)
    for gamma in model.step_sizes:  # plain gradient steps on ||Ax - y||^2 with the learnt steps
        x = x - gamma * physics.adjoint(physics.forward(x) - y)
    with torch.no_grad():
        torch.testing.assert_close(off(y, physics), x)
        assert not torch.allclose(model(y, physics), x), "the original keeps its prior"


def test_prior_off_control_is_evaluated_under_its_own_name(study, tmp_path):
    on = evaluate(study["unpruned"], study["test"], tmp_path / "on.csv", tmp_path / "on.npz", 1, 1)
    off = evaluate(study["unpruned"], study["test"], tmp_path / "off.csv", tmp_path / "off.npz", 1, 1, prior_off=True)
    assert set(on.strategy) == {"unpruned"} and set(off.strategy) == {"prior-off"}
    assert (off.arch == "du").all() and (off.split == "train").all()  # the fixture files are named "train"
    assert on.psnr.mean() != pytest.approx(off.psnr.mean())
    with pytest.raises(ValueError, match="unpruned"):
        evaluate(study["pruned"], study["test"], tmp_path / "x.csv", tmp_path / "x.npz", 1, 1, prior_off=True)


def test_scratch_has_the_pruned_widths_and_fresh_weights(study, tmp_path):
    out = tmp_path / "scratch.pt"
    train_scratch(study["pruned"], {**OPTS, "epochs": 2}, 0, 1, study["train"], study["val"], out,
                  tmp_path / "scratch.csv", tmp_path / "scratch.state.pt")
    scratch, payload = load_model(out)
    pruned, _ = load_model(study["pruned"])
    assert layer_shapes(scratch) == layer_shapes(pruned)
    assert payload["meta"]["identity"] == {"task": "mri", "arch": "du", "criterion": "l1", "ratio": 0.5,
                                           "strategy": "scratch", "target": 0.0}
    head = "prior.head.weight"
    assert not torch.allclose(scratch.state_dict()[head], pruned.state_dict()[head]), "not the pruned weights"
    assert len(pd.read_csv(tmp_path / "scratch.csv")) == 2


@pytest.mark.parametrize("strategy", ["school", "selfsup"])
def test_label_free_strategies_train_on_a_split_without_ground_truth(study, tmp_path, strategy):
    with h5py.File(study["unlabelled"]) as f:
        assert "x" not in f
    out = tmp_path / f"{strategy}.pt"
    finetune(strategy, study["pruned"], study["unpruned"], study["unlabelled"], study["val_no_x"], OPTS, 0, 1, out,
             tmp_path / f"{strategy}.csv", tmp_path / f"{strategy}.state.pt")
    _, payload = load_model(out)
    assert payload["meta"]["identity"]["strategy"] == strategy
    assert payload["meta"]["trained_on"] == str(study["unlabelled"])


def test_supervised_cannot_train_on_the_unlabelled_split(study, tmp_path):
    with pytest.raises(DatasetFileError, match="unlabelled.h5.*measurement-only"):
        finetune("supervised", study["pruned"], None, study["unlabelled"], study["val"], OPTS, 0, 1,
                 tmp_path / "s.pt", tmp_path / "s.csv", tmp_path / "s.state.pt")
