"""The study's seaborn figures: one panel per task and arch, one colour per kind."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from spade import strategies  # noqa: E402
from spade.study.report.palette import order, palette  # noqa: E402
from spade.study.report.derived import primary  # noqa: E402
from spade.study.report.readers import criterion_labels  # noqa: E402
from spade.study.variants import CLASSICAL, PRIOR_OFF, PRUNED, UNPRUNED  # noqa: E402


def _networks(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary.strategy != CLASSICAL].copy()


def _hue(data: pd.DataFrame) -> dict:
    """The fixed colour of each kind present (the same in every figure)."""
    return {"hue": "strategy", "palette": {k: v for k, v in palette().items() if k in set(data.strategy)},
            "hue_order": [k for k in order() if k in set(data.strategy)]}


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
    """PSNR (subject-weighted) of every pruned kind against the ratio, each with the band of
    its difference from the unpruned network, with the unpruned network (dashed), its
    prior-off control (dash-dot) and the classical baselines (dotted) as lines."""
    summary = primary(summary)
    data = _networks(summary)
    lines = data[data.strategy.isin([UNPRUNED, PRIOR_OFF])]
    data = data[~data.strategy.isin([UNPRUNED, PRIOR_OFF])]
    if "target" in data:
        data = data[~(data.target > 0)]  # speed targets: their own table
    style = {"style": "criterion"} if data.criterion.nunique() > 1 else {}
    grid = sns.relplot(data=data, x="ratio", y="psnr", kind="line", marker="o", errorbar=None, **style,
                       **_panels(data), **_hue(data))
    for (task, arch), ax in grid.axes_dict.items():
        for _, r in lines[(lines.task == task) & (lines.arch == arch)].iterrows():
            ax.axhline(r.psnr, color=palette()[r.strategy], ls="--" if r.strategy == UNPRUNED else "-.", lw=1)
        for _, r in summary[(summary.task == task) & (summary.strategy == CLASSICAL)].iterrows():
            ax.axhline(r.psnr, color=palette()[CLASSICAL], ls=":", lw=1)
        # each line's band: the unpruned PSNR plus the interval of its paired difference (95%
        # bootstrap over subjects, or with fewer than 8 the range of the subjects' differences)
        mine = data[(data.task == task) & (data.arch == arch)].dropna(subset=["minus_unpruned_low"])
        for strategy, line in mine.sort_values("ratio").groupby("strategy", sort=False):
            base = line.psnr - line.minus_unpruned_db
            ax.fill_between(line.ratio, base + line.minus_unpruned_low, base + line.minus_unpruned_high,
                            color=palette().get(strategy, "#999999"), alpha=0.12, lw=0)
    _finish(grid, data, path, "channel pruning ratio", "PSNR (dB)",
            "lines:\n-- unpruned\n-. prior-off\n·· classical\nbands: interval\nover subjects")


def plot_speedup(summary: pd.DataFrame, path) -> None:
    """Measured speedup of the supervised fine-tuned variants (a DEQ's cost depends on the
    iterations its weights need, so a never fine-tuned one would mix channel removal with
    early stopping at a poor fixed point) beside the bound set by MACs."""
    summary = primary(summary)
    # the first fine-tuning strategy the study ran (supervised by default); pruned only if none
    shown = next((s for s in strategies.names() if s in set(summary.strategy)), PRUNED)
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
    data = data[~data.strategy.isin([UNPRUNED, PRIOR_OFF])].assign(criterion=lambda d: criterion_labels(d))
    grid = sns.relplot(data=data, x="speedup", y="psnr", style="criterion", s=45, **_panels(data), **_hue(data))
    for (task, arch), ax in grid.axes_dict.items():
        for _, r in lines[(lines.task == task) & (lines.arch == arch)].iterrows():
            ax.axhline(r.psnr, color=palette()[UNPRUNED], ls="--", lw=1)
    _finish(grid, data, path, "measured speedup at batch 1", "PSNR (dB)", "-- unpruned")


def plot_psnr_vs_latency(summary: pd.DataFrame, path) -> None:
    data = _networks(primary(summary)).dropna(subset=["latency_ms"])
    grid = sns.relplot(data=data, x="latency_ms", y="psnr", size="ratio", **_panels(data), **_hue(data))
    _finish(grid, data, path, "latency at batch 1 (ms)", "PSNR (dB)")


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


def plot_fit_curves(curves: pd.DataFrame, path) -> None:
    """Every fit's watched validation curve against its epochs: validation PSNR for fits with
    targets (top rows), the strategy's own validation loss for label-free fits (bottom rows),
    one panel per task and arch, a marker on the epoch each fit kept."""
    data = curves.copy()
    data["watched"] = np.where(data.val_psnr.notna(), "validation PSNR (dB)", "own validation loss")
    data["value"] = data.val_psnr.where(data.val_psnr.notna(), data.val_loss)
    data["network"] = data.task + " · " + data.arch
    data["fit"] = data[["criterion", "ratio", "target", "strategy"]].astype(str).agg(" ".join, axis=1)
    data["ratio"] = data.ratio.map(lambda r: f"{r:g}" if pd.notna(r) and r > 0 else "unpruned")
    grid = sns.relplot(data=data, x="epoch", y="value", kind="line", style="ratio", units="fit", estimator=None,
                       row="watched", col="network", height=2.6, aspect=1.2,
                       facet_kws={"sharex": False, "sharey": False}, **_hue(data))
    kept = data[data.kept]
    for (watched, network), ax in grid.axes_dict.items():
        part = kept[(kept.watched == watched) & (kept.network == network)]
        if data[(data.watched == watched) & (data.network == network)].empty:
            ax.set_visible(False)
            continue
        ax.scatter(part.epoch, part.value, s=14, color="k", zorder=3)
        ax.set_title(f"{network}\n{watched}", fontsize=8)
        ax.tick_params(labelsize=7)
    grid.set_axis_labels("epoch", "")
    grid.figure.tight_layout()
    grid.savefig(path, dpi=110)
    plt.close("all")


def plot_examples(examples: dict[str, str], path, title: str) -> None:
    """The reconstruction grid: one row per test subject (or photograph; its middle image)
    with its |error| map beneath, one column per method (ground truth first), each panel
    titled with its PSNR; column names on the first row only, so the grid reads at page
    width.

    ``examples``: label -> ``.npz`` written by the evaluate stage (same test file).
    """
    loaded = {label: np.load(p) for label, p in examples.items()}
    first = next(iter(loaded.values()))
    n_img = len(first["names"])
    units = first["units"] if "units" in first else first["names"]
    labels = list(loaded)
    size = 1.15
    fig, axes = plt.subplots(2 * n_img, len(labels) + 1, figsize=(size * (len(labels) + 1), 2 * size * n_img + 0.6),
                             squeeze=False, gridspec_kw={"wspace": 0.03, "hspace": 0.12, "top": 0.96, "bottom": 0.01,
                                                         "left": 0.04, "right": 0.99})
    for i in range(n_img):
        target = first[f"target_{i}"]
        vmax = float(target.max())
        axes[2 * i, 0].imshow(target, cmap="gray", vmin=0, vmax=vmax)
        axes[2 * i, 0].set_ylabel(str(units[i]), fontsize=7)
        axes[2 * i + 1, 0].set_ylabel("|error|", fontsize=6)
        for j, label in enumerate(labels, start=1):
            pred = loaded[label][f"pred_{i}"]
            err = np.abs(pred - target)
            p = 10 * np.log10(vmax**2 / max(float(np.mean(err**2)), 1e-12))
            axes[2 * i, j].imshow(pred, cmap="gray", vmin=0, vmax=vmax)
            axes[2 * i, j].text(0.03, 0.04, f"{p:.1f}", color="yellow", fontsize=6, transform=axes[2 * i, j].transAxes)
            axes[2 * i + 1, j].imshow(err, cmap="magma", vmin=0, vmax=0.25 * vmax)
        for ax in axes[2 * i : 2 * i + 2].flat:
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
    for j, label in enumerate(["ground truth", *labels]):
        axes[0, j].set_title(label.replace(" r", "\nr", 1), fontsize=6)
    fig.suptitle(title, fontsize=8, y=0.995)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
