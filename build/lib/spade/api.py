"""Prune your own MBDL network: SPADE's method on any ``nn.Module``.

The study's networks are one use; this module is the other. It knows what Torch-Pruning
alone does not: that a prior is called at every iteration (a weight-tied prior is pruned
once), that the image channels of a prior must stay, and how to fine-tune without ground
truth. Four steps, each one function::

    import spade
    report = spade.prune_priors(net, ["prior.0.denoiser"], example=lambda m: m(y, op), ratio=0.4)
    history = spade.finetune(net, "school", op, spade.Measurements(y_train), teacher=original)
    table = spade.benchmark_variants({"unpruned": original, "pruned": net}, op, y_test)
    spade.save_network(net, "pruned.pt");  net = spade.load_network("pruned.pt", MyNet)

**The operator protocol**, as this module uses it: the operator is handed to the network
(``net(y, physics)``), and otherwise only ``physics.to(device)`` and, for the self-supervised
``ei`` loss and the ``taylor`` criterion, ``physics.forward(x)`` (``A x``; it may be noisy, as
DeepInverse's is) are called; ``ssdu`` needs spade's Cartesian MRI operator. Batched tensors
``[B, C, H, W]``. A DeepInverse physics (``A``, ``A_adjoint``, noisy ``forward``) fits as it is.

**The network convention.** ``net(y, physics)`` returns the reconstruction; any other
call convention is given as ``reconstruct(net, y, physics)``.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import nn

from spade.benchmark import (amdahl_speedup, count_macs, count_params, latency_summary, prior_work, time_breakdown,
                             time_variants)
from spade.hooks import forward_hooks
from spade.priors import PriorSpec, PruneReport, candidate_priors, find_priors, prune_priors, switch_off_inplace
from spade.prune import PruningError

__all__ = ["FORMAT", "Measurements", "Pairs", "PriorSpec", "PruneReport", "PruningError", "TensorSplit",
           "benchmark_variants", "candidate_priors", "export", "find_priors", "finetune", "load_network", "prune_priors",
           "save_network", "switch_off_inplace"]

FORMAT = "spade-user-model/1"
# attributes that carry a layer's width, rewritten from the saved shapes on load
_WIDTH_ATTRS = ("in_channels", "out_channels", "num_features", "in_features", "out_features", "num_channels")


class TensorSplit(torch.utils.data.Dataset):
    """Measurements ``y`` (``[N, ...]``), with targets ``x`` or without (label-free)."""

    def __init__(self, y: torch.Tensor, x: torch.Tensor | None = None, names: list[str] | None = None):
        if x is not None and len(x) != len(y):
            raise ValueError(f"{len(y)} measurements but {len(x)} targets")
        self.y, self.x = list(y), (list(x) if x is not None else None)
        self.with_target = x is not None
        self.names = names or [f"{i:06d}" for i in range(len(self.y))]
        self.per_sample = {}

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return (self.y[i], self.x[i]) if self.x is not None else self.y[i]


def Measurements(y: torch.Tensor) -> TensorSplit:  # noqa: N802 (reads as a type at the call site)
    """Measurement-only data, for the label-free strategies (school, selfsup)."""
    return TensorSplit(y)


def Pairs(y: torch.Tensor, x: torch.Tensor) -> TensorSplit:  # noqa: N802
    """Measurements with their ground truth, for supervised fine-tuning."""
    return TensorSplit(y, x)


class _Convention(nn.Module):
    """A user network behind the study's ``net(y, physics)`` convention."""

    def __init__(self, net: nn.Module, reconstruct: Callable):
        super().__init__()
        self.net, self._reconstruct = net, reconstruct

    def forward(self, y, physics):
        return self._reconstruct(self.net, y, physics)


