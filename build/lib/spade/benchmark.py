"""Inference cost: latency, parameters and MACs, all variants timed in one process.

Timing follows the usual rules: fixed thread count, ``torch.inference_mode``, warm-up
runs, then repeats interleaved across variants (so drift of the machine hits every
variant alike), reported as the median with quartiles. On CUDA each run is timed
with CUDA events after a synchronisation.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from spade.hooks import forward_hooks


def count_macs(module: nn.Module, run) -> int:
    """Multiply-accumulates of every convolution and linear layer during ``run()``,
    counting a layer once per call (the unrolled prior is counted at each step).
    FFTs and elementwise work are not counted."""
    total = 0

    def hook(mod, inputs, output):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            total += output.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, nn.ConvTranspose2d):
            total += inputs[0].numel() * (mod.out_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, nn.Linear):
            total += output.numel() * mod.in_features

    layers = [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    with forward_hooks(layers, after=hook), torch.inference_mode():
        run()
    return total


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def cost(model: nn.Module, physics, y: torch.Tensor) -> dict:
    """Parameters and MACs per image of the whole network and of one prior call."""
    from spade.prune import prior_channels

    y1 = y[:1]
    priors = model.priors()
    x0 = physics.init(y1)
    return {
        "params": count_params(model),
        "prior_channels": prior_channels(model),
        "prior_params": sum(count_params(p) for p in priors),
        "macs": count_macs(model, lambda: model(y1, physics)),
        "prior_macs": sum(count_macs(p, lambda p=p: p(x0)) for p in priors),
    }


def iterations(model: nn.Module, physics, y: torch.Tensor) -> float:
    """Mean fixed-point iterations per image of an equilibrium network (NaN otherwise)."""
    if not hasattr(model, "last_iterations"):
        return float("nan")
    with torch.inference_mode():
        model(y, physics)
    return float(model.last_iterations.float().mean())


def _timer(device: torch.device):
    if device.type == "cuda":
        def run_timed(fn) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(device)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            return start.elapsed_time(end)
    else:
        def run_timed(fn) -> float:
            tic = time.perf_counter()
            fn()
            return (time.perf_counter() - tic) * 1e3
    return run_timed


def time_variants(models: dict[str, nn.Module], physics, y: torch.Tensor, warmup: int, repeats: int,
                  device: torch.device, first: int = 0) -> dict[str, list[float]]:
    """Milliseconds per forward pass of every variant on the batch ``y``, interleaved: each
    repeat rotates which variant goes first (``first``: the rotation of repeat 0)."""
    run_timed = _timer(device)
    y = y.to(device)
    physics = physics.to(device)
    samples: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for model in models.values():
            for _ in range(warmup):
                model(y, physics)
        names = list(models)
        for r in range(repeats):
            shift = (r + first) % len(names)
            order = names[shift:] + names[:shift]  # rotate who goes first
            for name in order:
                samples[name].append(run_timed(lambda: models[name](y, physics)))
    return samples


class TimedPhysics:
    """An operator whose ``forward``, ``adjoint`` and ``init`` add their milliseconds to
    ``clock["physics"]``; operators it derives (``with_maps``) are timed too."""

    TIMED = ("forward", "adjoint", "init")

    def __init__(self, physics, clock: dict, sync):
        self._physics, self._clock, self._sync = physics, clock, sync

    def __getattr__(self, name):
        attr = getattr(self._physics, name)
        if name == "with_maps":
            return lambda *a, **k: TimedPhysics(attr(*a, **k), self._clock, self._sync)
        if name not in self.TIMED:
            return attr

        def timed(*args, **kwargs):
            self._sync()
            tic = time.perf_counter()
            out = attr(*args, **kwargs)
            self._sync()
            self._clock["physics"] += (time.perf_counter() - tic) * 1e3
            return out

        return timed


def prior_work(priors: list[nn.Module], run) -> dict:
    """``prior_calls`` (prior evaluations) and ``prior_macs`` (MACs of one call, their mean)
    of the priors during ``run()``: how often the prunable part runs and what each run costs."""
    calls = 0

    def hook(module, inputs, output):
        nonlocal calls
        calls += 1

    with forward_hooks(priors, after=hook):
        macs = count_macs(nn.ModuleList(priors), run)
    return {"prior_calls": calls, "prior_macs": macs / calls if calls else float("nan")}


def time_breakdown(model: nn.Module, physics, y: torch.Tensor, repeats: int, device: torch.device,
                   priors: list[nn.Module] | None = None) -> dict:
    """Where one forward pass spends its time: milliseconds in the prior CNNs (every call of
    every prunable prior), in the physics (``forward``, ``adjoint``, ``init``) and in the
    rest (the solver's own work: step updates, Anderson mixing, the unpruned sensitivity
    network), medians over ``repeats`` instrumented runs. Measured apart from the latency
    (the hooks synchronise and add overhead), so only the shares are compared with it.
    ``priors``: the prior modules (default ``model.priors()``)."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    clock = {"prior": 0.0, "physics": 0.0}
    started: list[float] = []

    def enter(module, inputs):
        sync()
        started.append(time.perf_counter())

    def leave(module, inputs, output):
        sync()
        clock["prior"] += (time.perf_counter() - started.pop()) * 1e3

    timed_physics = TimedPhysics(physics.to(device), clock, sync)
    y = y.to(device)
    runs = []
    with forward_hooks(model.priors() if priors is None else priors, before=enter, after=leave), \
            torch.inference_mode():
        model(y, timed_physics)  # warm-up
        for _ in range(max(1, repeats)):
            clock.update(prior=0.0, physics=0.0)
            sync()
            tic = time.perf_counter()
            model(y, timed_physics)
            sync()
            total = (time.perf_counter() - tic) * 1e3
            runs.append((total, clock["prior"], clock["physics"]))
    total, prior, phys = (statistics.median(r[i] for r in runs) for i in range(3))
    # the parts run inside the total, but separate medians of noisy runs can sum above it: the
    # total is then their sum, so that the three shares always add up to one
    total = max(total, prior + phys)
    return {"breakdown_total_ms": total, "prior_ms": prior, "physics_ms": phys,
            "other_ms": max(total - prior - phys, 0.0), "prior_share": prior / total if total else float("nan")}


def amdahl_speedup(prior_share: float, prior_macs_ratio: float, iteration_ratio: float = 1.0) -> float:
    """The speedup that shrinking only the prior allows: ``prior_share`` of the unpruned
    network's time divided by its MAC reduction ``prior_macs_ratio``, the rest unchanged
    (Amdahl's law), times the change in prior calls ``iteration_ratio`` (a DEQ's
    iterations unpruned / pruned; 1 for a fixed number of steps)."""
    return iteration_ratio / ((1 - prior_share) + prior_share / prior_macs_ratio)


def latency_summary(times: list[float]) -> dict:
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"latency_ms": statistics.median(times), "latency_p25_ms": q[0], "latency_p75_ms": q[2],
            "latency_min_ms": min(times), "repeats": len(times)}


