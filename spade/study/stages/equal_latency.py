"""Ways of buying speed side by side at equal deployed latency (config `equal_latency`).

A user who needs a network twice as fast can prune it (SPADE), train the pruned widths from
scratch, run fewer unrolled steps, loosen or cap a DEQ's solver or accelerate it, distil,
or quantize the prior to INT8. This stage builds every such option of one task and arch,
scores it on the test split and times it in the deploy runtime in the same interleaved
rounds, so that each option is a point (speedup, PSNR) with its intervals; the table marks
the Pareto front. What is trained (pruned, scratch, distilled, fewer steps) is trained
elsewhere with the same fine-tuning budget; what is set at test time (DEQ solver, INT8
post-training quantization, calibrated on training measurements) is built here.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pandas as pd
import torch

from spade import deploy
from spade.checkpoint import load_model, save_model
from spade.metrics import convention_for
from spade.options import BenchmarkOptions, FitOptions
from spade.study.provenance import environment
from spade.study.stages.context import fit_cost, open_split, sample_operator, start_job, timing_input
from spade.study.stages.benchmark import interleaved_rounds
from spade.study.stages.evaluate import score_images
from spade.study.stats import median_interval, paired_difference, unit_means
from spade.study.speed_options import EAGER_UNPRUNED, INERTIAL, INT8, LOOSER_TOL, LOWER_CAP, PRUNED, UNPRUNED
from spade.study.variants import Variant

log = logging.getLogger("spade")


def fewer_steps_network(unpruned_path, steps: int):
    """The unpruned unrolled network cut to its first ``steps`` steps (the prior shared by
    every step, the first ``steps`` step sizes): ``(model, spec, payload)``."""
    model, payload = load_model(unpruned_path)
    if not hasattr(model, "step_sizes"):
        raise ValueError(f"{unpruned_path}: fewer steps needs an unrolled network (step_sizes), "
                         f"not {type(model).__name__}")
    if not 1 <= steps < len(model.step_sizes):
        raise ValueError(f"{unpruned_path}: fewer steps {steps} must be between 1 and the network's "
                         f"{len(model.step_sizes) - 1}")
    model.step_sizes = torch.nn.Parameter(model.step_sizes.detach()[:steps].clone())
    return model, {**payload["spec"], "steps": int(steps)}, payload


def fit_fewer_steps(unpruned_path, steps: int, train_path, val_path, opts, seed: int, threads: int, out_model,
                    history_path, state_path, device_setting: str = "cpu") -> None:
    """The unpruned network with ``steps`` unrolled steps, fine-tuned supervised with the
    pruned networks' fine-tuning options (``opts``: the same epochs, data and optimiser)."""
    from spade.study.data import H5Split
    from spade.train import fit, make_strategy

    device = start_job(seed, threads, device_setting)
    model, spec, payload = fewer_steps_network(unpruned_path, steps)
    task, physics, _ = open_split(train_path, True)
    opts = FitOptions.of(opts)
    train_set, val_set = H5Split(train_path, True), H5Split(val_path, True)
    strategy = make_strategy("supervised", task, opts)
    model, history = fit(model, strategy, physics, train_set, val_set, opts, seed, state_path, history_path,
                         log=log.info, device=device)
    identity = Variant.from_meta(payload["meta"]).columns()
    meta = {"stage": "fewer_steps", "identity": identity, "steps": int(steps), "unpruned": str(unpruned_path),
            "trained_on": str(train_path), "history": history, "opts": opts.as_dict(),
            "cost": fit_cost(history, train_set, "labelled pairs", device), **environment(seed, str(device))}
    save_model(out_model, model, spec, meta)


def _solver_variants(label: str, model, settings: dict, ratio: float) -> list[dict]:
    """A DEQ's test-time options: a looser tolerance, a lower iteration cap and the inertial
    solver (at the network's own tolerance and cap)."""
    out = []
    for option, change in ((LOOSER_TOL, {"tol": float(settings["loose_tol"])}),
                           (LOWER_CAP, {"max_iter": int(settings["low_cap"])}),
                           (INERTIAL, {"solver": "inertial", "momentum": float(settings["momentum"])})):
        variant = copy.deepcopy(model)
        for key, value in change.items():
            setattr(variant, key, value)
        detail = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in change.items())
        out.append({"label": f"{label} ({detail})", "option": option, "base": label, "ratio": ratio,
                    "model": variant})
    return out


def pareto_front(speedup, psnr) -> np.ndarray:
    """Whether each point (speedup, PSNR) is on the front: no other point is at least as fast
    and at least as good, and strictly better in one."""
    s, q = np.asarray(speedup, dtype=float), np.asarray(psnr, dtype=float)
    front = np.ones(len(s), dtype=bool)
    for i in range(len(s)):
        better = (s >= s[i]) & (q >= q[i]) & ((s > s[i]) | (q > q[i]))
        front[i] = not bool(better.any())
    return front


