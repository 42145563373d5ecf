"""The training loop shared by base-model training and every fine-tuning strategy.

It checkpoints after every epoch (model, optimiser, scheduler, best weights, history)
and resumes from that state when rerun with the same settings. Every fit watches a
validation curve: a strategy with targets its validation PSNR, a label-free one the value
of its *own* loss on the validation measurements (never ground truth). The model kept is
the best point of that curve, and with ``patience`` the fit stops once the curve has not
improved for that many epochs: ``epochs`` is then a cap, and the epochs a fit used come
from its own curve.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from spade.hooks import forward_hooks
from spade.log import Heartbeat
from spade.metrics import TASK_CONVENTIONS, score
from spade.options import FitOptions
from spade.physics import batch_physics
from spade.resume import FitState, fit_fingerprint
from spade.strategies import Strategy


def set_reproducible(seed: int, threads: int) -> None:
    """Seed every generator and fix the thread count (both change the numbers). On CUDA,
    cuBLAS needs a fixed workspace for deterministic results (set before its first use)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.set_num_threads(max(1, int(threads)))
    torch.use_deterministic_algorithms(True, warn_only=True)


def make_strategy(name, task: str, cfg, teacher: nn.Module | None = None) -> Strategy:
    """The losses of strategy ``name`` (a :class:`spade.strategies.Strategy`, or a name
    such as ``school`` or ``supervised-iter``: the loss is the registry entry's) with its
    settings ``cfg`` (a fit's :class:`spade.options.FitOptions`, or its flat block: the
    loss, and the strategies' settings such as ``ssdu`` and ``ei``)."""
    if isinstance(cfg, FitOptions):
        cfg = cfg.as_dict()
    return Strategy.parse(name).bind(task, cfg, teacher)


# What a label-free fit watches on the validation measurements (never ground truth): its
# own loss, the held-out k-space score (spade.losses.heldout_kspace_score; MRI) or the
# cross-scale score (spade.losses.cross_scale_score; SR).
LABEL_FREE_MONITORS = ("loss", "heldout_kspace", "cross_scale")


def label_free_fit_options(opts, task: str) -> FitOptions:
    """``opts`` (a strategy's fine-tuning options, :class:`spade.options.FitOptions` or a
    block) with its ``label_free`` settings applied, for a label-free strategy on ``task``:
    its own ``lr`` and ``epochs`` where set, the ``anchor`` pull toward the starting weights
    and the task's validation ``monitor``."""
    opts = FitOptions.of(opts)
    block = opts.settings["label_free"]
    return opts.replace(lr=opts.lr if block["lr"] is None else float(block["lr"]),
                        epochs=opts.epochs if block["epochs"] is None else int(block["epochs"]),
                        anchor_weight=float(block["anchor"] or 0.0), monitor=block["monitor"].get(task, "loss"))


def _batches(dataset, batch_size: int, generator: torch.Generator | None):
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=generator is not None,
                                       generator=generator, num_workers=0)


def to_device(batch, device: torch.device):
    """A batch (a tensor, or a tuple/list/dict of them) on ``device``."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch.to(device, non_blocking=True)


def split_batch(batch, dataset, physics):
    """``(strategy batch, operator of the batch)``. A dataset with per-sample physics
    (real fastMRI slices: own coil maps, per-file masks) appends its arrays to every
    item; they are stripped here and the batch's operator is built from them."""
    if not getattr(dataset, "per_sample", None):
        return batch, physics
    *data, params = batch
    return (data if len(data) > 1 else data[0]), batch_physics(physics, params)


def _batch_size(batch) -> int:
    return (batch[0] if isinstance(batch, (tuple, list)) else batch).shape[0]


