"""Training with the supervised loss: the unpruned network, the scratch control (the pruned
widths from random initialisation) and the unpruned-long control (the unpruned network
trained on for a recipe's epochs)."""

from __future__ import annotations

import copy

import torch

from spade.checkpoint import build_narrowed, load_model, load_payload, save_model
from spade.study.data import H5Split
from spade.models import build_model
from spade.options import FitOptions
from spade.study.provenance import environment
from spade.prune import output_convs
from spade.study.stages.context import fit_cost, load_physics, log, start_job
from spade.strategies import DATA_LABELLED
from spade.train import fit, make_strategy
from spade.study.variants import SCRATCH, UNPRUNED_LONG, Variant


def model_spec(task: str, arch_cfg: dict, channels: int) -> dict:
    spec = copy.deepcopy(arch_cfg)
    spec["channels"] = channels
    spec["task"] = task
    return spec


def _supervised_fit(model, task: str, physics, opts: FitOptions, seed: int, train_path, val_path, state_path,
                    history_path, device: torch.device):
    """Train ``model`` with the supervised loss on the labelled splits; ``(model, history, train_set)``."""
    train_set, val_set = H5Split(train_path, True), H5Split(val_path, True)
    model, history = fit(model, make_strategy("supervised", task, opts), physics, train_set, val_set, opts, seed,
                         state_path, history_path, log=log.info, device=device)
    return model, history, train_set


def train_unpruned(task: str, arch: str, arch_cfg: dict, opts, seed: int, threads: int, train_path, val_path,
                   out_model, history_path, state_path, device_setting: str = "cpu") -> None:
    """Train the unpruned network with the supervised loss."""
    opts = FitOptions.of(opts)
    device = start_job(seed, threads, device_setting)
    data_task, physics = load_physics(train_path)
    if data_task != task:
        raise ValueError(f"{train_path}: holds task {data_task!r}, but the {task!r} model was asked for")
    spec = model_spec(task, {"arch": arch, **arch_cfg}, H5Split(train_path, True).x[0].shape[0])
    model, history, train_set = _supervised_fit(build_model(spec), task, physics, opts, seed, train_path, val_path,
                                                state_path, history_path, device)
    save_model(out_model, model, spec, {"stage": "train", "identity": Variant(task, arch).columns(),
                                        "history": history, "opts": opts.as_dict(),
                                        "cost": fit_cost(history, train_set, DATA_LABELLED, device),
                                        **environment(seed, str(device))})


def train_scratch(pruned_path, opts, seed: int, threads: int, train_path, val_path, out_model, history_path,
                  state_path, device_setting: str = "cpu") -> None:
    """The control of every pruning result: a network with the pruned widths trained from
    random initialisation (the unpruned network's own init recipe, output convolutions
    zeroed) with the unpruned network's supervised budget ``opts``."""
    opts = FitOptions.of(opts)
    device = start_job(seed, threads, device_setting)
    payload = load_payload(pruned_path)
    model = build_narrowed(payload["spec"], payload["layer_shapes"])
    with torch.no_grad():  # as every prior starts: the identity (see spade.models.edsr)
        for prior in model.priors():
            for conv in output_convs(prior):
                conv.weight.zero_()
                if conv.bias is not None:
                    conv.bias.zero_()
    model, history, train_set = _supervised_fit(model, payload["spec"]["task"], load_physics(train_path)[1], opts,
                                                seed, train_path, val_path, state_path, history_path, device)
    variant = Variant.from_meta(payload["meta"]).with_strategy(SCRATCH)
    meta = {"stage": "scratch", "identity": variant.columns(), "widths_of": str(pruned_path),
            "history": history, "opts": opts.as_dict(),
            "cost": fit_cost(history, train_set, DATA_LABELLED, device),
            **environment(seed, str(device))}
    save_model(out_model, model, payload["spec"], meta)


def train_unpruned_long(unpruned_path, opts, seed: int, threads: int, train_path, val_path, out_model,
                        history_path, state_path, device_setting: str = "cpu") -> None:
    """The control beside every recipe: the unpruned network trained on with the supervised
    loss for the epochs a recipe spends (``opts``: :meth:`spade.study.Study.unpruned_long_options`),
    so that what extra training buys is not read as recovery after pruning."""
    opts = FitOptions.of(opts)
    device = start_job(seed, threads, device_setting)
    model, payload = load_model(unpruned_path)
    task = payload["spec"]["task"]
    model, history, train_set = _supervised_fit(model, task, load_physics(train_path)[1], opts, seed, train_path,
                                                val_path, state_path, history_path, device)
    variant = Variant.from_meta(payload["meta"]).with_strategy(UNPRUNED_LONG)
    meta = {"stage": "unpruned-long", "identity": variant.columns(), "from": str(unpruned_path), "history": history,
            "opts": opts.as_dict(), "cost": fit_cost(history, train_set, DATA_LABELLED, device),
            **environment(seed, str(device))}
    save_model(out_model, model, payload["spec"], meta)
