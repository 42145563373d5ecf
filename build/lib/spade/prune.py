"""Structured channel pruning of the priors with Torch-Pruning's dependency graph.

Each prior is pruned on its own, one shot. SPADE's recipe: the same channel ratio in every
dependency group, ranked by the group's L1 magnitude averaged over the group. Besides it:
group L2, random and first-order Taylor importance (|weight x gradient| of a label-free
loss, see :func:`taylor_gradients`), each with uniform allocation or, with the suffix
``_global`` (``l1_global``), global allocation: groups ranked against each other under one
overall budget, so ratios differ per group (no group loses more than
:data:`GLOBAL_MAX_RATIO`). The image channels stay: the last convolution is ignored and the
first convolution's input has nothing upstream to prune.
"""

from __future__ import annotations

import copy

import torch
import torch_pruning as tp
from torch import nn

from spade.checkpoint import layer_shapes
from spade.plan import AUTO, CRITERIA, GLOBAL

# under global allocation, the most any one group may lose (it must keep a channel)
GLOBAL_MAX_RATIO = 0.9
# measurements whose consistency loss gives the taylor criterion's gradients (config taylor_images)
DEFAULT_TAYLOR_IMAGES = 8


def parse_criterion(name: str) -> tuple[str, bool]:
    """``(importance, global allocation)`` of a criterion name such as ``l1`` or ``taylor_global``."""
    base, is_global = (name[: -len(GLOBAL)], True) if name.endswith(GLOBAL) else (name, False)
    if base not in CRITERIA:
        raise ValueError(f"unknown criterion {name!r}; expected one of {CRITERIA}, each optionally with {GLOBAL!r}")
    return base, is_global


class PruningError(RuntimeError):
    """Pruning would not change the network, or broke it."""


def importance(criterion: str):
    criterion, _ = parse_criterion(criterion)
    if criterion == "taylor":
        return tp.importance.GroupTaylorImportance(group_reduction="mean")
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


class _Pruner(tp.pruner.BasePruner):
    """Torch-Pruning's pruner (``BasePruner``; ``MetaPruner`` is its deprecated alias) with
    ``round_to`` as :func:`spade.plan.kept_channels` rounds: down to a multiple, never below
    one multiple (Torch-Pruning's own rounding removes a whole group whose share is narrower),
    a group no wider than it untouched. Torch-Pruning has no public hook for the rounding, so
    this overrides its ``_round_to`` (1.5 and 1.6 call it alike; pyproject.toml bounds the
    range, and tests/test_plan.py checks the widths it builds against spade.plan)."""

    def _round_to(self, n_pruned, current_channels, round_to):
        kept = current_channels - n_pruned
        if current_channels <= round_to:
            return 0
        return current_channels - max(round_to, kept - kept % round_to)


def make_pruner(prior: nn.Module, example, ratio: float, criterion: str = "l1",
                round_to: int | None = None, steps: int = 1, forward_fn=None) -> tp.pruner.BasePruner:
    """Torch-Pruning's pruner that removes ``ratio`` of the channels of every prunable group
    of ``prior`` (of the widths it has now) in ``steps`` calls of ``step()``, each to a
    linearly growing share of that ratio; after the last, the widths one call at ``ratio``
    gives (global allocation excepted: its shares follow the weights of each step).
    ``forward_fn(prior, example)``: how to call the prior on ``example`` where it takes more
    than one tensor (Torch-Pruning traces that call)."""
    if not 0 < ratio < 1:
        raise ValueError(f"pruning ratio must lie in (0, 1), got {ratio}")
    _, is_global = parse_criterion(criterion)
    return _Pruner(
        prior,
        example,
        importance=importance(criterion),
        pruning_ratio=ratio,
        iterative_steps=int(steps),
        global_pruning=is_global,
        max_pruning_ratio=GLOBAL_MAX_RATIO if is_global else 1.0,
        ignored_layers=output_convs(prior),
        round_to=round_to,
        forward_fn=forward_fn,
    )


def prune_prior(prior: nn.Module, example, ratio: float, criterion: str = "l1",
                round_to: int | str | None = None, forward_fn=None, latency=None) -> nn.Module:
    """Remove ``ratio`` of the channels of every prunable group of ``prior`` in place.

    ``round_to``: round the channels kept down to a multiple of it (CPU and GPU kernels
    are tuned for such widths), or ``"auto"``: keep, per group, the width that runs fastest
    at or above what the ratio asks for (:mod:`spade.widths`; ``latency``: the
    :class:`spade.widths.LatencyTable` to read, whose ``runtime`` times the candidate widths; by
    default one measured now on the prior's device in eager PyTorch). ``forward_fn``: see :func:`make_pruner`."""
    if parse_criterion(criterion)[0] == "taylor" and not any(p.grad is not None for p in prior.parameters()):
        raise PruningError("the taylor criterion needs gradients on the prior: run taylor_gradients first")
    if round_to == AUTO:
        return prune_prior_auto(prior, example, ratio, criterion, latency, forward_fn)
    pruner = make_pruner(prior, example, ratio, criterion, round_to, forward_fn=forward_fn)
    pruner.step()
    return prior