class TeacherOutputs(torch.utils.data.Dataset):
    """A split paired with a frozen teacher's reconstruction of each of its measurements,
    computed once: items are the split's own (``y``, or ``(y, x)`` for a labelled split)
    followed by ``teacher(y)`` (then the sample's physics arrays where the split has
    them). A label-free split stays label free: the teacher sees measurements only."""

    def __init__(self, dataset, teacher: nn.Module, physics, batch_size: int, device: torch.device):
        self.dataset, self.per_sample = dataset, getattr(dataset, "per_sample", None)
        self.with_target = dataset.with_target
        outputs = []
        with torch.no_grad():
            for batch in _batches(dataset, batch_size, None):
                data, op = split_batch(to_device(batch, device), dataset, physics)
                outputs.append(teacher(data[0] if dataset.with_target else data, op).cpu())
        self.outputs = torch.cat(outputs)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        item = self.dataset[i]
        item = tuple(item) if isinstance(item, (tuple, list)) else (item,)
        if self.per_sample:  # the physics arrays stay last
            return (*item[:-1], self.outputs[i], item[-1])
        return (*item, self.outputs[i])


def monitors_psnr(strategy: Strategy) -> bool:
    """Whether ``strategy``'s validation curve is PSNR (a strategy with targets on one of the
    study's tasks, whose metric convention is known) rather than its own loss (label-free
    strategies, and networks of the API's own tasks)."""
    return strategy.needs_target and strategy.task in TASK_CONVENTIONS


