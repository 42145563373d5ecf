"""The equal-latency comparison's table, figure and readings: which way of buying speed
wins at each target speedup (:mod:`spade.study.stages.equal_latency`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from spade.study import speed_options as speed  # noqa: E402
from spade.study.report.tables import table  # noqa: E402
from spade.study.stats import format_difference, format_ratio, paired_difference  # noqa: E402


def uses_pruning(part: pd.DataFrame) -> pd.Series:
    """Whether each option's network was pruned by SPADE (itself, or the base of its solver
    setting or INT8 copy)."""
    option_of = part.set_index("label").option
    return part.base.map(option_of).isin(speed.PRUNING) | part.option.isin(speed.PRUNING)


def winners(part: pd.DataFrame, scores: pd.DataFrame, targets, seed: int = 0) -> list[dict]:
    """At each target speedup, among the options measured at least that fast (median speedup
    in the deploy runtime; INT8 only where it was faster than its floating-point network): the
    best by PSNR (mean over units), the best that prunes and the best that does not, and the
    paired test difference of those two with its interval."""
    out = []
    pruning = uses_pruning(part)
    unit = part.unit.iloc[0]
    for target in targets:
        fast = part[part.kept & (part.speedup >= float(target)) & (part.option != speed.EAGER_UNPRUNED)]
        best = lambda rows: rows.loc[rows.psnr_unit_mean.idxmax()] if len(rows) else None  # noqa: E731
        with_pruning, without = best(fast[pruning[fast.index]]), best(fast[~pruning[fast.index]])
        overall = best(fast)
        row = {"target": float(target), "best": overall, "pruning": with_pruning, "other": without, "diff": None}
        if with_pruning is not None and without is not None:
            a = scores[scores.label == with_pruning.label]
            b = scores[scores.label == without.label]
            row["diff"] = paired_difference(a, b, "psnr", unit if unit in scores else None, seed)
        out.append(row)
    return out


def _name(r) -> str:
    return "none reaches it" if r is None else f"{r.label} ({r.psnr_unit_mean:.2f} dB, {r.speedup:.2f}x)"


def equal_latency_markdown(frame: pd.DataFrame, scores: dict, targets, seed: int = 0) -> str:
    lines = ["# Ways of buying speed at equal deployed latency", "",
             "Every option of each task and arch, scored on the test split and timed in the deploy runtime in the "
             "same interleaved rounds (validation images). `speedup`: against the unpruned network in the deploy "
             "runtime, the median over rounds with its distribution-free interval; `vs eager`: against the unpruned "
             "network in eager PyTorch, where a user starts. PSNR: the mean over units (subjects, photographs); "
             "`minus unpruned`: the paired test difference with its interval over units. Trained options (pruned, "
             "distilled, scratch, fewer steps) had the same fine-tuning budget (scratch: the unpruned network's "
             "whole path); solver options and INT8 are set at test time. INT8 is kept only where it was measured "
             "faster than the same network in floating point. `front`: on the Pareto front of (speedup, PSNR). "
             "Intervals are over test units of one seed.", ""]
    header = ["option", "network", "latency (ms)", "speedup", "vs eager", "PSNR", "minus unpruned", "iterations",
              "front"]
    for (task, arch), part in frame.groupby(["task", "arch"], sort=False):
        part = part.sort_values("speedup", ascending=False)
        unit = part.unit.iloc[0]
        cells = []
        for r in part.itertuples():
            diff = format_difference(r.minus_unpruned, r.minus_unpruned_low, r.minus_unpruned_high, units=r.units,
                                     higher=r.higher, one=unit) \
                if r.option not in (speed.UNPRUNED, speed.EAGER_UNPRUNED) else ""
            cells.append([r.option + ("" if r.kept else " (slower: dropped)"), r.label, f"{r.latency_ms:.1f}",
                          format_ratio(r.speedup, r.speedup_low, r.speedup_high), f"{r.speedup_vs_eager:.2f}x",
                          f"{r.psnr_unit_mean:.2f}", diff, "" if pd.isna(r.iterations) else f"{r.iterations:.1f}",
                          "yes" if r.front else ""])
        lines += [f"## {task} / {arch}", "", *table(header, cells), ""]
        rows = []
        for w in winners(part, scores[(task, arch)], targets, seed):
            d = w["diff"]
            text = "" if d is None else format_difference(d["diff"], d["low"], d["high"], units=d["units"],
                                                           higher=d["higher"], one=unit)
            rows.append([f"{w['target']:g}x", _name(w["best"]), _name(w["pruning"]), _name(w["other"]), text])
        lines += [f"Which way wins ({task} / {arch}): among options at least that fast, the best by PSNR; the "
                  "last column is the best with pruning minus the best without, paired on test units.", "",
                  *table(["target", "best", "best with pruning", "best without pruning", "pruning minus other"],
                         rows), ""]
        int8 = part[(part.option == speed.INT8) & uses_pruning(part)]
        if len(int8):
            r = int8.loc[int8.speedup_vs_eager.idxmax()]
            dropped = "" if r.kept else " (not measured faster than the pruned network in floating point: dropped)"
            lines += [f"Pruning and INT8 together ({r.label}{dropped}): {r.speedup_vs_eager:.2f}x against the eager unpruned "
                      f"network, PSNR {format_difference(r.minus_unpruned, r.minus_unpruned_low, r.minus_unpruned_high, units=r.units, higher=r.higher, one=unit)} dB "  # noqa: E501
                      "against the unpruned network.", ""]
    return "\n".join(lines)


def equal_latency_figure(frame: pd.DataFrame, out) -> None:
    """PSNR against speedup per task and arch, one marker per option kind, the front joined."""
    groups = list(frame.groupby(["task", "arch"], sort=False))
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 4), squeeze=False)
    kinds = list(dict.fromkeys(frame.option))
    colours = dict(zip(kinds, plt.cm.tab10(np.linspace(0, 1, 10))[: len(kinds)]))
    for ax, ((task, arch), part) in zip(axes[0], groups):
        for kind, rows in part.groupby("option", sort=False):
            ax.errorbar(rows.speedup, rows.psnr_unit_mean,
                        xerr=[rows.speedup - rows.speedup_low, rows.speedup_high - rows.speedup],
                        fmt="o" if kind in speed.PRUNING else "s", color=colours[kind], label=kind,
                        alpha=1.0 if rows.kept.all() else 0.4, capsize=2)
        front = part[part.front].sort_values("speedup")
        ax.plot(front.speedup, front.psnr_unit_mean, "k--", lw=1, label="Pareto front")
        ax.set_xscale("log")
        ax.set_xlabel("speedup against the unpruned network (deploy runtime)")
        ax.set_ylabel("test PSNR (dB, mean over units)")
        ax.set_title(f"{task} / {arch}")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def equal_latency_report(tables: list, scores: list, out_csv, out_md, out_figure, targets,
                         seed: int = 0) -> pd.DataFrame:
    """Gather every task and arch's options (``tables``: their CSVs; ``scores``: their
    per-image test scores, in the same order) into one table, its Markdown with the readings
    and its figure."""
    frames, per_image = [], {}
    for path, scores_path in zip(tables, scores, strict=True):
        part = pd.read_csv(path)
        frames.append(part)
        per_image[(part.task.iloc[0], part.arch.iloc[0])] = pd.read_csv(scores_path)
    frame = pd.concat(frames, ignore_index=True)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_csv, index=False, float_format="%.6g")
    Path(out_md).write_text(equal_latency_markdown(frame, per_image, targets, seed))
    equal_latency_figure(frame, out_figure)
    return frame
