"""Timing every variant of a task and arch side by side, in one process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from spade import benchmark as bench
from spade import deploy
from spade.options import BenchmarkOptions
from spade.study.provenance import environment, write_json
from spade.study.stages.context import open_split, start_job, timing_input
from spade.study.stages.evaluate import load_variant
from spade.physics import batch_physics
from spade.runtimes import MAIN
from spade.study.stats import median_interval
from spade.study import timing
from spade.study.variants import UNPRUNED


def _batch(y, params, batch: int, physics):
    """``(y, operator)`` of one image repeated to fill a batch."""
    yb = y.expand(batch, *y.shape[1:]).contiguous()
    return yb, batch_physics(physics, {k: v[None].expand(batch, *v.shape) for k, v in params.items()})


def _runtime_gap(model, deployed, physics, y) -> float:
    """Largest |deployed - torch| reconstruction difference, as a fraction of the image range."""
    if deployed is model or model is None:
        return 0.0
    with torch.inference_mode():
        return deploy.max_difference(model(y, physics), deployed(y, physics))


def interleaved_rounds(models: dict, inputs: list[tuple], opts: BenchmarkOptions, device) -> tuple[dict, dict]:
    """Time every model of ``models`` on every ``(y, operator)`` of ``inputs`` in
    ``opts.rounds`` rounds (warm-up before the first; in each, ``opts.repeats`` interleaved
    runs per input, who goes first rotating). Returns ``samples[name][i]``, every time of
    input ``i``, and ``per_round[name]``, each round's latency: the mean over inputs of that
    round's median."""
    samples: dict[str, list[list[float]]] = {name: [[] for _ in inputs] for name in models}
    per_round: dict[str, list[float]] = {name: [] for name in models}
    for r in range(opts.rounds):
        for i, (y, op) in enumerate(inputs):
            times = bench.time_variants(models, op, y, opts.warmup if r == 0 else 0, opts.repeats, device, first=r)
            for name in models:
                samples[name][i] += times[name]
        for name in models:
            per_round[name].append(float(np.mean([np.median(s[-opts.repeats:]) for s in samples[name]])))
    return samples, per_round


