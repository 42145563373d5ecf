"""Options read once from a config block, with the library's defaults filled in: the stages,
the CLI and the API take these typed objects instead of looking keys up with defaults of
their own (spade.defaults is where every default lives; the study's schema declares the same
values, checked by tests/test_options.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from types import MappingProxyType
from typing import Mapping

from spade.defaults import benchmark_defaults, fit_defaults, strategy_settings


def _block(cls, block: dict | None, defaults: dict, key: str) -> dict:
    """``block`` over ``defaults``; refuses a key the options lack (naming config key ``key``)."""
    block = dict(block or {})
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(block) - names)
    if unknown:
        raise ValueError(f"config key '{key}': unknown option(s) {unknown}; expected {sorted(names)}")
    values = {name: None for name in names}  # a key with no default and not given: null
    values.update({k: v for k, v in defaults.items() if k in names})
    values.update(block)
    return values


@dataclass(frozen=True)
class BenchmarkOptions:
    """The `benchmark` block: how every variant is timed (spade.study.stages.benchmark)."""

    batch_sizes: tuple[int, ...]
    warmup: int
    repeats: int
    threads: int | None
    crop: int | None
    images: int
    rounds: int
    spread_check: bool
    breakdown_repeats: int
    runtimes: tuple[str, ...]
    deploy_runtime: str
    deq_loose_tol: float | None
    channels_last: bool
    compile: bool
    speed_target: float | None

    @classmethod
    def of(cls, block: BenchmarkOptions | dict | None) -> BenchmarkOptions:
        """``block`` as options: itself, or a config block (missing keys: spade.defaults';
        no ``deploy_runtime``, or None: the first of ``runtimes``, wherever the block comes from)."""
        if isinstance(block, cls):
            return block
        values = _block(cls, block, benchmark_defaults(), "benchmark")
        if values["deploy_runtime"] is None:
            values["deploy_runtime"] = list(values["runtimes"])[0]
        values["batch_sizes"] = tuple(int(b) for b in values["batch_sizes"])
        values["runtimes"] = tuple(values["runtimes"])
        return cls(**values)

    def replace(self, **changes) -> BenchmarkOptions:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        """The options as a config block (what the timing job records)."""
        out = asdict(self)
        out["batch_sizes"], out["runtimes"] = list(self.batch_sizes), list(self.runtimes)
        return out


# The `finetune` block's settings that every strategy's loss may read (spade.strategies), carried
# by each fine-tuning fit's options beside its budget.
STRATEGY_SETTINGS = ("selfsup", "ssdu", "ei", "es", "distill", "hybrid", "label_free", "recipes")


@dataclass(frozen=True)
class FitOptions:
    """One fit's settings (:func:`spade.train.fit`), read once: the budget and optimiser of a
    `train.<task>` or `finetune.<task>` block (an arch's own keys over it, spade.defaults'
    values for the rest), the per-fit keys a stage sets (``jacobian_weight`` for -jac,
    ``anchor_weight`` and ``monitor`` for a label-free fit) and ``settings``: whatever else
    the block carries, the strategies' own settings (``ssdu``, ``ei``, ``recipes``, ...)."""

    epochs: int
    batch_size: int
    lr: float
    loss: str
    lr_min_factor: float
    grad_clip: float | None
    patience: int | None
    jacobian_weight: float
    # label-free fits only (spade.train.label_free_fit_options): not config keys
    anchor_weight: float = 0.0
    monitor: str | None = None
    settings: Mapping = field(default_factory=dict)

    @classmethod
    def of(cls, opts: FitOptions | Mapping) -> FitOptions:
        """``opts`` as options: itself, or a flat block (a fit's keys and its settings side by
        side, as the config and the checkpoints' ``meta['opts']`` hold them)."""
        if isinstance(opts, cls):
            return opts
        flat = {**fit_defaults(), **dict(opts)}
        names = {f.name for f in fields(cls)} - {"settings"}
        missing = sorted({"epochs", "batch_size", "lr", "loss"} - set(flat))
        if missing:
            raise ValueError(f"fit options: {missing} missing (a fit needs epochs, batch_size, lr and loss)")
        values = {k: v for k, v in flat.items() if k in names}
        settings = {k: v for k, v in flat.items() if k not in names}
        # the strategies' settings the defaults fill where a block (the API's, a test's) leaves them out
        shared = strategy_settings()
        for key in STRATEGY_SETTINGS:
            if key in shared:  # a block given in part keeps the defaults' other keys
                given = settings.get(key)
                settings[key] = {**shared[key], **given} if isinstance(given, Mapping) else (
                    shared[key] if given is None else given)

        def number(key, kind):
            return None if values.get(key) is None else kind(values[key])

        return cls(epochs=int(values["epochs"]), batch_size=int(values["batch_size"]), lr=float(values["lr"]),
                   loss=str(values["loss"]), lr_min_factor=float(values["lr_min_factor"]),
                   grad_clip=number("grad_clip", float), patience=number("patience", int),
                   jacobian_weight=float(values["jacobian_weight"] or 0.0),
                   anchor_weight=float(values.get("anchor_weight") or 0.0), monitor=values.get("monitor"),
                   settings=MappingProxyType(settings))

    def replace(self, **changes) -> FitOptions:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        """The flat block again (what a checkpoint records as ``meta['opts']``)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "settings"}
        return {**out, **dict(self.settings)}
