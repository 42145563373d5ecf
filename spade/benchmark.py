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

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        with torch.inference_mode():
            run()
    finally:
        for h in handles:
            h.remove()
    return total


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def cost(model: nn.Module, physics, y: torch.Tensor) -> dict:
    """Parameters and MACs per image of the whole network and of one prior call."""
    y1 = y[:1]
    priors = model.priors()
    x0 = physics.init(y1)
    return {
        "params": count_params(model),
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
                  device: torch.device) -> dict[str, list[float]]:
    """Milliseconds per forward pass of every variant on the batch ``y``, interleaved."""
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
            order = names[r % len(names):] + names[: r % len(names)]  # rotate who goes first
            for name in order:
                samples[name].append(run_timed(lambda: models[name](y, physics)))
    return samples


def summarise(times: list[float]) -> dict:
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"latency_ms": statistics.median(times), "latency_p25_ms": q[0], "latency_p75_ms": q[2],
            "latency_min_ms": min(times), "repeats": len(times)}
