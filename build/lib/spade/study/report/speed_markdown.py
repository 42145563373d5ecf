"""The summary's speed sections (headline, speed target, pruning order) and the speed
tables of their own (the scale table, the timing spread)."""

from __future__ import annotations

import pandas as pd

from spade.study.report.derived import NO_LOSS_DB, speed_order
from spade.study.report.readers import criterion_label
from spade.study.report.tables import num, table
from spade.study.stats import NOT_RESOLVED, format_difference, format_ratio


def bound_lines(summary: pd.DataFrame) -> list[str]:
    """How close the measured speedups come to their Amdahl bounds: per task and arch with a
    fixed number of prior calls, the median over its pruned rows (one timing per widths) of
    measured speedup / Amdahl bound, and the median over all of them; a DEQ's bound moves
    with its iterations and is left out."""
    from spade.study.report.derived import pruning_rows, primary
    from spade.study.variants import FIXED_ITERATION_ARCHS, UNPRUNED_KINDS

    rows = primary(summary)
    if "amdahl_speedup" not in rows:
        return []
    rows = pruning_rows(rows[~rows.strategy.isin(UNPRUNED_KINDS) & rows.arch.isin(FIXED_ITERATION_ARCHS)])
    rows = rows.dropna(subset=["speedup", "amdahl_speedup"]).drop_duplicates(["task", "arch", "criterion", "ratio",
                                                                               "target", "strategy"])
    rows = rows[rows.strategy == "none"] if (rows.strategy == "none").any() else rows  # the widths' own timing
    if rows.empty:
        return []
    share = rows.speedup / rows.amdahl_speedup
    parts = [f"{task} {arch} {s.median():.2f} ({len(s)} widths)"
             for (task, arch), s in share.groupby([rows.task, rows.arch], sort=False)]
    runtime = ", ".join(map(str, rows["runtime"].dropna().unique())) if "runtime" in rows else ""
    return ["## Measured speedup against its Amdahl bound", "",
            f"Measured speedup / Amdahl bound (test rows, every pruned width of the fixed-step networks"
            + (f", timed in {runtime}" if runtime else "") + "; 1 is all the prior's MAC cut turned into time): "
            + "; ".join(parts) + f"; median over all {len(share)}: **{share.median():.2f}**.", ""]


def order_lines(summary: pd.DataFrame) -> list[str]:
    """The pairs where pruning more made a network slower (:func:`speed_order`)."""
    if "speedup" not in summary or summary.speedup.isna().all():
        return []
    pairs = speed_order(summary)
    lines = ["## More pruned, yet slower", "",
             "Every pair of the same task, arch, criterion and strategy (the unpruned network as ratio 0, "
             "speedup 1) where the more-pruned network has the lower median speedup: `slower` where the two "
             "intervals over timing rounds lie apart, else not resolved.", ""]
    if pairs.empty:
        return lines + ["None: in every line, pruning more never lowered the median speedup.", ""]
    cells = [[r.task, r.arch, criterion_label(r.criterion), r.strategy, f"{r.less_pruned_ratio:g}",
              format_ratio(r.less_pruned_speedup, r.less_pruned_low, r.less_pruned_high), f"{r.ratio:g}",
              format_ratio(r.speedup, r.speedup_low, r.speedup_high), "slower" if r.slower else NOT_RESOLVED]
             for r in pairs.itertuples()]
    header = ["task", "arch", "criterion", "strategy", "ratio", "speedup", "more pruned", "speedup", "verdict"]
    return lines + table(header, cells) + [""]