def equal_latency(models: list[dict], train_path, val_path, test_path, settings: dict, bench_opts, seed: int,
                  threads: int, out_csv, out_scores, device_setting: str = "cpu",
                  convention: str | None = None) -> pd.DataFrame:
    """Score and time every option of one task and arch (module docstring).

    ``models``: ``{"label", "option", "ratio", "path"}`` of the trained networks (the
    unpruned one, option ``unpruned``, first); ``settings``: the config's `equal_latency`
    block (``int8``, ``calibration_images``, and for DEQs ``loose_tol``, ``low_cap``,
    ``momentum``); ``bench_opts``: the `benchmark` block (deploy runtime, images, warm-up,
    rounds, repeats, crop). Writes one row per option (``out_csv``) and its per-image test
    scores (``out_scores``)."""
    opts = BenchmarkOptions.of(bench_opts)
    runtime = opts.deploy_runtime
    device = start_job(seed, threads, device_setting, timed=True)
    task, physics, test = open_split(test_path, True)
    convention = convention_for(task, convention)
    options: list[dict] = []
    for entry in models:
        model, payload = load_model(entry["path"])
        options.append({**entry, "base": entry["label"], "model": model.eval()})
        if entry["option"] == UNPRUNED:
            arch = Variant.from_meta(payload["meta"]).arch
    unpruned = next(o for o in options if o["option"] == UNPRUNED)
    if hasattr(unpruned["model"], "solver"):  # a DEQ: its solver's options, unpruned and pruned
        for o in [o for o in options if o["option"] in (UNPRUNED, PRUNED)]:
            options += _solver_variants(o["label"], o["model"], settings, o["ratio"])
    deployed = {o["label"]: deploy.deployed(o["model"].to(device), runtime) for o in options}
    if settings.get("int8") and runtime in deploy.ONNX_RUNTIMES:
        _, train_physics, train = open_split(train_path, False)
        n = min(int(settings["calibration_images"]), len(train))
        for o in [o for o in options if o["option"] in (UNPRUNED, PRUNED)]:
            net = o["model"].to(device)

            def run(net=net):  # the training measurements, each with its own operator
                for i in range(n):
                    net(train.y[i][None].to(device), sample_operator(train_physics, train, i).to(device))

            calibration = deploy.prior_inputs(net, run)
            label = f"{o['label']} int8"
            options.append({"label": label, "option": INT8, "base": o["label"], "ratio": o["ratio"], "model": net})
            deployed[label] = deploy.quantized(net, calibration, runtime)
    options.append({"label": EAGER_UNPRUNED, "option": EAGER_UNPRUNED, "base": unpruned["label"], "ratio": 0.0,
                    "model": unpruned["model"]})
    deployed[EAGER_UNPRUNED] = unpruned["model"].to(device)

    # test scores, every option on every image (the eager reference is the unpruned network)
    frames = {}
    for o in options:
        if o["option"] == EAGER_UNPRUNED:
            frames[o["label"]] = frames[unpruned["label"]]
            continue
        frame, _ = score_images(deployed[o["label"]], task, physics, test, convention, device)
        frames[o["label"]] = frame
        log.info("%s: PSNR %.2f dB on %d test images", o["label"], frame.psnr.mean(), len(frame))
    unit = test.group_kind if test.groups is not None else None

    # timing: validation images, every option interleaved in each round (as the benchmark)
    _, val_physics, val = open_split(val_path, False)
    images = [(timing_input(val.y[i][None], task, opts.crop), sample_operator(val_physics, val, i))
              for i in range(max(1, min(opts.images, len(val))))]
    samples, per_round = interleaved_rounds(deployed, images, opts, device)
    reference, eager = np.array(per_round[unpruned["label"]]), np.array(per_round[EAGER_UNPRUNED])
    rows = []
    for o in options:
        label = o["label"]
        own = np.array(per_round[label])
        speedup, low, high, _ = median_interval(reference / own)
        diff = paired_difference(frames[label], frames[unpruned["label"]], "psnr", unit, seed)
        frame = frames[label]
        prior = deployed[label].priors() if hasattr(deployed[label], "priors") else []
        rows.append({"task": task, "arch": arch,
                     "label": label, "option": o["option"], "base": o["base"], "ratio": float(o["ratio"] or 0.0),
                     "runtime": deploy.EAGER if o["option"] == EAGER_UNPRUNED else runtime,
                     "latency_ms": float(np.mean([np.median(s) for s in samples[label]])),
                     "speedup": speedup, "speedup_low": low, "speedup_high": high,
                     "speedup_vs_eager": float(np.median(eager / own)),
                     "psnr": float(frame.psnr.mean()),
                     "psnr_unit_mean": float(unit_means(frame.psnr, frame[unit] if unit else frame.image).mean()),
                     "minus_unpruned": diff["diff"], "minus_unpruned_low": diff["low"],
                     "minus_unpruned_high": diff["high"], "units": diff["units"], "interval": diff["kind"],
                     "higher": diff["higher"], "unit": unit or "image",
                     "iterations": float(frame.iterations.mean()) if "iterations" in frame else np.nan,
                     "int8_difference": max((getattr(p, "max_difference", 0.0) for p in prior), default=0.0)
                     if o["option"] == INT8 else np.nan})
    table = pd.DataFrame(rows)
    # INT8 is kept only where it is measured faster than the same network in floating point
    base_speed = table.set_index("label").speedup
    table["kept"] = [not (r.option == INT8 and r.speedup_low <= base_speed[r.base]) for r in table.itertuples()]
    table["front"] = False
    kept = table.kept
    table.loc[kept, "front"] = pareto_front(table.speedup[kept], table.psnr_unit_mean[kept])
    table.to_csv(out_csv, index=False, float_format="%.6g")
    scores = pd.concat(frames[o["label"]].assign(label=o["label"]) for o in options)
    scores.to_csv(out_scores, index=False)
    return table
