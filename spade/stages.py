"""One function per pipeline stage, taking paths and config blocks.

The Snakemake scripts call these and nothing else; so can any user without Snakemake.
"""

from __future__ import annotations

import copy
import json
import os
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from spade import benchmark as bench
from spade.checkpoint import CheckpointError, build_narrowed, layer_shapes, load_model, load_payload, save_model
from spade.data import H5Split, build_dataset, read_physics
from spade.metrics import convention_for, prepare, score
from spade.models import build_model
from spade.models import prior_off as switch_prior_off
from spade.physics import batch_physics, make_physics
from spade.provenance import environment, write_json
from spade.prune import StepwisePruning, output_convs, prune_model
from spade.train import fit, make_strategy, set_reproducible, write_history
from spade.variants import (CLASSICAL, DATA_LABELLED, IDENTITY, PRIOR_OFF, PRUNED, SCRATCH, UNPRUNED,
                            identity, parse_strategy, shift_split, strategy_rule, target_criterion)

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


def make_external(task: str, cfg: dict, seed: int, out_path) -> int:
    """The external test set: real MR slices from sources that no split trains on."""
    if task != "mri":
        raise ValueError(f"an external test set is built for task 'mri' only, not {task!r}")
    from spade.data.embedded import build_mri_external

    count = build_mri_external(cfg, seed, out_path)
    log.info("%s external: %d slices", task, count)
    return count


def make_shift(task: str, cfg: dict, name: str, overrides: dict, seed: int, out_path) -> int:
    """A shifted test set ``shift_<name>``: the test split's images measured under
    ``overrides`` of the task's data settings (a higher acceleration, k-space noise,
    another blur kernel). No network trains or selects anything on it; every variant is
    scored on it as it is. Returns its sample count."""
    import h5py

    out = Path(out_path)
    tmp = out.with_name(out.name + ".build.h5")
    try:
        counts = build_dataset(task, {**cfg, **overrides}, seed, {"test": str(tmp)})
        with h5py.File(tmp, "r+") as f:
            f.attrs["split"] = shift_split(name)
            provenance = json.loads(f.attrs["provenance"])
            provenance["shift"] = {"name": name, "overrides": overrides, "of": "the test split's images"}
            f.attrs["provenance"] = json.dumps(provenance, sort_keys=True, default=str)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("%s: shift %s (%s): %d test images", task, name, overrides, counts["test"])
    return counts["test"]


