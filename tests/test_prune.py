import copy

import pytest
import torch
from torch import nn

from spade.checkpoint import layer_shapes
from spade.models import build_model
from spade.prune import PruningError, prune_model

from conftest import TINY_SPECS


@pytest.mark.parametrize("prior", sorted(TINY_SPECS))
@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_pruning_removes_channels_and_keeps_shapes(prior, ratio):
    torch.manual_seed(0)
    model = build_model(TINY_SPECS[prior])
    example = torch.randn(1, 2, 16, 16)
    info = prune_model(model, example, ratio)
    kept = round(16 * (1 - ratio))
    shapes = layer_shapes(model)
    first, *_, last = shapes.values()
    assert first == [2, kept], "image channels in, pruned width out"
    assert last == [kept, 2], "image channels out"
    assert all(cout in (kept, 2) and cin in (kept, 2) for cin, cout in shapes.values())
    assert info["params_after"] < info["params_before"]
    # A whole-network forward and backward pass still works at another image size.
    from spade.physics import SingleCoilMRI, cartesian_mask

    physics = SingleCoilMRI(cartesian_mask((20, 24), 3, 0.1))
    y = physics.forward(torch.randn(2, 2, 20, 24))
    out = model(y, physics)
    assert out.shape == (2, 2, 20, 24)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_l1_criterion_keeps_the_largest_channels():
    torch.manual_seed(0)
    model = build_model(TINY_SPECS["dncnn"])
    first = model.prior.net[0]
    with torch.no_grad():
        first.weight.mul_(0.01)
        strong = [1, 5, 9, 14]
        first.weight[strong] *= 1000  # these channels dominate their group's L1 norm
        first.bias.zero_()
    reference = first.weight[strong].clone()
    prune_model(model, torch.randn(1, 2, 8, 8), 0.75)
    assert torch.allclose(model.prior.net[0].weight, reference)


def test_pruning_ratio_is_the_same_in_every_group():
    torch.manual_seed(0)
    spec = copy.deepcopy(TINY_SPECS["edsr"])
    model = build_model(spec)
    prune_model(model, torch.randn(1, 2, 8, 8), 0.5)
    widths = {cout for name, (cin, cout) in layer_shapes(model).items() if name != "prior.tail"}
    assert widths == {8}


class _InPlacePrior(nn.Module):
    """An in-place ReLU hides the graph from Torch-Pruning, which then removes nothing."""

    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(2, 16, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.tail = nn.Conv2d(16, 2, 3, padding=1)

    def forward(self, x):
        return self.tail(self.act(self.head(x)))


class _Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.prior = _InPlacePrior()

    def priors(self):
        return [self.prior]


def test_pruning_that_removes_nothing_fails_loudly():
    with pytest.raises(PruningError, match="no channel was removed"):
        prune_model(_Wrapper(), torch.randn(1, 2, 8, 8), 0.5)


def test_round_to_keeps_widths_on_a_multiple():
    torch.manual_seed(0)
    model = build_model(TINY_SPECS["edsr"])  # 16 features
    prune_model(model, torch.randn(1, 2, 8, 8), 0.2, round_to=4)  # 16 - 3 = 13 kept -> 12
    widths = {cout for name, (cin, cout) in layer_shapes(model).items() if name != "prior.tail"}
    assert widths == {12}


def _mri_measurements(n=3, shape=(16, 16)):
    from spade.physics import SingleCoilMRI, cartesian_mask

    physics = SingleCoilMRI(cartesian_mask(shape, 3, 0.1))
    return [(physics.forward(torch.randn(1, 2, *shape)), physics) for _ in range(n)]


def test_taylor_criterion_uses_a_label_free_gradient_and_keeps_the_salient_channels():
    """Taylor importance is |w x dL/dw| of the measurement-consistency loss (no target
    anywhere): the same widths as l1, other channels kept, no gradient left behind."""
    torch.manual_seed(0)
    model = build_model(TINY_SPECS["edsr"])
    measurements = _mri_measurements()
    from spade.prune import taylor_gradients

    assert taylor_gradients(model, measurements) == 3
    assert all(p.grad is not None for p in model.priors()[0].parameters())
    example = torch.randn(1, 2, 16, 16)
    taylor = copy.deepcopy(model)
    info = prune_model(taylor, example, 0.5, "taylor", measurements=measurements)
    assert info["params_after"] < info["params_before"]
    assert all(p.grad is None for p in taylor.parameters()), "no gradient is left on the saved model"
    l1 = copy.deepcopy(model)
    prune_model(l1, example, 0.5, "l1")
    assert layer_shapes(l1) == layer_shapes(taylor)  # same widths, other channels
    kept = [m.weight for m in taylor.modules() if isinstance(m, nn.Conv2d)][0]
    kept_l1 = [m.weight for m in l1.modules() if isinstance(m, nn.Conv2d)][0]
    assert not torch.equal(kept, kept_l1)
    with pytest.raises(PruningError, match="at least one measurement"):
        prune_model(copy.deepcopy(model), example, 0.5, "taylor", measurements=[])


def test_global_allocation_prunes_groups_unevenly_under_one_budget():
    torch.manual_seed(0)
    model = build_model({**TINY_SPECS["dncnn"]})
    with torch.no_grad():  # make one layer's channels far more important than the rest
        convs = [m for m in model.priors()[0].modules() if isinstance(m, nn.Conv2d)]
        convs[1].weight.mul_(100)
    uniform, global_ = copy.deepcopy(model), copy.deepcopy(model)
    a = prune_model(uniform, torch.randn(1, 2, 16, 16), 0.5, "l1")
    b = prune_model(global_, torch.randn(1, 2, 16, 16), 0.5, "l1_global")
    widths_u = {cout for cin, cout in layer_shapes(uniform).values()} - {2}
    widths_g = [cout for cin, cout in layer_shapes(global_).values()][:-1]
    assert len(widths_u) == 1 and len(set(widths_g)) > 1, (widths_u, widths_g)
    assert abs(a["channel_ratio"] - b["channel_ratio"]) < 0.15  # one overall budget
    assert min(widths_g) >= 1


def test_unknown_criterion_is_named():
    from spade.prune import parse_criterion

    assert parse_criterion("taylor_global") == ("taylor", True) and parse_criterion("l2") == ("l2", False)
    with pytest.raises(ValueError, match="'fisher'"):
        parse_criterion("fisher")
