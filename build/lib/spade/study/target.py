"""Prune to a speed target: the smallest channel ratio whose measured latency on this
device reaches a given speedup over the unpruned network.

The search times pruned, not fine-tuned copies side by side with the unpruned network
(:func:`spade.benchmark.time_variants`) on unlabelled measurements, never test ones, since
the ratio it returns is a choice. An equilibrium network's cost depends on its iterations,
which pruning and fine-tuning change; during the search both run the same fixed number of
iterations (the unpruned network's mean on those measurements), so the search measures
what the narrower prior buys per iteration. Both run in the runtime the study deploys and
reports them in (``runtime``): a ratio found fast enough in eager PyTorch may not be in ONNX
Runtime, whose kernels favour other widths.
"""

from __future__ import annotations

import copy
import statistics

import torch
from torch import nn

from spade import benchmark as bench
from spade.deploy import deployed
from spade.prune import PruningError, prune_model
from spade.runtimes import EAGER, check_runtime


def fixed_iterations(model: nn.Module, iterations: int) -> nn.Module:
    """A copy of an equilibrium network that always runs ``iterations`` solver steps."""
    fixed = copy.deepcopy(model)
    fixed.max_iter, fixed.tol = int(iterations), 0.0
    return fixed


def measured_speedup(unpruned: nn.Module, pruned: nn.Module, physics, y: torch.Tensor, warmup: int, repeats: int,
                     device: torch.device) -> float:
    """Median latency of ``unpruned`` over median latency of ``pruned``, timed interleaved
    (each as given: deployed in the runtime the caller times)."""
    times = bench.time_variants({"unpruned": unpruned, "pruned": pruned}, physics, y, warmup, repeats, device)
    return statistics.median(times["unpruned"]) / statistics.median(times["pruned"])


def ratio_for_speedup(model: nn.Module, physics, y: torch.Tensor, target: float, grid: list[float],
                      criterion: str = "l1", seed: int = 0, round_to: int | str | None = None, warmup: int = 2,
                      repeats: int = 7, device: torch.device = torch.device("cpu"), measurements=None,
                      latency=None, runtime: str = EAGER) -> dict:
    """Bisect ``grid`` (ascending ratios) for the smallest ratio whose pruned copy of
    ``model`` is measured at least ``target`` times faster. Speed grows with the ratio up
    to timing noise; every probe is returned, so a reader sees how monotone it was.
    ``reached`` is False when even the largest ratio falls short (``ratio`` is then the
    largest). ``measurements``: for the taylor criterion, ``latency``: for ``round_to="auto"`` (see
    :func:`spade.prune.prune_model`). ``runtime``: what runs both networks while they are timed
    (the deploy runtime; refused, naming its missing packages, where this machine lacks it)."""
    check_runtime(runtime, where="the speed search's runtime")
    if latency is not None and latency.runtime != runtime:
        raise ValueError(f"the speed search times runtime {runtime!r}, but its latency table {latency.path} "
                         f"chose widths in {latency.runtime!r}: remeasure the table in {runtime!r}")
    grid = sorted(float(r) for r in grid)
    if not grid or not 0 < grid[0] <= grid[-1] < 1:
        raise ValueError(f"the ratio grid must hold ratios in (0, 1), got {grid}")
    if target <= 1:
        raise ValueError(f"a speed target must exceed 1, got {target}")
    model = copy.deepcopy(model).eval().to(device)  # the caller's model stays as it was
    y = y.to(device)
    physics = physics.to(device)
    iterations = None
    if hasattr(model, "last_iterations"):
        iterations = max(1, round(bench.iterations(model, physics, y)))
        model = fixed_iterations(model, iterations)
    example = physics.init(y[:1]).cpu()
    base = deployed(model, runtime)  # deployed once: every probe is timed against the same network
    probes: dict[float, float] = {}

    def speed(ratio: float) -> float:
        if ratio not in probes:
            pruned = copy.deepcopy(model).cpu()
            prune_model(pruned, example, ratio, criterion, seed, round_to, measurements, latency)
            probes[ratio] = measured_speedup(base, deployed(pruned.eval().to(device), runtime), physics, y, warmup,
                                             repeats, device)
        return probes[ratio]

    lo, hi = 0, len(grid) - 1
    if speed(grid[hi]) < target:
        found, reached = hi, False
    else:
        found, reached = hi, True
        while lo < hi:  # invariant: grid[hi] reaches the target
            mid = (lo + hi) // 2
            try:
                fast = speed(grid[mid]) >= target
            except PruningError:  # a ratio too small to remove a channel is too slow
                fast = False
            if fast:
                hi = found = mid
            else:
                lo = mid + 1
    return {"target": float(target), "ratio": grid[found], "reached": reached, "speedup": probes[grid[found]],
            "fixed_iterations": iterations, "criterion": criterion, "runtime": runtime,
            "probes": [{"ratio": r, "speedup": s} for r, s in sorted(probes.items())]}