def finetune(model: nn.Module, strategy: str, physics, data: TensorSplit, *, val: TensorSplit | None = None,
             teacher: nn.Module | None = None, reconstruct: Callable | None = None, epochs: int = 5,
             batch_size: int = 4, lr: float = 5e-4, loss: str = "l1", selfsup: str = "ei",
             ei_weight: float = 1.0, rotate: bool = True, ssdu_loss_fraction: float = 0.4,
             ssdu_center_fraction: float = 0.08, seed: int = 0, device: str = "cpu", workdir=None,
             patience: int | None = None, anchor: float = 0.0, hybrid_mc_weight: float = 1.0,
             log: Callable[[str], None] = print) -> list[dict]:
    """Fine-tune ``model`` in place with ``strategy``: ``supervised`` (``data`` holds
    targets), ``distill`` (targets plus the unpruned ``teacher``'s outputs), ``school`` (the
    unpruned ``teacher`` on measurements only), ``hybrid`` (school plus ``hybrid_mc_weight``
    x measurement consistency) or ``selfsup``
    (measurements only: ``ei``, measurement consistency plus equivariance to shifts and
    rotations, or ``ssdu``, k-space splitting for Cartesian MRI operators with a ``mask``).
    The label-free strategies refuse data with targets, so ground truth cannot reach them.
    Keeps the weights with the lowest loss on ``val`` (default: ``data``), and with
    ``patience`` stops once that loss has not improved for that many epochs (``epochs`` is
    then a cap); returns the per-epoch history. ``anchor``: that times the squared distance
    from the starting weights, added to the loss (proximal fine-tuning). ``workdir`` keeps
    the resumable state (default: a temporary folder)."""
    from spade.options import FitOptions
    from spade.strategies import REGISTRY
    from spade.train import fit, make_strategy

    if strategy not in REGISTRY:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {sorted(REGISTRY)}")
    rule = REGISTRY[strategy]
    for name, split in (("data", data), ("val", val)):
        if split is None:
            continue
        if rule.needs_target and split.x is None:
            raise ValueError(f"strategy {strategy!r} needs ground truth: give {name} as Pairs(y, x)")
        if not rule.needs_target and split.x is not None:
            raise ValueError(f"strategy {strategy!r} is label-free: give {name} as Measurements(y), without targets")
    if rule.needs_teacher and teacher is None:
        raise ValueError(f"the {strategy} strategy needs teacher=<the unpruned network>")
    net = _Convention(model, reconstruct) if reconstruct else model
    if teacher is not None and reconstruct:
        teacher = _Convention(teacher, reconstruct)
    # read once, the library defaults for the rest (spade.defaults, through spade.options.FitOptions)
    opts = FitOptions.of({"epochs": epochs, "patience": patience, "batch_size": batch_size, "lr": lr, "loss": loss,
                          "grad_clip": 1.0, "selfsup": {"user": selfsup}, "ei": {"weight": ei_weight, "rotate": rotate},
                          "ssdu": {"loss_fraction": ssdu_loss_fraction, "center_fraction": ssdu_center_fraction},
                          "hybrid": {"mc_weight": hybrid_mc_weight}, "anchor_weight": anchor})
    # the strategy freezes its teacher (eval mode, no gradients): the caller's is restored after
    frozen = [(p, p.requires_grad) for p in teacher.parameters()] if teacher is not None else []
    mode = teacher.training if teacher is not None else None
    try:
        strat = make_strategy(strategy, "user", opts, teacher)
        with tempfile.TemporaryDirectory(prefix="spade-finetune-") as tmp:
            folder = Path(workdir) if workdir else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            _, history = fit(net, strat, physics, data, val if val is not None else data, opts, seed,
                             folder / "state.pt", folder / "history.csv", log=log, device=torch.device(device))
    finally:
        for param, flag in frozen:
            param.requires_grad_(flag)
        if teacher is not None:
            teacher.train(mode)
    return history


