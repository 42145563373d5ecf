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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from spade.checkpoint import save_atomic
from spade.digests import data_digest, fingerprint_of, model_digest, physics_digest
from spade.log import Heartbeat
from spade.metrics import TASK_CONVENTIONS, score
from spade.physics import batch_physics
from spade.strategies import StrategyName


def set_reproducible(seed: int, threads: int) -> None:
    """Seed every generator and fix the thread count (both change the numbers). On CUDA,
    cuBLAS needs a fixed workspace for deterministic results (set before its first use)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.set_num_threads(max(1, int(threads)))
    torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass
class Strategy:
    """A named loss over a batch. ``needs_target`` says whether batches carry ``x``.

    A strategy with a frozen ``teacher`` (school) also has ``paired_loss``, the same loss
    on ``(y, teacher output)`` pairs: :func:`fit` computes the teacher's outputs once
    instead of at every epoch (an equilibrium teacher solves its fixed point each time).
    """

    name: str
    needs_target: bool
    loss: Callable  # (model, physics, batch, generator) -> scalar tensor
    teacher: nn.Module | None = None
    paired_loss: Callable | None = None
    # the task whose metric convention scores the validation curve of a strategy with targets
    task: str | None = None


def make_strategy(name, task: str, cfg: dict, teacher: nn.Module | None = None) -> Strategy:
    """The loss of strategy ``name`` (a :class:`spade.strategies.StrategyName`, or a name
    such as ``school`` or ``supervised-iter``: the loss is the registry entry's) with its
    settings ``cfg`` (the config's ``finetune`` block)."""
    strategy = StrategyName.parse(name)
    spec = strategy.spec
    built = spec.build(task, cfg, teacher)
    return Strategy(str(strategy), spec.needs_target, built.loss, teacher if spec.needs_teacher else None,
                    built.paired_loss, task)


# What a label-free fit watches on the validation measurements (never ground truth): its
# own loss, the held-out k-space score (spade.losses.heldout_kspace_score; MRI) or the
# cross-scale score (spade.losses.cross_scale_score; SR).
LABEL_FREE_MONITORS = ("loss", "heldout_kspace", "cross_scale")


def label_free_fit_options(opts: dict, task: str) -> dict:
    """``opts`` (a strategy's fine-tuning options) with the config's ``label_free`` block
    applied, for a label-free strategy on ``task``: its own ``lr`` and ``epochs`` where set,
    the ``anchor`` pull toward the starting weights and the task's validation ``monitor``."""
    block = opts.get("label_free") or {}
    out = dict(opts)
    for key in ("lr", "epochs"):
        if block.get(key) is not None:
            out[key] = block[key]
    out["anchor_weight"] = float(block.get("anchor") or 0.0)
    out["monitor"] = (block.get("monitor") or {}).get(task, "loss")
    return out


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


class _FirstOutput:
    """Keeps the first output of ``model`` per batch (a forward hook): the reconstruction
    that a strategy with targets scores, reused for PSNR instead of a second forward pass."""

    def __init__(self, model: nn.Module):
        self.output = None
        self.handle = model.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output) -> None:
        if self.output is None:
            self.output = output.detach()


def evaluate_loss(model, strategy: Strategy, physics, dataset, batch_size: int, seed: int,
                  device: torch.device = torch.device("cpu")) -> tuple[float, float | None]:
    """``(mean strategy loss, mean PSNR)`` over ``dataset`` with a fixed random draw
    (comparable across epochs). The PSNR (the task's default convention, per image, the
    network's own reconstruction of the measurements) only for a strategy with targets;
    ``None`` otherwise: a label-free strategy never reads ground truth."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)  # on the CPU: the same draws on every device
    total, count, psnrs = 0.0, 0, []
    watch = _FirstOutput(model) if monitors_psnr(strategy) else None
    try:
        with torch.no_grad():
            for batch in _batches(dataset, batch_size, None):
                batch, batch_op = split_batch(to_device(batch, device), dataset, physics)
                n = _batch_size(batch)
                if watch is not None:
                    watch.output = None
                total += strategy.loss(model, batch_op, batch, gen).item() * n
                count += n
                if watch is not None:
                    pred, target = watch.output.cpu(), batch[1].cpu()
                    psnrs += [score(pred[i], target[i], batch_op, strategy.task)["psnr"] for i in range(n)]
    finally:
        if watch is not None:
            watch.handle.remove()
    return total / count, (sum(psnrs) / len(psnrs) if psnrs else None)


def fit(model: nn.Module, strategy: Strategy, physics, train_set, val_set, opts: dict, seed: int,
        state_path, history_path, log: Callable[[str], None] = print,
        device: torch.device = torch.device("cpu")) -> tuple[nn.Module, list[dict]]:
    """Train ``model`` with ``strategy`` for at most ``opts['epochs']`` epochs on ``device``;
    return the model at the best point of its validation curve (on ``device``) and the
    history of the epochs run.

    ``opts``: ``epochs`` (the cap), ``batch_size``, ``lr``, optional ``lr_min_factor``
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
        raise ValueError(f"strategy {strategy.name} needs_target={strategy.needs_target} but the "
                         f"training set was opened with with_target={train_set.with_target}")
    jacobian_weight = float(opts.get("jacobian_weight") or 0.0)
    if jacobian_weight and not hasattr(model, "track_jacobian"):
        raise ValueError(f"jacobian_weight {jacobian_weight}: {type(model).__name__} is not an equilibrium network "
                         "with a Jacobian estimate (spade.models.deq.DEQ); the penalty applies to DEQs only")
    state_path, history_path = Path(state_path), Path(history_path)
    model, physics = model.to(device), physics.to(device)
    epochs, batch_size = int(opts["epochs"]), int(opts["batch_size"])
    monitor = opts.get("monitor")
    if strategy.teacher is not None:  # the frozen teacher's targets do not change: compute them once
        teacher = strategy.teacher.to(device)
        train_set = TeacherOutputs(train_set, teacher, physics, batch_size, device)
        if monitor in (None, "loss"):  # a held-out or cross-scale score never reads the teacher
            val_set = TeacherOutputs(val_set, teacher, physics, batch_size, device)
        strategy = dataclasses.replace(strategy, loss=strategy.paired_loss, teacher=None)
    anchor_weight = float(opts.get("anchor_weight") or 0.0)
    anchor = [p.detach().clone() for p in model.parameters()] if anchor_weight else None
    if monitor is not None and (strategy.needs_target or monitor not in LABEL_FREE_MONITORS):
        raise ValueError(f"monitor {monitor!r}: a label-free fit watches one of {LABEL_FREE_MONITORS}, and a fit "
                         f"with targets its validation PSNR (strategy {strategy.name})")
    val_strategy = _monitor_strategy(strategy, monitor, opts)
    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    total_steps = max(1, epochs * steps_per_epoch)
    floor = float(opts.get("lr_min_factor", 0.1))
    optimiser = torch.optim.Adam(model.parameters(), lr=float(opts["lr"]))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)))
    # Everything that decides the result: a state written under any other data, operator,
    # network, solver, options or seed is never resumed (a rebuilt split of the same size
    # would otherwise "resume" at its last epoch and return the old model).
    fingerprint = fingerprint_of({"opts": opts, "seed": seed, "strategy": strategy.name,
                                "train": data_digest(train_set), "val": data_digest(val_set),
                                "physics": physics_digest(physics), "model": model_digest(model)})
    history: list[dict] = []
    # the curve watched, as a value to minimise: -PSNR for a strategy with targets
    best_val, best_state, start = math.inf, None, 0
    patience = opts.get("patience")
    if state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=True)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            scheduler.load_state_dict(state["scheduler"])
            best_val, best_state, start = state["best_val"], state["best_model"], state["epoch"]
            history = state["history"]
            log(f"resuming from {state_path} after epoch {start}")
        else:
            log(f"ignoring {state_path}: written with other settings")
    state_path.parent.mkdir(parents=True, exist_ok=True)
    if monitor is not None and start == 0 and not history:
        # the starting network is a point of the curve: a label-free loss that only moves
        # it away from what its own score prefers keeps it (no harm by construction)
        best_val, _ = evaluate_loss(model, val_strategy, physics, val_set, batch_size, seed + 7919, device)
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        history.append({"epoch": 0, "train_loss": None, "val_loss": best_val, "val_psnr": None,
                        "lr": scheduler.get_last_lr()[0], "seconds": 0.0, "iterations": None, "prior_calls": None,
                        "jacobian": None, "best": True})
        log(f"epoch 0 (the starting network): val {best_val:.5f}")
    beat = Heartbeat(f"{strategy.name} training", (epochs - start) * steps_per_epoch, log, unit="step")
    calls = PriorCalls(model)
    for epoch in range(start, epochs):
        if patience and _epochs_since_best(history) >= int(patience):
            log(f"stopping after epoch {epoch}: no better validation value in the last {patience} epochs")
            break
        tic = time.perf_counter()
        model.train()
        calls.count = 0
        gen = torch.Generator().manual_seed(seed * 1000 + epoch)  # per-epoch stream: resume is exact
        running, seen, solves, jacobians = 0.0, 0, [], []
        if jacobian_weight:
            model.track_jacobian = True
        for batch in _batches(train_set, batch_size, gen):
            batch, batch_op = split_batch(to_device(batch, device), train_set, physics)
            loss = strategy.loss(model, batch_op, batch, gen)
            if jacobian_weight:  # every forward of the batch (EI runs the network twice)
                penalty = torch.stack(model.jacobian_terms).mean()
                model.jacobian_terms.clear()
                jacobians.append(penalty.item())
                loss = loss + jacobian_weight * penalty
            if anchor is not None:
                loss = loss + anchor_weight * sum((p - a).pow(2).sum() for p, a in zip(model.parameters(), anchor))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"epoch {epoch + 1}: {strategy.name} loss is {loss.item()}")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if opts.get("grad_clip"):
                nn.utils.clip_grad_norm_(model.parameters(), float(opts["grad_clip"]))
            optimiser.step()
            scheduler.step()
            beat.step()
            n = _batch_size(batch)
            running, seen = running + loss.item() * n, seen + n
            if getattr(model, "last_iterations", None) is not None:
                solves.append(model.last_iterations.float().mean().item())
        if jacobian_weight:
            model.track_jacobian = False
        # before validation, which is not training compute; None for a network without priors()
        prior_calls = calls.count / seen if calls.handles else None
        val, val_psnr = evaluate_loss(model, val_strategy, physics, val_set, batch_size, seed + 7919, device)
        watched = -val_psnr if val_psnr is not None else val
        row = {"epoch": epoch + 1, "train_loss": running / seen, "val_loss": val, "val_psnr": val_psnr,
               "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - tic,
               # mean fixed-point iterations of the training solves (equilibrium networks)
               "iterations": sum(solves) / len(solves) if solves else None,
               # the epoch's training compute: prior evaluations per training image
               "prior_calls": prior_calls,
               # mean estimate of ||J||_F^2 / d at the training fixed points (with jacobian_weight)
               "jacobian": sum(jacobians) / len(jacobians) if jacobians else None,
               # whether this epoch is the best point of the watched curve so far
               "best": watched < best_val}
        history.append(row)
        if watched < best_val:
            best_val = watched
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        solved = f", {row['iterations']:.1f} solver iterations" if solves else ""
        psnr = f" val PSNR {val_psnr:.2f} dB" if val_psnr is not None else ""
        log(f"epoch {epoch + 1}/{epochs} train {row['train_loss']:.5f} val {val:.5f}{psnr} "
            f"({row['seconds']:.1f}s{solved})")
        save_atomic({"fingerprint": fingerprint, "epoch": epoch + 1, "model": model.state_dict(),
                      "optimiser": optimiser.state_dict(), "scheduler": scheduler.state_dict(),
                      "best_val": best_val, "best_model": best_state, "history": history}, state_path)
    calls.remove()
    if best_state is not None:
        model.load_state_dict(best_state)
    write_history(history, history_path)
    return model, history


