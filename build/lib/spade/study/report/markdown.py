"""The summary's Markdown tables (its speed sections in :mod:`spade.study.report.speed_markdown`,
the no-harm, label-free and seed tables in :mod:`spade.study.report.side_markdown`), the
robustness table and the extra timings; one cell formatter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spade.study.report.speed_markdown import bound_lines, headline_lines, order_lines, speed_target_lines
from spade.study.report.derived import EXTRA_COLUMNS, headline
from spade.study.report.readers import criterion_labels
from spade.study.report.summary import PRIOR_MARGIN_DB
from spade.study.report.tables import comparison, interval_label, table, unit_kind
from spade.study.stats import format_ratio
from spade.study.variants import CLASSICAL, IDENTITY, SCRATCH, UNPRUNED, UNPRUNED_KINDS, UNPRUNED_LONG

# columns a table shows only where the run has them (benchmarks predating the breakdown lack them)
OPTIONAL = {"macs_speedup", "amdahl_speedup", "prior_share", "runtime", "eager_speedup", "total_speedup"}


def _speedup_cell(r) -> str:
    """A speedup with its interval over timing rounds, where it was timed in rounds."""
    if pd.isna(r.speedup):
        return ""
    if r.strategy == UNPRUNED or pd.isna(r.get("speedup_low")):
        return f"{r.speedup:.3f}"
    return format_ratio(r.speedup, r.speedup_low, r.speedup_high)


def _eager_cell(r) -> str:
    """The same variant's speedup in eager PyTorch, with its interval over timing rounds."""
    if pd.isna(r.get("eager_speedup")):
        return ""
    if r.strategy == UNPRUNED or pd.isna(r.get("eager_speedup_low")):
        return f"{r.eager_speedup:.3f}"
    return format_ratio(r.eager_speedup, r.eager_speedup_low, r.eager_speedup_high)


def _cell(column: str, v) -> str:
    """One cell of the summary's tables."""
    if pd.isna(v) or v == "":
        return ""
    if column == "psnr":
        return f"{v:.2f}"
    if column in ("ssim", "actual_ratio"):
        return f"{v:.3f}"
    if column == "ratio":
        return f"{v:g}"
    if column == "target":
        return f"{v:g}x" if v else ""
    if column in ("macs_speedup", "amdahl_speedup", "total_speedup"):
        return f"{v:.2f}"
    if column in ("time_saved", "prior_share"):
        return f"{100 * v:.1f}%"
    if column in ("latency_ms", "iterations"):
        return f"{v:.1f}"
    if column in ("params", "macs", "iterations_max"):
        return f"{int(v):,}"
    return str(v)


def markdown(summary: pd.DataFrame, validation: pd.DataFrame | None = None, speed_target: float | None = None) -> str:
    """Markdown tables, one per task and split (and test set, where there are several);
    with ``validation`` (the validation split's summary), the headline chosen on it, and
    with ``speed_target`` whether each arch's fastest headline variant reaches it."""
    out = ["# SPADE study summary", ""]
    cols = ["arch", "ratio", "actual_ratio", "strategy", "psnr", "ssim", "params", "macs", "runtime", "latency_ms",
            "speedup", "eager_speedup", "total_speedup", "time_saved", "macs_speedup", "amdahl_speedup", "prior_share", "iterations", "iterations_max"]
    cols = [c for c in cols if c in summary and summary[c].notna().any() or c not in OPTIONAL]
    if summary.criterion.replace("", np.nan).dropna().nunique() > 1:  # rows differ by criterion too
        cols.insert(cols.index("ratio"), "criterion")
    if "target" in summary and (summary.target.fillna(0) > 0).any():  # and by speed target
        cols.insert(cols.index("ratio") + 1, "target")
    flagged = summary.dropna(subset=["prior_margin_db"]).drop_duplicates(["task", "arch", "split", "set"])
    for _, r in flagged[flagged.prior_inactive.astype(bool)].iterrows():
        where = f"{r.task}/{r.split}" + (f"/{r.set}" if r.set else "")
        effect = ("on these images its prior hurts" if r.prior_margin_db < 0
                  else f"less than {PRIOR_MARGIN_DB} dB above it, its prior barely matters")
        out += [f"**Warning ({where}, {r.arch})**: the unpruned network scores {r.prior_margin_db:+.2f} dB against its "
                f"prior-off control: {effect}, so its pruning rows say nothing about pruning.", ""]
    for (task, split, set_name), part in summary.groupby(["task", "split", "set"], sort=False, dropna=False):
        title = " / ".join(str(t) for t in (task, split, set_name) if isinstance(t, str) and t)
        conv = part["convention"].dropna().unique() if "convention" in part else []
        note = [f"Metric convention: {', '.join(map(str, conv))}.", ""] if len(conv) else []
        margins = part.drop_duplicates("arch").dropna(subset=["prior_margin_db"])
        if len(margins):
            note += ["Unpruned minus prior-off (dB): " + ", ".join(
                f"{r.arch} {r.prior_margin_db:+.2f}" for _, r in margins.iterrows()) + ".", ""]
        note += _classical_lines(part)
        # the networks' runtime (the classical baselines run in numpy/eager, said in their row)
        nets = part[part.strategy != CLASSICAL]
        runtime = nets["runtime"].dropna().unique() if "runtime" in nets else []
        if len(runtime) and "eager_speedup" in cols:
            note += [f"Timed in {', '.join(map(str, runtime))} (the deploy runtime; validation images, side by side "
                     "in rounds): `speedup` against the unpruned network in that runtime; `eager_speedup` the same "
                     "variant against the unpruned network, both in eager PyTorch; `total_speedup` the deployed "
                     "variant against the eager unpruned network (what the runtime and the pruning buy together).",
                     ""]
        out += [f"## {title}", "", *note, *_readings(part),
                *table(cols, [[_speedup_cell(r) if c == "speedup" else _eager_cell(r) if c == "eager_speedup"
                               else _cell(c, r[c]) for c in cols]
                              for _, r in part.iterrows()]), ""]
    if validation is not None:
        best = headline(validation, summary)
        out += headline_lines(best) + (speed_target_lines(best, speed_target) if speed_target else [])
    out += order_lines(summary) + bound_lines(summary) + _target_lines(summary) + _cost_lines(summary)
    return "\n".join(out)










