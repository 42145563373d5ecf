"""Pruning the unpruned network: at a ratio of the grid, or to a measured speed target."""

from __future__ import annotations

from spade.checkpoint import load_model, save_model
from spade.prune import DEFAULT_TAYLOR_IMAGES, prune_model
from spade.provenance import environment, write_json
from spade.stages.context import log, pruning_data, start_job, timing_input
from spade.variants import PRUNED, Variant


def _save_pruned(out_model, model, payload: dict, variant: Variant, info: dict, round_to, base_path,
                 **extra) -> None:
    meta = {"stage": "prune", "identity": variant.columns(), "round_to": round_to, "base": str(base_path),
            "params_before": info["params_before"], "params_after": info["params_after"],
            "channel_ratio": info["channel_ratio"], **extra}
    save_model(out_model, model, payload["spec"], meta)


def prune(base_path, data_path, ratio: float, criterion: str, seed: int, out_model,
          round_to: int | None = None, taylor_images: int = DEFAULT_TAYLOR_IMAGES) -> dict:
    """Prune the unpruned network's priors. ``data_path``: measurements only (the
    unlabelled split): an example input, and for the taylor criterion the first
    ``taylor_images`` measurements whose consistency loss gives the gradients."""
    model, payload = load_model(base_path)
    _, example, measurements = pruning_data(data_path, taylor_images)
    info = prune_model(model, example, ratio, criterion, seed, round_to, measurements)
    base = Variant.from_meta(payload["meta"])
    variant = Variant(base.task, base.arch, criterion, ratio, PRUNED)
    _save_pruned(out_model, model, payload, variant, info, round_to, base_path, pruned_with=str(data_path),
                 **environment(seed))
    log.info("pruned %s at %s: %d -> %d parameters, %.3f of the prior channels removed", base_path, ratio,
             info["params_before"], info["params_after"], info["channel_ratio"])
    return info


def prune_to_speed(base_path, data_path, target: float, criterion: str, seed: int, threads: int, opts: dict,
                   out_model, out_json, device_setting: str = "cpu", round_to: int | None = None,
                   taylor_images: int = DEFAULT_TAYLOR_IMAGES, crop: int | None = None) -> dict:
    """Prune the unpruned network at the smallest ratio of ``opts['grid']`` whose measured
    speedup on unlabelled measurement 0 (``data_path``; SR: tiled to the benchmark's
    ``crop``, :func:`timing_input`) reaches ``target`` (:func:`spade.target.ratio_for_speedup`);
    the model's identity records the target and the ratio found, and ``out_json`` every
    probe and the shape timed."""
    from spade.target import ratio_for_speedup

    device = start_job(seed, threads, device_setting, timed=True)
    model, payload = load_model(base_path)
    task, example, measurements = pruning_data(data_path, taylor_images)
    y, op = measurements[0]
    timed = timing_input(y, task, crop)
    found = ratio_for_speedup(model, op, timed, target, opts["grid"], criterion, seed, round_to, int(opts["warmup"]),
                              int(opts["repeats"]), device, measurements)
    found["timed_shape"] = list(timed.shape)
    info = prune_model(model, example, found["ratio"], criterion, seed, round_to, measurements)
    base = Variant.from_meta(payload["meta"])
    variant = Variant(base.task, base.arch, criterion, found["ratio"], PRUNED, target=target)
    env = environment(seed, str(device))
    _save_pruned(out_model, model, payload, variant, info, round_to, base_path, speed_target=found,
                 searched_on=str(data_path), **env)
    write_json({**found, "task": base.task, "arch": base.arch, "searched_on": str(data_path), **env}, out_json)
    log.info("target %.2fx: ratio %s (%s, measured %.2fx); probes %s", target, found["ratio"],
             "reached" if found["reached"] else "NOT reached", found["speedup"], found["probes"])
    return found
