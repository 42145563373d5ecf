"""The width plan: known from the config alone, equal to what pruning builds, the same
whatever the device times; ratios that prune nothing or repeat widths are dropped."""

import pytest
import torch
from torch import nn

from spade import plan
from spade.models import build_prior
from spade.prune import output_convs, prune_prior

PRIORS = [{"name": "edsr", "features": 64, "blocks": 2}, {"name": "edsr", "features": 32, "blocks": 1},
          {"name": "dncnn", "features": 48, "layers": 4}, {"name": "unet", "features": 16, "pools": 2},
          {"name": "unet", "features": 8, "pools": 2}]


def _group_widths(prior: nn.Module) -> set[int]:
    """The output widths of every convolution but the last (the image channels stay)."""
    last = output_convs(prior)
    return {m.out_channels for m in prior.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m not in last}


@pytest.mark.parametrize("spec", PRIORS, ids=lambda s: f"{s['name']}{s['features']}")
@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75, 0.3])
@pytest.mark.parametrize("round_to", [None, 8, 16])
def test_planned_widths_are_the_pruned_ones(spec, ratio, round_to):
    torch.manual_seed(0)
    prior = build_prior(spec, 2)
    before = _group_widths(prior)
    assert before == set(plan.group_widths(spec))
    prune_prior(prior, torch.randn(1, 2, 16, 16), ratio, round_to=round_to)
    planned = plan.planned_widths(spec, ratio, round_to)
    assert _group_widths(prior) == set(planned)
    if round_to:
        assert all(w % round_to == 0 or w <= round_to for w in planned)


def test_rounding_never_empties_a_group():
    assert plan.kept_channels(64, 0.9, 16) == 16  # Torch-Pruning's own rounding would keep 0
    assert plan.kept_channels(16, 0.5, 16) == 16  # no narrower multiple: untouched
    assert plan.kept_channels(8, 0.5, 16) == 8
    assert plan.kept_channels(64, 0.3, 16) == 32  # 44 kept, rounded down
    assert plan.kept_channels(64, 0.3, None) == 44


def test_grid_drops_repeats_and_ratios_that_prune_nothing():
    unet8 = {"name": "unet", "features": 8, "pools": 2}
    assert plan.distinct_ratios(unet8, [0.25, 0.5, 0.75], 16) == [0.25]
    assert plan.dropped_ratios(unet8, [0.25, 0.5, 0.75], 16) == {
        0.5: "gives the widths of ratio 0.25 (8, 16, 16)", 0.75: "gives the widths of ratio 0.25 (8, 16, 16)"}
    edsr = {"name": "edsr", "features": 32, "blocks": 1}
    assert plan.dropped_ratios(edsr, [0.1, 0.5], 16) == {0.5: "gives the widths of ratio 0.1 (16,)"}
    assert plan.dropped_ratios({**edsr, "features": 16}, [0.5], 16) == {0.5: "keeps every channel"}
    # auto widths and global allocation are known only when they run: nothing is dropped
    assert plan.distinct_ratios(edsr, [0.1, 0.5], "auto") == [0.1, 0.5]
    assert plan.distinct_ratios(edsr, [0.1, 0.5], 16, ["l1_global"]) == [0.1, 0.5]
