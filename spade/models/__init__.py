"""Priors (CNN denoisers) and the MBDL networks that iterate them with the physics."""

from __future__ import annotations

from torch import nn

from spade.models.dncnn import DnCNN
from spade.models.edsr import EDSR
from spade.models.unrolled import Unrolled

ARCHS = ("du",)
PRIORS = ("edsr", "dncnn")


def build_prior(spec: dict, channels: int) -> nn.Module:
    """A prior from ``spec`` (keys: ``name`` and its sizes)."""
    name = spec.get("name")
    if name == "edsr":
        return EDSR(channels, int(spec["features"]), int(spec["blocks"]), float(spec.get("res_scale", 1.0)))
    if name == "dncnn":
        return DnCNN(channels, int(spec["features"]), int(spec["layers"]))
    raise ValueError(f"unknown prior {name!r}; expected one of {PRIORS}")


def build_model(spec: dict) -> nn.Module:
    """An MBDL network from a JSON-able ``spec``, the same dict a checkpoint stores.

    ``spec``: ``arch``, ``channels`` (image channels), ``prior`` (dict), and the
    arch's own keys (``du``: ``steps``, ``step_size``).
    """
    arch = spec.get("arch")
    if arch == "du":
        prior = build_prior(spec["prior"], int(spec["channels"]))
        return Unrolled(prior, int(spec["steps"]), float(spec.get("step_size", 1.0)))
    raise ValueError(f"unknown arch {arch!r}; expected one of {ARCHS}")
