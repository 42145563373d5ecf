"""One function per pipeline stage, taking paths and config blocks.

The Snakemake scripts call these and nothing else; so can any user without Snakemake.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from spade import benchmark as bench
from spade.checkpoint import load_model, save_model
from spade.data import H5Split, build_dataset, read_physics
from spade.metrics import convention_for, prepare, score
from spade.models import build_model
from spade.models import prior_off as switch_prior_off
from spade.physics import batch_physics, make_physics
from spade.provenance import environment, write_json
from spade.prune import prune_model
from spade.train import fit, make_strategy, set_reproducible

log = logging.getLogger("spade")


def resolve_device(setting: str = "auto") -> torch.device:
    """``auto`` picks the first GPU when there is one, else the CPU."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {setting!r} requested but CUDA is not available")
    return device


def load_physics(path):
    task, params = read_physics(path)
    return task, make_physics(task, params)


def make_data(task: str, cfg: dict, seed: int, outputs: dict[str, str], info_path) -> None:
    counts = build_dataset(task, cfg, seed, outputs)
    write_json({"task": task, "counts": counts, "config": cfg, **environment(seed)}, info_path)
    log.info("%s: %s", task, counts)


def model_spec(task: str, arch_cfg: dict, channels: int) -> dict:
    spec = copy.deepcopy(arch_cfg)
    spec["channels"] = channels
    spec["task"] = task
    return spec


def train_base(task: str, arch: str, arch_cfg: dict, opts: dict, seed: int, threads: int, train_path, val_path,
               out_model, history_path, state_path, device_setting: str = "cpu") -> None:
    """Train the unpruned network with the supervised loss."""
    set_reproducible(seed, threads)
    device = resolve_device(device_setting)
    data_task, physics = load_physics(train_path)
    if data_task != task:
        raise ValueError(f"{train_path}: holds task {data_task!r}, but the {task!r} model was asked for")
    train_set, val_set = H5Split(train_path, True), H5Split(val_path, True)
    spec = model_spec(task, {"arch": arch, **arch_cfg}, train_set.x[0].shape[0])
    model = build_model(spec)
    strategy = make_strategy("supervised", task, opts)
    model, history = fit(model, strategy, physics, train_set, val_set, opts, seed, state_path, history_path,
                         log=log.info, device=device)
    save_model(out_model, model, spec, {"stage": "train", "history": history, **environment(seed, str(device))})


def prune(base_path, data_path, ratio: float, criterion: str, seed: int, out_model,
          round_to: int | None = None) -> dict:
    model, payload = load_model(base_path)
    _, physics = load_physics(data_path)
    y = H5Split(data_path, False).y[0][None]  # sample 0, whose operator load_physics gives
    example = physics.init(y)  # the prior sees images of this shape
    info = prune_model(model, example, ratio, criterion, seed, round_to)
    meta = {"stage": "prune", "ratio": ratio, "criterion": criterion, "round_to": round_to, "base": str(base_path),
            "params_before": info["params_before"], "params_after": info["params_after"], **environment(seed)}
    save_model(out_model, model, payload["spec"], meta)
    log.info("pruned %s at %s: %d -> %d parameters", base_path, ratio, info["params_before"], info["params_after"])
    return info


def finetune(strategy_name: str, pruned_path, teacher_path, train_path, val_path, opts: dict, seed: int,
             threads: int, out_model, history_path, state_path, device_setting: str = "cpu") -> None:
    """Fine-tune a pruned network. Label-free strategies open the splits without ``/x``."""
    set_reproducible(seed, threads)
    device = resolve_device(device_setting)
    model, payload = load_model(pruned_path)
    task, physics = load_physics(train_path)
    needs_target = strategy_name == "supervised"
    train_set, val_set = H5Split(train_path, needs_target), H5Split(val_path, needs_target)
    teacher = load_model(teacher_path)[0].to(device) if strategy_name == "school" else None
    strategy = make_strategy(strategy_name, task, opts, teacher)
    model, history = fit(model, strategy, physics, train_set, val_set, opts, seed, state_path, history_path,
                         log=log.info, device=device)
    meta = {"stage": "finetune", "strategy": strategy_name, "pruned": str(pruned_path), "history": history,
            **{k: v for k, v in payload["meta"].items() if k in ("ratio", "criterion")},
            **environment(seed, str(device))}
    save_model(out_model, model, payload["spec"], meta)