def prune_prior_auto(prior: nn.Module, example, ratio: float, criterion: str = "l1", latency=None,
                     forward_fn=None) -> list[tuple[int, int, int]]:
    """``round_to="auto"``: Torch-Pruning's dependency groups of ``prior``, each narrowed to
    its fastest width at or above the one ``ratio`` asks for (uniform allocation), the
    channels removed ranked by ``criterion`` as for exact widths. Returns each group's
    ``(current, asked, chosen)`` widths."""
    from spade.deploy import deployed_prior
    from spade.widths import LatencyTable, input_sizes, median_ms, plan_widths

    if not 0 < ratio < 1:
        raise ValueError(f"pruning ratio must lie in (0, 1), got {ratio}")
    if parse_criterion(criterion)[1]:
        raise ValueError(f"auto widths need uniform allocation; criterion {criterion!r} allocates globally")
    if latency is None:
        latency = LatencyTable(device=next(prior.parameters()).device)
    run = lambda module: forward_fn(module, example) if forward_fn else module(example)  # noqa: E731
    sizes = input_sizes(prior, lambda: run(prior))
    graph, groups = _groups(prior, example, forward_fn)

    def time_widths(widths: list[int]) -> float:
        """The latency of a copy of the prior with each group narrowed to ``widths``."""
        trial = copy.deepcopy(prior)
        trial_graph, trial_groups = _groups(trial, example, forward_fn)
        cuts = [(g[0][0].target.module, g[0][0].handler, list(range(w, len(g[0][1]))))
                for g, w in zip(trial_groups, widths) if w < len(g[0][1])]
        for module, handler, idxs in cuts:
            trial_graph.get_pruning_group(module, handler, idxs).prune()
        timed = deployed_prior(trial, latency.runtime)  # the runtime that will run the pruned prior
        return median_ms(lambda: run(timed), latency.device)

    plan = plan_widths(prior, groups, graph, ratio, sizes, latency, time_widths)
    rank = importance(criterion)
    # every group's ranking before any group is pruned, as Torch-Pruning's own pruner does
    removals = []
    for group, (current, _, chosen) in zip(groups, plan):
        if chosen < current:
            scores = rank(group)
            removals.append((group[0][0].target.module, group[0][0].handler,
                             torch.argsort(scores)[: current - chosen].tolist()))
    for module, handler, idxs in removals:
        graph.get_pruning_group(module, handler, idxs).prune()
    return plan


def _groups(prior: nn.Module, example, forward_fn=None) -> tuple:
    """Torch-Pruning's dependency graph of ``prior`` and its prunable groups (every
    convolution but the output one as a root), in a fixed order."""
    graph = tp.DependencyGraph().build_dependency(prior, example_inputs=example, forward_fn=forward_fn)
    groups = graph.get_all_groups(ignored_layers=output_convs(prior), root_module_types=(nn.Conv2d, nn.ConvTranspose2d))
    return graph, list(groups)


def taylor_gradients(model: nn.Module, measurements) -> int:
    """Accumulate on every parameter the gradient of the measurement-consistency loss
    ``||A f(y) - y||^2`` over ``measurements`` (``(y, physics)`` pairs): the data term that
    every strategy can compute, so a Taylor-pruned model stays label-free and serves every
    fine-tuning strategy. Returns the number of measurements used."""
    model.zero_grad(set_to_none=True)
    model.eval()  # the solver as at test time (a DEQ differentiates its last step)
    n = 0
    with torch.enable_grad():
        for y, physics in measurements:
            residual = physics.forward(model(y, physics)) - y
            (residual.pow(2).mean()).backward()
            n += 1
    if not n:
        raise PruningError("the taylor criterion needs at least one measurement")
    return n