def evaluate_loss(model, strategy: Strategy, physics, dataset, batch_size: int, seed: int,
                  device: torch.device = torch.device("cpu")) -> tuple[float, float | None]:
    """``(mean strategy loss, mean PSNR)`` over ``dataset`` with a fixed random draw
    (comparable across epochs). The PSNR (the task's default convention, per image, the
    network's own reconstruction of the measurements) only for a strategy with targets;
    ``None`` otherwise: a label-free strategy never reads ground truth."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)  # on the CPU: the same draws on every device
    total, count, psnrs = 0.0, 0, []
    # the first output of the model per batch: the reconstruction that a strategy with targets
    # scores, reused for PSNR instead of a second forward pass
    first: list[torch.Tensor] = []
    watched = [model] if monitors_psnr(strategy) else []

    def keep_first(module, args, output) -> None:
        if not first:
            first.append(output.detach())

    with forward_hooks(watched, after=keep_first), torch.no_grad():
        for batch in _batches(dataset, batch_size, None):
            batch, batch_op = split_batch(to_device(batch, device), dataset, physics)
            n = _batch_size(batch)
            first.clear()
            total += strategy.loss(model, batch_op, batch, gen).item() * n
            count += n
            if watched:
                pred, target = first[0].cpu(), batch[1].cpu()
                psnrs += [score(pred[i], target[i], batch_op, strategy.task)["psnr"] for i in range(n)]
    return total / count, (sum(psnrs) / len(psnrs) if psnrs else None)


def fit(model: nn.Module, strategy: Strategy, physics, train_set, val_set, opts, seed: int,
        state_path, history_path, log: Callable[[str], None] = print,
        device: torch.device = torch.device("cpu")) -> tuple[nn.Module, list[dict]]:
    """Train ``model`` with ``strategy`` for at most ``opts.epochs`` epochs on ``device``;
    return the model at the best point of its validation curve (on ``device``) and the
    history of the epochs run.

    ``opts``: a :class:`spade.options.FitOptions`, or a block it is read from once (the
    library's defaults, spade.defaults, for what it leaves out): ``epochs`` (the cap), ``batch_size``, ``lr``, ``lr_min_factor``
    (cosine decay to ``lr * lr_min_factor`` over the cap), ``grad_clip``, ``patience``
    (stop after that many epochs without a better validation value; null: run to the cap)
    and ``jacobian_weight`` (an equilibrium network only: that times its estimate of
    ``||J||_F^2 / d`` at the fixed point added to the loss, :mod:`spade.models.deq`; the
    history's ``jacobian`` column is the estimate's epoch mean). Label-free fits
    (:func:`label_free_fit_options`) also take ``anchor_weight`` (that times
    ``||theta - theta_0||^2``, the squared distance from the starting weights: proximal
    fine-tuning, L2-SP) and ``monitor`` (the validation curve: the strategy's own loss, or
    ``heldout_kspace``, ``cross_scale``); the validation curve then starts at epoch 0, the starting
    network, which is kept if no epoch improves on it.
    """
    if strategy.needs_target != train_set.with_target:
        raise ValueError(f"strategy {strategy} needs_target={strategy.needs_target} but the "
                         f"training set was opened with with_target={train_set.with_target}")
    opts = FitOptions.of(opts)
    if opts.jacobian_weight and not hasattr(model, "track_jacobian"):
        raise ValueError(f"jacobian_weight {opts.jacobian_weight}: {type(model).__name__} is not an equilibrium "
                         "network with a Jacobian estimate (spade.models.deq.DEQ); the penalty applies to DEQs only")
    monitor = opts.monitor
    if monitor is not None and (strategy.needs_target or monitor not in LABEL_FREE_MONITORS):
        raise ValueError(f"monitor {monitor!r}: a label-free fit watches one of {LABEL_FREE_MONITORS}, and a fit "
                         f"with targets its validation PSNR (strategy {strategy})")
    model, physics = model.to(device), physics.to(device)
    epochs, batch_size = opts.epochs, opts.batch_size
    if strategy.teacher is not None:  # the frozen teacher's targets do not change: compute them once
        teacher = strategy.teacher.to(device)
        train_set = TeacherOutputs(train_set, teacher, physics, batch_size, device)
        if monitor in (None, "loss"):  # a held-out or cross-scale score never reads the teacher
            val_set = TeacherOutputs(val_set, teacher, physics, batch_size, device)
        strategy = dataclasses.replace(strategy, loss=strategy.paired_loss, teacher=None)
    val_strategy = _monitor_strategy(strategy, monitor, opts)
    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    total_steps = max(1, epochs * steps_per_epoch)
    floor = opts.lr_min_factor
    optimiser = torch.optim.Adam(model.parameters(), lr=opts.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)))
    # the anchor is the starting weights, also when the fit resumes
    anchor = [p.detach().clone() for p in model.parameters()] if opts.anchor_weight else None
    state = FitState(Path(state_path), fit_fingerprint(opts.as_dict(), seed, str(strategy), train_set, val_set,
                                                       physics, model))
    state.resume(model, optimiser, scheduler, device, log)

    def validate() -> tuple[float, float | None]:
        return evaluate_loss(model, val_strategy, physics, val_set, batch_size, seed + 7919, device)

    if monitor is not None and state.start == 0 and not state.history:
        # the starting network is a point of the curve: a label-free loss that only moves
        # it away from what its own score prefers keeps it (no harm by construction)
        val, _ = validate()
        state.record({"epoch": 0, "train_loss": None, "val_loss": val, "val_psnr": None,
                      "lr": scheduler.get_last_lr()[0], "seconds": 0.0, "iterations": None, "prior_calls": None,
                      "jacobian": None}, val, model)
        log(f"epoch 0 (the starting network): val {val:.5f}")
    beat = Heartbeat(f"{strategy} training", (epochs - state.start) * steps_per_epoch, log, unit="step")
    # the prior evaluations of an epoch's training (forward hooks on the priors): the unit of
    # training compute that covers unrolled steps, cascades and a DEQ's solver iterations alike
    priors = model.priors() if hasattr(model, "priors") else []
    calls = 0

    def count(module, inputs, output) -> None:
        nonlocal calls
        calls += output.shape[0] if torch.is_tensor(output) else 1

    for epoch in range(state.start, epochs):
        if opts.patience and _epochs_since_best(state.history) >= int(opts.patience):
            log(f"stopping after epoch {epoch}: no better validation value in the last {opts.patience} epochs")
            break
        tic = time.perf_counter()
        calls = 0
        gen = torch.Generator().manual_seed(seed * 1000 + epoch)  # per-epoch stream: resume is exact
        with forward_hooks(priors, after=count):  # off during validation, which is not training compute
            trained = _train_epoch(model, strategy, physics, train_set, opts, optimiser, scheduler, gen, anchor,
                                   device, beat, epoch)
        prior_calls = calls / trained["seen"] if priors else None  # None for a network without priors()
        val, val_psnr = validate()
        row = {"epoch": epoch + 1, "train_loss": trained["loss"], "val_loss": val, "val_psnr": val_psnr,
               "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - tic,
               # mean fixed-point iterations of the training solves (equilibrium networks)
               "iterations": trained["iterations"],
               # the epoch's training compute: prior evaluations per training image
               "prior_calls": prior_calls,
               # mean estimate of ||J||_F^2 / d at the training fixed points (with jacobian_weight)
               "jacobian": trained["jacobian"]}
        state.record(row, -val_psnr if val_psnr is not None else val, model)
        solved = f", {row['iterations']:.1f} solver iterations" if row["iterations"] is not None else ""
        psnr = f" val PSNR {val_psnr:.2f} dB" if val_psnr is not None else ""
        log(f"epoch {epoch + 1}/{epochs} train {row['train_loss']:.5f} val {val:.5f}{psnr} "
            f"({row['seconds']:.1f}s{solved})")
        state.save(epoch + 1, model, optimiser, scheduler)
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    write_history(state.history, history_path)
    return model, state.history


def _train_epoch(model, strategy: Strategy, physics, train_set, opts: FitOptions, optimiser, scheduler, gen,
                 anchor, device, beat, epoch: int) -> dict:
    """One epoch of ``strategy``'s loss (plus the Jacobian penalty and the anchor's pull
    where ``opts`` asks for them); its mean loss, the images seen, and the epoch means of the
    solver's iterations and of the Jacobian estimate (None where there are none)."""
    model.train()
    running, seen, solves, jacobians = 0.0, 0, [], []
    if opts.jacobian_weight:
        model.track_jacobian = True
    for batch in _batches(train_set, opts.batch_size, gen):
        batch, batch_op = split_batch(to_device(batch, device), train_set, physics)
        loss = strategy.loss(model, batch_op, batch, gen)
        if opts.jacobian_weight:  # every forward of the batch (EI runs the network twice)
            penalty = torch.stack(model.jacobian_terms).mean()
            model.jacobian_terms.clear()
            jacobians.append(penalty.item())
            loss = loss + opts.jacobian_weight * penalty
        if anchor is not None:
            loss = loss + opts.anchor_weight * sum((p - a).pow(2).sum() for p, a in zip(model.parameters(), anchor))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"epoch {epoch + 1}: {strategy} loss is {loss.item()}")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if opts.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
        optimiser.step()
        scheduler.step()
        beat.step()
        n = _batch_size(batch)
        running, seen = running + loss.item() * n, seen + n
        if getattr(model, "last_iterations", None) is not None:
            solves.append(model.last_iterations.float().mean().item())
    if opts.jacobian_weight:
        model.track_jacobian = False
    return {"loss": running / seen, "seen": seen, "iterations": sum(solves) / len(solves) if solves else None,
            "jacobian": sum(jacobians) / len(jacobians) if jacobians else None}