def _cost_lines(summary: pd.DataFrame) -> list[str]:
    """What each strategy's fit cost, per task and arch (mean over ratios): wall time,
    peak memory of its process, the images it trained on and what they held."""
    if "fit_seconds" not in summary or summary.fit_seconds.isna().all():
        return []
    rows = summary[(summary.split == "test") & summary.fit_seconds.notna()].drop_duplicates(list(IDENTITY))
    lines = ["## Cost of each fit", "", "Wall time of the epochs, peak resident memory of the job, the "
             "images each fit trained on (unpruned: the base training; none: no fit), the epochs it ran (a fit "
             "stops once its validation curve has not improved for `patience` epochs: validation PSNR with "
             "targets, its own validation loss without; the cap where it never stopped) and the epoch whose "
             "weights it kept (range over ratios; the curves: results/tables/fit_curves.csv).", ""]
    cells = []
    for (task, arch, strategy), part in rows.groupby(["task", "arch", "strategy"], sort=False):
        images, peak = part.fit_train_images.dropna(), part.fit_peak_rss_mb.dropna()
        calls = part.get("fit_prior_calls", pd.Series(dtype=float)).dropna()
        cells.append([task, arch, strategy, f"{part.fit_seconds.mean():.1f}", f"{peak.mean():.0f}" if len(peak) else "",
                      int(images.iloc[0]) if len(images) else "", _span(part.get("fit_epochs")),
                      _span(part.get("fit_best_epoch")), f"{int(calls.mean()):,}" if len(calls) else "",
                      part.fit_data.iloc[0]])
    header = ["task", "arch", "strategy", "fit_seconds", "fit_peak_rss_mb", "fit_train_images", "fit_epochs",
              "fit_best_epoch", "fit_prior_calls", "fit_data"]
    return lines + table(header, cells) + [""]


def _span(values) -> str:
    """``3`` or ``2-4``: the range of a whole-number column over a group's rows."""
    values = pd.Series(dtype=float) if values is None else values.dropna()
    if not len(values):
        return ""
    low, high = int(values.min()), int(values.max())
    return str(low) if low == high else f"{low}-{high}"


def _target_lines(summary: pd.DataFrame) -> list[str]:
    """Per task, arch and speed target (column ``target``): the ratio the search found on
    unlabelled measurements, the speedup the benchmark then measured on validation images (the
    supervised variant where a DEQ's iterations differ per strategy), and PSNR per strategy
    against the unpruned network."""
    rows = summary[(summary.split == "test") & (summary.get("target", 0) > 0)] if "target" in summary else []
    if not len(rows):
        return []
    lines = ["## Pruned to a speed target", "",
             "The smallest ratio of the search grid whose pruned, not fine-tuned network was measured at least "
             "the target faster on unlabelled measurements (a DEQ at fixed iterations); then fine-tuned like any "
             "ratio, timed with the benchmark (median over rounds on validation images [interval]) and scored on "
             "the test split (PSNR minus the unpruned network, paired, weighted by subject or volume, with "
             f"the {interval_label(rows)}).", ""]
    cells = []
    nan = float("nan")
    for _, r in rows.iterrows():
        cells.append([r.task, r.arch, f"{r.target:g}x", f"{r.ratio:g}",
                      format_ratio(r.speedup, r.get("speedup_low", nan), r.get("speedup_high", nan)), r.strategy,
                      f"{r.psnr:.2f}", comparison(r)])
    header = ["task", "arch", "target", "ratio found", "measured speedup", "strategy", "PSNR", "minus unpruned (dB)"]
    return lines + table(header, cells) + [""]


