"""What a variant of the study is, and what each fine-tuning strategy needs: one table
that the library, the workflow and the summary all read.

Every artifact records its identity (``task, arch, criterion, ratio, strategy``) in its
metadata, every evaluation and benchmark row carries it as columns, and the summary is a
merge on those columns, never a parse of a label.
"""

from __future__ import annotations

from dataclasses import dataclass

IDENTITY = ("task", "arch", "criterion", "ratio", "strategy")

# The kinds of rows beside the fine-tuning strategies (one word each, everywhere).
CLASSICAL = "classical"  # zero-filled A^H y (MRI), bicubic (SR): no network
UNPRUNED = "unpruned"  # the trained network before pruning
PRIOR_OFF = "prior-off"  # the unpruned network with every prior the identity (pure physics)
PRUNED = "none"  # pruned, not fine-tuned
SCRATCH = "scratch"  # the pruned widths trained from random init with the unpruned budget


@dataclass(frozen=True)
class StrategyRule:
    """What a fine-tuning strategy reads: ground truth (``needs_target``), the unpruned
    network (``needs_teacher``), and which data it trains on (label-free strategies train
    on measurements the unpruned network never saw: the unlabelled split, or the test
    measurements in the paper's test-time variant)."""

    needs_target: bool
    needs_teacher: bool

    @property
    def data(self) -> str:
        """What its training data must hold, in the summary's words."""
        teacher = " + teacher" if self.needs_teacher else ""
        return (DATA_LABELLED if self.needs_target else "measurements") + teacher


DATA_LABELLED = "labelled pairs"

# Channel importance criteria (spade.prune), each also with global allocation (suffix).
CRITERIA = ("l1", "l2", "random", "taylor")
GLOBAL = "_global"

STRATEGIES = {
    "supervised": StrategyRule(needs_target=True, needs_teacher=False),
    "school": StrategyRule(needs_target=False, needs_teacher=True),
    "selfsup": StrategyRule(needs_target=False, needs_teacher=False),
    # supervised loss plus the unpruned network's outputs (distillation, where labels exist)
    "distill": StrategyRule(needs_target=True, needs_teacher=True),
}

# Recipes, a suffix to any strategy (``supervised-iter``): each spends ``finetune.recipes.
# budget`` times the strategy's fine-tuning epochs. long: all of them after one-shot
# pruning; iter: pruning in ``budget`` steps to the same final widths, the strategy's
# epochs after each step.
RECIPE_MARK = "-"
RECIPES = ("long", "iter")


def parse_strategy(name: str) -> tuple[str, str | None]:
    """``(strategy, recipe or None)`` of a strategy name such as ``school`` or ``supervised-iter``."""
    base, mark, recipe = name.partition(RECIPE_MARK)
    if base not in STRATEGIES or (mark and recipe not in RECIPES):
        raise ValueError(f"unknown strategy {name!r}; expected one of {sorted(STRATEGIES)}, each optionally "
                         f"with a recipe {', '.join(RECIPE_MARK + r for r in RECIPES)}")
    return base, recipe or None


def strategy_rule(name: str) -> StrategyRule:
    """What the strategy ``name`` (recipe suffix allowed) reads: its base strategy's rule."""
    return STRATEGIES[parse_strategy(name)[0]]


def strategy_names() -> list[str]:
    """Every strategy name the pipeline accepts: each strategy alone and with each recipe."""
    return [s + suffix for s in STRATEGIES for suffix in ("", *(RECIPE_MARK + r for r in RECIPES))]

# Networks with a fixed number of prior calls run in the same time whatever their weights:
# one timing per architecture (the pruned model's) stands for every strategy of a ratio.
FIXED_ITERATION_ARCHS = frozenset({"du", "varnet"})

# Order of the rows of a table, and one colour per kind in every figure.
# A recipe keeps its strategy's hue, lighter (long) or darker (iter).
_BASE_COLOURS = {"supervised": "#1f77b4", "school": "#2ca02c", "selfsup": "#d62728", "distill": "#8c564b"}


def _shade(colour: str, towards: int, amount: float) -> str:
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (towards - c) * amount):02x}" for c in rgb)


ORDER = (CLASSICAL, PRIOR_OFF, UNPRUNED, PRUNED, *strategy_names(), SCRATCH)
PALETTE = {
    CLASSICAL: "#7f7f7f",
    PRIOR_OFF: "#bcbd22",
    UNPRUNED: "#000000",
    PRUNED: "#9467bd",
    SCRATCH: "#ff7f0e",
    **{s: c for s, c in _BASE_COLOURS.items()},
    **{s + RECIPE_MARK + "long": _shade(c, 255, 0.45) for s, c in _BASE_COLOURS.items()},
    **{s + RECIPE_MARK + "iter": _shade(c, 0, 0.45) for s, c in _BASE_COLOURS.items()},
}


def ratio_label(ratio) -> str:
    """The ratio as it appears in paths: the config's number written by ``str`` (0.4 -> "0.4")."""
    return str(float(ratio))


def target_label(speedup) -> str:
    """A speed target as it stands for the ratio in paths: 2.0 -> "x2.0" (``{criterion}-rx2.0``)."""
    return "x" + str(float(speedup))


# Shifted test sets are splits named shift_<name>; they and the external set are the
# conditions robustness is measured under.
SHIFT_PREFIX = "shift_"
EXTERNAL = "external"


def shift_split(name: str) -> str:
    """The split name of the shifted test set ``name`` (config ``shifts``)."""
    return SHIFT_PREFIX + name


def is_shifted(split: str) -> bool:
    """A split scored for robustness: a shifted test set or the external set."""
    return split == EXTERNAL or split.startswith(SHIFT_PREFIX)


# Joins criterion and speed target in the criterion column ("@" labels extra timing rows).
TARGET_MARK = ":"


def target_criterion(criterion: str, speedup) -> str:
    """The criterion column of a variant pruned to a speed target (``l1:2x``): its ratio was
    found by measuring, and may coincide with a ratio of the grid."""
    return f"{criterion}{TARGET_MARK}{float(speedup):g}x"


def identity(task: str, arch: str, criterion: str = "", ratio: float = 0.0, strategy: str = UNPRUNED) -> dict:
    """The identity columns of one variant (``ratio`` a float, 0 for unpruned kinds)."""
    return {"task": str(task), "arch": str(arch), "criterion": str(criterion or ""), "ratio": float(ratio),
            "strategy": str(strategy)}
