import inspect

import pytest
import torch

from spade import losses
from spade.study.data import H5Split, read_physics
from spade.models import build_model
from spade.physics import make_physics
from spade.train import make_strategy

from conftest import ALL_SPECS, TINY_SPECS

FT = {"loss": "l1", "selfsup": {"mri": "ssdu", "sr": "ei"}, "ssdu": {"loss_fraction": 0.4, "center_fraction": 0.1},
      "ei": {"weight": 1.0, "rotate": True}}


def _setup(files, task, strategy, method=None, spec=None):
    torch.manual_seed(0)
    spec = dict(spec or TINY_SPECS["edsr"], channels=2 if task == "mri" else 1)
    model = build_model(spec)
    with torch.no_grad():  # start away from the identity prior, so every loss has work to do
        for prior in model.priors():
            torch.nn.init.normal_(list(prior.parameters())[-2], std=0.05)
    teacher = build_model(spec)
    with torch.no_grad():  # a non-trivial teacher: its output differs from the student's
        for p in teacher.parameters():
            p.add_(0.05 * torch.randn_like(p))
    opts = dict(FT, selfsup={task: method or FT["selfsup"][task]})
    strat = make_strategy(strategy, task, opts, teacher)
    data = H5Split(files["train"], strat.needs_target)
    physics = make_physics(*read_physics(files["train"]))
    return model, strat, data, physics


CASES = [("mc", "supervised", None), ("mc", "selfsup", "ssdu"), ("mc", "school", None), ("mri", "supervised", None), ("mri", "school", None), ("mri", "selfsup", "ssdu"), ("mri", "selfsup", "ei"),
         ("sr", "supervised", None), ("sr", "school", None), ("sr", "selfsup", "ei")]


@pytest.mark.parametrize("task,strategy,method", CASES)
def test_every_loss_is_finite_and_falls(request, task, strategy, method):
    files = request.getfixturevalue(f"{task}_files")
    spec = ALL_SPECS["varnet-unet"] if task == "mc" else None  # multi-coil with the E2E-VarNet-style arch
    model, strat, data, physics = _setup(files, "mri" if task == "mc" else task, strategy, method, spec)
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=4)))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def value(seed):
        return strat.loss(model, physics, batch, torch.Generator().manual_seed(seed))

    with torch.no_grad():
        start = value(123).item()
    for step in range(25):
        loss = value(step)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        end = value(123).item()
    assert end < 0.9 * start, f"{strategy}/{method}: {start:.4g} -> {end:.4g}"


def test_label_free_losses_take_no_ground_truth():
    for fn in (losses.school_loss, losses.ssdu_loss, losses.ei_loss):
        params = set(inspect.signature(fn).parameters)
        assert not params & {"x", "target", "gt", "ground_truth"}, fn.__name__
    assert "x" in inspect.signature(losses.supervised_loss).parameters


@pytest.mark.parametrize("strategy", ["school", "selfsup"])
def test_label_free_strategies_never_read_ground_truth(mri_files, strategy):
    """Their batches are measurements only: the strategy declares no target and the
    split is opened without /x, so ground truth is never even loaded."""
    _, strat, data, _ = _setup(mri_files, "mri", strategy)
    assert not strat.needs_target
    assert data.x is None
    assert all(isinstance(item, torch.Tensor) for item in data)


def test_unknown_strategy_and_missing_teacher():
    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy("magic", "mri", FT)
    with pytest.raises(ValueError, match="teacher"):
        make_strategy("school", "mri", FT, None)


def test_ei_says_when_rotations_are_impossible():
    """Non-square images cannot be rotated by 90 degrees: EI falls back to shifts, loudly."""
    from spade.losses import random_transform

    x = torch.arange(24.0).reshape(1, 1, 4, 6)
    with pytest.warns(RuntimeWarning, match="not square"):
        out = random_transform(x, torch.Generator().manual_seed(0), rotate=True)
    assert out.shape == x.shape and sorted(out.flatten().tolist()) == sorted(x.flatten().tolist())