def run_benchmark(variants: list[dict], data_path, opts: BenchmarkOptions | dict, device_setting: str, threads: int,
                  out_csv, out_info) -> pd.DataFrame:
    """Time every variant side by side on the first ``opts.images`` images of
    ``data_path`` (in the study the validation split, so that no choice reads the test
    split; each with its own operator), at every batch size of ``opts`` (an image repeated to fill the
    batch), plus the labelled extra rows of :func:`spade.study.timing.labelled_variants`.

    ``variants``: ``{"path": artifact, "prior_off": bool}``, or ``{"cs": {method, lamda,
    iterations}}`` for a compressed-sensing baseline (:mod:`spade.study.classical`). Each row carries the variant's
    identity; latency is the mean over images of each image's median, and a DEQ's
    iterations are the mean (and maximum) over those images. ``opts.rounds`` rounds
    each time every image (``repeats`` interleaved runs of every variant); each round gives
    every variant a latency and a speedup against the unpruned network, and the row holds
    the median speedup over rounds with its distribution-free interval
    (:func:`spade.study.stats.median_interval`).

    ``opts`` (:class:`spade.options.BenchmarkOptions`, or the config's `benchmark` block):
    ``runtimes``, the runtimes every variant is timed in (:mod:`spade.deploy`), all in
    the same interleaved rounds; the main rows run in ``deploy_runtime`` (the runtime
    the headline reads), the others are labelled ``variant@runtime``. Each main row also holds
    its eager speedup (eager variant against the eager unpruned network, with its interval)
    and its total speedup (deployed variant against the eager unpruned network)."""
    opts = BenchmarkOptions.of(opts)
    device = start_job(0, threads, device_setting, timed=True)
    task, physics, data = open_split(data_path, False)
    n_images = max(1, min(opts.images, len(data)))
    images = []
    for i in range(n_images):
        # SR: whole photographs are too slow to repeat on a CPU, validation patches too small:
        # both are timed at crop x crop (the speed target's search times the same shape)
        images.append((timing_input(data.y[i][None], task, opts.crop), data.sample_physics(i)))
    models, idents = {}, {}
    for v in variants:
        model, variant = load_variant(v.get("path"), bool(v.get("prior_off")), task, v.get("cs"))
        models[variant.label], idents[variant.label] = model, variant.columns()
    y0, params0 = images[0]
    single = batch_physics(physics, {k: v[None] for k, v in params0.items()})  # the operator of image 0
    costs = {name: bench.cost(m, single, y0) for name, m in models.items()}
    unpruned_channels = next((costs[n]["prior_channels"] for n in models if idents[n]["strategy"] == UNPRUNED), None)
    models = {name: m.to(device) for name, m in models.items()}
    runtimes = list(opts.runtimes)
    main_runtime = opts.deploy_runtime
    for runtime in runtimes:
        deploy.check_runtime(runtime)
    torch_models = models
    models = {name: deploy.deployed(m, main_runtime) for name, m in torch_models.items()}
    # how far the deployed reconstruction is from torch's, image 0 (a DEQ: at the study's tolerance)
    gap = {name: _runtime_gap(torch_models[name], models[name], single.to(device), y0.to(device))
           for name in models}
    # where the time goes, per main variant, on image 0 at batch 1 (apart from the timing)
    breakdown = {name: bench.time_breakdown(m, single, y0, opts.breakdown_repeats, device)
                 for name, m in models.items()}
    extra = timing.labelled_variants(models, opts)
    for runtime in runtimes:
        if runtime != main_runtime:
            extra.update({f"{name}@{runtime}": deploy.deployed(m, runtime) for name, m in torch_models.items()})
    models.update(extra)
    rounds = opts.rounds
    reference = next((n for n in models if n in idents and idents[n]["strategy"] == UNPRUNED), None)
    rows = []
    for batch in opts.batch_sizes:
        # every round times every image, every variant interleaved within each image
        batches = [_batch(y, params, batch, physics) for y, params in images]
        samples, per_round = interleaved_rounds(models, batches, opts, device)
        iters = {name: [] for name in models}
        for y, params in images:
            yb, op = _batch(y, params, batch, physics)
            op_dev, yb_dev = op.to(device), yb.to(device)
            for name in models:
                iters[name].append(bench.iterations(models[name], op_dev, yb_dev))
        for name in models:
            variant, setting = timing.split_label(name)
            per = pd.DataFrame([bench.latency_summary(s) for s in samples[name]])
            channels = costs[variant]["prior_channels"]
            spread = {}
            # against the unpruned network timed the same way (a runtime's own), else the main one
            same = f"{reference}@{setting}" if f"{reference}@{setting}" in per_round else reference
            if reference is not None and rounds > 1:
                speedups = np.array(per_round[same]) / np.array(per_round[name])
                median, low, high, coverage = median_interval(speedups)
                spread = {"speedup_median": median, "speedup_low": low, "speedup_high": high,
                          "speedup_coverage": coverage}
            eager = {}
            if setting == MAIN and main_runtime != deploy.EAGER and f"{name}@{deploy.EAGER}" in per_round:
                # the same variant in eager PyTorch, and this row's time against eager unpruned
                own, base = np.array(per_round[f"{name}@{deploy.EAGER}"]), np.array(per_round[f"{reference}@{deploy.EAGER}"])
                median, low, high, _ = median_interval(base / own)
                eager = {"eager_latency_ms": float(np.mean([np.median(s) for s in samples[f"{name}@{deploy.EAGER}"]])),
                         "eager_speedup": median, "eager_speedup_low": low, "eager_speedup_high": high,
                         "total_speedup": float(np.median(base / np.array(per_round[name])))}
            runtime = setting if setting in deploy.RUNTIMES else main_runtime
            rows.append({**idents[variant], "variant": name, "setting": setting,
                         "runtime": runtime, "batch": batch, **eager,
                         "runtime_difference": gap[variant] if runtime == main_runtime else float("nan"),
                         "latency_ms": per.latency_ms.mean(), "latency_p25_ms": per.latency_p25_ms.mean(),
                         "latency_p75_ms": per.latency_p75_ms.mean(), "latency_min_ms": per.latency_min_ms.min(),
                         "images": n_images, "repeats": opts.repeats, "rounds": rounds,
                         "round_latencies_ms": " ".join(f"{v:.4g}" for v in per_round[name]), **spread,
                         "iterations": float(np.mean(iters[name])), "iterations_max": float(np.max(iters[name])),
                         **costs[variant], **breakdown[variant],
                         "actual_ratio": 1 - channels / unpruned_channels if channels and unpruned_channels else None,
                         "input_shape": "x".join(map(str, (batch, *y0.shape[1:]))), "device": str(device)})
    frame = pd.DataFrame(rows)
    frame.to_csv(out_csv, index=False)
    write_json({"task": task, "variants": variants, "opts": opts.as_dict(), "images": [data.names[i] for i in range(n_images)],
                **environment(0, str(device))}, out_info)
    return frame
