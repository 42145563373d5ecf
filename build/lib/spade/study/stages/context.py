"""What every stage starts from: the job's seed, threads and device, the physics and
splits of its data files, and what a fit cost."""

from __future__ import annotations

import logging

import torch

from spade.study.data import H5Split, read_physics
from spade.physics import batch_physics, make_physics
from spade.train import set_reproducible

log = logging.getLogger("spade")


def resolve_device(setting: str = "auto") -> torch.device:
    """``auto`` picks the first GPU when there is one, else the CPU."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {setting!r} requested but CUDA is not available")
    return device


def start_job(seed: int, threads: int, device_setting: str = "cpu", timed: bool = False) -> torch.device:
    """Seed every generator, fix the thread count and resolve the device. A ``timed`` job
    (benchmark, speed search, scale timing) runs the fast kernels users run, not the
    deterministic ones training's reproducibility needs."""
    set_reproducible(seed, threads)
    if timed:
        torch.use_deterministic_algorithms(False)
    return resolve_device(device_setting)


def load_physics(path):
    """``(task, operator)`` recorded in a split file."""
    task, params = read_physics(path)
    return task, make_physics(task, params)


def open_split(path, with_target: bool = True):
    """``(task, operator, split)`` of a split file."""
    task, physics = load_physics(path)
    return task, physics, H5Split(path, with_target)


def sample_operator(physics, data: H5Split, i: int):
    """The operator of sample ``i`` of ``data`` (its own mask, sensitivities or kernel where
    the file holds per-sample physics), for a batch of one."""
    return batch_physics(physics, {k: v[None] for k, v in data.sample_physics(i).items()})


def first_measurements(data: H5Split, physics, n: int) -> list[tuple]:
    """``(y, operator)`` of the first ``n`` samples of a split, each with its own operator."""
    return [(data.y[i][None], sample_operator(physics, data, i)) for i in range(min(int(n), len(data)))]


def pruning_data(data_path, n: int) -> tuple[str, torch.Tensor, list[tuple]]:
    """What pruning reads from a measurement-only split: its task, an example input of the
    priors (sample 0's ``A^H y`` under the file's operator) and the first ``n`` measurements
    with their own operators (the taylor criterion's gradients, the speed search's input)."""
    task, physics, data = open_split(data_path, False)
    return task, physics.init(data.y[0][None]), first_measurements(data, physics, n)


def fit_cost(history: list[dict], train_set, data: str, device: torch.device) -> dict:
    """What a fit cost: its wall time (the epochs' own seconds, so a resumed fit counts each
    epoch once), this process's peak memory, the images it trained on and what they held,
    its epochs, and its compute as prior evaluations (epochs x images x prior calls per
    image: unrolled steps, cascades or solver iterations; a teacher's outputs, computed
    once before the first epoch, not counted). ``epochs`` are the epochs run (the cap, or
    fewer where the validation curve stopped the fit), ``best_epoch`` the one kept."""
    import resource

    peak = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        peak["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    kept = max((row["epoch"] for row in history if row.get("best")), default=None)
    history = [row for row in history if row["epoch"] > 0]  # epoch 0: the starting network, not trained
    calls = [row.get("prior_calls") for row in history]
    # the epoch whose weights were kept: the best point of the fit's validation curve (0: the start)
    best = len(history) if kept is None else kept
    compute = {"prior_calls": float(sum(calls) * len(train_set))} if calls and None not in calls else {}
    return {"seconds": float(sum(row.get("seconds", 0.0) for row in history)), "train_images": len(train_set),
            "data": data, "epochs": len(history), "best_epoch": best, **compute, **peak}


def timing_input(y: torch.Tensor, task: str, crop: int | None) -> torch.Tensor:
    """A measurement of the shape the benchmark times (SR: ``crop`` x ``crop`` low-resolution
    pixels, see :func:`spade.study.stages.benchmark.run_benchmark`), made from ``y`` by tiling it
    (or cropping it, where it is larger): latency depends on the shape, not the content, for
    a network at fixed iterations, and no timing may read the test images."""
    if task != "sr" or not crop:
        return y
    reps = [1] * (y.dim() - 2) + [-(-int(crop) // y.shape[-2]), -(-int(crop) // y.shape[-1])]
    return y.repeat(*reps)[..., : int(crop), : int(crop)]


def data_ranges(data, physics, convention: str) -> dict:
    """Per group (volume), the target's maximum: fastMRI's data range (``fastmri`` convention
    only; empty otherwise: each image's own maximum)."""
    ranges: dict = {}
    if convention == "fastmri":
        for g, x in zip(data.groups or ["all"] * len(data), data.x):
            ranges[g] = max(ranges.get(g, 0.0), float(physics.display(x[None]).max()))
    return ranges
