"""The fine-tuning strategies: one registry entry each, and every other place reads it.

An entry says what the strategy reads (ground truth, the unpruned network as a teacher,
which data), builds its loss, and gives its colour. The config schema's pattern
(:func:`spade.study.config.load_schema`), the command line's choices (``spade finetune
--strategy``), the figures' palette (:mod:`spade.study.report.palette`) and docs/api.md's
strategy table (:func:`docs_table`) all come from :data:`REGISTRY`. Adding a strategy is
one :func:`register` call with its loss.

One type describes a strategy, :class:`Strategy`: the registry entry, the entry named with
a recipe suffix (``supervised-iter``: parsed once, which is what the library passes down),
and the entry bound to its settings, the losses a fit trains with.

Nothing here imports torch: the workflow reads this module when it parses the Snakefile.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

DATA_LABELLED = "labelled pairs"

# Recipes, a suffix to any strategy (``supervised-iter``). long and iter spend
# ``finetune.recipes.budget`` times the strategy's fine-tuning epochs: long all of them after
# one-shot pruning; iter pruning in ``budget`` steps to the same final widths, the strategy's
# epochs after each step. jac (DEQs only) spends the strategy's epochs with the Jacobian
# penalty (``finetune.recipes.jacobian_weight`` x Hutchinson's estimate of ||J||_F^2 / d at
# the fixed point; Bai, Koltun and Kolter 2021), to keep the pruned DEQ's fixed point as
# easy to reach: it reads no ground truth, so any strategy may take it.
RECIPE_MARK = "-"
RECIPES = ("long", "iter", "jac")
# the recipes that spend extra epochs (beside which the unpruned-long control stands)
BUDGET_RECIPES = ("long", "iter")
# the recipes that need a fixed point (archs whose network is a DEQ)
DEQ_RECIPES = ("jac",)
# the recipes that prune in steps from the unpruned network (they read it and pruning's data)
STEPWISE_RECIPES = ("iter",)


@dataclass(frozen=True)
class Strategy:
    """A fine-tuning strategy, one type in three states.

    - A registry entry (:func:`register`): what it reads (ground truth: ``needs_target``; the
      unpruned network: ``needs_teacher``), its loss builder ``build(task, cfg, teacher) ->
      (loss, paired_loss)`` (``cfg``: a fit's flat options, the strategies' settings among
      them), its colour in every figure and one line for the docs.
    - Named (:meth:`parse`): the entry with its ``recipe`` (None, ``long``, ``iter`` or
      ``jac``); ``str()`` gives the name back as the config, paths and tables spell it.
    - Bound (:meth:`bind`): its losses for one task, settings and teacher, what
      :func:`spade.train.fit` trains with: ``loss(model, physics, batch, generator)``, and with
      a frozen ``teacher`` ``paired_loss``, the same loss on batches that carry the teacher's
      outputs (fit computes them once instead of at every epoch: an equilibrium teacher
      solves its fixed point each time).
    """

    name: str
    needs_target: bool
    needs_teacher: bool = False
    build: Callable | None = field(default=None, repr=False)
    colour: str = ""
    summary: str = ""
    recipe: str | None = None
    loss: Callable | None = field(default=None, repr=False)
    paired_loss: Callable | None = field(default=None, repr=False)
    teacher: object = field(default=None, repr=False, compare=False)
    # the task whose metric convention scores the validation curve of a strategy with targets
    task: str | None = None

    @classmethod
    def parse(cls, name: str | Strategy) -> Strategy:
        """The registry entry a name such as ``school`` or ``supervised-iter`` names, with its recipe."""
        if isinstance(name, Strategy):
            return name
        base, mark, recipe = str(name).partition(RECIPE_MARK)
        if base not in REGISTRY or (mark and recipe not in RECIPES):
            raise ValueError(f"unknown strategy {name!r}; expected one of {sorted(REGISTRY)}, each optionally "
                             f"with a recipe {', '.join(RECIPE_MARK + r for r in RECIPES)}")
        return replace(REGISTRY[base], recipe=recipe or None)

    def with_recipe(self, recipe: str | None) -> Strategy:
        """The same strategy with ``recipe`` (e.g. supervised with another strategy's recipe)."""
        return Strategy.parse(self.name + (RECIPE_MARK + recipe if recipe else ""))

    def bind(self, task: str, cfg: dict, teacher=None) -> Strategy:
        """This strategy's losses for ``task`` with the settings ``cfg`` and ``teacher``."""
        loss, paired_loss = self.build(task, cfg, teacher)
        return replace(self, loss=loss, paired_loss=paired_loss, teacher=teacher if self.needs_teacher else None,
                       task=task)

    @property
    def data(self) -> str:
        """What its training data must hold, in the summary's words."""
        teacher = " + teacher" if self.needs_teacher else ""
        return (DATA_LABELLED if self.needs_target else "measurements") + teacher

    @property
    def spends_budget(self) -> bool:
        """Whether it runs ``finetune.recipes.budget`` times the strategy's epochs."""
        return self.recipe in BUDGET_RECIPES

    @property
    def prunes_stepwise(self) -> bool:
        """Whether it prunes the unpruned network in steps (needs it and pruning's data)."""
        return self.recipe in STEPWISE_RECIPES

    @property
    def needs_fixed_point(self) -> bool:
        """Whether it runs only on DEQs (the Jacobian penalty)."""
        return self.recipe in DEQ_RECIPES

    def __str__(self) -> str:
        return self.name + (RECIPE_MARK + self.recipe if self.recipe else "")


REGISTRY: dict[str, Strategy] = {}


def register(entry: Strategy) -> Strategy:
    """Add ``entry`` to the registry (its name must be new and carry no recipe mark)."""
    if entry.name in REGISTRY or RECIPE_MARK in entry.name or not entry.name.isidentifier():
        raise ValueError(f"strategy name {entry.name!r} is taken or not a plain identifier")
    REGISTRY[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove a strategy (tests that register a toy one)."""
    REGISTRY.pop(name, None)


def names() -> list[str]:
    """Every strategy name the pipeline accepts: each strategy alone and with each recipe."""
    return [s + suffix for s in REGISTRY for suffix in ("", *(RECIPE_MARK + r for r in RECIPES))]


def pattern() -> str:
    """The regular expression the config schema checks a strategy name against."""
    return f"^({'|'.join(REGISTRY)})({RECIPE_MARK}({'|'.join(RECIPES)}))?$"


def docs_table() -> str:
    """docs/api.md's strategy table (a test keeps the page equal to it)."""
    rows = ["| `strategy` | `data` | also needs | what it trains on |", "|---|---|---|---|"]
    for entry in REGISTRY.values():
        data = "`spade.Pairs(y, x)`" if entry.needs_target else "`spade.Measurements(y)`"
        teacher = "`teacher`: the unpruned network" if entry.needs_teacher else ""
        rows.append(f"| `{entry.name}` | {data} | {teacher} | {entry.summary} |")
    return "\n".join(rows)


# --- the study's strategies and their losses (spade.losses, imported when a loss is built)


def _pixel(cfg: dict) -> str:
    return cfg.get("loss", "l1")


def _supervised(task: str, cfg: dict, teacher) -> tuple[Callable, Callable | None]:
    from spade.losses import supervised_loss

    pixel = _pixel(cfg)
    return (lambda m, p, b, g: supervised_loss(m, p, b[0], b[1], pixel)), None


def _frozen(teacher, name: str):
    if teacher is None:
        raise ValueError(f"the {name} strategy needs the unpruned teacher network")
    return teacher.eval().requires_grad_(False)


def _school(task: str, cfg: dict, teacher) -> tuple[Callable, Callable | None]:
    from spade.losses import school_loss, supervised_loss

    teacher, pixel = _frozen(teacher, "school"), _pixel(cfg)
    return (lambda m, p, y, g: school_loss(m, teacher, p, y, pixel),
            # the teacher's output stands where supervised fine-tuning has x
            lambda m, p, b, g: supervised_loss(m, p, b[0], b[1], pixel))


# The self-supervised losses (`selfsup`): EI, and the k-space splitting losses of Cartesian
# MRI: SSDU, weighted SSDU (variable-density split, inverse-probability weights) and
# Equivariant Splitting (SSDU's split with a Reynolds-averaged reconstructor; `es.group`).
SPLITTING_LOSSES = ("ssdu", "wssdu", "es")
SELF_SUPERVISED = ("ei", *SPLITTING_LOSSES)


def _selfsup(task: str, cfg: dict, teacher) -> tuple[Callable, Callable | None]:
    from spade.losses import ei_loss, equivariant_splitting_loss, ssdu_loss, weighted_ssdu_loss

    method = cfg["selfsup"][task]
    if method in SPLITTING_LOSSES:
        opts = cfg["ssdu"]
        fractions = float(opts["loss_fraction"]), float(opts["center_fraction"])
        if method == "ssdu":
            return (lambda m, p, y, g: ssdu_loss(m, p, y, g, *fractions)), None
        if method == "wssdu":
            return (lambda m, p, y, g: weighted_ssdu_loss(m, p, y, g, *fractions)), None
        group = (cfg.get("es") or {}).get("group", "rotations")
        return (lambda m, p, y, g: equivariant_splitting_loss(m, p, y, g, *fractions, group)), None
    if method == "ei":
        opts = cfg["ei"]
        return (lambda m, p, y, g: ei_loss(m, p, y, g, float(opts["weight"]), bool(opts["rotate"]),
                                           opts.get("angles", "right"), float(opts.get("mc_weight", 1.0)),
                                           opts.get("operators", "one"))), None
    raise ValueError(f"unknown self-supervised method {method!r} for task {task}; expected one of "
                     f"{', '.join(SELF_SUPERVISED)}")


def _hybrid(task: str, cfg: dict, teacher) -> tuple[Callable, Callable | None]:
    from spade.losses import hybrid_loss

    teacher, pixel = _frozen(teacher, "hybrid"), _pixel(cfg)
    weight = float(cfg.get("hybrid", {}).get("mc_weight", 1.0))
    return (lambda m, p, y, g: hybrid_loss(m, teacher, p, y, weight, pixel),
            # (y, teacher output) batches, the teacher's outputs computed once
            lambda m, p, b, g: hybrid_loss(m, None, p, b[0], weight, pixel, b[1]))


def _distill(task: str, cfg: dict, teacher) -> tuple[Callable, Callable | None]:
    from spade.losses import distill_loss

    teacher, pixel = _frozen(teacher, "distill"), _pixel(cfg)
    weight = float(cfg.get("distill", {}).get("weight", 1.0))
    return (lambda m, p, b, g: distill_loss(m, teacher, p, b[0], b[1], weight, pixel),
            # (y, x, teacher output) batches, the teacher's outputs computed once
            lambda m, p, b, g: distill_loss(m, None, p, b[0], b[1], weight, pixel, b[2]))


register(Strategy("supervised", True, False, _supervised, "#1f77b4",
                  "the pixel loss against ground truth"))
register(Strategy("school", False, True, _school, "#2ca02c",
                  "the unpruned network's reconstructions of unlabelled measurements"))
register(Strategy("selfsup", False, False, _selfsup, "#d62728",
                  "measurements alone: `selfsup=\"ei\"` (consistency + equivariance to shifts and rotations), "
                  "`\"ssdu\"` (k-space splitting; Cartesian MRI), `\"wssdu\"` (weighted SSDU) or `\"es\"` "
                  "(Equivariant Splitting)"))
register(Strategy("hybrid", False, True, _hybrid, "#e6550d",
                  "the unpruned network's reconstructions plus `hybrid.mc_weight` x measurement consistency"))
register(Strategy("distill", True, True, _distill, "#8c564b",
                  "the supervised loss plus `distill.weight` x the loss against the unpruned network's output"))


if __name__ == "__main__":  # docs/api.md's strategy table
    print(docs_table())
