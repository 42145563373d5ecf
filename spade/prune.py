"""Structured channel pruning of the priors with Torch-Pruning's dependency graph.

Each prior is pruned on its own, one shot, with the same channel ratio in every
dependency group, ranked by the group's L1 magnitude averaged over the group (SPADE's
criterion). The image channels stay: the last convolution is ignored and the first
convolution's input has nothing upstream to prune.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from spade.checkpoint import layer_shapes

CRITERIA = ("l1", "l2", "random")


class PruningError(RuntimeError):
    """Pruning would not change the network, or broke it."""


def importance(criterion: str):
    if criterion == "l1":
        return tp.importance.GroupMagnitudeImportance(p=1, group_reduction="mean")
    if criterion == "l2":
        return tp.importance.GroupMagnitudeImportance(p=2, group_reduction="mean")
    if criterion == "random":
        return tp.importance.RandomImportance()
    raise ValueError(f"unknown criterion {criterion!r}; expected one of {CRITERIA}")


def output_convs(prior: nn.Module) -> list[nn.Module]:
    """Convolutions that write image channels: the last one in module order."""
    convs = [m for m in prior.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    return convs[-1:]


def prior_channels(model: nn.Module) -> int:
    """Channels the pruning can remove: every convolution output of every prior, except
    the output convolutions that write image channels."""
    total = 0
    for prior in model.priors():
        fixed = {id(m) for m in output_convs(prior)}
        total += sum(m.out_channels for m in prior.modules()
                     if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and id(m) not in fixed)
    return total


def prune_prior(prior: nn.Module, example: torch.Tensor, ratio: float, criterion: str = "l1",
                round_to: int | None = None) -> nn.Module:
    """Remove ``ratio`` of the channels of every prunable group of ``prior`` in place.

    ``round_to``: round the channels kept down to a multiple of it (CPU and GPU kernels
    are tuned for such widths; config/config.yaml quotes the measurement)."""
    if not 0 < ratio < 1:
        raise ValueError(f"pruning ratio must lie in (0, 1), got {ratio}")
    pruner = tp.pruner.MetaPruner(
        prior,
        example,
        importance=importance(criterion),
        pruning_ratio=ratio,
        global_pruning=False,
        ignored_layers=output_convs(prior),
        round_to=round_to,
    )
    pruner.step()
    return prior


def prune_model(model: nn.Module, example_image: torch.Tensor, ratio: float, criterion: str = "l1",
                seed: int = 0, round_to: int | None = None) -> dict:
    """Prune every prior of ``model`` and check the result; returns widths before/after."""
    torch.manual_seed(seed)  # only the random criterion draws
    before = layer_shapes(model)
    params_before = sum(p.numel() for p in model.parameters())
    channels_before = prior_channels(model)
    for prior in model.priors():
        prune_prior(prior, example_image, ratio, criterion, round_to)
    after = layer_shapes(model)
    params_after = sum(p.numel() for p in model.parameters())
    if params_after >= params_before:
        raise PruningError(
            f"no channel was removed at ratio {ratio} (criterion {criterion}); "
            "check for in-place activations or layers too narrow to prune"
        )
    with torch.no_grad():
        for prior in model.priors():
            out = prior(example_image)
            if out.shape != example_image.shape:
                raise PruningError(f"pruned prior maps {tuple(example_image.shape)} to {tuple(out.shape)}")
    # the fraction actually removed: `ratio` is per group and rounded per layer, so narrow
    # layers lose more (or less) than asked
    channel_ratio = 1 - prior_channels(model) / channels_before
    return {"before": before, "after": after, "params_before": params_before, "params_after": params_after,
            "channel_ratio": channel_ratio}
