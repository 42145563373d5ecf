"""The widths each ratio of the grid gives, known from the config before anything runs.

With uniform allocation and an integer ``round_to``, the channels a group keeps depend on
its width, the ratio and the rounding only, never on weights or timings: every machine
builds the same networks from one config. So the study can tell before any job which
ratios prune nothing (they are dropped) and which give the widths of a smaller ratio (one
variant, pruned, fine-tuned, evaluated and timed once, under the smallest such ratio).
Torch-free: the workflow reads it when it builds the DAG.
"""

from __future__ import annotations

# Channel importance criteria (spade.prune), each also with global allocation (suffix).
CRITERIA = ("l1", "l2", "random", "taylor")
GLOBAL = "_global"
# round_to's value for hardware-aware widths (spade.widths): here, torch-free, for the config
# checks and the workflow as well as the pruning
AUTO = "auto"


def kept_channels(width: int, ratio: float, round_to=None) -> int:
    """The channels a ``width``-channel group keeps at ``ratio`` (as Torch-Pruning rounds:
    ``int(width * (1 - ratio))``), rounded down to a multiple of ``round_to`` but never below
    it; a group no wider than ``round_to`` keeps every channel (no narrower multiple exists)."""
    kept = int(width * (1 - ratio))
    if isinstance(round_to, int) and not isinstance(round_to, bool) and round_to > 1:
        if width <= round_to:
            return width
        kept = max(round_to, kept - kept % round_to)
    return kept


def group_widths(prior: dict) -> list[int]:
    """The distinct widths of a prior's prunable dependency groups (its config entry):
    EDSR and DnCNN groups have ``features`` channels, a U-Net's ``features * 2**level``."""
    features = int(prior["features"])
    if prior["name"] == "unet":
        return [features * 2**i for i in range(int(prior.get("pools", 4)) + 1)]
    return [features]


def planned_widths(prior: dict, ratio: float, round_to=None, criterion: str = "l1") -> tuple[int, ...] | None:
    """The width each group width of ``prior`` is pruned to at ``ratio``; None where only
    the pruning knows it (auto widths time the device, global allocation reads the weights)."""
    if round_to == AUTO or criterion.endswith(GLOBAL):
        return None
    return tuple(kept_channels(w, ratio, round_to) for w in group_widths(prior))


def grid(prior: dict, ratios, round_to=None, criterion: str = "l1") -> dict[float, dict]:
    """Per ratio of ``ratios``: ``{"widths", "same_as"}``, where ``same_as`` is the smaller
    ratio whose widths it repeats, ``"unpruned"`` where it keeps every channel, None where
    it is a pruning of its own."""
    unpruned = tuple(group_widths(prior))
    out, seen = {}, {}
    for ratio in sorted(float(r) for r in ratios):
        widths = planned_widths(prior, ratio, round_to, criterion)
        if widths is None:
            out[ratio] = {"widths": None, "same_as": None}
        elif widths == unpruned:
            out[ratio] = {"widths": widths, "same_as": "unpruned"}
        else:
            out[ratio] = {"widths": widths, "same_as": seen.setdefault(widths, ratio) if widths in seen else None}
            seen.setdefault(widths, ratio)
    return out


def distinct_ratios(prior: dict, ratios, round_to=None, criteria=("l1",)) -> list[float]:
    """The ratios of ``ratios`` (in their order) that prune, each with widths of its own
    under every criterion (a ratio is kept where any criterion's widths are its own)."""
    keep = set()
    for criterion in criteria:
        keep |= {r for r, g in grid(prior, ratios, round_to, criterion).items() if g["same_as"] is None}
    return [float(r) for r in ratios if float(r) in keep]


def dropped_ratios(prior: dict, ratios, round_to=None, criteria=("l1",)) -> dict[float, str]:
    """The ratios :func:`distinct_ratios` leaves out, each with why (for the run's log)."""
    kept = set(distinct_ratios(prior, ratios, round_to, criteria))
    plan = grid(prior, ratios, round_to, criteria[0])
    return {float(r): ("keeps every channel" if plan[float(r)]["same_as"] == "unpruned"
                       else f"gives the widths of ratio {plan[float(r)]['same_as']:g} {plan[float(r)]['widths']}")
            for r in ratios if float(r) not in kept}
