"""The study's tidy summary table, Markdown tables and seaborn figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from spade.variants import (CLASSICAL, FIXED_ITERATION_ARCHS, IDENTITY, ORDER, PALETTE, PRIOR_OFF,  # noqa: E402
                            PRUNED, SCRATCH, SHIFT_PREFIX, TARGET_MARK, UNPRUNED, is_shifted)

BASELINES = {"mri": "zero-filled", "sr": "bicubic"}
# An unpruned network within this margin of its prior-off control barely uses its prior:
# its pruning rows say nothing about pruning.
PRIOR_MARGIN_DB = 0.2
KEYS = list(IDENTITY) + ["split", "set"]
COLUMNS = KEYS + ["psnr", "ssim", "psnr_std", "ssim_std", "n_images", "actual_ratio", "params", "macs",
                  "prior_params", "prior_macs", "latency_ms", "latency_p25_ms", "latency_p75_ms", "speedup",
                  "time_saved", "macs_speedup", "amdahl_speedup", "prior_share", "physics_share", "other_share",
                  "batch_latency_ms", "batch_speedup", "batch", "iterations",
                  "iterations_max", "bench_images", "bench_iterations", "prior_margin_db", "prior_inactive",
                  "device", "convention", "fit_seconds", "fit_peak_rss_mb", "fit_peak_gpu_mb", "fit_train_images",
                  "fit_data", "fit_epochs", "fit_prior_calls"]
# columns a table shows only where the run has them (benchmarks predating the breakdown lack them)
OPTIONAL = {"macs_speedup", "amdahl_speedup", "prior_share"}
COST = ["params", "macs", "prior_params", "prior_macs", "actual_ratio", "device"]


def read_scores(paths) -> pd.DataFrame:
    """The per-image CSVs of the evaluate stage, each carrying its variant's identity."""
    frames = [pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in paths]
    scores = pd.concat(frames, ignore_index=True)
    missing = [k for k in IDENTITY + ("split",) if k not in scores.columns]
    if missing:
        raise ValueError(f"per-image scores lack the identity columns {missing}; rerun the evaluate stage")
    scores["criterion"] = scores["criterion"].fillna("")
    if "set" not in scores.columns:
        scores["set"] = ""
    scores["set"] = scores["set"].fillna("")
    if "iterations" not in scores.columns:
        scores["iterations"] = np.nan
    return scores


def read_costs(paths) -> pd.DataFrame:
    """What each variant's fit cost (:func:`spade.stages.fit_cost`), from the artifacts'
    metadata: one row per artifact with its identity; a pruned model never fine-tuned
    (``none``) cost nothing beyond pruning."""
    from spade.checkpoint import load_payload

    rows = []
    for path in paths:
        meta = load_payload(path)["meta"]
        cost = meta.get("cost") or ({"seconds": 0.0, "data": "none", "epochs": 0, "prior_calls": 0.0}
                                    if meta.get("stage") == "prune" else {})
        rows.append({**meta["identity"], **{f"fit_{k}": v for k, v in cost.items()}})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["criterion"] = frame["criterion"].fillna("")
    return frame


