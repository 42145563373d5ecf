"""Scoring a variant (a network, its prior-off control, or the classical baseline) image by
image on a labelled split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from spade.checkpoint import CheckpointError, load_model
from spade.metrics import convention_for, prepare, score
from spade.models import prior_off as switch_prior_off
from spade.study.stages.context import data_ranges, log, open_split, sample_operator, start_job
from spade.study.variants import CLASSICAL, IDENTITY, PRIOR_OFF, UNPRUNED, Variant


def model_variant(payload: dict, path) -> Variant:
    """The variant an artifact's metadata records (see :mod:`spade.study.variants`)."""
    ident = payload.get("meta", {}).get("identity")
    if not isinstance(ident, dict) or not set(IDENTITY) - {"target"} <= set(ident) <= set(IDENTITY):
        raise CheckpointError(f"{path}: metadata has no variant identity {IDENTITY}; rebuild it with this version")
    return Variant.from_identity(ident)


def reconstruct(model, physics, y: torch.Tensor) -> torch.Tensor:
    """The network's output, or the classical baseline when ``model`` is None."""
    with torch.inference_mode():
        return physics.init(y) if model is None else model(y, physics)


def load_variant(path, prior_off: bool = False, task: str | None = None,
                 cs: dict | None = None) -> tuple[torch.nn.Module | None, Variant]:
    """``(model, variant)``: an artifact, its prior-off control (``prior_off``: the unpruned
    network with every prior the identity), the classical baseline (``path=None``, no
    model), or a compressed-sensing baseline (``path=None``, ``cs``: its ``method``,
    ``lamda``, ``iterations`` and ``sigma``, :mod:`spade.study.classical`)."""
    if path is None and cs is not None:
        from spade.study.classical import ARCH, CSReconstructor

        model = CSReconstructor(cs["method"], cs["lamda"], cs["iterations"], cs.get("sigma"))
        return model.eval(), Variant(task, ARCH[cs["method"]], strategy=CLASSICAL)
    if path is None:
        return None, Variant(task, CLASSICAL, strategy=CLASSICAL)
    model, payload = load_model(path)
    variant = model_variant(payload, path)
    if prior_off:
        if variant.strategy != UNPRUNED:
            raise ValueError(f"{path}: the prior-off control is defined for the unpruned network, "
                             f"not for strategy {variant.strategy!r}")
        model, variant = switch_prior_off(model), variant.with_strategy(PRIOR_OFF)
    return model.eval(), variant


def evaluate(model_path, test_path, out_csv, out_examples, n_examples: int, threads: int,
             device_setting: str = "cpu", convention: str | None = None, prior_off: bool = False,
             cs: dict | None = None) -> pd.DataFrame:
    """Per-image PSNR/SSIM on a labelled split (test, external or val; ``model_path=None``:
    the classical baseline, or with ``cs`` the compressed-sensing baseline it describes;
    ``prior_off``: the unpruned network's prior-off control) under
    ``convention`` (the task's default when None; see :mod:`spade.metrics`). Every row
    carries the variant's identity and the split. Networks run on ``device``; metrics are
    computed on the CPU. Each image uses its own operator where the file holds per-sample
    physics; the CSV names each image's group (its volume or test set) where recorded."""
    device = start_job(0, threads, device_setting)
    task, physics, data = open_split(test_path, True)
    convention = convention_for(task, convention)
    if cs is not None and task != "mri":
        raise ValueError(f"{test_path}: compressed sensing is an MRI baseline, not one of task {task!r}")
    model, variant = load_variant(model_path, prior_off, task, cs)
    if variant.task != task:
        raise ValueError(f"{model_path}: a {variant.task!r} network cannot be evaluated on {test_path} ({task!r})")
    model = None if model is None else model.to(device)
    groups = data.groups or ["all"] * len(data)
    shown = example_indices(data.groups, len(data), n_examples)
    frame, examples = score_images(model, task, physics, data, convention, device, shown)
    frame["convention"] = convention
    frame = frame.assign(**variant.columns(), split=data.split)
    if cs is not None:  # what the baseline ran with: lambda (chosen on validation) and iterations
        frame = frame.assign(cs_lambda=float(cs["lamda"]), cs_iterations=int(cs["iterations"]))
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_csv, index=False)
    np.savez_compressed(out_examples, names=np.array([data.names[i] for i in shown]),
                        units=np.array([groups[i] for i in shown]), **examples)
    return frame


def score_images(model, task: str, physics, data, convention: str, device,
                 shown: list[int] = ()) -> tuple[pd.DataFrame, dict]:
    """Per-image scores of ``model`` (None: the classical baseline) on every image of the
    labelled split ``data``, each with its own operator and its unit; a DEQ's iterations
    per image. Returns the rows and, for the images ``shown``, the prepared reconstructions
    and targets of the example grid."""
    groups = data.groups or ["all"] * len(data)
    ranges = data_ranges(data, physics, convention)  # fastMRI's: the maximum of the target volume
    rows, examples = [], {}
    slot = {i: k for k, i in enumerate(shown)}  # image index -> its place in the grid
    for i in range(len(data)):
        y, x = data.y[i], data.x[i]
        op = sample_operator(physics, data, i)
        pred = reconstruct(model, op.to(device), y[None].to(device))[0].cpu()
        row = {"image": data.names[i]}
        if data.groups is not None:
            row[data.group_kind] = data.groups[i]
        row.update(score(pred, x, op, task, convention, ranges.get(groups[i])))
        if getattr(model, "last_iterations", None) is not None:
            row["iterations"] = int(model.last_iterations[0])
        rows.append(row)
        if i in slot:
            k = slot[i]
            examples[f"pred_{k}"] = prepare(pred, op, task, convention).numpy()
            examples[f"target_{k}"] = prepare(x, op, task, convention).numpy()
    return pd.DataFrame(rows), examples


def example_indices(groups, count: int, n_examples: int) -> list[int]:
    """The images the example grid shows: one per unit (the middle image of each of the
    first ``n_examples`` subjects or photographs), or the first ``n_examples`` images where
    the split records no units."""
    if not groups:
        return list(range(min(count, n_examples)))
    members: dict = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    return [m[len(m) // 2] for m in list(members.values())[:n_examples]]


def evaluate_many(jobs: list[dict], data_path, n_examples: int, threads: int, device_setting: str = "cpu",
                  convention: str | None = None) -> None:
    """:func:`evaluate` each of ``jobs`` (``model``, ``prior_off``, ``metrics`` and
    ``examples`` paths: :meth:`spade.study.Study.evaluation_jobs`) on one split, in this
    process."""
    for job in jobs:
        frame = evaluate(job["model"], data_path, job["metrics"], job["examples"], n_examples, threads,
                         device_setting, convention, bool(job.get("prior_off")))
        log.info("%s%s: PSNR %.2f dB on %d images", job["model"], " (prior off)" if job.get("prior_off") else "",
                 frame.psnr.mean(), len(frame))
