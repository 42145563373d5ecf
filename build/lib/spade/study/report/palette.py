"""One colour per kind of row in every figure, and the order of rows in every table: the
kinds beside the strategies, then each strategy of the registry (spade.strategies) alone
and with each recipe. A recipe keeps its strategy's hue, lighter (long) or darker (iter, jac)."""

from __future__ import annotations

from spade import strategies
from spade.study.variants import CLASSICAL, PRIOR_OFF, PRUNED, SCRATCH, UNPRUNED, UNPRUNED_LONG

_KINDS = {CLASSICAL: "#7f7f7f", PRIOR_OFF: "#bcbd22", UNPRUNED: "#000000", UNPRUNED_LONG: "#595959", PRUNED: "#9467bd",
          SCRATCH: "#ff7f0e"}
_RECIPE_SHADE = {"long": (255, 0.45), "iter": (0, 0.45), "jac": (0, 0.7)}  # towards white / black, by this much


def _shade(colour: str, towards: int, amount: float) -> str:
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (towards - c) * amount):02x}" for c in rgb)


def order() -> tuple[str, ...]:
    """Every kind in the order tables list them."""
    return (CLASSICAL, PRIOR_OFF, UNPRUNED, UNPRUNED_LONG, PRUNED, *strategies.names(), SCRATCH)


def palette() -> dict[str, str]:
    """kind -> colour, for every kind of :func:`order`."""
    colours = dict(_KINDS)
    for name, spec in strategies.REGISTRY.items():
        colours[name] = spec.colour
        for recipe in strategies.RECIPES:
            colours[name + strategies.RECIPE_MARK + recipe] = _shade(spec.colour, *_RECIPE_SHADE[recipe])
    return colours