def fit_cost(history: list[dict], train_set, data: str, device: torch.device) -> dict:
    """What a fit cost: its wall time (the epochs' own seconds, so a resumed fit counts each
    epoch once), this process's peak memory, the images it trained on and what they held,
    its epochs, and its compute as prior evaluations (epochs x images x prior calls per
    image: unrolled steps, cascades or solver iterations; a teacher's outputs, computed
    once before the first epoch, not counted)."""
    import resource

    peak = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        peak["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    calls = [row.get("prior_calls") for row in history]
    compute = {"prior_calls": float(sum(calls) * len(train_set))} if calls and None not in calls else {}
    return {"seconds": float(sum(row.get("seconds", 0.0) for row in history)), "train_images": len(train_set),
            "data": data, "epochs": len(history), **compute, **peak}


def model_spec(task: str, arch_cfg: dict, channels: int) -> dict:
    spec = copy.deepcopy(arch_cfg)
    spec["channels"] = channels
    spec["task"] = task
    return spec


def train_unpruned(task: str, arch: str, arch_cfg: dict, opts: dict, seed: int, threads: int, train_path, val_path,
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
    save_model(out_model, model, spec, {"stage": "train", "identity": identity(task, arch), "history": history,
                                        "opts": opts, "cost": fit_cost(history, train_set, DATA_LABELLED, device),
                                        **environment(seed, str(device))})


def train_scratch(pruned_path, opts: dict, seed: int, threads: int, train_path, val_path, out_model, history_path,
                  state_path, device_setting: str = "cpu") -> None:
    """The control of every pruning result: a network with the pruned widths trained from
    random initialisation (the unpruned network's own init recipe, output convolutions
    zeroed) with the unpruned network's supervised budget ``opts``."""
    set_reproducible(seed, threads)
    device = resolve_device(device_setting)
    payload = load_payload(pruned_path)
    model = build_narrowed(payload["spec"], payload["layer_shapes"])
    with torch.no_grad():  # as every prior starts: the identity (see spade.models.edsr)
        for prior in model.priors():
            for conv in output_convs(prior):
                conv.weight.zero_()
                if conv.bias is not None:
                    conv.bias.zero_()
    _, physics = load_physics(train_path)
    train_set, val_set = H5Split(train_path, True), H5Split(val_path, True)
    model, history = fit(model, make_strategy("supervised", payload["spec"]["task"], opts), physics, train_set,
                         val_set, opts, seed, state_path, history_path, log=log.info, device=device)
    pruned = payload["meta"]["identity"]
    meta = {"stage": "scratch", "identity": {**pruned, "strategy": SCRATCH}, "widths_of": str(pruned_path),
            "history": history, "opts": opts, "cost": fit_cost(history, train_set, DATA_LABELLED, device),
            **environment(seed, str(device))}
    save_model(out_model, model, payload["spec"], meta)


def first_measurements(data: H5Split, physics, n: int) -> list[tuple]:
    """``(y, operator)`` of the first ``n`` samples of a split, each with its own operator."""
    return [(data.y[i][None], batch_physics(physics, {k: v[None] for k, v in data.sample_physics(i).items()}))
            for i in range(min(int(n), len(data)))]


def pruning_data(data_path, n: int) -> tuple[str, torch.Tensor, list[tuple]]:
    """What pruning reads from a measurement-only split: its task, an example input of the
    priors (sample 0's ``A^H y`` under the file's operator) and the first ``n`` measurements
    with their own operators (the taylor criterion's gradients, the speed search's input)."""
    task, physics = load_physics(data_path)
    data = H5Split(data_path, False)
    return task, physics.init(data.y[0][None]), first_measurements(data, physics, n)


def prune(base_path, data_path, ratio: float, criterion: str, seed: int, out_model,
          round_to: int | None = None, taylor_images: int = 8) -> dict:
    """Prune the unpruned network's priors. ``data_path``: measurements only (the
    unlabelled split): an example input, and for the taylor criterion the first
    ``taylor_images`` measurements whose consistency loss gives the gradients."""
    model, payload = load_model(base_path)
    _, example, measurements = pruning_data(data_path, taylor_images)
    info = prune_model(model, example, ratio, criterion, seed, round_to, measurements)
    base = payload["meta"]["identity"]
    meta = {"stage": "prune", "identity": identity(base["task"], base["arch"], criterion, ratio, PRUNED),
            "round_to": round_to, "base": str(base_path), "params_before": info["params_before"],
            "params_after": info["params_after"], "channel_ratio": info["channel_ratio"],
            "pruned_with": str(data_path), **environment(seed)}
    save_model(out_model, model, payload["spec"], meta)
    log.info("pruned %s at %s: %d -> %d parameters, %.3f of the prior channels removed", base_path, ratio,
             info["params_before"], info["params_after"], info["channel_ratio"])
    return info


def timing_input(y: torch.Tensor, task: str, crop: int | None) -> torch.Tensor:
    """A measurement of the shape the benchmark times (SR: ``crop`` x ``crop`` low-resolution
    pixels, see :func:`run_benchmark`), made from ``y`` by tiling it: latency depends on the
    shape, not the content, for a network at fixed iterations, and the search must not read
    the test images the benchmark times."""
    if task != "sr" or not crop:
        return y
    reps = [1] * (y.dim() - 2) + [-(-int(crop) // y.shape[-2]), -(-int(crop) // y.shape[-1])]
    return y.repeat(*reps)[..., : int(crop), : int(crop)]


def prune_to_speed(base_path, data_path, target: float, criterion: str, seed: int, threads: int, opts: dict,
                   out_model, out_json, device_setting: str = "cpu", round_to: int | None = None,
                   taylor_images: int = 8, crop: int | None = None) -> dict:
    """Prune the unpruned network at the smallest ratio of ``opts['grid']`` whose measured
    speedup on unlabelled measurement 0 (``data_path``; SR: tiled to the benchmark's
    ``crop``, :func:`timing_input`) reaches ``target`` (:func:`spade.target.ratio_for_speedup`);
    the model's criterion column says so (``l1:2x``), its ratio is the one found, and
    ``out_json`` records every probe and the shape timed."""
    from spade.target import ratio_for_speedup

    set_reproducible(seed, threads)
    torch.use_deterministic_algorithms(False)  # timed with the kernels users run
    device = resolve_device(device_setting)
    model, payload = load_model(base_path)
    task, example, measurements = pruning_data(data_path, taylor_images)
    y, op = measurements[0]
    timed = timing_input(y, task, crop)
    found = ratio_for_speedup(model, op, timed, target, opts["grid"], criterion, seed, round_to, int(opts["warmup"]),
                              int(opts["repeats"]), device, measurements)
    found["timed_shape"] = list(timed.shape)
    info = prune_model(model, example, found["ratio"], criterion, seed, round_to, measurements)
    base = payload["meta"]["identity"]
    meta = {"stage": "prune", "identity": identity(base["task"], base["arch"], target_criterion(criterion, target),
                                                   found["ratio"], PRUNED),
            "round_to": round_to, "base": str(base_path), "params_before": info["params_before"],
            "params_after": info["params_after"], "channel_ratio": info["channel_ratio"], "speed_target": found,
            "searched_on": str(data_path), **environment(seed, str(device))}
    save_model(out_model, model, payload["spec"], meta)
    write_json({**found, "task": base["task"], "arch": base["arch"], "searched_on": str(data_path),
                **environment(seed, str(device))}, out_json)
    log.info("target %.2fx: ratio %s (%s, measured %.2fx); probes %s", target, found["ratio"],
             "reached" if found["reached"] else "NOT reached", found["speedup"], found["probes"])
    return found


def finetune(strategy_name: str, pruned_path, teacher_path, train_path, val_path, opts: dict, seed: int,
             threads: int, out_model, history_path, state_path, device_setting: str = "cpu", base_path=None,
             prune_data_path=None, taylor_images: int = 8) -> None:
    """Fine-tune a pruned network on ``train_path``. A label-free strategy opens its splits
    without ``/x`` (its training split, the unlabelled one, has none at all) and selects
    its checkpoint on its own loss over the validation measurements.

    A recipe suffix (:data:`spade.variants.RECIPES`) spends ``opts['recipes']['budget']``
    times the epochs: ``-long`` all of them on the pruned network; ``-iter`` prunes the
    unpruned network ``base_path`` in that many steps to the widths of ``pruned_path``
    (same criterion, ratio and rounding; ``prune_data_path``: the measurements pruning
    reads), fine-tuning ``opts['epochs']`` after each step."""
    base, recipe = parse_strategy(strategy_name)
    rule = strategy_rule(strategy_name)
    set_reproducible(seed, threads)
    device = resolve_device(device_setting)
    model, payload = load_model(pruned_path)
    task, physics = load_physics(train_path)
    train_set, val_set = H5Split(train_path, rule.needs_target), H5Split(val_path, rule.needs_target)
    teacher = load_model(teacher_path)[0].to(device) if rule.needs_teacher else None
    strategy = make_strategy(strategy_name, task, opts, teacher)
    budget = int(opts.get("recipes", {}).get("budget", 3)) if recipe else 1
    if recipe == "iter":
        if base_path is None or prune_data_path is None:
            raise ValueError(f"strategy {strategy_name}: stepwise pruning needs the unpruned network and the "
                             "measurements pruning reads (base_path, prune_data_path)")
        model, history = fit_stepwise(model, payload["meta"], base_path, prune_data_path, budget, strategy, physics,
                                      train_set, val_set, opts, seed, state_path, history_path, device, taylor_images)
    else:
        fit_opts = {**opts, "epochs": int(opts["epochs"]) * budget}
        model, history = fit(model, strategy, physics, train_set, val_set, fit_opts, seed, state_path, history_path,
                             log=log.info, device=device)
    meta = {"stage": "finetune", "identity": {**payload["meta"]["identity"], "strategy": strategy_name},
            "pruned": str(pruned_path), "trained_on": str(train_path), "history": history, "opts": opts,
            "recipe": {"name": recipe, "budget": budget} if recipe else None,
            "cost": fit_cost(history, train_set, rule.data, device), **environment(seed, str(device))}
    save_model(out_model, model, payload["spec"], meta)


def fit_stepwise(pruned, pruned_meta: dict, base_path, prune_data_path, steps: int, strategy, physics, train_set,
                 val_set, opts: dict, seed: int, state_path, history_path, device, taylor_images: int = 8):
    """Iterative pruning: prune the unpruned network in ``steps`` steps to the criterion and
    ratio of ``pruned`` (``pruned_meta``: its metadata), fine-tuning between steps (each
    step resumable on its own state file); refuses a result whose widths differ from
    ``pruned``'s, which stands for it in the timings of fixed-iteration networks."""
    ident = pruned_meta["identity"]
    model, _ = load_model(base_path)
    _, example, measurements = pruning_data(prune_data_path, taylor_images)
    pruning = StepwisePruning(model, example, float(ident["ratio"]), ident["criterion"], seed,
                              pruned_meta.get("round_to"), steps, measurements)
    history, state_path = [], Path(state_path)
    for step in range(1, steps + 1):
        info = pruning.step()
        log.info("pruning step %d/%d: %.3f of the prior channels removed", step, steps, info["channel_ratio"])
        model, part = fit(model, strategy, physics, train_set, val_set, opts, seed + step - 1,
                          state_path.with_name(f"{state_path.stem}.step{step}{state_path.suffix}"), history_path,
                          log=log.info, device=device)
        history += [{**row, "step": step} for row in part]
        model = model.cpu()  # the pruner's example and measurements live on the CPU
    if layer_shapes(model) != layer_shapes(pruned):
        raise RuntimeError(f"stepwise pruning to {ident['criterion']} {ident['ratio']} ended at other widths than "
                           f"the one-shot model it stands beside")
    write_history(history, history_path)
    return model.to(device), history


def label_free_scores(models: list[tuple[str, str]], val_path, out_csv, out_md, seed: int, threads: int, score_opts: dict,
                      device_setting: str = "cpu") -> pd.DataFrame:
    """Score each network of ``models`` ((setting, artifact) pairs: the unpruned and pruned
    networks of each arch and its self-supervised fits) on the validation split for the
    label-free ablation. ``heldout_kspace``: the label-free score the choice is made on
    (:func:`spade.losses.heldout_kspace_score`, one fixed draw of held-out samples per image,
    the same for every network; lower is better); ``own_val_loss``: the best validation
    loss of the network's own fit; ``val_psnr``: for the reader only, never for the
    choice. The ``chosen`` row is the self-supervised setting with the lowest held-out
    score, per arch; ``minus_unpruned`` compares validation PSNR with the unpruned network's."""
    import tempfile

    from spade.losses import heldout_kspace_score

    set_reproducible(seed, threads)
    device = resolve_device(device_setting)
    task, physics = load_physics(val_path)
    data = H5Split(val_path, False)
    rows = []
    for name, path in models:
        model, payload = load_model(path)
        model = model.to(device).eval()
        gen = torch.Generator().manual_seed(seed)
        heldout = []
        for i in range(len(data)):
            op = batch_physics(physics, {k: v[None] for k, v in data.sample_physics(i).items()}).to(device)
            heldout.append(float(heldout_kspace_score(model, op, data.y[i][None].to(device), gen,
                                                      float(score_opts["loss_fraction"]),
                                                      float(score_opts["center_fraction"]))))
        with tempfile.TemporaryDirectory() as tmp:
            frame = evaluate(path, val_path, Path(tmp) / "val.csv", Path(tmp) / "val.npz", 0, threads,
                             device_setting)
        meta = payload["meta"]
        losses = [row["val_loss"] for row in meta.get("history") or [] if meta.get("stage") == "finetune"]
        rows.append({"setting": name, "strategy": meta["identity"]["strategy"], "heldout_kspace": np.mean(heldout),
                     "own_val_loss": min(losses) if losses else np.nan, "val_psnr": frame.psnr.mean(),
                     "epochs": len(meta.get("history") or []) if meta.get("stage") == "finetune" else np.nan,
                     **{k: meta["identity"][k] for k in ("task", "arch", "criterion", "ratio")}})
    table = pd.DataFrame(rows)
    ref = table[table.strategy == UNPRUNED].set_index("arch").val_psnr
    table["minus_unpruned"] = table.val_psnr - table.arch.map(ref)
    tuned = table[~table.strategy.isin([UNPRUNED, PRUNED])]
    table["chosen"] = table.index.isin(tuned.groupby("arch").heldout_kspace.idxmin())
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.6g")
    Path(out_md).write_text(label_free_markdown(table))
    return table


def label_free_markdown(table: pd.DataFrame) -> str:
    """The label-free ablation as Markdown: one table per task and arch."""
    lines = ["# Label-free recovery on validation data", "",
             "Each self-supervised setting fine-tunes the same pruned network on unlabelled measurements. The "
             "choice is made on `heldout_kspace` (reconstruct from part of each validation acquisition, predict the "
             "held-out samples; label free, lower is better); validation PSNR is shown for the reader only.", ""]
    for (task, arch), part in table.groupby(["task", "arch"], sort=False):
        pruned = part[part.strategy != UNPRUNED].iloc[0]
        lines += [f"## {task} / {arch}, pruned {pruned.criterion} at ratio {pruned.ratio:g}", "",
                  "| setting | epochs | held-out k-space | own val loss | val PSNR | minus unpruned | chosen |",
                  "|---|---|---|---|---|---|---|"]
        for _, r in part.iterrows():
            lines.append(f"| {r.setting} | {'' if pd.isna(r.epochs) else int(r.epochs)} | {r.heldout_kspace:.4f} | "
                         f"{'' if pd.isna(r.own_val_loss) else f'{r.own_val_loss:.4g}'} | {r.val_psnr:.2f} | "
                         f"{r.minus_unpruned:+.2f} | {'yes' if r.chosen else ''} |")
        lines.append("")
    return "\n".join(lines)


def time_scale(name: str, setting: dict, opts: dict, seed: int, threads: int, out_csv,
               device_setting: str = "cpu") -> pd.DataFrame:
    """Time one network at one scale (:func:`spade.scale.time_scale`): ``setting`` holds the
    image ``size``, ``coils``, the mask's ``acceleration`` and ``center_fraction``, and the
    ``network`` spec; ``opts`` the config's ``scale_timing`` block."""
    from spade.scale import scale_physics
    from spade.scale import time_scale as time_one

    set_reproducible(seed, threads)
    torch.use_deterministic_algorithms(False)  # timed with the kernels users run
    device = resolve_device(device_setting)
    physics = scale_physics(int(setting["size"]), int(setting["coils"]), int(setting["acceleration"]),
                            float(setting["center_fraction"]), seed)
    table = time_one(name, setting["network"], physics, list(opts["ratios"]), list(opts["round_to"]), seed,
                     int(opts["deq_iterations"]), int(opts["warmup"]), int(opts["repeats"]),
                     int(opts["breakdown_repeats"]), device)
    env = environment(seed, str(device))
    table = table.assign(device=str(device), threads=torch.get_num_threads(), torch=env.get("torch"),
                         coils=int(setting["coils"]))
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.6g")
    log.info("%s %s: %s", name, setting["network"]["arch"],
             ", ".join(f"{r.ratio:g}/{r.widths or 'unpruned'} {r.speedup:.2f}x" for _, r in table.iterrows()))
    return table


def scale_table(paths, out_csv, out_md) -> pd.DataFrame:
    """Every scale's timings in one table (CSV and Markdown)."""
    from spade.scale import scale_markdown

    table = pd.concat([pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in paths], ignore_index=True)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.6g")
    first = table.iloc[0]
    note = (f"Device {first.device}, {int(first.threads)} threads, torch {first.torch}; latency is the median of "
            f"{int(first.repeats)} interleaved runs.")
    Path(out_md).write_text(scale_markdown(table, note))
    return table


def model_identity(payload: dict, path) -> dict:
    """The identity recorded in an artifact's metadata (see :mod:`spade.variants`)."""
    ident = payload.get("meta", {}).get("identity")
    if not isinstance(ident, dict) or set(ident) != set(IDENTITY):
        raise CheckpointError(f"{path}: metadata has no variant identity {IDENTITY}; rebuild it with this version")
    return identity(**ident)


def reconstruct(model, physics, y: torch.Tensor) -> torch.Tensor:
    """The network's output, or the classical baseline when ``model`` is None."""
    with torch.inference_mode():
        return physics.init(y) if model is None else model(y, physics)


def load_variant(path, prior_off: bool = False, task: str | None = None) -> tuple[torch.nn.Module | None, dict]:
    """``(model, identity)`` of a variant: an artifact, its prior-off control
    (``prior_off``: the unpruned network with every prior the identity), or the classical
    baseline (``path=None``, no model)."""
    if path is None:
        return None, identity(task, CLASSICAL, strategy=CLASSICAL)
    model, payload = load_model(path)
    ident = model_identity(payload, path)
    if prior_off:
        if ident["strategy"] != UNPRUNED:
            raise ValueError(f"{path}: the prior-off control is defined for the unpruned network, "
                             f"not for strategy {ident['strategy']!r}")
        model, ident = switch_prior_off(model), {**ident, "strategy": PRIOR_OFF}
    return model.eval(), ident


def variant_label(ident: dict) -> str:
    """A short label for logs and the labelled extra timings (tables merge on columns)."""
    if ident["strategy"] in (CLASSICAL, UNPRUNED, PRIOR_OFF):
        return ident["strategy"]
    return f"{ident['criterion']}-r{ident['ratio']:g}-{ident['strategy']}"


def evaluate(model_path, test_path, out_csv, out_examples, n_examples: int, threads: int,
             device_setting: str = "cpu", convention: str | None = None, prior_off: bool = False) -> pd.DataFrame:
    """Per-image PSNR/SSIM on a labelled split (test, external or val; ``model_path=None``:
    the classical baseline; ``prior_off``: the unpruned network's prior-off control) under
    ``convention`` (the task's default when None; see :mod:`spade.metrics`). Every row
    carries the variant's identity and the split. Networks run on ``device``; metrics are
    computed on the CPU. Each image uses its own operator where the file holds per-sample
    physics; the CSV names each image's group (its volume or test set) where recorded."""
    set_reproducible(0, threads)
    device = resolve_device(device_setting)
    task, physics = load_physics(test_path)
    convention = convention_for(task, convention)
    data = H5Split(test_path, True)
    model, ident = load_variant(model_path, prior_off, task)
    if ident["task"] != task:
        raise ValueError(f"{model_path}: a {ident['task']!r} network cannot be evaluated on {test_path} ({task!r})")
    model = None if model is None else model.to(device)
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
    frame = frame.assign(**ident, split=data.split)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_csv, index=False)
    np.savez_compressed(out_examples, names=np.array(data.names[:n_examples]), **examples)
    return frame


def run_benchmark(variants: list[dict], test_path, opts: dict, device_setting: str, threads: int,
                  out_csv, out_info) -> pd.DataFrame:
    """Time every variant side by side on the first ``opts['images']`` test images (each
    with its own operator), at every batch size of ``opts`` (an image repeated to fill the
    batch), plus the labelled extra rows of :func:`spade.benchmark.labelled_variants`.

    ``variants``: ``{"path": artifact, "prior_off": bool}``. Each row carries the variant's
    identity; latency is the mean over images of each image's median, and a DEQ's
    iterations are the mean (and maximum) over those images."""
    set_reproducible(0, threads)
    # deterministic kernels are for training's reproducibility; time the fast ones users run
    torch.use_deterministic_algorithms(False)
    device = resolve_device(device_setting)
    task, physics = load_physics(test_path)
    data = H5Split(test_path, False)
    n_images = max(1, min(int(opts.get("images", 1)), len(data)))
    images = []
    for i in range(n_images):
        y = data.y[i][None]
        if opts.get("crop") and task == "sr":  # whole test photographs are too slow to repeat on a CPU
            y = y[..., : opts["crop"], : opts["crop"]]
        images.append((y, data.sample_physics(i)))
    models, idents = {}, {}
    for v in variants:
        model, ident = load_variant(v["path"], bool(v.get("prior_off")), task)
        label = variant_label(ident)
        models[label], idents[label] = model, ident
    y0, params0 = images[0]
    single = batch_physics(physics, {k: v[None] for k, v in params0.items()})  # the operator of image 0
    costs = {name: bench.cost(m, single, y0) for name, m in models.items()}
    unpruned_channels = next((costs[n]["prior_channels"] for n in models if idents[n]["strategy"] == UNPRUNED), None)
    models = {name: m.to(device) for name, m in models.items()}
    # where the time goes, per main variant, on image 0 at batch 1 (apart from the timing)
    breakdown = {name: bench.time_breakdown(m, single, y0, int(opts.get("breakdown_repeats", 5)), device)
                 for name, m in models.items()}
    models.update(bench.labelled_variants(models, opts))
    rows = []
    for batch in opts["batch_sizes"]:
        stats: dict[str, list] = {name: [] for name in models}
        for y, params in images:
            yb = y.expand(batch, *y.shape[1:]).contiguous()
            op = batch_physics(physics, {k: v[None].expand(batch, *v.shape) for k, v in params.items()})
            times = bench.time_variants(models, op, yb, int(opts["warmup"]), int(opts["repeats"]), device)
            op_dev, yb_dev = op.to(device), yb.to(device)
            for name in models:
                stats[name].append({**bench.summarise(times[name]),
                                    "iterations": bench.iterations(models[name], op_dev, yb_dev)})
        for name in models:
            variant, setting = bench.split_label(name)
            per = pd.DataFrame(stats[name])
            channels = costs[variant]["prior_channels"]
            rows.append({**idents[variant], "variant": name, "setting": setting, "batch": batch,
                         "latency_ms": per.latency_ms.mean(), "latency_p25_ms": per.latency_p25_ms.mean(),
                         "latency_p75_ms": per.latency_p75_ms.mean(), "latency_min_ms": per.latency_min_ms.min(),
                         "images": n_images, "repeats": int(opts["repeats"]),
                         "iterations": per.iterations.mean(), "iterations_max": per.iterations.max(),
                         **costs[variant], **breakdown[variant],
                         "actual_ratio": 1 - channels / unpruned_channels if channels and unpruned_channels else None,
                         "input_shape": "x".join(map(str, (batch, *y0.shape[1:]))), "device": str(device)})
    frame = pd.DataFrame(rows)
    frame.to_csv(out_csv, index=False)
    write_json({"task": task, "variants": variants, "opts": opts, "images": [data.names[i] for i in range(n_images)],
                **environment(0, str(device))}, out_info)
    return frame
