"""The priors of any network: find them by path or predicate, trace every argument they
are called with, and prune them in place (the first step of :mod:`spade.api`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Union

import torch
from torch import nn

from spade.benchmark import count_macs, count_params
from spade.hooks import forward_hooks
from spade.prune import AUTO, PruningError, prune_prior

PriorSpec = Union[str, Iterable[str], Callable[[str, nn.Module], bool]]


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
    # per prior, the submodules whose in-place activation was switched off (same maths; an
    # in-place op hides the dependency graph from Torch-Pruning)
    inplace_off: dict[str, list[str]] = field(default_factory=dict)

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
            if self.inplace_off.get(name):
                lines.append(f"    in-place activations switched off (same output): {', '.join(self.inplace_off[name])}")
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
            raise ValueError(f"no submodule {missing} in {type(model).__name__}; candidate priors (submodules "
                             f"holding convolutions, by full path): {candidate_priors(model)}")
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


def candidate_priors(model: nn.Module) -> list[str]:
    """Full paths of the submodules that hold two or more convolutions (a CNN a prior could be)."""
    convs = (nn.Conv2d, nn.ConvTranspose2d)
    return [p for p, m in model.named_modules() if p and not isinstance(m, convs)
            and sum(isinstance(c, convs) for c in m.modules()) >= 2]


def _widths(module: nn.Module) -> list[int]:
    return [m.out_channels for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def _detached(value):
    """``value`` with every tensor in it detached and copied (tuples, lists, dicts followed)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_detached(v) for v in value)
    if isinstance(value, dict):
        return {k: _detached(v) for k, v in value.items()}
    return value


def _capture_inputs(model: nn.Module, priors: dict[str, nn.Module], run: Callable[[nn.Module], object]):
    """``{prior: (args, kwargs)}``: every positional and keyword argument of each prior's
    first call while ``run(model)`` executes (a DRUNet's ``(x, sigma)`` included)."""
    seen: dict[str, tuple] = {}
    called_inside: set[str] = set()  # submodules with convolutions, inside a prior, that did run
    names = {prior: name for name, prior in priors.items()}
    inside = {m: f"{name}.{sub}" for name, prior in priors.items() for sub, m in prior.named_modules()
              if sub and any(isinstance(c, (nn.Conv2d, nn.ConvTranspose2d)) for c in m.modules())}

    def first_call(prior, args, kwargs):
        seen.setdefault(names[prior], (_detached(tuple(args)), _detached(dict(kwargs))))

    with forward_hooks(priors.values(), before=first_call, with_kwargs=True), \
            forward_hooks(inside, before=lambda m, args: called_inside.add(inside[m])), torch.no_grad():
        run(model)
    never = [n for n in priors if n not in seen]
    if never:
        # a wrapper whose forward is never called (deepinv's PnP calls its denoiser from
        # prox): point at the outermost submodules inside it that ran and hold convolutions
        inner = sorted(p for p in called_inside if any(p.startswith(n + ".") for n in never)
                       and not any(p.startswith(q + ".") for q in called_inside))
        hint = (f"; inside it these submodules, which hold the convolutions, did run: {inner} (name those)"
                if inner else "")
        raise PruningError(f"prior(s) {never} were never called by the example run{hint}")
    return seen


def _call(prior: nn.Module, inputs: tuple):
    """The prior on its captured ``(args, kwargs)``."""
    args, kwargs = inputs
    return prior(*args, **kwargs)


def switch_off_inplace(module: nn.Module) -> list[str]:
    """Set ``inplace=False`` on every submodule that works in place (ReLU, LeakyReLU, ...):
    the same output, and a dependency graph Torch-Pruning can trace. Returns their paths."""
    switched = []
    for sub, m in module.named_modules():
        if getattr(m, "inplace", False) is True:
            m.inplace = False
            switched.append(sub or "(itself)")
    return switched


def prune_priors(model: nn.Module, priors: PriorSpec, example, ratio: float, criterion: str = "l1",
          round_to: int | str | None = None, seed: int = 0, latency=None) -> PruneReport:
    """Remove ``ratio`` of the channels of every dependency group of each named prior, in
    place, ranked by ``criterion`` (``l1``: SPADE's group L1 norm, ``l2``, ``random``,
    ``taylor``: |weight x gradient|, which needs gradients on the priors first, e.g. from
    :func:`spade.prune.taylor_gradients`; the suffix ``_global`` ranks groups against each
    other under one overall budget).

    ``example``: the priors' input (a tensor), a dict ``{prior path: tensor}`` (or
    ``{prior path: (x, sigma)}``: a tuple of the prior's positional arguments), or a
    callable ``run(model)`` that runs the whole network once (each prior's input is then
    captured, and the report counts MACs of that run). The image channels stay: each
    prior's last convolution keeps its outputs and its input has nothing upstream.
    A prior called with more than one argument (``(x, sigma)``) is traced with every
    positional and keyword argument its example call received. In-place activations inside
    the priors are switched off (the same maths; the report lists them, and
    :func:`load_network` switches them off again). ``round_to``: round the channels kept down
    to a multiple, or ``"auto"``: per group, the width that runs fastest on this device at or
    above the ratio's (``latency``: a :class:`spade.widths.LatencyTable`, cached in a file if
    it has a path; by default measured now on the priors' device). Raises :class:`~spade.prune.PruningError`
    for a prior whose output shape would change, a prior the example never calls, and a ratio
    that removes nothing; ``ValueError`` for a name that matches no submodule, listing the
    candidates by their full paths."""
    found, tied = find_priors(model, priors)
    inplace_off = {name: switched for name, prior in found.items() if (switched := switch_off_inplace(prior))}
    run = example if callable(example) and not isinstance(example, torch.Tensor) else None
    if run is not None:
        inputs = _capture_inputs(model, found, run)
    elif isinstance(example, dict):
        # {path: tensor} or {path: (x, sigma)}: a tuple holds the prior's positional arguments
        inputs = {n: (tuple(example[n]) if isinstance(example[n], (tuple, list)) else (example[n],), {}) for n in found}
    else:
        inputs = {n: ((example,), {}) for n in found}
    torch.manual_seed(seed)  # only the random criterion draws
    before = {n: _widths(p) for n, p in found.items()}
    params_before = count_params(model)
    macs_before = count_macs(model, lambda: run(model)) if run else None
    for name, prior in found.items():
        with torch.no_grad():
            shape = tuple(_call(prior, inputs[name]).shape)
        prune_prior(prior, inputs[name], ratio, criterion, round_to, forward_fn=_call, latency=latency)
        with torch.no_grad():
            after_shape = tuple(_call(prior, inputs[name]).shape)
        if after_shape != shape:
            raise PruningError(f"prior {name!r}: output {shape} became {after_shape}; its image channels must stay")
    after = {n: _widths(p) for n, p in found.items()}
    params_after = count_params(model)
    if params_after >= params_before and round_to == AUTO:
        raise PruningError(f"auto widths kept every channel at ratio {ratio}: on this device no width at or above "
                           "the one the ratio asks for runs faster than the current one")
    if params_after >= params_before:
        raise PruningError(f"nothing was pruned at ratio {ratio} ({criterion}): the priors' layers may be too "
                           "narrow, or an operation hides their channels from the dependency graph")
    macs_after = count_macs(model, lambda: run(model)) if run else None
    return PruneReport(list(found), before, after, params_before, params_after, macs_before, macs_after, tied,
                       inplace_off)
