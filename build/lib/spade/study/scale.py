"""Speed at a given network and image scale, without data: what pruning buys at the paper's
size (DEQ with an EDSR 13 x 64 prior, E2E-VarNet 8 cascades of 18-channel 4-pool U-Nets, at
320 x 320 with 8 coils) next to the study's small networks, on this machine.

Timing needs no trained weights: every network gets seeded random weights, and a DEQ runs
a fixed number of solver iterations (:func:`spade.study.target.fixed_iterations`), so latency
depends only on widths and shapes. Each scale is pruned (group L1) at every ratio, with
exact widths and with widths rounded to ``round_to`` (a rounding that keeps every channel
is left out), and every variant is timed side by
side with its unpruned network (:func:`spade.benchmark.time_variants`); the table puts the
measured speedup beside the MAC bound and the Amdahl bound of the unpruned network's prior
share (:func:`spade.benchmark.time_breakdown`).
"""

from __future__ import annotations

import copy
import statistics

import numpy as np
import pandas as pd
import torch

from spade import benchmark as bench
from spade.models import build_model
from spade.physics import SingleCoilMRI
from spade.physics.masks import make_mask
from spade.physics.mri import MultiCoilMRI, simulate_coil_maps
from spade.prune import AUTO, PruningError, prune_model
from spade.runtimes import EAGER
from spade.study.target import fixed_iterations
from spade.widths import LatencyTable


def scale_physics(size: int, coils: int, acceleration: int, center_fraction: float, seed: int = 0):
    """The MRI operator of one scale: a fixed Cartesian mask and, for ``coils`` > 1,
    simulated smooth coil maps."""
    mask = make_mask("fixed", (size, size), acceleration, center_fraction)
    if coils > 1:
        return MultiCoilMRI(mask, simulate_coil_maps(coils, (size, size), seed))
    return SingleCoilMRI(mask)


def scale_network(spec: dict, seed: int, iterations: int | None) -> torch.nn.Module:
    """A network of ``spec`` (:func:`spade.models.build_model`) with seeded random weights; a
    DEQ at ``iterations`` fixed solver iterations."""
    torch.manual_seed(seed)
    model = build_model({"channels": 2, **spec}).eval()
    if hasattr(model, "last_iterations"):
        model = fixed_iterations(model, int(iterations or 1))
    return model


def time_scale(name: str, spec: dict, physics, ratios: list[float], round_tos: list[int | str | None], seed: int,
               iterations: int | None, warmup: int, repeats: int, breakdown_repeats: int,
               device: torch.device = torch.device("cpu"), batch_sizes: tuple[int, ...] = (1,),
               runtimes: tuple[str, ...] = (EAGER,), width_runtime: str = EAGER) -> pd.DataFrame:
    """One row per variant of one scale, batch size and runtime: the unpruned network and each
    ratio x rounding, every one in every runtime (:mod:`spade.deploy`), all timed side by side;
    latency (median, per batch), measured speedup against the unpruned network in the same
    runtime and against the eager unpruned one, MAC speedup of the whole network, and the
    Amdahl bound of the unpruned prior share (in that runtime, at that batch) and the prior's
    MAC cut. ``round_to`` ``"auto"``: widths from a latency table measured here in
    ``width_runtime`` (the study's deploy runtime), on ``device``, at batch 1 (the study's
    rule), so a larger batch shows how they carry over."""
    from spade import deploy

    torch.manual_seed(seed)
    size = physics.mask.shape[-1]
    images = torch.rand(max(batch_sizes), 2, size, size)
    y = physics.forward(images[:1])
    base = scale_network(spec, seed, iterations)
    example = physics.init(y)
    variants, labels = {"unpruned": base}, {"unpruned": (0.0, None)}
    latency = LatencyTable(device=device, runtime=width_runtime) if AUTO in round_tos else None
    for ratio in ratios:
        for round_to in round_tos:
            pruned = copy.deepcopy(base)
            try:
                prune_model(pruned, example, float(ratio), "l1", seed, round_to, latency=latency)
            except PruningError:  # rounding kept every channel: nothing to time (auto keeps them, timed)
                continue
            label = f"r{ratio}" + ("/auto" if round_to == AUTO else f"/round{round_to}" if round_to else "/exact")
            variants[label], labels[label] = pruned, (float(ratio), round_to)
    costs = {k: bench.cost(m, physics, y) for k, m in variants.items()}  # per image
    variants = {k: m.to(device) for k, m in variants.items()}
    physics = physics.to(device)
    ref = costs["unpruned"]
    timed = {(label, runtime): deploy.deployed(m, runtime) for runtime in runtimes for label, m in variants.items()}
    names = {key: f"{key[0]}@{key[1]}" for key in timed}
    rows = []
    for batch in batch_sizes:
        y = physics.forward(images[:batch].to(device))
        times = bench.time_variants({names[k]: m for k, m in timed.items()}, physics, y, warmup, repeats, device)
        eager_ms = statistics.median(times[names[("unpruned", runtimes[0])]])
        for (label, runtime), model in timed.items():
            if label == "unpruned":
                share = bench.time_breakdown(model, physics, y, breakdown_repeats, device)["prior_share"]
            ratio, round_to = labels[label]
            c = costs[label]
            latency = statistics.median(times[names[(label, runtime)]])
            ref_ms = statistics.median(times[names[("unpruned", runtime)]])
            rows.append({
                "scale": name, "arch": spec["arch"], "runtime": runtime, "batch": batch, "ratio": ratio,
                "widths": "" if label == "unpruned" else ("auto" if round_to == AUTO else
                                                          f"round_to {round_to}" if round_to else "exact"),
                "params": c["params"], "macs": c["macs"], "prior_macs": c["prior_macs"], "latency_ms": latency,
                "speedup": ref_ms / latency, "speedup_vs_first_runtime": eager_ms / latency,
                "macs_speedup": ref["macs"] / c["macs"],
                "amdahl_speedup": bench.amdahl_speedup(share, ref["prior_macs"] / c["prior_macs"]),
                "prior_share": share, "iterations": iterations if hasattr(model, "max_iter") else None,
                "input": "x".join(map(str, y.shape[1:])), "repeats": repeats,
            })
    return with_exact_at_equal_macs(pd.DataFrame(rows))


def with_exact_at_equal_macs(rows: pd.DataFrame) -> pd.DataFrame:
    """Add ``exact_speedup_at_macs``: the speedup exact widths reach at each variant's MACs,
    interpolated linearly in MACs between the exact rows of its scale, arch and batch (the unpruned
    network at full MACs among them; empty outside their range). Rounded and auto widths keep
    other channel counts than exact ones at the same ratio, so this compares the width rules at
    equal MACs rather than at equal ratio."""
    out = []
    for _, group in rows.groupby([c for c in ("scale", "arch", "runtime", "batch") if c in rows], sort=False):
        exact = group[group.widths.isin(["", "exact"])].sort_values("macs")
        low, high = exact.macs.min(), exact.macs.max()
        group = group.assign(exact_speedup_at_macs=[
            float(np.interp(m, exact.macs, exact.speedup)) if low <= m <= high else float("nan")
            for m in group.macs])
        out.append(group)
    return pd.concat(out, ignore_index=True)