def _readings(part: pd.DataFrame) -> list[str]:
    """What a reader looks for first, computed from the rows of one task and split: each
    strategy's PSNR against the unpruned network per ratio, and the scratch control against
    pruning plus supervised fine-tuning at its ratio."""
    out = []
    pruned = part[~part.strategy.isin([*UNPRUNED_KINDS, SCRATCH])].copy()
    ratios = sorted(pruned.ratio.dropna().unique())
    if not len(pruned) or not ratios:
        return out
    pruned["_criterion"] = criterion_labels(pruned)
    several = pruned._criterion.nunique() > 1  # then each row names its criterion too
    cells = []
    for (arch, criterion, strategy), rows in pruned.groupby(["arch", "_criterion", "strategy"], sort=False):
        base = part[(part.arch == arch) & (part.strategy == UNPRUNED)].psnr
        if base.empty:
            continue
        by_ratio = rows.drop_duplicates("ratio").set_index("ratio")
        cells.append([arch, f"{criterion} {strategy}" if several else strategy,
                      *(_difference(by_ratio.loc[r]) if r in by_ratio.index else "" for r in ratios)])
    out += [f"PSNR minus the unpruned network (dB), per ratio: paired over the same images, weighted by "
            f"{unit_kind(part.iloc[0])}, with the {interval_label(part)}; an interval or range that holds 0 is "
            "not resolved.", "",
            *table(["arch", "strategy", *(f"{r:g}" for r in ratios)], cells), ""]
    out += _label_free_lines(part, pruned, ratios, several)
    lines = []
    for _, sc in part[(part.strategy == SCRATCH) & part.scratch_minus_pruned_db.notna()].iterrows():
        gap = comparison(sc, "scratch_minus_pruned")
        lines.append(f"{sc.arch} at {sc.ratio:g}: scratch minus pruned + supervised (dB) {gap}")
    if lines:
        out += [f"Training the pruned widths from scratch against pruning (paired, {interval_label(part)}): "
                + "; ".join(lines) + ".", ""]
    longer = [f"{r.arch} {_difference(r)}" for _, r in part[part.strategy == UNPRUNED_LONG].iterrows()
              if pd.notna(r.get("minus_unpruned_db"))]
    if longer:
        out += ["The unpruned network trained on for a recipe's epochs (`unpruned-long`), minus the unpruned "
                "network (dB): " + "; ".join(longer) + ". A recipe's gain that this control also shows is extra "
                "training, not recovery from pruning.", ""]
    return out


def _label_free_lines(part: pd.DataFrame, pruned: pd.DataFrame, ratios: list, several: bool) -> list[str]:
    """Each label-free strategy against supervised fine-tuning of the same pruned network,
    per ratio, paired, with its interval: what recovering without labels costs."""
    if "minus_supervised_db" not in pruned or not pruned.minus_supervised_db.notna().any():
        return []
    cells = []
    rows = pruned[pruned.minus_supervised_db.notna()]
    for (arch, criterion, strategy), group in rows.groupby(["arch", "_criterion", "strategy"], sort=False):
        by_ratio = group.drop_duplicates("ratio").set_index("ratio")
        cells.append([arch, f"{criterion} {strategy}" if several else strategy,
                      *(comparison(by_ratio.loc[r], "minus_supervised") if r in by_ratio.index else ""
                        for r in ratios)])
    return [f"Label-free fine-tuning minus supervised fine-tuning of the same pruned network (dB), per ratio: paired "
            f"over the same images, {interval_label(part)}.", "",
            *table(["arch", "strategy", *(f"{r:g}" for r in ratios)], cells), ""]


def _classical_lines(part: pd.DataFrame) -> list[str]:
    """Each unpruned network against the strongest classical baseline of the split (zero-filled,
    compressed sensing, bicubic: the highest mean PSNR), paired, with its interval."""
    if "minus_classical_db" not in part:
        return []
    rows = part[(part.strategy == UNPRUNED) & part.minus_classical_db.notna()]
    if not len(rows):
        return []
    gains = "; ".join(
        f"{r.arch} " + comparison(r, "minus_classical") for _, r in rows.iterrows())
    return [f"Unpruned minus the strongest classical baseline, {rows.best_classical.iloc[0]} (dB, paired, "
            f"{interval_label(part)}): {gains}.", ""]


def _difference(r) -> str:
    """A row's PSNR minus the unpruned network's, with its interval."""
    if pd.isna(r.get("minus_unpruned_db")):
        return ""
    return comparison(r)