def summarise(scores: pd.DataFrame, bench: pd.DataFrame | None = None,
              costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per variant and test split (and named test set: SR benchmarks), merged with
    the benchmark on the identity columns.

    ``scores``: :func:`read_scores`. ``bench``: the benchmark tables concatenated. Networks
    with a fixed number of prior calls are timed once per architecture (their pruned model,
    strategy ``none``); every strategy of that ratio, and the scratch control with the same
    widths, takes that timing. Speedups are against the unpruned network's timing.
    """
    agg = scores.groupby(KEYS, sort=False, dropna=False).agg(
        psnr=("psnr", "mean"), ssim=("ssim", "mean"), psnr_std=("psnr", lambda v: v.std(ddof=0)),
        ssim_std=("ssim", lambda v: v.std(ddof=0)), n_images=("psnr", "size"),
        iterations=("iterations", "mean"), iterations_max=("iterations", "max"),
        convention=("convention", "first")).reset_index()
    if bench is not None and len(bench):
        agg = _merge_bench(agg, bench)
    if costs is not None and len(costs):
        agg = agg.merge(costs, on=list(IDENTITY), how="left", validate="many_to_one")
    agg = _prior_margin(agg)
    frame = agg.reindex(columns=COLUMNS)
    order = {k: i for i, k in enumerate(ORDER)}
    frame["_o"] = frame.strategy.map(order).fillna(len(order))
    frame["_split"] = (frame.split != "test").astype(int)
    sets = {name: i for i, name in enumerate(frame["set"].drop_duplicates())}
    frame["_s"] = frame["set"].map(sets)
    return (frame.sort_values(["task", "_split", "_s", "arch", "_o", "ratio"], kind="stable")
            .drop(columns=["_o", "_s", "_split"]).reset_index(drop=True))


def _merge_bench(agg: pd.DataFrame, bench: pd.DataFrame) -> pd.DataFrame:
    bench = bench[bench.setting == "eager"].copy()
    bench["criterion"] = bench["criterion"].fillna("")
    key = ["task", "arch", "criterion", "ratio", "strategy"]
    first = bench[bench.batch == bench.groupby(["task", "arch"]).batch.transform("min")]
    last = bench[bench.batch == bench.groupby(["task", "arch"]).batch.transform("max")]
    agg = agg.copy()
    fixed = agg.arch.isin(FIXED_ITERATION_ARCHS) & ~agg.strategy.isin([UNPRUNED, PRIOR_OFF, CLASSICAL])
    agg["_timed"] = agg.strategy.where(~fixed, PRUNED)  # which timing stands for the row
    breakdown = [c for c in ("prior_share", "prior_ms", "physics_ms", "other_ms", "breakdown_total_ms")
                 if c in bench.columns]  # benchmarks written before the time breakdown lack them
    cols = COST + ["latency_ms", "latency_p25_ms", "latency_p75_ms", "images", "iterations", "batch"] + breakdown
    one = first[key + cols].rename(columns={"strategy": "_timed", "images": "bench_images",
                                             "iterations": "bench_iterations", "batch": "_batch1"})
    out = agg.merge(one, on=["task", "arch", "criterion", "ratio", "_timed"], how="left", validate="many_to_one")
    many = last[key + ["latency_ms", "batch"]].rename(columns={"strategy": "_timed", "latency_ms": "batch_latency_ms"})
    out = out.merge(many, on=["task", "arch", "criterion", "ratio", "_timed"], how="left", validate="many_to_one")
    ref = first[first.strategy == UNPRUNED].set_index(["task", "arch"])
    ref_n = last[last.strategy == UNPRUNED].set_index(["task", "arch"])
    idx = pd.MultiIndex.from_frame(out[["task", "arch"]])
    ref_lat = ref.latency_ms.reindex(idx).to_numpy()
    out["speedup"] = ref_lat / out.latency_ms
    out["time_saved"] = 1 - out.latency_ms / ref_lat
    out["macs_speedup"] = ref.macs.reindex(idx).to_numpy() / out.macs.where(out.macs > 0)  # prior-off: no MACs
    out["batch_speedup"] = ref_n.latency_ms.reindex(idx).to_numpy() / out.batch_latency_ms
    if "prior_share" in out:
        out = _amdahl(out, ref, idx)
    return out.drop(columns=["_timed", "_batch1"])


def _amdahl(out: pd.DataFrame, ref: pd.DataFrame, idx) -> pd.DataFrame:
    """Each variant's time split (shares of its own instrumented pass: prior, physics, the
    rest) and ``amdahl_speedup``: what shrinking the prior by its MAC reduction can buy,
    given the unpruned network's prior share (and, for a DEQ, the change in iterations)."""
    from spade.benchmark import amdahl_speedup

    for part in ("physics", "other"):
        out[f"{part}_share"] = out[f"{part}_ms"] / out.breakdown_total_ms
    share = ref.prior_share.reindex(idx).to_numpy()
    prior_ratio = ref.prior_macs.reindex(idx).to_numpy() / out.prior_macs.where(out.prior_macs > 0)
    iters = (ref.iterations.reindex(idx).to_numpy() / out.bench_iterations).where(out.bench_iterations.notna(), 1.0)
    out["amdahl_speedup"] = amdahl_speedup(share, prior_ratio, iters)
    return out