def _monitor_strategy(strategy: Strategy, monitor: str | None, opts: FitOptions) -> Strategy:
    """``strategy`` with the validation score ``monitor`` as its validation loss: its own
    loss (``loss``, or none given), the held-out k-space score (MRI: one fixed SSDU split of
    each validation acquisition, :func:`spade.losses.heldout_kspace_score`) or the
    cross-scale score (SR, :func:`spade.losses.cross_scale_score`)."""
    from spade.losses import cross_scale_score, heldout_kspace_score

    if monitor in (None, "loss"):
        return strategy
    split = opts.settings["ssdu"]
    fraction, centre = float(split["loss_fraction"]), float(split["center_fraction"])

    def score(model, physics, batch, generator):
        y = batch[0] if isinstance(batch, (tuple, list)) else batch
        if monitor == "cross_scale":
            return cross_scale_score(model, physics, y)
        if not hasattr(physics, "ssdu_split"):
            raise ValueError(f"monitor heldout_kspace: {type(physics).__name__} has no k-space to hold out (MRI only)")
        return heldout_kspace_score(model, physics, y, generator, fraction, centre)

    return dataclasses.replace(strategy, loss=score)


def _epochs_since_best(history: list[dict]) -> int:
    """Epochs run since the best point of the watched validation curve."""
    best = max((i for i, row in enumerate(history) if row["best"]), default=-1)
    return len(history) - 1 - best


def write_history(history: list[dict], path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = ["epoch", "train_loss", "val_loss", "val_psnr", "best", "lr", "seconds", "iterations", "prior_calls"]
    fields += sorted({k for row in history for k in row} - set(fields))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)