def robustness_markdown(drops: pd.DataFrame) -> str:
    """Per task and arch: each kind's PSNR drop (dB) under each shift, mean over ratios."""
    out = ["# Robustness under shift", "", "PSNR on the shifted test set minus PSNR on the test split (dB), mean "
           "over the pruning ratios; in brackets, minus the unpruned network's drop (> 0: loses less than it).", ""]
    for (task, arch), part in drops.groupby(["task", "arch"], sort=False):
        shifts = list(dict.fromkeys(part["shift"]))
        cells = []
        for strategy, rows in part.groupby("strategy", sort=False):
            row = [strategy]
            for shift in shifts:
                r = rows[rows["shift"] == shift]
                gap = r.vs_unpruned_db.mean()
                row.append(f"{r.drop_db.mean():+.2f}" + ("" if strategy == UNPRUNED or pd.isna(gap)
                                                         else f" ({gap:+.2f})"))
            cells.append(row)
        out += [f"## {task} / {arch}", "", *table(["strategy", *shifts], cells), ""]
    return "\n".join(out)


def extra_markdown(extras: pd.DataFrame) -> str:
    if extras.empty:
        return ""
    out = ["## Labelled extra timings", "",
           "Not part of the comparison above, where every variant runs in the deploy runtime with the same solver: "
           "`tol=...` rows solve pruned DEQs to a looser tolerance (as the official SPADE code timed them), "
           "`eager`, `channels_last` and other runtime rows and `compile` rows run the same weights another way. "
           "Speedups are against the eager unpruned network and, where it was timed the same way, the unpruned "
           "network under that setting.",
           ""]
    cells = [[f"{v:.3g}" if isinstance(v, float) and not pd.isna(v) else ("" if pd.isna(v) else str(v))
              for v in r[EXTRA_COLUMNS]] for _, r in extras.iterrows()]
    out += table(EXTRA_COLUMNS, cells)
    return "\n".join(out) + "\n"


def per_unit_markdown(per_unit: pd.DataFrame) -> str:
    """The per-subject table beside the subject-weighted means
    (:func:`spade.study.report.units.per_unit_table`): per task, split and set, one row per
    variant, one column per unit (subject, volume, photograph) with its mean PSNR."""
    out = ["# PSNR per subject", "", "Each unit's mean PSNR over its images (dB); the summary's means weigh every "
           "unit the same. The last row counts each unit's images.", ""]
    for (task, split, set_name), part in per_unit.groupby(["task", "split", "set"], sort=False, dropna=False):
        title = " / ".join(str(t) for t in (task, split, set_name) if isinstance(t, str) and t)
        units = list(dict.fromkeys(part.unit))
        part = part.assign(_label=[" ".join(str(v) for v in (a, c, s, f"{r:g}" if r else "") if v) for a, c, s, r in
                                   zip(part.arch, part.criterion.fillna(""), part.strategy, part.ratio.fillna(0))])
        grid = part.pivot_table(index="_label", columns="unit", values="psnr", sort=False)
        counts = part.drop_duplicates("unit").set_index("unit").n_images
        rows = [[label, *(f"{grid.loc[label, u]:.2f}" if pd.notna(grid.loc[label, u]) else "" for u in units)]
                for label in grid.index]
        rows.append(["images", *(int(counts[u]) for u in units)])
        out += [f"## {title} ({len(units)} units)", "", *table(["variant", *units], rows), ""]
    return "\n".join(out)


def write_tables(summary: pd.DataFrame, csv_path, md_path, extras: pd.DataFrame | None = None,
                 extras_path=None, validation: pd.DataFrame | None = None, headline_path=None,
                 speed_target: float | None = None, appendix: str = "") -> None:
    """The summary as CSV and Markdown; the extra timings beside it; with ``validation``
    (the validation split's summary), the headline chosen on it (CSV at ``headline_path``);
    ``appendix``: Markdown appended (the no-harm check)."""
    Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
    summary = summary.copy()
    for col in ("params", "macs", "prior_params", "prior_macs", "n_images", "iterations_max", "fit_train_images",
                "fit_epochs", "fit_prior_calls", "units", "rounds"):
        if col in summary:  # counts stay exact (a float format would round 1,769,472 MACs)
            summary[col] = summary[col].round().astype("Int64")
    summary.to_csv(csv_path, index=False, float_format="%.6g")
    md = markdown(summary, validation, speed_target)
    if validation is not None and headline_path is not None:
        headline(validation, summary).to_csv(headline_path, index=False, float_format="%.6g")
    if extras is not None and extras_path is not None:
        extras.to_csv(extras_path, index=False, float_format="%.6g")
        md = md.rstrip("\n") + "\n\n" + extra_markdown(extras)
    if appendix:
        md = md.rstrip("\n") + "\n\n" + appendix
    Path(md_path).write_text(md)