def reconstruct(model, physics, y: torch.Tensor) -> torch.Tensor:
    """The network's output, or the classical baseline when ``model`` is None."""
    with torch.inference_mode():
        return physics.init(y) if model is None else model(y, physics)


def evaluate(model_path, test_path, out_csv, out_examples, n_examples: int, threads: int,
             device_setting: str = "cpu", convention: str | None = None, prior_off: bool = False) -> pd.DataFrame:
    """Per-image PSNR/SSIM on the test split (``model_path=None``: classical baseline)
    under ``convention`` (the task's default when None; see :mod:`spade.metrics`).
    Networks run on ``device``; metrics are computed on the CPU. Each image uses its own
    operator where the file holds per-sample physics; the CSV names each image's group
    (its volume or test set) when the file records one."""
    set_reproducible(0, threads)
    device = resolve_device(device_setting)
    task, physics = load_physics(test_path)
    convention = convention_for(task, convention)
    data = H5Split(test_path, True)
    model = None if model_path is None else load_model(model_path)[0].eval().to(device)
    if prior_off:  # the control: the same network with every prior switched to the identity
        model = switch_prior_off(model)
    groups = data.groups or ["all"] * len(data)
    ranges = {}
    if convention == "fastmri":  # fastMRI's data range: the maximum of the target volume
        for g, x in zip(groups, data.x):
            ranges[g] = max(ranges.get(g, 0.0), float(physics.display(x[None]).max()))
    rows, examples = [], {}
    for i in range(len(data)):
        y, x = data.y[i], data.x[i]
        op = batch_physics(physics, {k: v[None] for k, v in data.sample_physics(i).items()})
        pred = reconstruct(model, op.to(device), y[None].to(device))[0].cpu()
        row = {"image": data.names[i]}
        if data.groups is not None:
            row[data.group_kind] = data.groups[i]
        row.update(score(pred, x, op, task, convention, ranges.get(groups[i])))
        if getattr(model, "last_iterations", None) is not None:
            row["iterations"] = int(model.last_iterations[0])
        rows.append(row)
        if i < n_examples:
            examples[f"pred_{i}"] = prepare(pred, op, task, convention).numpy()
            examples[f"target_{i}"] = prepare(x, op, task, convention).numpy()
    frame = pd.DataFrame(rows)
    frame["convention"] = convention
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_csv, index=False)
    np.savez_compressed(out_examples, names=np.array(data.names[:n_examples]), **examples)
    return frame


def run_benchmark(variants: dict[str, str], test_path, opts: dict, device_setting: str, threads: int,
                  out_csv, out_info) -> pd.DataFrame:
    """Time every variant side by side, at batch 1 and the larger batch of ``opts``,
    plus the labelled extra rows of :func:`spade.benchmark.labelled_variants`."""
    set_reproducible(0, threads)
    device = resolve_device(device_setting)
    task, physics = load_physics(test_path)
    data = H5Split(test_path, False)
    y = data.y[0][None]  # the first test image, repeated to fill a batch
    params = data.sample_physics(0)
    if opts.get("crop") and task == "sr":  # whole test photographs are too slow to repeat on a CPU
        y = y[..., : opts["crop"], : opts["crop"]]
    models = {name: load_model(path)[0].eval() for name, path in variants.items()}
    single = batch_physics(physics, {k: v[None] for k, v in params.items()})  # the operator of one image
    costs = {name: bench.cost(m, single, y) for name, m in models.items()}
    models = {name: m.to(device) for name, m in models.items()}
    models.update(bench.labelled_variants(models, opts))
    rows = []
    for batch in opts["batch_sizes"]:
        yb = y.expand(batch, *y.shape[1:]).contiguous()
        op = batch_physics(physics, {k: v[None].expand(batch, *v.shape) for k, v in params.items()})
        physics_dev = op.to(device)
        times = bench.time_variants(models, op, yb, int(opts["warmup"]), int(opts["repeats"]), device)
        yb_dev = yb.to(device)
        for name in models:
            variant, setting = bench.split_label(name)
            its = bench.iterations(models[name], physics_dev, yb_dev)
            rows.append({"variant": name, "setting": setting, "batch": batch, **bench.summarise(times[name]),
                         **costs[variant], "iterations": its,
                         "input_shape": "x".join(map(str, yb.shape)), "device": str(device)})
    frame = pd.DataFrame(rows)
    frame.to_csv(out_csv, index=False)
    write_json({"task": task, "variants": variants, "opts": opts, **environment(0, str(device))}, out_info)
    return frame