class StepwisePruning:
    """Prune every prior of ``model`` to ``ratio`` in ``steps`` steps (call :meth:`step`
    ``steps`` times, fine-tuning in between): iterative pruning, ending at the widths of
    one-shot pruning at ``ratio`` (uniform allocation; global allocation is refused, since
    its widths would follow the weights of each step). ``measurements``: ``(y, physics)``
    pairs for the taylor criterion, whose gradients are taken again before each step."""

    def __init__(self, model: nn.Module, example_image: torch.Tensor, ratio: float, criterion: str = "l1",
                 seed: int = 0, round_to: int | str | None = None, steps: int = 1, measurements=None, latency=None):
        if steps > 1 and parse_criterion(criterion)[1]:
            raise ValueError(f"stepwise pruning needs uniform allocation; criterion {criterion!r} allocates globally")
        if steps > 1 and round_to == AUTO:
            raise ValueError("auto widths are chosen in one step; stepwise pruning takes exact or rounded widths")
        torch.manual_seed(seed)  # only the random criterion draws
        self.model, self.example, self.ratio, self.criterion = model, example_image, ratio, criterion
        self.measurements, self.steps, self.done = measurements, int(steps), 0
        self.channels_before = prior_channels(model)
        self.params_before = sum(p.numel() for p in model.parameters())
        self.before = layer_shapes(model)
        self.round_to, self.latency, self.plans = round_to, latency, []
        self.pruners = [] if round_to == AUTO else [make_pruner(prior, example_image, ratio, criterion, round_to, steps)
                                                    for prior in model.priors()]

    def step(self) -> dict:
        """Prune one step and check the result; returns widths before/after (the unpruned
        network's before) and the fraction of the prior channels removed so far."""
        if self.done >= self.steps:
            raise PruningError(f"all {self.steps} pruning steps are done")
        if parse_criterion(self.criterion)[0] == "taylor":
            taylor_gradients(self.model, self.measurements or [])
        params = sum(p.numel() for p in self.model.parameters())
        if self.round_to == AUTO:
            self.plans = [prune_prior_auto(prior, self.example, self.ratio, self.criterion, self.latency)
                          for prior in self.model.priors()]
        for pruner in self.pruners:
            pruner.step()
        self.done += 1
        self.model.zero_grad(set_to_none=True)
        params_after = sum(p.numel() for p in self.model.parameters())
        # auto widths may keep every channel: on this device no width at or above the ratio's runs
        # faster than the current one, so the fastest network of the ratio is the unpruned one
        # (its rows say so: channel_ratio 0); exact and rounded widths that remove nothing are a fault
        # rounded widths may reach the final ones before the last of several steps (8 channels,
        # round_to 4: step 1 of 2 already keeps 4); the final widths are checked by fit_stepwise
        if params_after >= params and self.round_to != AUTO and not (self.round_to and self.steps > 1):
            raise PruningError(
                f"no channel was removed at ratio {self.ratio} (criterion {self.criterion}, step {self.done} of "
                f"{self.steps}); check for in-place activations or layers too narrow to prune"
            )
        with torch.no_grad():
            for prior in self.model.priors():
                out = prior(self.example)
                if out.shape != self.example.shape:
                    raise PruningError(f"pruned prior maps {tuple(self.example.shape)} to {tuple(out.shape)}")
        # the fraction actually removed: `ratio` is per group and rounded per layer, so narrow
        # layers lose more (or less) than asked
        channel_ratio = 1 - prior_channels(self.model) / self.channels_before
        return {"before": self.before, "after": layer_shapes(self.model), "params_before": self.params_before,
                "params_after": params_after, "channel_ratio": channel_ratio,
                # auto widths: each group's (current, asked, chosen) width, per prior
                "width_plans": self.plans}


def prune_model(model: nn.Module, example_image: torch.Tensor, ratio: float, criterion: str = "l1",
                seed: int = 0, round_to: int | str | None = None, measurements=None, latency=None) -> dict:
    """Prune every prior of ``model`` in one shot and check the result; returns widths
    before/after. ``measurements``: ``(y, physics)`` pairs for the taylor criterion's gradients;
    ``latency``: the latency table of ``round_to="auto"``."""
    return StepwisePruning(model, example_image, ratio, criterion, seed, round_to, 1, measurements, latency).step()


def fit_stepwise(pruning: StepwisePruning, target_shapes, strategy, physics, train_set, val_set, opts: dict,
                 seed: int, state_path, history_path, device, log=print):
    """Iterative pruning with fine-tuning between steps: ``pruning.steps`` times, one
    pruning step then :func:`spade.train.fit` with ``strategy`` (each step resumable on its
    own state file). Refuses a result whose widths differ from ``target_shapes`` (the
    one-shot model's, which stands for it in the timings of fixed-iteration networks).
    Returns ``(model, history)``, each history row with its ``step``."""
    from pathlib import Path

    from spade.train import fit, write_history

    model, history, state_path = pruning.model, [], Path(state_path)
    for step in range(1, pruning.steps + 1):
        info = pruning.step()
        log(f"pruning step {step}/{pruning.steps}: {info['channel_ratio']:.3f} of the prior channels removed")
        model, part = fit(model, strategy, physics, train_set, val_set, opts, seed + step - 1,
                          state_path.with_name(f"{state_path.stem}.step{step}{state_path.suffix}"), history_path,
                          log=log, device=device)
        history += [{**row, "step": step} for row in part]
        model = pruning.model = model.cpu()  # the pruner's example and measurements live on the CPU
    if layer_shapes(model) != target_shapes:
        raise RuntimeError(f"stepwise pruning to {pruning.criterion} {pruning.ratio} ended at other widths than "
                           f"the one-shot model it stands beside")
    write_history(history, history_path)
    return model.to(device), history
