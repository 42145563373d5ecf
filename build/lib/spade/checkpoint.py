"""Safe model artifacts: a plain state_dict plus the layer widths, no pickled classes.

A pruned network cannot be rebuilt from its spec alone, because its convolutions are
narrower. The artifact therefore records the shape of every convolution; loading builds
the unpruned network from the spec, narrows those layers to the recorded shapes and
loads the state_dict strictly. Everything loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from torch import nn

from spade.models import build_model

FORMAT = "spade-model/1"


class CheckpointError(ValueError):
    """A model artifact is missing, unreadable or inconsistent."""


def layer_shapes(model: nn.Module) -> dict[str, list[int]]:
    """``{name: [in_channels, out_channels]}`` of every convolution."""
    return {
        name: [m.in_channels, m.out_channels]
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    }


def _narrow(model: nn.Module, shapes: dict[str, list[int]]) -> None:
    modules = dict(model.named_modules())
    for name, (cin, cout) in shapes.items():
        old = modules.get(name)
        if not isinstance(old, (nn.Conv2d, nn.ConvTranspose2d)):
            raise CheckpointError(f"layer {name!r} of the artifact is not a convolution of the network")
        if (old.in_channels, old.out_channels) == (cin, cout):
            continue
        if old.groups != 1:
            raise CheckpointError(f"layer {name!r}: grouped convolutions cannot be narrowed")
        new = type(old)(cin, cout, old.kernel_size, stride=old.stride, padding=old.padding,
                        dilation=old.dilation, bias=old.bias is not None)
        parent_name, _, child = name.rpartition(".")
        setattr(modules[parent_name] if parent_name else model, child, new)


def save_model(path, model: nn.Module, spec: dict, meta: dict | None = None) -> None:
    """Write the artifact atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "spec": spec,
        "layer_shapes": layer_shapes(model),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }
    save_atomic(payload, path)


def save_atomic(obj, path) -> None:
    """``torch.save`` to ``<path>.tmp``, then rename: no reader ever sees a partial file. On
    failure (a full disk: torch reports only "iostream error") the partial file is removed
    and the error names the path and the space left on its disk."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        tmp.unlink(missing_ok=True)
        free = shutil.disk_usage(path.parent).free / 2**20
        raise OSError(f"{path}: could not be written ({err}); {free:.0f} MB free on its disk") from err


def load_payload(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: model artifact not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"{path}: not a loadable weights-only artifact ({err})") from err
    if isinstance(payload, dict) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise CheckpointError(f"{path}: a plain state_dict ({len(payload)} tensors), not a spade artifact: load it into "
                              "the network that wrote it with model.load_state_dict(torch.load(path, weights_only=True)); "
                              "spade.save_network writes a pruned network with its widths (spade.load_network reads it)")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a study artifact (format {found!r}, expected {FORMAT!r}; a network of one's "
                              "own is read by spade.load_network)")
    for key in ("spec", "layer_shapes", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"{path}: missing key {key!r}")
    return payload


def build_narrowed(spec: dict, shapes: dict[str, list[int]]) -> nn.Module:
    """A freshly initialised network of ``spec`` with the convolution widths ``shapes``."""
    model = build_model(spec)
    _narrow(model, shapes)
    return model


def load_model(path) -> tuple[nn.Module, dict]:
    """``(model, payload)`` from an artifact written by :func:`save_model`."""
    payload = load_payload(path)
    model = build_narrowed(payload["spec"], payload["layer_shapes"])
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: state_dict does not fit the recorded widths ({err})") from err
    return model, payload
