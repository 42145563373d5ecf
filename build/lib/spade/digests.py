"""Content hashes of what a fit depends on (its options, data, operator and initial model):
the resume fingerprint of :func:`spade.train.fit`, so that a changed input never reuses a
stale checkpoint."""

from __future__ import annotations

import hashlib
import json

import torch
from torch import nn


def fingerprint_of(settings: dict) -> str:
    """A short hash of ``settings`` (JSON, keys sorted): what a resumed fit must match."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def digest_tensors(h, tensors) -> None:
    """Feed each tensor's dtype, shape and bytes to the hash ``h``."""
    for t in tensors:
        t = torch.as_tensor(t).detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())


def data_digest(dataset) -> str:
    """Content hash of a split as training sees it: measurements, targets, per-sample
    operators and names (and a teacher's outputs, which also fingerprint the teacher)."""
    h = hashlib.sha256()
    if hasattr(dataset, "outputs") and hasattr(dataset, "dataset"):  # spade.train.TeacherOutputs
        h.update(data_digest(dataset.dataset).encode())
        digest_tensors(h, [dataset.outputs])
        return h.hexdigest()
    h.update(json.dumps(list(getattr(dataset, "names", []))).encode())
    digest_tensors(h, dataset.y)
    if getattr(dataset, "x", None) is not None:
        digest_tensors(h, dataset.x)
    for key, arrays in sorted(getattr(dataset, "per_sample", {}).items()):
        h.update(key.encode())
        digest_tensors(h, arrays)
    return h.hexdigest()


def physics_digest(physics) -> str:
    """Hash of an operator's arrays and settings (mask, kernel, coil maps, scale ...)."""
    h = hashlib.sha256(type(physics).__name__.encode())
    for key, value in sorted(vars(physics).items()):
        h.update(key.encode())
        if isinstance(value, torch.Tensor):
            digest_tensors(h, [value])
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def model_digest(model: nn.Module) -> str:
    """Hash of the architecture (every module's repr and plain settings, such as a DEQ's
    solver tolerance and iteration caps) and of the initial weights."""
    h = hashlib.sha256(repr(model).encode())
    for name, module in model.named_modules():
        settings = {k: v for k, v in vars(module).items()
                    if not k.startswith("_") and k != "training" and isinstance(v, (bool, int, float, str))}
        h.update(f"{name}:{json.dumps(settings, sort_keys=True)}".encode())
    for key, value in model.state_dict().items():
        h.update(key.encode())
        digest_tensors(h, [value])
    return h.hexdigest()