def _monitor_strategy(strategy: Strategy, monitor: str | None, opts: dict) -> Strategy:
    """``strategy`` with the validation score ``monitor`` as its validation loss: its own
    loss (``loss``, or none given), the held-out k-space score (MRI: one fixed SSDU split of
    each validation acquisition, :func:`spade.losses.heldout_kspace_score`) or the
    cross-scale score (SR, :func:`spade.losses.cross_scale_score`)."""
    from spade.losses import cross_scale_score, heldout_kspace_score

    if monitor in (None, "loss"):
        return strategy
    split = opts.get("ssdu") or {}
    fraction, centre = float(split.get("loss_fraction", 0.4)), float(split.get("center_fraction", 0.08))

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


class PriorCalls:
    """Counts the prior evaluations of ``model`` (forward hooks on its priors) while the
    hooks are on: the unit of training compute that covers unrolled steps, cascades and a
    DEQ's solver iterations alike."""

    def __init__(self, model: nn.Module):
        self.count = 0
        priors = model.priors() if hasattr(model, "priors") else []
        self.handles = [p.register_forward_hook(self._hook) for p in priors]

    def _hook(self, module, inputs, output) -> None:
        self.count += (output.shape[0] if torch.is_tensor(output) else 1)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def write_history(history: list[dict], path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = ["epoch", "train_loss", "val_loss", "val_psnr", "best", "lr", "seconds", "iterations", "prior_calls"]
    fields += sorted({k for row in history for k in row} - set(fields))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)
