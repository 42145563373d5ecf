"""A rerun resumes only a state written under exactly the same inputs: a changed split,
operator, network, solver, option or seed starts training over."""

import copy

import pytest
import torch

from spade.study.data import H5Split, read_physics
from spade.models import build_model
from spade.physics import make_physics
from spade.train import fit, make_strategy

from conftest import write_mri_split

OPTS = {"epochs": 2, "batch_size": 4, "lr": 2e-3, "loss": "l1"}
SPEC = {"arch": "deq", "channels": 2, "prior": {"name": "dncnn", "features": 8, "layers": 3},
        "solver": {"memory": 5, "max_iter": 10, "tol": 1e-3}}


def _fit(tmp_path, train, val, spec=SPEC, opts=OPTS, seed=5, physics=None):
    torch.manual_seed(0)
    messages = []
    physics = physics or make_physics(*read_physics(train))
    fit(build_model(spec), make_strategy("supervised", "mri", opts), physics, H5Split(train, True),
        H5Split(val, True), opts, seed, tmp_path / "run.state.pt", tmp_path / "run.csv", log=messages.append)
    return messages


def _changed(kind, tmp_path, files):
    """Keyword arguments of a rerun that changes one thing that decides the result."""
    if kind == "data":  # rebuilt with other content but the same sample count
        write_mri_split(files["train"], 8, seed=42)
        return {}
    if kind == "physics":
        params = read_physics(files["train"])[1]
        params["mask"] = params["mask"].copy()
        params["mask"][:, 1] = 1 - params["mask"][:, 1]
        return {"physics": make_physics("mri", params)}
    if kind == "solver":
        spec = copy.deepcopy(SPEC)
        spec["solver"]["tol"] = 1e-4
        return {"spec": spec}
    if kind == "model":
        spec = copy.deepcopy(SPEC)
        spec["prior"]["features"] = 6
        return {"spec": spec}
    if kind == "options":
        return {"opts": {**OPTS, "lr": 1e-3}}
    if kind == "seed":
        return {"seed": 6}
    raise AssertionError(kind)


def test_same_inputs_resume(mri_files, tmp_path):
    _fit(tmp_path, mri_files["train"], mri_files["val"])
    messages = _fit(tmp_path, mri_files["train"], mri_files["val"])
    assert any("resuming" in m for m in messages)
    assert not any(m.startswith("epoch") for m in messages), "a finished run trains no further epoch"


@pytest.mark.parametrize("kind", ["data", "physics", "solver", "model", "options", "seed"])
def test_changed_input_starts_over(mri_files, tmp_path, kind):
    _fit(tmp_path, mri_files["train"], mri_files["val"])
    changes = _changed(kind, tmp_path, mri_files)
    messages = _fit(tmp_path, mri_files["train"], mri_files["val"], **changes)
    assert not any("resuming" in m for m in messages), kind
    assert any("other settings" in m for m in messages), kind
    assert sum(m.startswith("epoch") for m in messages) == OPTS["epochs"], kind
