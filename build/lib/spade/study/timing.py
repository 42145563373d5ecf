"""The study's labelled timing rows: the extra rows a benchmark job times beside the main
comparison (``{variant}@{setting}``: a looser DEQ tolerance, channels-last weights,
torch.compile, another runtime) and their speedups for the summary. Study code: the library's
timing (spade.benchmark) knows nothing of these labels."""

from __future__ import annotations

import copy

import pandas as pd
import torch
from torch import nn

from spade.runtimes import MAIN


def labelled_variants(models: dict[str, nn.Module], opts: dict) -> dict[str, nn.Module]:
    """Extra timing rows, each labelled ``{variant}@{setting}``, never mixed into the main
    comparison (which runs every variant eagerly with the same solver):

    * ``deq_loose_tol``: pruned equilibrium networks solved to this looser tolerance, as
      the official SPADE code timed them (the unpruned one keeps the common tolerance);
    * ``channels_last``: every variant with NHWC weights (fast convolutions on GPUs);
    * ``compile``: every variant through ``torch.compile``.
    """
    from spade.options import BenchmarkOptions

    opts = BenchmarkOptions.of(opts)
    extra: dict[str, nn.Module] = {}
    loose = opts.deq_loose_tol
    if loose:
        for name, model in models.items():
            if name not in ("unpruned", "prior-off") and hasattr(model, "tol"):
                relaxed = copy.deepcopy(model)
                relaxed.tol = float(loose)
                extra[f"{name}@tol={float(loose):g}"] = relaxed
    if opts.channels_last:
        for name, model in models.items():
            extra[f"{name}@channels_last"] = copy.deepcopy(model).to(memory_format=torch.channels_last)
    if opts.compile:
        for name, model in models.items():
            extra[f"{name}@compile"] = torch.compile(copy.deepcopy(model))
    return extra


def split_label(label: str) -> tuple[str, str]:
    """``(variant, setting)`` of a timing label; the setting is :data:`MAIN` for main rows."""
    variant, _, setting = label.partition("@")
    return variant, setting or MAIN


def labelled_speedups(table: pd.DataFrame) -> pd.DataFrame:
    """Speedups of the labelled extra rows of a benchmark table: against the eager
    unpruned network (``unpruned@eager`` where the main rows run in another runtime), and
    against the unpruned network under the same setting where it was timed too (a runtime,
    compile)."""
    table = table.copy()
    table[["base_variant", "setting"]] = table.variant.apply(lambda v: pd.Series(split_label(v)))
    rows = []
    for batch, part in table.groupby("batch"):
        extras = part[part.setting != MAIN]
        if extras.empty:  # a table of main rows only (the classical baselines'): nothing labelled
            continue
        latency = dict(zip(part.variant, part.latency_ms))
        eager = latency.get("unpruned@eager", latency["unpruned"])
        for _, r in extras.iterrows():
            same = latency.get(f"unpruned@{r.setting}")
            rows.append({"batch": batch, "variant": r.base_variant, "setting": r.setting,
                         "latency_ms": r.latency_ms, "iterations": r.get("iterations"),
                         "speedup_vs_eager_unpruned": eager / r.latency_ms,
                         "speedup_vs_same_setting_unpruned": same / r.latency_ms if same else float("nan")})
    return pd.DataFrame(rows)