def _prior_margin(agg: pd.DataFrame) -> pd.DataFrame:
    """``prior_margin_db``: the unpruned network's PSNR minus its prior-off control's on the
    same split and set; ``prior_inactive``: that margin is below :data:`PRIOR_MARGIN_DB`."""
    where = ["task", "arch", "split", "set"]
    unpruned = agg[agg.strategy == UNPRUNED].set_index(where).psnr
    off = agg[agg.strategy == PRIOR_OFF].set_index(where).psnr
    margin = (unpruned - off).rename("prior_margin_db")
    agg = agg.drop(columns=["prior_margin_db", "prior_inactive"], errors="ignore")
    agg = agg.merge(margin.reset_index(), on=where, how="left")
    inactive = (agg.prior_margin_db < PRIOR_MARGIN_DB).astype(object)
    agg["prior_inactive"] = inactive.where(agg.prior_margin_db.notna(), None)  # no control: unknown
    return agg


def markdown(summary: pd.DataFrame) -> str:
    """Markdown tables, one per task and split (and test set, where there are several)."""
    out = ["# SPADE study summary", ""]
    cols = ["arch", "ratio", "actual_ratio", "strategy", "psnr", "ssim", "params", "macs", "latency_ms", "speedup",
            "time_saved", "macs_speedup", "amdahl_speedup", "prior_share", "iterations", "iterations_max"]
    cols = [c for c in cols if c in summary and summary[c].notna().any() or c not in OPTIONAL]
    if summary.criterion.replace("", np.nan).dropna().nunique() > 1:  # rows differ by criterion too
        cols.insert(cols.index("ratio"), "criterion")
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
        out += [f"## {title}", "", *note, *_readings(part), "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for _, r in part.iterrows():
            cells = []
            for c in cols:
                v = r[c]
                if pd.isna(v) or v == "":
                    cells.append("")
                elif c == "psnr":
                    cells.append(f"{v:.2f}")
                elif c in ("ssim", "speedup", "actual_ratio"):
                    cells.append(f"{v:.3f}")
                elif c == "ratio":
                    cells.append(f"{v:g}")
                elif c in ("macs_speedup", "amdahl_speedup"):
                    cells.append(f"{v:.2f}")
                elif c in ("time_saved", "prior_share"):
                    cells.append(f"{100 * v:.1f}%")
                elif c in ("latency_ms", "iterations"):
                    cells.append(f"{v:.1f}")
                elif c in ("params", "macs", "iterations_max"):
                    cells.append(f"{int(v):,}")
                else:
                    cells.append(str(v))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    out += _within_lines(summary) + _target_lines(summary) + _cost_lines(summary)
    return "\n".join(out)


# "At no loss": within this margin of the unpruned network's PSNR on the test split.
NO_LOSS_DB = 0.1


def within_margin(summary: pd.DataFrame, margin: float = NO_LOSS_DB) -> pd.DataFrame:
    """Per task, arch and strategy (recipes included) on the test split: the variant with
    the largest measured speedup whose PSNR is within ``margin`` dB of the unpruned
    network's, with its fit's epochs and prior evaluations; none where no variant is."""
    test = summary[summary.split == "test"]
    ref = test[test.strategy == UNPRUNED].drop_duplicates(["task", "arch"]).set_index(["task", "arch"]).psnr
    pruned = test[~test.strategy.isin([CLASSICAL, UNPRUNED, PRIOR_OFF])].copy()
    pruned["delta_db"] = pruned.psnr - pd.MultiIndex.from_frame(pruned[["task", "arch"]]).map(ref.get).astype(float)
    rows = []
    for (task, arch, strategy), part in pruned.groupby(["task", "arch", "strategy"], sort=False):
        ok = part[part.delta_db >= -margin]
        best = ok.loc[ok.speedup.idxmax()] if len(ok) and ok.speedup.notna().any() else None
        closest = part.loc[part.delta_db.idxmax()]
        rows.append({"task": task, "arch": arch, "strategy": strategy,
                     "speedup": best.speedup if best is not None else np.nan,
                     "criterion": best.criterion if best is not None else "",
                     "ratio": best.ratio if best is not None else np.nan,
                     "delta_db": best.delta_db if best is not None else np.nan,
                     "closest_db": closest.delta_db, "closest_speedup": closest.speedup,
                     "fit_epochs": part.get("fit_epochs", pd.Series(dtype=float)).max(),
                     "fit_prior_calls": part.get("fit_prior_calls", pd.Series(dtype=float)).max()})
    return pd.DataFrame(rows)


def _within_lines(summary: pd.DataFrame) -> list[str]:
    table = within_margin(summary)
    if table.empty:
        return []
    lines = [f"## Largest speedup within {NO_LOSS_DB} dB of the unpruned network", "",
             "Per strategy (a recipe suffix: -long, -iter) on the test split, over every criterion and ratio: the "
             "fastest variant measured within the margin; where none is, the one closest to the unpruned PSNR. "
             "Compute: the most epochs and prior evaluations (epochs x images x prior calls per image) of the "
             "strategy's fits.", "",
             "| task | arch | strategy | speedup | criterion | ratio | minus unpruned | closest (dB, speedup) | "
             "epochs | prior evaluations |", "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        found = pd.notna(r.speedup)
        lines.append(f"| {r.task} | {r.arch} | {r.strategy} | {f'{r.speedup:.2f}' if found else 'none'} | "
                     f"{r.criterion if found else ''} | {f'{r.ratio:g}' if found else ''} | "
                     f"{f'{r.delta_db:+.2f}' if found else ''} | {r.closest_db:+.2f}, {r.closest_speedup:.2f}x | "
                     f"{'' if pd.isna(r.fit_epochs) else int(r.fit_epochs)} | "
                     f"{'' if pd.isna(r.fit_prior_calls) else f'{int(r.fit_prior_calls):,}'} |")
    return lines + [""]


def _cost_lines(summary: pd.DataFrame) -> list[str]:
    """What each strategy's fit cost, per task and arch (mean over ratios): wall time,
    peak memory of its process, the images it trained on and what they held."""
    if "fit_seconds" not in summary or summary.fit_seconds.isna().all():
        return []
    rows = summary[(summary.split == "test") & summary.fit_seconds.notna()].drop_duplicates(list(IDENTITY))
    lines = ["## Cost of each fit", "", "Wall time of the epochs, peak resident memory of the job, and the "
             "images each fit trained on (unpruned: the base training; none: no fit).", "",
             "| task | arch | strategy | fit_seconds | fit_peak_rss_mb | fit_train_images | fit_epochs | "
             "fit_prior_calls | fit_data |", "|---|---|---|---|---|---|---|---|---|"]
    for (task, arch, strategy), part in rows.groupby(["task", "arch", "strategy"], sort=False):
        images, peak = part.fit_train_images.dropna(), part.fit_peak_rss_mb.dropna()
        epochs = part.get("fit_epochs", pd.Series(dtype=float)).dropna()
        calls = part.get("fit_prior_calls", pd.Series(dtype=float)).dropna()
        lines.append(f"| {task} | {arch} | {strategy} | {part.fit_seconds.mean():.1f} | "
                     f"{f'{peak.mean():.0f}' if len(peak) else ''} | {int(images.iloc[0]) if len(images) else ''} | "
                     f"{int(epochs.max()) if len(epochs) else ''} | {f'{int(calls.mean()):,}' if len(calls) else ''} | "
                     f"{part.fit_data.iloc[0]} |")
    return lines + [""]


def _target_lines(summary: pd.DataFrame) -> list[str]:
    """Per task, arch and speed target (criterion ``l1:2x``): the ratio the search found on
    unlabelled measurements, the speedup the benchmark then measured on test images (the
    supervised variant where a DEQ's iterations differ per strategy), and PSNR per strategy
    against the unpruned network."""
    rows = summary[(summary.split == "test") & summary.criterion.astype(str).str.contains(TARGET_MARK, regex=False)]
    if rows.empty:
        return []
    lines = ["## Pruned to a speed target", "",
             "The smallest ratio of the search grid whose pruned, not fine-tuned network was measured at least "
             "the target faster on unlabelled measurements (a DEQ at fixed iterations); then fine-tuned like any "
             "ratio and timed and scored on the test split.", "",
             "| task | arch | target | ratio found | measured speedup (test) | strategy | PSNR | minus unpruned |",
             "|---|---|---|---|---|---|---|---|"]
    unpruned = summary[(summary.split == "test") & (summary.strategy == UNPRUNED)]
    ref = unpruned.drop_duplicates(["task", "arch"]).set_index(["task", "arch"]).psnr
    for (task, arch, crit), part in rows.groupby(["task", "arch", "criterion"], sort=False):
        target = crit.split(TARGET_MARK, 1)[1]
        for _, r in part.iterrows():
            base = ref.get((task, arch), float("nan"))
            lines.append(f"| {task} | {arch} | {target} | {r.ratio:g} | {r.speedup:.2f} | {r.strategy} | "
                         f"{r.psnr:.2f} | {r.psnr - base:+.2f} |")
    return lines + [""]


def _readings(part: pd.DataFrame) -> list[str]:
    """What a reader looks for first, computed from the rows of one task and split: each
    strategy's PSNR against the unpruned network per ratio, and the scratch control against
    pruning plus supervised fine-tuning at its ratio."""
    out = []
    pruned = part[~part.strategy.isin([CLASSICAL, UNPRUNED, PRIOR_OFF, SCRATCH])]
    ratios = sorted(pruned.ratio.dropna().unique())
    if not len(pruned) or not ratios:
        return out
    out += ["PSNR minus the unpruned network (dB), per ratio:", "",
            "| arch | strategy | " + " | ".join(f"{r:g}" for r in ratios) + " |", "|---|---|" + "---|" * len(ratios)]
    several = pruned.criterion.nunique() > 1  # then each row names its criterion too
    for (arch, criterion, strategy), rows in pruned.groupby(["arch", "criterion", "strategy"], sort=False):
        base = part[(part.arch == arch) & (part.strategy == UNPRUNED)].psnr
        if base.empty:
            continue
        by_ratio = rows.groupby("ratio").psnr.mean()
        cells = [f"{by_ratio[r] - base.iloc[0]:+.2f}" if r in by_ratio.index else "" for r in ratios]
        label = f"{criterion} {strategy}" if several else strategy
        out.append(f"| {arch} | {label} | " + " | ".join(cells) + " |")
    out.append("")
    lines = []
    for _, sc in part[part.strategy == SCRATCH].iterrows():
        sup = part[(part.arch == sc.arch) & (part.criterion == sc.criterion) & (part.ratio == sc.ratio)
                   & (part.strategy == "supervised")]
        if len(sup):
            gap = sup.psnr.iloc[0] - sc.psnr
            winner = "pruning wins" if gap > 0 else "scratch wins"
            lines.append(f"{sc.arch} at {sc.ratio:g}: pruned + supervised {sup.psnr.iloc[0]:.2f}, scratch {sc.psnr:.2f} "
                         f"({winner} by {abs(gap):.2f} dB)")
    if lines:
        out += ["Pruning against training the pruned widths from scratch: " + "; ".join(lines) + ".", ""]
    return out


def primary(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows the figures show: per task, the test split's first test set, so that scores
    of different test sets (or of the external set) are never averaged together."""
    summary = summary[summary.split == "test"]
    sets = summary["set"].fillna("")
    first = sets.groupby(summary.task, sort=False).first()
    return summary[sets == summary.task.map(first)]


def _networks(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary.strategy != CLASSICAL].copy()


def _hue(data: pd.DataFrame) -> dict:
    """The fixed colour of each kind present (the same in every figure)."""
    return {"hue": "strategy", "palette": {k: v for k, v in PALETTE.items() if k in set(data.strategy)},
            "hue_order": [k for k in ORDER if k in set(data.strategy)]}


def _panels(data: pd.DataFrame) -> dict:
    """One row per task, one column per arch (the paper's layout)."""
    return {"row": "task", "col": "arch", "row_order": list(dict.fromkeys(data.task)),
            "col_order": list(dict.fromkeys(data.arch)), "height": 2.9, "aspect": 1.15,
            "facet_kws": {"sharex": False, "sharey": False, "margin_titles": False}}


def _finish(grid, summary: pd.DataFrame, path, xlabel: str, ylabel: str, note: str = "",
            subtitle: str | None = None) -> None:
    """Name each panel's task, arch, split and metric convention; hide the panels of an
    arch a task does not have; no label overlaps its neighbour; save."""
    for (task, arch), ax in grid.axes_dict.items():
        rows = summary[(summary.task == task) & (summary.arch == arch)]
        if rows.empty:
            ax.set_visible(False)
            continue
        if subtitle is None:
            conventions = ", ".join(sorted(set(rows.convention.dropna().astype(str)))) or "default"
            sets = sorted(set(rows["set"].dropna().astype(str)))
            split = "test" + (f" ({sets[0]})" if sets and sets[0] != task else "")
            ax.set_title(f"{task} · {arch}\n{split} split, PSNR convention: {conventions}", fontsize=8)
        else:
            ax.set_title(f"{task} · {arch}\n{subtitle}", fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
    grid.figure.tight_layout()
    right = 0.98
    if grid.legend is not None:  # leave the legend its own width, however few the panels
        grid.figure.canvas.draw()
        right = 0.97 - grid.legend.get_window_extent().width / grid.figure.bbox.width
        grid.figure.subplots_adjust(right=right)
    if note:
        grid.figure.text(right + 0.015, 0.08, note, fontsize=8, va="bottom")
    grid.savefig(path, dpi=120)
    plt.close("all")


def plot_psnr_vs_ratio(summary: pd.DataFrame, path) -> None:
    """PSNR of every pruned kind against the ratio, with the unpruned network (dashed), its
    prior-off control (dash-dot) and the classical baseline (dotted) as lines."""
    summary = primary(summary)
    data = _networks(summary)
    lines = data[data.strategy.isin([UNPRUNED, PRIOR_OFF])]
    data = data[~data.strategy.isin([UNPRUNED, PRIOR_OFF])]
    data = data[~data.criterion.astype(str).str.contains(TARGET_MARK, regex=False)]  # speed targets: own table
    style = {"style": "criterion"} if data.criterion.nunique() > 1 else {}
    grid = sns.relplot(data=data, x="ratio", y="psnr", kind="line", marker="o", errorbar=None, **style,
                       **_panels(data), **_hue(data))
    for (task, arch), ax in grid.axes_dict.items():
        for _, r in lines[(lines.task == task) & (lines.arch == arch)].iterrows():
            ax.axhline(r.psnr, color=PALETTE[r.strategy], ls="--" if r.strategy == UNPRUNED else "-.", lw=1)
        for _, r in summary[(summary.task == task) & (summary.strategy == CLASSICAL)].iterrows():
            ax.axhline(r.psnr, color=PALETTE[CLASSICAL], ls=":", lw=1)
    _finish(grid, data, path, "channel pruning ratio", "PSNR (dB)",
            "lines:\n-- unpruned\n-. prior-off\n·· classical")


def plot_speedup(summary: pd.DataFrame, path) -> None:
    """Measured speedup of the supervised fine-tuned variants (a DEQ's cost depends on the
    iterations its weights need, so a never fine-tuned one would mix channel removal with
    early stopping at a poor fixed point) beside the bound set by MACs."""
    summary = primary(summary)
    # the first fine-tuning strategy the study ran (supervised by default); pruned only if none
    shown = next((s for s in ("supervised", "school", "selfsup") if s in set(summary.strategy)), PRUNED)
    data = summary[summary.strategy == shown].dropna(subset=["speedup"])
    kinds = [data.assign(kind="measured (batch 1)", value=data.speedup)]
    if len(data) and data.batch.max() > 1:
        kinds.append(data.assign(kind=f"measured (batch {int(data.batch.max())})", value=data.batch_speedup))
    if "amdahl_speedup" in data and data.amdahl_speedup.notna().any():
        kinds.append(data.assign(kind="Amdahl bound", value=data.amdahl_speedup))
    kinds.append(data.assign(kind="MACs bound", value=data.macs_speedup))
    # colours of their own, none of them a strategy's: batch 1, the larger batch, the bounds
    names = [k.kind.iloc[0] for k in kinds if len(k)]
    fixed = {"MACs bound": "#e377c2", "Amdahl bound": "#7b4173"}
    palette = {n: fixed.get(n, "#17becf" if "batch 1)" in n else "#8c564b") for n in names}
    grid = sns.relplot(data=pd.concat(kinds), x="ratio", y="value", hue="kind", kind="line", marker="o",
                       palette=palette or None, **_panels(data))
    for ax in grid.axes.flat:
        ax.axhline(1, color="k", lw=0.8)
    _finish(grid, data, path, "channel pruning ratio", f"speedup ({shown})")


def plot_psnr_vs_speedup(summary: pd.DataFrame, path) -> None:
    """PSNR against measured speedup of every pruned variant: colour the strategy, marker
    the criterion and allocation (``_global``; ``:2x``: pruned to a speed target), with the
    unpruned network's PSNR (dashed) at speedup 1."""
    data = _networks(primary(summary)).dropna(subset=["speedup"])
    lines = data[data.strategy == UNPRUNED]
    data = data[~data.strategy.isin([UNPRUNED, PRIOR_OFF])]
    grid = sns.relplot(data=data, x="speedup", y="psnr", style="criterion", s=45, **_panels(data), **_hue(data))
    for (task, arch), ax in grid.axes_dict.items():
        for _, r in lines[(lines.task == task) & (lines.arch == arch)].iterrows():
            ax.axhline(r.psnr, color=PALETTE[UNPRUNED], ls="--", lw=1)
    _finish(grid, data, path, "measured speedup at batch 1", "PSNR (dB)", "-- unpruned")


def plot_psnr_vs_latency(summary: pd.DataFrame, path) -> None:
    data = _networks(primary(summary)).dropna(subset=["latency_ms"])
    grid = sns.relplot(data=data, x="latency_ms", y="psnr", size="ratio", **_panels(data), **_hue(data))
    _finish(grid, data, path, "latency at batch 1 (ms)", "PSNR (dB)")


def robustness(summary: pd.DataFrame) -> pd.DataFrame:
    """PSNR drop of every variant under each shift: its score on a shifted test set (or the
    external set) minus its score on the test split, and that drop minus the unpruned
    network's (``vs_unpruned_db`` > 0: the variant loses less than the network it was
    pruned from, i.e. it is more robust)."""
    summary = summary.copy()
    summary["set"] = summary["set"].fillna("")
    shifted = summary[summary.split.map(is_shifted)]
    key = list(IDENTITY)
    test = summary[summary.split == "test"].groupby(key, dropna=False).psnr.mean().rename("psnr_test")
    shift = shifted.groupby(key + ["split"], dropna=False).psnr.mean().rename("psnr_shift").reset_index()
    table = shift.merge(test.reset_index(), on=key, how="inner")
    table["shift"] = table.split.str.removeprefix(SHIFT_PREFIX)
    table["drop_db"] = table.psnr_shift - table.psnr_test
    ref = table[table.strategy == UNPRUNED].set_index(["task", "arch", "shift"]).drop_db.rename("unpruned_drop_db")
    table = table.merge(ref.reset_index(), on=["task", "arch", "shift"], how="left")
    table["vs_unpruned_db"] = table.drop_db - table.unpruned_drop_db
    order = {k: i for i, k in enumerate(ORDER)}
    table["_o"] = table.strategy.map(order).fillna(len(order))
    cols = ["task", "arch", "shift", "criterion", "ratio", "strategy", "psnr_test", "psnr_shift", "drop_db",
            "unpruned_drop_db", "vs_unpruned_db"]
    return table.sort_values(["task", "arch", "shift", "_o", "ratio"], kind="stable")[cols].reset_index(drop=True)


def robustness_markdown(table: pd.DataFrame) -> str:
    """Per task and arch: each kind's PSNR drop (dB) under each shift, mean over ratios."""
    out = ["# Robustness under shift", "", "PSNR on the shifted test set minus PSNR on the test split (dB), mean "
           "over the pruning ratios; in brackets, minus the unpruned network's drop (> 0: loses less than it).", ""]
    for (task, arch), part in table.groupby(["task", "arch"], sort=False):
        shifts = list(dict.fromkeys(part["shift"]))
        out += [f"## {task} / {arch}", "", "| strategy | " + " | ".join(shifts) + " |", "|---" * (len(shifts) + 1) + "|"]
        for strategy, rows in part.groupby("strategy", sort=False):
            cells = []
            for shift in shifts:
                r = rows[rows["shift"] == shift]
                gap = r.vs_unpruned_db.mean()
                cells.append(f"{r.drop_db.mean():+.2f}" + ("" if strategy == UNPRUNED or pd.isna(gap)
                                                           else f" ({gap:+.2f})"))
            out.append(f"| {strategy} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def plot_robustness(table: pd.DataFrame, path) -> None:
    """PSNR drop under each shift per kind (mean over ratios), one panel per task and arch."""
    data = table[table.arch != CLASSICAL]
    grid = sns.catplot(data=data, x="shift", y="drop_db", kind="point", errorbar=None, dodge=0.45, linestyle="none",
                       **{k: v for k, v in _panels(data).items() if k not in ("facet_kws",)},
                       sharex=False, sharey=False, **_hue(data))
    for ax in grid.axes.flat:
        ax.axhline(0, color="k", lw=0.8)
    _finish(grid, data, path, "shift", "PSNR drop vs test (dB)",
            subtitle="shifted test set minus test split, mean over ratios")


def plot_examples(examples: dict[str, str], path, title: str) -> None:
    """Reconstructions of the first test images with |error| maps below each.

    ``examples``: label -> ``.npz`` written by the evaluate stage (same test file).
    """
    loaded = {label: np.load(p) for label, p in examples.items()}
    first = next(iter(loaded.values()))
    n_img = len(first["names"])
    labels = list(loaded)
    fig, axes = plt.subplots(2 * n_img, len(labels) + 1, figsize=(1.9 * (len(labels) + 1), 3.8 * n_img),
                             squeeze=False)
    for i in range(n_img):
        target = first[f"target_{i}"]
        vmax = float(target.max())
        axes[2 * i, 0].imshow(target, cmap="gray", vmin=0, vmax=vmax)
        axes[2 * i, 0].set_title("ground truth", fontsize=8)
        axes[2 * i + 1, 0].axis("off")
        for j, label in enumerate(labels, start=1):
            pred = loaded[label][f"pred_{i}"]
            err = np.abs(pred - target)
            p = 10 * np.log10(1.0 / max(float(np.mean(err**2)), 1e-12))
            axes[2 * i, j].imshow(pred, cmap="gray", vmin=0, vmax=vmax)
            axes[2 * i, j].set_title(f"{label}\n{p:.2f} dB", fontsize=7)
            axes[2 * i + 1, j].imshow(err, cmap="magma", vmin=0, vmax=0.25 * vmax)
        for ax in axes[2 * i : 2 * i + 2].flat:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


EXTRA_COLUMNS = ["task", "arch", "variant", "setting", "batch", "latency_ms", "iterations",
                 "speedup_vs_eager_unpruned", "speedup_vs_same_setting_unpruned"]


def extra_timings(bench: pd.DataFrame) -> pd.DataFrame:
    """The labelled extra timing rows (``variant@setting``) of the benchmark tables."""
    from spade.benchmark import labelled_speedups

    parts = [labelled_speedups(table).assign(task=task, arch=arch)
             for (task, arch), table in bench.groupby(["task", "arch"], sort=False)]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True)[EXTRA_COLUMNS] if parts else pd.DataFrame(columns=EXTRA_COLUMNS)


def extra_markdown(extras: pd.DataFrame) -> str:
    if extras.empty:
        return ""
    out = ["## Labelled extra timings", "",
           "Not part of the comparison above, where every variant runs eagerly with the same solver: "
           "`tol=...` rows solve pruned DEQs to a looser tolerance (as the official SPADE code timed them), "
           "`channels_last` and `compile` rows change how the same weights run. Speedups are against the "
           "eager unpruned network and, where it was timed the same way, the unpruned network under that setting.",
           "", "| " + " | ".join(EXTRA_COLUMNS) + " |", "|" + "---|" * len(EXTRA_COLUMNS)]
    for _, r in extras.iterrows():
        cells = [f"{v:.3g}" if isinstance(v, float) and not pd.isna(v) else ("" if pd.isna(v) else str(v))
                 for v in r[EXTRA_COLUMNS]]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def write_tables(summary: pd.DataFrame, csv_path, md_path, extras: pd.DataFrame | None = None,
                 extras_path=None) -> None:
    Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
    summary = summary.copy()
    for col in ("params", "macs", "prior_params", "prior_macs", "n_images", "iterations_max", "fit_train_images",
                "fit_epochs", "fit_prior_calls"):
        if col in summary:  # counts stay exact (a float format would round 1,769,472 MACs)
            summary[col] = summary[col].round().astype("Int64")
    summary.to_csv(csv_path, index=False, float_format="%.6g")
    md = markdown(summary)
    if extras is not None and extras_path is not None:
        extras.to_csv(extras_path, index=False, float_format="%.6g")
        md = md.rstrip("\n") + "\n\n" + extra_markdown(extras)
    Path(md_path).write_text(md)