def benchmark_variants(variants: dict[str, nn.Module], physics, y: torch.Tensor, *, reconstruct: Callable | None = None,
                       warmup: int = 2, repeats: int = 10, threads: int | None = None, device: str = "cpu",
                       iterations: Callable[[nn.Module], float] | str | None = None, priors: PriorSpec | None = None,
                       breakdown_repeats: int = 3, runtime: str = "eager") -> pd.DataFrame:
    """Latency (median of ``repeats`` interleaved runs after ``warmup``, under
    ``torch.inference_mode``, CUDA events on a GPU), parameters and MACs of each variant on
    the batch ``y``, side by side in this process; ``speedup`` against the first variant.
    Equilibrium networks are compared at whatever tolerance they carry: give them the same.
    The ``iterations`` column reads a network's ``last_iterations`` (a tensor of per-image
    solver iterations, as the study's DEQ keeps) or, for a network the API cannot see
    inside, ``iterations``: a callable, ``iterations(network)`` called after its last timed
    run, or the path of the submodule one call of which is one solver iteration (deepinv's
    equilibrium networks: ``"fixed_point.iterator"``), whose calls spade counts in one more,
    untimed forward pass.

    Why a speedup falls short of the MAC reduction: with the priors known (``priors``, named
    as for :func:`prune_priors`, or a network's own ``priors()``), each variant also gets
    ``prior_share`` (its time in the priors, from ``breakdown_repeats`` instrumented runs
    apart from the latency), ``prior_calls`` and ``prior_macs`` (per call), and
    ``amdahl_speedup``: the bound of shrinking only the priors, ``calls ratio / ((1 - s) + s /
    per-call MAC ratio)`` with ``s`` the first variant's prior share. A measured speedup far
    below it points at time outside the priors' MACs (kernels that run narrow widths slowly).

    ``runtime``: where the priors run (:mod:`spade.deploy`): ``eager`` (the networks as they
    are), ``channels_last``, or ``onnxruntime`` (each prior, found as above, exported with
    ``torch.onnx`` and run in ONNX Runtime inside the network's own iteration; the ``deploy``
    extra). Parameters and MACs are counted on the torch networks."""
    from spade import deploy

    deploy.check_runtime(runtime, "runtime")
    if threads:
        torch.set_num_threads(int(threads))
    dev = torch.device(device)
    variants = {k: m.eval().to(dev) for k, m in variants.items()}
    torch_nets = {k: (_Convention(m, reconstruct) if reconstruct else m) for k, m in variants.items()}
    deployed = {k: _deploy(m, priors, runtime) for k, m in variants.items()}
    nets = {k: (_Convention(m, reconstruct) if reconstruct else m) for k, m in deployed.items()}
    times = time_variants(nets, physics, y, warmup, repeats, dev)
    rows = []
    for name, net in nets.items():
        torch_net = torch_nets[name]
        row = {"variant": name, "runtime": runtime, **latency_summary(times[name]), "params": count_params(variants[name]),
               "macs": count_macs(torch_net, lambda net=torch_net: net(y.to(dev), physics.to(dev)))}
        iters = getattr(net.net if reconstruct else net, "last_iterations", None)
        if isinstance(iterations, str):
            row["iterations"] = count_calls(deployed[name], iterations, lambda net=net: net(y.to(dev), physics.to(dev)))
        elif iterations is not None:
            row["iterations"] = float(iterations(deployed[name]))
        else:
            row["iterations"] = float(iters.float().mean()) if isinstance(iters, torch.Tensor) else None
        found = _prior_modules(deployed[name], priors)
        if found:
            run = lambda net=torch_net: net(y.to(dev), physics.to(dev))  # noqa: E731
            row.update(prior_work(_prior_modules(variants[name], priors), run))
            row["prior_share"] = time_breakdown(net, physics, y, breakdown_repeats, dev, found)["prior_share"]
        rows.append(row)
    table = pd.DataFrame(rows)
    table["speedup"] = table.latency_ms.iloc[0] / table.latency_ms
    if "prior_share" in table and table.prior_share.notna().all():
        first = table.iloc[0]
        table["amdahl_speedup"] = amdahl_speedup(first.prior_share, first.prior_macs / table.prior_macs,
                                                 first.prior_calls / table.prior_calls)
    table["threads"], table["device"] = torch.get_num_threads(), str(dev)
    return table


def count_calls(network: nn.Module, path: str, run: Callable[[], object]) -> float:
    """How many times the submodule ``path`` of ``network`` is called during ``run()``
    (under ``torch.inference_mode``): a solver's iterations where one call of it is one
    iteration."""
    modules = dict(network.named_modules())
    if path not in modules:
        solvers = [n for n, m in modules.items() if n and "iter" in type(m).__name__.lower() + n.lower()]
        raise ValueError(f"iterations={path!r}: {type(network).__name__} has no such submodule"
                         + (f"; submodules that look like a solver's iteration: {solvers}" if solvers else ""))
    calls = [0]
    with forward_hooks([modules[path]], after=lambda *_: calls.__setitem__(0, calls[0] + 1)), torch.inference_mode():
        run()
    return float(calls[0])