def headline_lines(best: pd.DataFrame) -> list[str]:
    if best.empty:
        return []
    lines = [f"## Largest speedup within {NO_LOSS_DB} dB of the unpruned network, chosen on validation", "",
             "Per strategy (a recipe suffix: -long, -iter), over every criterion and ratio: on the validation split, "
             f"the fastest variant whose PSNR minus the unpruned network has its interval's lower bound (95% bootstrap; "
             "with fewer than 8 units, the lowest unit's difference) above "
             f"-{NO_LOSS_DB} dB; where none has, the one closest to the unpruned network (marked `closest`). Its "
             "test numbers are read once, after the choice. Speedups: median over timing rounds on validation "
             "images [interval]. Compute: the most epochs and prior evaluations (epochs x images x prior calls "
             "per image) of the strategy's fits.", ""]
    rows = []
    for _, r in best.iterrows():
        one = r.get("unit_kind") if isinstance(r.get("unit_kind"), str) else "unit"
        test = (format_difference(r.test_db, r.test_low, r.test_high, one=one, units=r.get("test_units"),
                                  higher=r.get("test_higher")) if "test_db" in r and pd.notna(r.test_db) else "")
        rows.append([r.task, r.arch, r.strategy, "" if r.within else "closest", criterion_label(r.criterion, r.target),
                     f"{r.ratio:g}", format_ratio(r.speedup, num(r.speedup_low), num(r.speedup_high)),
                     format_difference(r.val_db, r.val_low, r.val_high, one=one, units=r.get("val_units"),
                                       higher=r.get("val_higher")), test,
                     "" if pd.isna(r.fit_epochs) else int(r.fit_epochs),
                     "" if pd.isna(r.fit_prior_calls) else f"{int(r.fit_prior_calls):,}"])
    header = ["task", "arch", "strategy", "", "criterion", "ratio", "speedup", "val minus unpruned (dB)",
              "test minus unpruned (dB)", "epochs", "prior evaluations"]
    return lines + table(header, rows) + [""]


def _verdict(r, target: float) -> tuple[str, str]:
    """``(speedup cell, verdict)`` of one headline row against ``target``."""
    low, high = num(r.speedup_low), num(r.speedup_high)
    verdict = ("met" if low >= target else f"missed ({target / r.speedup:.2f}x short)" if high < target
               else NOT_RESOLVED)
    return format_ratio(r.speedup, low, high), verdict


def speed_target_lines(best: pd.DataFrame, target: float) -> list[str]:
    """Per task and arch, the fastest pruned headline variant within the margin (over every
    pruning strategy; the scratch control is not a pruning result) against ``target``: met
    where its speedup interval lies at or above it, missed where it lies below (with the
    shortfall), else not resolved; missed where no pruned variant is within. The scratch
    control's own fastest row within the margin stands beside it."""
    from spade.study.variants import SCRATCH

    if best.empty:
        return []
    lines = [f"## Speed target: {target:g}x within {NO_LOSS_DB} dB", "",
             f"Per task and arch, the fastest pruned variant of the headline above that is within {NO_LOSS_DB} dB "
             f"on validation, over every pruning strategy; `met` where its speedup interval lies at or above "
             f"{target:g}x, `missed` where it lies below (shortfall: the target over the speedup), else not "
             "resolved. Beside it, the scratch control (the pruned widths trained from random weights for "
             "pruning's whole path): where it too is within the margin, the speed is had without pruning.", ""]
    cells = []
    for (task, arch), part in best.groupby(["task", "arch"], sort=False):
        ok = part.within.astype(bool) & part.speedup.notna()
        pruned, scratch = part[ok & (part.strategy != SCRATCH)], part[ok & (part.strategy == SCRATCH)]
        control = ""
        if not scratch.empty:
            c = scratch.loc[scratch.speedup.idxmax()]
            cell, verdict = _verdict(c, target)
            control = f"within at {c.ratio:g}: {cell}" + ("" if verdict == NOT_RESOLVED else f", {verdict}")
        elif (part.strategy == SCRATCH).any():
            control = "not within the margin"
        if pruned.empty:
            cells.append([task, arch, "", "", "", "", "missed: no pruned variant within the margin", control])
            continue
        r = pruned.loc[pruned.speedup.idxmax()]
        cells.append([task, arch, r.strategy, criterion_label(r.criterion, r.target), f"{r.ratio:g}",
                      *_verdict(r, target), control])
    header = ["task", "arch", "strategy", "criterion", "ratio", "speedup", "verdict", "scratch control"]
    return lines + table(header, cells) + [""]


