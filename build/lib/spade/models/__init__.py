"""Priors (CNN denoisers) and the MBDL networks that iterate them with the physics."""

from __future__ import annotations

import copy

from torch import nn

from spade.models.deq import DEQ
from spade.models.dncnn import DnCNN
from spade.models.edsr import EDSR
from spade.models.unet import UNet
from spade.models.unrolled import Unrolled
from spade.models.varnet import SensitivityNet, VarNet

# the archs build_model knows (the study's registry, spade.study.registry, names the same: a test checks)
ARCHS = ("du", "deq", "varnet")
PRIORS = ("edsr", "dncnn", "unet")


def build_prior(spec: dict, channels: int) -> nn.Module:
    """A prior from ``spec`` (keys: ``name`` and its sizes)."""
    name = spec.get("name")
    if name == "edsr":
        return EDSR(channels, int(spec["features"]), int(spec["blocks"]), float(spec.get("res_scale", 1.0)),
                    bool(spec.get("scale_equivariant", False)))
    if name == "dncnn":
        return DnCNN(channels, int(spec["features"]), int(spec["layers"]))
    if name == "unet":
        return UNet(channels, int(spec["features"]), int(spec["pools"]))
    raise ValueError(f"unknown prior {name!r}; expected one of {PRIORS}")


def build_model(spec: dict) -> nn.Module:
    """An MBDL network from a JSON-able ``spec``, the same dict a checkpoint stores.

    ``spec``: ``arch``, ``channels`` (image channels), ``prior`` (dict), and the
    arch's own keys (``du``: ``steps``, ``step_size``; ``deq``: ``step_size``, ``alpha``,
    ``solver`` with ``memory``, ``max_iter``, ``tol`` and optional ``train_max_iter``,
    ``train_tol``; ``varnet``: ``cascades``, ``dc_weight``, optional ``sens`` prior spec
    for multi-coil MRI).
    """
    arch = spec.get("arch")
    channels = int(spec["channels"])
    if arch == "du":
        prior = build_prior(spec["prior"], channels)
        return Unrolled(prior, int(spec["steps"]), float(spec.get("step_size", 1.0)))
    if arch == "deq":
        solver = spec.get("solver", {})
        return DEQ(build_prior(spec["prior"], channels), float(spec.get("step_size", 1.0)),
                   float(spec.get("alpha", 0.2)), int(solver.get("memory", 5)), int(solver.get("max_iter", 100)),
                   float(solver.get("tol", 1e-4)), solver.get("train_max_iter"), solver.get("train_tol"))
    if arch == "varnet":
        sens = spec.get("sens")
        sens_net = SensitivityNet(int(sens["features"]), int(sens["pools"])) if sens else None
        cascades = [build_prior(spec["prior"], channels) for _ in range(int(spec["cascades"]))]
        return VarNet(cascades, float(spec.get("dc_weight", 1.0)), sens_net)
    raise ValueError(f"unknown arch {arch!r}; expected one of {ARCHS}")


def prior_off(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose every prior is the identity: the same learnt step sizes,
    data-consistency weights and solver, but no CNN (pure physics: gradient steps on
    ``||Ax - y||^2`` from ``x_0``). The control that tells what the prior contributes."""
    off = copy.deepcopy(model)
    priors = {id(p) for p in off.priors()}
    for parent in off.modules():
        for name, child in list(parent.named_children()):
            if id(child) in priors:
                setattr(parent, name, nn.Identity())
    if any(not isinstance(p, nn.Identity) for p in off.priors()):
        raise ValueError(f"{type(model).__name__}: could not switch every prior off")
    return off
