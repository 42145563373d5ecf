"""Prune your own MBDL network: SPADE's method on any ``nn.Module``.

The study's networks are one use; this module is the other. It knows what Torch-Pruning
alone does not: that a prior is called at every iteration (a weight-tied prior is pruned
once), that the image channels of a prior must stay, and how to fine-tune without ground
truth. Four steps, each one function::

    import spade
    report = spade.prune_priors(net, ["denoiser"], example=lambda m: m(y, op), ratio=0.4)
    history = spade.finetune(net, "school", op, spade.Measurements(y_train), teacher=original)
    table = spade.benchmark_variants({"unpruned": original, "pruned": net}, op, y_test)
    spade.save_network(net, "pruned.pt");  net = spade.load_network("pruned.pt", MyNet)

**The operator protocol.** ``physics.forward(x)`` (the measurement model ``A``),
``physics.adjoint(y)`` (``A^H``) and ``physics.init(y)`` (the starting estimate, e.g.
``A^H y``); ``physics.to(device)`` where it holds tensors. Batched tensors ``[B, C, H, W]``.

**The network convention.** ``net(y, physics)`` returns the reconstruction; any other
call convention is given as ``reconstruct(net, y, physics)``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Union

import pandas as pd
import torch
from torch import nn

from spade.benchmark import count_macs, count_params, summarise, time_variants
from spade.prune import PruningError, prune_prior

PriorSpec = Union[str, Iterable[str], Callable[[str, nn.Module], bool]]
FORMAT = "spade-user-model/1"
# attributes that carry a layer's width, rewritten from the saved shapes on load
_WIDTH_ATTRS = ("in_channels", "out_channels", "num_features", "in_features", "out_features", "num_channels")


@dataclass
class PruneReport:
    """What :func:`prune_priors` changed: per prior, the output widths of its layers before and
    after; parameters of the whole network and MACs of one run of ``example``."""

    priors: list[str]
    widths_before: dict[str, list[int]]
    widths_after: dict[str, list[int]]
    params_before: int
    params_after: int
    macs_before: int | None = None
    macs_after: int | None = None
    tied: dict[str, list[str]] = field(default_factory=dict)

    @property
    def macs_reduction(self) -> float | None:
        """MACs before / after (the speedup bound of the pruned layers)."""
        return self.macs_before / self.macs_after if self.macs_before and self.macs_after else None

    def __str__(self) -> str:
        lines = [f"pruned {len(self.priors)} prior(s): parameters {self.params_before:,} -> {self.params_after:,}"]
        if self.macs_reduction:
            lines.append(f"MACs per run {self.macs_before:,} -> {self.macs_after:,} ({self.macs_reduction:.2f}x fewer)")
        for name in self.priors:
            also = f" (also called as {', '.join(self.tied[name])})" if self.tied.get(name) else ""
            lines.append(f"  {name}{also}: widths {self.widths_before[name]} -> {self.widths_after[name]}")
        return "\n".join(lines)


def find_priors(model: nn.Module, priors: PriorSpec) -> tuple[dict[str, nn.Module], dict[str, list[str]]]:
    """``({path: module}, {path: other paths of the same module})`` of the priors named by
    attribute path(s) (``"denoiser"``, ``"cascades.0.net"``) or chosen by a predicate
    ``(path, module) -> bool``. A module reachable under several paths (a weight-tied prior)
    appears once, under its first path."""
    named = dict(model.named_modules(remove_duplicate=False))
    if callable(priors) and not isinstance(priors, nn.Module):
        paths = [p for p, m in named.items() if p and priors(p, m)]
    else:
        paths = [priors] if isinstance(priors, str) else list(priors)
        missing = [p for p in paths if p not in named]
        if missing:
            raise ValueError(f"no submodule {missing} in {type(model).__name__}; its submodules: "
                             f"{sorted(p for p in named if p and '.' not in p)}")
    if not paths:
        raise ValueError("no prior was named (the predicate chose no submodule)")
    found, tied = {}, {}
    by_id = {}
    for p in paths:
        module = named[p]
        if id(module) in by_id:
            tied.setdefault(by_id[id(module)], []).append(p)
            continue
        by_id[id(module)] = p
        found[p] = module
    # the same module under other names that were not asked for (weight tying by reuse)
    for p, m in named.items():
        if id(m) in by_id and p != by_id[id(m)] and p not in tied.get(by_id[id(m)], []):
            tied.setdefault(by_id[id(m)], []).append(p)
    nested = [(a, b) for a in found for b in found if a != b and b.startswith(a + ".")]
    if nested:
        raise ValueError(f"priors {nested[0][1]!r} lies inside prior {nested[0][0]!r}: name each prior once")
    return found, tied


def _widths(module: nn.Module) -> list[int]:
    return [m.out_channels for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def _capture_inputs(model: nn.Module, priors: dict[str, nn.Module], run: Callable[[nn.Module], object]):
    """The first input each prior receives while ``run(model)`` executes."""
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for name, prior in priors.items():
        def hook(mod, args, name=name):
            if name not in seen and args and isinstance(args[0], torch.Tensor):
                seen[name] = args[0].detach().clone()
        handles.append(prior.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            run(model)
    finally:
        for h in handles:
            h.remove()
    never = [n for n in priors if n not in seen]
    if never:
        raise PruningError(f"prior(s) {never} were never called by the example run")
    return seen


def _check_prunable(name: str, prior: nn.Module) -> None:
    for sub, m in prior.named_modules():
        if getattr(m, "inplace", False):
            raise PruningError(f"prior {name!r}: {sub or 'the module'} ({type(m).__name__}) works in place, which "
                               "hides the dependency graph from Torch-Pruning; construct it with inplace=False")


def prune_priors(model: nn.Module, priors: PriorSpec, example, ratio: float, criterion: str = "l1",
          round_to: int | None = None, seed: int = 0) -> PruneReport:
    """Remove ``ratio`` of the channels of every dependency group of each named prior, in
    place, ranked by ``criterion`` (``l1``: SPADE's group L1 norm, ``l2``, ``random``,
    ``taylor``: |weight x gradient|, which needs gradients on the priors first, e.g. from
    :func:`spade.prune.taylor_gradients`; the suffix ``_global`` ranks groups against each
    other under one overall budget).

    ``example``: the priors' input (a tensor), a dict ``{prior path: tensor}``, or a
    callable ``run(model)`` that runs the whole network once (each prior's input is then
    captured, and the report counts MACs of that run). The image channels stay: each
    prior's last convolution keeps its outputs and its input has nothing upstream.
    Raises :class:`~spade.prune.PruningError` for in-place activations, a prior whose output
    shape would change, and a ratio that removes nothing."""
    found, tied = find_priors(model, priors)
    for name, prior in found.items():
        _check_prunable(name, prior)
    run = example if callable(example) and not isinstance(example, torch.Tensor) else None
    if run is not None:
        inputs = _capture_inputs(model, found, run)
    elif isinstance(example, dict):
        inputs = {n: example[n] for n in found}
    else:
        inputs = {n: example for n in found}
    torch.manual_seed(seed)  # only the random criterion draws
    before = {n: _widths(p) for n, p in found.items()}
    params_before = count_params(model)
    macs_before = count_macs(model, lambda: run(model)) if run else None
    for name, prior in found.items():
        with torch.no_grad():
            shape = tuple(prior(inputs[name]).shape)
        prune_prior(prior, inputs[name], ratio, criterion, round_to)
        with torch.no_grad():
            after_shape = tuple(prior(inputs[name]).shape)
        if after_shape != shape:
            raise PruningError(f"prior {name!r}: output {shape} became {after_shape}; its image channels must stay")
    after = {n: _widths(p) for n, p in found.items()}
    params_after = count_params(model)
    if params_after >= params_before:
        raise PruningError(f"nothing was pruned at ratio {ratio} ({criterion}): the priors' layers may be too "
                           "narrow, or an operation hides their channels from the dependency graph")
    macs_after = count_macs(model, lambda: run(model)) if run else None
    return PruneReport(list(found), before, after, params_before, params_after, macs_before, macs_after, tied)


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
             log: Callable[[str], None] = print) -> list[dict]:
    """Fine-tune ``model`` in place with ``strategy``: ``supervised`` (``data`` holds
    targets), ``distill`` (targets plus the unpruned ``teacher``'s outputs), ``school`` (the
    unpruned ``teacher`` on measurements only) or ``selfsup``
    (measurements only: ``ei``, measurement consistency plus equivariance to shifts and
    rotations, or ``ssdu``, k-space splitting for Cartesian MRI operators with a ``mask``).
    The label-free strategies refuse data with targets, so ground truth cannot reach them.
    Keeps the weights with the lowest loss on ``val`` (default: ``data``); returns the
    per-epoch history. ``workdir`` keeps the resumable state (default: a temporary folder)."""
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
    opts = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "loss": loss, "lr_min_factor": 0.1,
            "grad_clip": 1.0, "selfsup": {"user": selfsup}, "ei": {"weight": ei_weight, "rotate": rotate},
            "ssdu": {"loss_fraction": ssdu_loss_fraction, "center_fraction": ssdu_center_fraction}}
    strat = make_strategy(strategy, "user", opts, teacher)
    with tempfile.TemporaryDirectory(prefix="spade-finetune-") as tmp:
        folder = Path(workdir) if workdir else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        _, history = fit(net, strat, physics, data, val if val is not None else data, opts, seed,
                         folder / "state.pt", folder / "history.csv", log=log, device=torch.device(device))
    return history


def benchmark_variants(variants: dict[str, nn.Module], physics, y: torch.Tensor, *, reconstruct: Callable | None = None,
              warmup: int = 2, repeats: int = 10, threads: int | None = None, device: str = "cpu") -> pd.DataFrame:
    """Latency (median of ``repeats`` interleaved runs after ``warmup``, under
    ``torch.inference_mode``, CUDA events on a GPU), parameters and MACs of each variant on
    the batch ``y``, side by side in this process; ``speedup`` against the first variant.
    Equilibrium networks are compared at whatever tolerance they carry: give them the same."""
    if threads:
        torch.set_num_threads(int(threads))
    dev = torch.device(device)
    nets = {k: (_Convention(m, reconstruct) if reconstruct else m).eval().to(dev) for k, m in variants.items()}
    times = time_variants(nets, physics, y, warmup, repeats, dev)
    rows = []
    for name, net in nets.items():
        row = {"variant": name, **summarise(times[name]), "params": count_params(variants[name]),
               "macs": count_macs(net, lambda net=net: net(y.to(dev), physics.to(dev)))}
        iters = getattr(net.net if reconstruct else net, "last_iterations", None)
        row["iterations"] = float(iters.float().mean()) if isinstance(iters, torch.Tensor) else None
        rows.append(row)
    table = pd.DataFrame(rows)
    table["speedup"] = table.latency_ms.iloc[0] / table.latency_ms
    table["threads"], table["device"] = torch.get_num_threads(), str(dev)
    return table


def save_network(model: nn.Module, path, meta: dict | None = None) -> None:
    """Write a (pruned) network: its state_dict and the widths of every layer, plain tensors
    and numbers only, so that :func:`load_network` reads it with ``weights_only=True``."""
    from spade.checkpoint import save_atomic

    widths = {name: {a: int(getattr(m, a)) for a in _WIDTH_ATTRS if isinstance(getattr(m, a, None), int)}
              for name, m in model.named_modules()}
    save_atomic({"format": FORMAT, "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                 "widths": {k: v for k, v in widths.items() if v}, "meta": meta or {}}, path)


def load_network(path, constructor: Callable[..., nn.Module], *args, **kwargs) -> nn.Module:
    """The network saved by :func:`save_network`: ``constructor(*args, **kwargs)`` builds the
    unpruned architecture, whose layers are then narrowed to the saved widths."""
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
    return model