def _deploy(network: nn.Module, priors, runtime: str) -> nn.Module:
    """``network`` with its priors (as :func:`_prior_modules` finds them) in ``runtime``."""
    from spade import deploy

    if runtime == deploy.EAGER:
        return network
    if runtime == deploy.CHANNELS_LAST:
        return deploy.deployed_prior(network, runtime)
    found = _prior_modules(network, priors)
    if not found:
        raise ValueError(f"runtime={runtime!r} runs the priors in {runtime}: name them (priors=...) or give "
                         f"{type(network).__name__} a priors() method")
    copied = copy.deepcopy(network)
    names = {id(m): n for n, m in network.named_modules()}
    modules = dict(copied.named_modules())
    for prior in found:  # the same swap as the study's networks get (spade.deploy.deployed)
        inner = modules[names[id(prior)]]
        deploy.replace_module(copied, inner, deploy.deployed_prior(inner, runtime))
    return copied


def export(module: nn.Module, example, path, tolerance: float = 1e-4) -> float:
    """Write ``module`` (a pruned prior, or a whole network of tensors in and out) as an ONNX
    file at ``path``, exported with ``torch.onnx`` at the shapes of ``example`` (a tensor or
    a tuple of them), after checking that ONNX Runtime's output equals torch's within
    ``tolerance`` of the output range; else nothing is written (:class:`spade.deploy.ExportError`).
    Returns the difference."""
    from spade import deploy

    args = example if isinstance(example, tuple) else (example,)
    return deploy.export(module.eval(), args, path, tolerance=tolerance)


def _prior_modules(network: nn.Module, priors) -> list[nn.Module]:
    """The prior modules of ``network``: named by ``priors``, else its own ``priors()``, else
    none (no breakdown)."""
    if priors is not None:
        return list(find_priors(network, priors)[0].values())
    return list(network.priors()) if hasattr(network, "priors") else []


def save_network(model: nn.Module, path, meta: dict | None = None) -> None:
    """Write a (pruned) network: its state_dict and the widths of every layer, plain tensors
    and numbers only, so that :func:`load_network` reads it with ``weights_only=True``."""
    from spade.checkpoint import save_atomic

    widths = {name: {a: int(getattr(m, a)) for a in _WIDTH_ATTRS if isinstance(getattr(m, a, None), int)}
              for name, m in model.named_modules()}
    inplace_off = [name for name, m in model.named_modules() if getattr(m, "inplace", None) is False]
    save_atomic({"format": FORMAT, "params": count_params(model),
                 "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                 "widths": {k: v for k, v in widths.items() if v}, "inplace_off": inplace_off, "meta": meta or {}},
                path)


def load_network(path, constructor: Callable[..., nn.Module], *args, **kwargs) -> nn.Module:
    """The network saved by :func:`save_network`: ``constructor(*args, **kwargs)`` builds the
    unpruned architecture, whose layers are then narrowed to the saved widths; activations
    that ran with ``inplace=False`` when saved (pruning switches them off) do so again."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a network written by spade.save_network (format {FORMAT})")
    model = constructor(*args, **kwargs)
    modules = dict(model.named_modules())
    state = payload["state_dict"]
    for name, attrs in payload["widths"].items():
        if name not in modules:
            raise ValueError(f"{path}: layer {name!r} is not in the network {type(model).__name__} builds")
        module = modules[name]
        for attr, value in attrs.items():
            setattr(module, attr, value)
        for pname, tensor in list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False)):
            key = f"{name}.{pname}" if name else pname
            if key in state and state[key].shape != tensor.shape and tensor is not None:
                new = torch.empty_like(state[key])
                if isinstance(tensor, nn.Parameter):
                    setattr(module, pname, nn.Parameter(new, requires_grad=tensor.requires_grad))
                else:
                    module.register_buffer(pname, new)
    model.load_state_dict(state, strict=True)
    for name in payload.get("inplace_off", []):
        if name in modules and getattr(modules[name], "inplace", None) is True:
            modules[name].inplace = False
    return model
