"""What a variant of the study is: a small value object with its identity columns, its
path key and its label, built once and never parsed back from a label.

Every artifact records its identity in its metadata, every evaluation and benchmark row
carries it as columns (:data:`IDENTITY`), and the summary is a merge on those columns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from spade.study.registry import FIXED_ITERATION_ARCHS

IDENTITY = ("task", "arch", "criterion", "ratio", "strategy", "target")

# The kinds of rows beside the fine-tuning strategies (one word each, everywhere).
CLASSICAL = "classical"  # zero-filled A^H y (MRI), bicubic (SR): no network
UNPRUNED = "unpruned"  # the trained network before pruning
PRIOR_OFF = "prior-off"  # the unpruned network with every prior the identity (pure physics)
PRUNED = "none"  # pruned, not fine-tuned (strategy "none")
SCRATCH = "scratch"  # the pruned widths trained from random init with the unpruned budget
# the unpruned network trained on for the epochs a recipe (-long, -iter) adds: the control
# that separates what extra training buys from what recovery after pruning buys
UNPRUNED_LONG = "unpruned-long"
UNPRUNED_KINDS = (CLASSICAL, UNPRUNED, PRIOR_OFF, UNPRUNED_LONG)
# the fine-tuning every label-free fit is measured against (the label-free ablation's
# reference row; the strategy of that name)
LABELLED_REFERENCE = "supervised"
# A compressed-sensing baseline is a classical row whose arch is cs-<method> (spade.study.classical).
CS_PREFIX = "cs-"


def cs_arch(method: str) -> str:
    """The arch column of compressed-sensing ``method``'s rows: ``cs-tv``."""
    return CS_PREFIX + method

# Channel importance criteria, global allocation and hardware-aware widths: the library's
# names (spade.plan), which the study's variants spell in their paths.
from spade.plan import AUTO, CRITERIA, GLOBAL  # noqa: E402,F401

# Networks with a fixed number of prior calls run in the same time whatever their weights:
# one timing per architecture (the pruned model's) stands for every strategy of a ratio
# (spade.study.registry: FIXED_ITERATION_ARCHS).

# Path keys of pruned variants: "<criterion>-r<ratio>" (a ratio of the grid) or
# "<criterion>-x<speedup>" (pruned to a measured speed target, its ratio found by a search).
RATIO_MARK, TARGET_MARK = "-r", "-x"

# Shifted test sets are splits named shift_<name>; they and the external set are the
# conditions robustness is measured under.
SHIFT_PREFIX = "shift_"
EXTERNAL = "external"


def ratio_label(ratio) -> str:
    """The ratio as it appears in paths: the config's number written by ``str`` (0.4 -> "0.4")."""
    return str(float(ratio))


def timed_strategy(arch: str, strategy: str) -> str:
    """The strategy whose timing stands for a row: a network with a fixed number of prior
    calls is timed once per widths (its pruned model, ``none``), for every strategy and the
    scratch control; a DEQ, whose iterations depend on its weights, and the unpruned kinds
    for themselves."""
    if arch in FIXED_ITERATION_ARCHS and strategy not in UNPRUNED_KINDS:
        return PRUNED
    if arch in FIXED_ITERATION_ARCHS and strategy == UNPRUNED_LONG:
        return UNPRUNED  # the unpruned widths
    return strategy


@dataclass(frozen=True)
class Variant:
    """One row kind of the study. ``ratio``: the channel ratio (0 for the unpruned kinds;
    for a speed target, the ratio its search found, unknown before it ran); ``target``: the
    speedup it was pruned to reach (0: pruned at ``ratio`` of the grid)."""

    task: str
    arch: str
    criterion: str = ""
    ratio: float = 0.0
    strategy: str = UNPRUNED
    target: float = 0.0

    def __post_init__(self):
        for name in ("task", "arch", "criterion", "strategy"):
            object.__setattr__(self, name, str(getattr(self, name) or ""))
        object.__setattr__(self, "ratio", float(self.ratio or 0.0))
        object.__setattr__(self, "target", float(self.target or 0.0))

    @classmethod
    def from_identity(cls, ident: dict) -> Variant:
        """From identity columns or an artifact's recorded identity (one written before
        speed targets were a column has no ``target``: 0)."""
        return cls(**{k: ident.get(k) for k in IDENTITY if k in ident})

    @classmethod
    def from_meta(cls, meta: dict) -> Variant:
        """From an artifact's metadata (``meta["identity"]``)."""
        return cls.from_identity(meta["identity"])

    @classmethod
    def from_key(cls, task: str, arch: str, key: str, strategy: str = PRUNED) -> Variant:
        """From a path key (:attr:`key`), as Snakemake hands it over in a wildcard."""
        for mark, field in ((TARGET_MARK, "target"), (RATIO_MARK, "ratio")):
            criterion, found, number = key.rpartition(mark)
            if found and criterion:
                try:
                    return cls(task, arch, criterion, strategy=strategy, **{field: float(number)})
                except ValueError:
                    break
        raise ValueError(f"path key {key!r} is neither <criterion>{RATIO_MARK}<ratio> nor "
                         f"<criterion>{TARGET_MARK}<speedup>")

    def columns(self) -> dict:
        """The identity columns of its rows."""
        return asdict(self)

    @property
    def is_pruned(self) -> bool:
        return self.strategy not in UNPRUNED_KINDS

    @property
    def key(self) -> str:
        """Its folder or file name in paths (pruned kinds): ``l1-r0.4`` or ``l1-x2.0``."""
        if not self.is_pruned:
            return self.strategy
        if self.target:
            return f"{self.criterion}{TARGET_MARK}{self.target}"
        return f"{self.criterion}{RATIO_MARK}{ratio_label(self.ratio)}"

    @property
    def label(self) -> str:
        """A short label for logs and the labelled extra timings (tables merge on columns)."""
        if not self.is_pruned:  # a compressed-sensing baseline by its method: cs-tv
            return self.arch if self.arch.startswith(CS_PREFIX) else self.strategy
        point = f"x{self.target:g}" if self.target else f"r{self.ratio:g}"
        return f"{self.criterion}-{point}-{self.strategy}"

    def with_strategy(self, strategy: str) -> Variant:
        return replace(self, strategy=str(strategy))

    def timed_as(self) -> Variant:
        """The variant whose timing stands for this one (:func:`timed_strategy`)."""
        return self.with_strategy(timed_strategy(self.arch, self.strategy))


def identity(task: str, arch: str, criterion: str = "", ratio: float = 0.0, strategy: str = UNPRUNED,
             target: float = 0.0) -> dict:
    """The identity columns of one variant (``ratio`` a float, 0 for unpruned kinds)."""
    return Variant(task, arch, criterion, ratio, strategy, target).columns()


def shift_split(name: str) -> str:
    """The split name of the shifted test set ``name`` (config ``shifts``)."""
    return SHIFT_PREFIX + name


def is_shifted(split: str) -> bool:
    """A split scored for robustness: a shifted test set or the external set."""
    return split == EXTERNAL or split.startswith(SHIFT_PREFIX)
