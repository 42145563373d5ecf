"""Pruning the unpruned network: at a ratio of the grid, or to a measured speed target."""

from __future__ import annotations

import copy
from pathlib import Path

from spade.checkpoint import load_model, save_model
from spade.prune import AUTO, DEFAULT_TAYLOR_IMAGES, prune_model
from spade.runtimes import EAGER
from spade.widths import LatencyTable
from spade.study.provenance import environment, write_json
from spade.study.stages.context import log, pruning_data, start_job, timing_input
from spade.study.variants import PRUNED, Variant


def _save_pruned(out_model, model, payload: dict, variant: Variant, info: dict, round_to, base_path,
                 **extra) -> None:
    meta = {"stage": "prune", "identity": variant.columns(), "round_to": round_to, "base": str(base_path),
            "params_before": info["params_before"], "params_after": info["params_after"],
            "channel_ratio": info["channel_ratio"], **extra}
    save_model(out_model, model, payload["spec"], meta)


def _latency(round_to, latency_path, runtime: str | None = None):
    """The latency table a pruning job reads under ``round_to: auto`` (never measured there),
    measured in ``runtime``, the study's deploy runtime (None: whichever it was measured in)."""
    if round_to != AUTO:
        return None
    if not latency_path:
        raise ValueError("round_to: auto needs the latency table of rule latency_table")
    table = LatencyTable.read(latency_path)
    if runtime is not None and table.runtime != runtime:
        raise ValueError(f"{latency_path}: widths timed in runtime {table.runtime!r}, but the study deploys in "
                         f"{runtime!r} (benchmark.deploy_runtime): rerun the rule latency_table")
    return table


def prune(base_path, data_path, ratio: float, criterion: str, seed: int, out_model,
          round_to: int | str | None = None, taylor_images: int = DEFAULT_TAYLOR_IMAGES, latency_path=None,
          runtime: str | None = None) -> dict:
    """Prune the unpruned network's priors. ``data_path``: measurements only (the
    unlabelled split): an example input, and for the taylor criterion the first
    ``taylor_images`` measurements whose consistency loss gives the gradients.
    ``latency_path``: the latency table ``round_to: auto`` chooses widths by, timed in
    ``runtime`` (the deploy runtime)."""
    model, payload = load_model(base_path)
    _, example, measurements = pruning_data(data_path, taylor_images)
    info = prune_model(model, example, ratio, criterion, seed, round_to, measurements,
                       _latency(round_to, latency_path, runtime))
    base = Variant.from_meta(payload["meta"])
    variant = Variant(base.task, base.arch, criterion, ratio, PRUNED)
    _save_pruned(out_model, model, payload, variant, info, round_to, base_path, pruned_with=str(data_path),
                 width_plans=info["width_plans"], **environment(seed))
    log.info("pruned %s at %s: %d -> %d parameters, %.3f of the prior channels removed", base_path, ratio,
             info["params_before"], info["params_after"], info["channel_ratio"])
    return info


def prune_to_speed(base_path, data_path, target: float, criterion: str, seed: int, threads: int, opts: dict,
                   out_model, out_json, device_setting: str = "cpu", round_to: int | str | None = None,
                   taylor_images: int = DEFAULT_TAYLOR_IMAGES, crop: int | None = None, latency_path=None,
                   runtime: str = EAGER) -> dict:
    """Prune the unpruned network at the smallest ratio of ``opts['grid']`` whose measured
    speedup in ``runtime`` (the deploy runtime) on unlabelled measurement 0 (``data_path``;
    SR: tiled to the benchmark's ``crop``, :func:`timing_input`) reaches ``target``
    (:func:`spade.study.target.ratio_for_speedup`);
    the model's identity records the target and the ratio found, and ``out_json`` every
    probe and the shape timed."""
    from spade.study.target import ratio_for_speedup

    device = start_job(seed, threads, device_setting, timed=True)
    model, payload = load_model(base_path)
    task, example, measurements = pruning_data(data_path, taylor_images)
    y, op = measurements[0]
    timed = timing_input(y, task, crop)
    latency = _latency(round_to, latency_path, runtime)
    found = ratio_for_speedup(model, op, timed, target, opts["grid"], criterion, seed, round_to, int(opts["warmup"]),
                              int(opts["repeats"]), device, measurements, latency, runtime)
    found["timed_shape"] = list(timed.shape)
    info = prune_model(model, example, found["ratio"], criterion, seed, round_to, measurements, latency)
    base = Variant.from_meta(payload["meta"])
    variant = Variant(base.task, base.arch, criterion, found["ratio"], PRUNED, target=target)
    env = environment(seed, str(device))
    _save_pruned(out_model, model, payload, variant, info, round_to, base_path, speed_target=found,
                 searched_on=str(data_path), **env)
    write_json({**found, "task": base.task, "arch": base.arch, "searched_on": str(data_path), **env}, out_json)
    log.info("target %.2fx: ratio %s (%s, measured %.2fx); probes %s", target, found["ratio"],
             "reached" if found["reached"] else "NOT reached", found["speedup"], found["probes"])
    return found


def latency_table(specs: dict[str, dict], data_path, ratios: list[float], seed: int, threads: int, out_json,
                  device_setting: str = "cpu", runtime: str = EAGER) -> dict:
    """Measure, on the study's device with the whole machine and in ``runtime`` (the deploy
    runtime), the latency of every
    pruned prior that ``round_to: auto`` tries when it prunes the networks of
    ``specs`` (``{arch: network config}``, the task of ``data_path``) at ``ratios``: the
    choice needs only the architecture, so random weights stand in for the trained ones
    (and for every seed's). Pruning jobs then read the table (:meth:`LatencyTable.read`)
    and time nothing. Returns each arch's and ratio's ``(current, asked, chosen)`` widths."""
    from spade.models import build_model
    from spade.study.stages.train import model_spec

    device = start_job(seed, threads, device_setting, timed=True)
    task, example, _ = pruning_data(data_path, 0)
    table = LatencyTable(None, device, runtime=runtime)
    plans = {}
    for arch, cfg in specs.items():
        model = build_model(model_spec(task, {"arch": arch, **cfg}, example.shape[1]))
        for ratio in ratios:
            info = prune_model(copy.deepcopy(model), example, float(ratio), "l1", seed, AUTO, latency=table)
            plans[f"{arch} {ratio:g}"] = info["width_plans"]
    table.path = Path(out_json)
    table.save()
    log.info("latency table %s: %d shapes measured on %s in %s; widths %s", out_json, table.measured, device, runtime,
             plans)
    return plans