def scale_markdown(timings: pd.DataFrame, note: str = "") -> str:
    """The scale table (:mod:`spade.study.scale`): measured vs MAC vs Amdahl speedup per scale and ratio."""
    scales = [str(s) for s in timings.scale.unique()]
    title = ("Speed of the width rules at the study's scale" if scales == ["study"]
             else "Speed of the width rules at the scales " + ", ".join(f"`{s}`" for s in scales))
    lines = [f"# {title}", "", *([note, ""] if note else []),
             "Random weights (timing depends on widths and shapes only); DEQ at fixed iterations; every variant "
             "timed side by side with its unpruned network. Amdahl: the unpruned prior share of the time divided "
             "by the prior's MAC reduction, the rest unchanged. Exact at equal MACs: the speedup exact widths "
             "reach at the row's MACs (interpolated between the exact rows), to compare width rules at equal "
             "MACs; auto keeps every channel where no narrower width at or above the ratio's runs faster. "
             "GMACs per image; latency per batch.", ""]
    batches = "batch" in timings and timings.batch.nunique() > 1  # a batch column where several were timed
    runtimes = "runtime" in timings and timings.runtime.nunique() > 1  # and a runtime column
    if runtimes:
        lines += [f"Speedups are against the unpruned network in the same runtime; `vs {timings.runtime.iloc[0]}`: "
                  f"against the unpruned network in {timings.runtime.iloc[0]}, what the runtime and the pruning buy "
                  "together.", ""]
    header = ["scale", "arch", "input", *(["runtime"] if runtimes else []), *(["batch"] if batches else []), "ratio",
              "widths", "params", "GMACs", "latency ms", "speedup", *([f"vs {timings.runtime.iloc[0]}"] if runtimes else []),
              "MAC speedup", "Amdahl bound", "measured / Amdahl", "exact at equal MACs"]
    cells = []
    for _, r in timings.iterrows():
        widths = r.widths if isinstance(r.widths, str) and r.widths else "unpruned"  # "" reads back as NaN
        equal = r.get("exact_speedup_at_macs", float("nan"))
        cells.append([r.scale, r.arch, r["input"], *([r.runtime] if runtimes else []),
                      *([int(r.batch)] if batches else []), f"{r.ratio:g}", widths,
                      f"{int(r.params):,}", f"{r.macs / 1e9:.2f}", f"{r.latency_ms:.1f}", f"{r.speedup:.2f}",
                      *([f"{r.speedup_vs_first_runtime:.2f}"] if runtimes else []),
                      f"{r.macs_speedup:.2f}", f"{r.amdahl_speedup:.2f}", f"{r.speedup / r.amdahl_speedup:.0%}",
                      "" if pd.isna(equal) or widths in ("unpruned", "exact") else f"{equal:.2f}"])
    keys = ["scale", "arch", *(["runtime"] if runtimes else []), *(["batch"] if batches else [])]
    shares = timings.drop_duplicates(keys)
    lines += [*table(header, cells), "", "Prior share of the unpruned network's time: " + ", ".join(
        f"{r.scale} {r.arch}" + (f" {r.runtime}" if runtimes else "") + (f" batch {int(r.batch)}" if batches else "")
        + f" {r.prior_share:.0%}"
        for _, r in shares.iterrows()) + ".", ""]
    return "\n".join(lines)


def timing_spread_markdown(spread: pd.DataFrame) -> str:
    """The timing-spread table (:func:`spade.study.report.derived.timing_spread`)."""
    ratio = spread.again_over_first
    lines = ["# Two benchmark jobs of one run", "",
             f"The same {len(spread)} variants timed by two jobs: the second job's speedup over the first's is "
             f"{ratio.median():.3f} at the median, from {ratio.min():.3f} to {ratio.max():.3f} "
             f"(median absolute change {(ratio - 1).abs().median():.1%}, largest {(ratio - 1).abs().max():.1%}).", ""]
    cells = [[r.task, r.arch, criterion_label(r.criterion, r.target), f"{r.ratio:g}", r.strategy, int(r.batch),
              format_ratio(r.speedup_median_first, r.speedup_low_first, r.speedup_high_first),
              format_ratio(r.speedup_median_again, r.speedup_low_again, r.speedup_high_again),
              f"{r.again_over_first:.3f}"] for _, r in spread.iterrows()]
    header = ["task", "arch", "criterion", "ratio", "strategy", "batch", "speedup, job 1", "speedup, job 2",
              "job 2 / job 1"]
    return "\n".join(lines + table(header, cells)) + "\n"
