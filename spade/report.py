"""The study's tidy summary table, Markdown tables and seaborn figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

BASELINES = {"mri": "zero-filled", "sr": "bicubic"}
COLUMNS = ["task", "set", "arch", "criterion", "ratio", "strategy", "psnr", "ssim", "psnr_std", "ssim_std", "n_images",
           "params", "macs", "prior_params", "prior_macs", "latency_ms", "latency_p25_ms", "latency_p75_ms",
           "speedup", "time_saved", "macs_speedup", "batch_latency_ms", "batch_speedup", "batch", "iterations", "device", "convention"]


def summarise(metrics: list[dict], bench: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """One row per task x arch x ratio x strategy, plus the unpruned and the classical rows.

    ``metrics``: dicts with keys task, arch, criterion, ratio, strategy, path (a per-image
    CSV). ``bench``: the benchmark table of each (task, arch); variants are named ``base``
    or ``{criterion}-r{ratio}-{strategy}``; a variant whose strategy was not timed takes
    the latency of its pruned model (strategy ``none``), which is exact for networks with
    a fixed number of iterations.
    """
    rows = []
    for m in metrics:
        scores = pd.read_csv(m["path"])
        # test images from several named sets (SR benchmarks): one row per set, as the SR
        # literature reports; a single set or none: one row
        if "set" in scores.columns:
            parts = [(name, scores[scores["set"] == name]) for name in scores["set"].drop_duplicates()]
        else:
            parts = [(None, scores)]
        for set_name, part in parts:
            rows.append(_summary_row(m, part, set_name, bench))
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    order = {"classical": 0, "unpruned": 1, "none": 2, "supervised": 3, "school": 4, "selfsup": 5}
    frame["_o"] = frame.strategy.map(order).fillna(9)
    sets = {name: i for i, name in enumerate(frame["set"].dropna().drop_duplicates())}
    frame["_s"] = frame["set"].map(sets).fillna(-1)
    return (frame.sort_values(["task", "_s", "arch", "_o", "ratio"], kind="stable").drop(columns=["_o", "_s"])
            .reset_index(drop=True))


def _summary_row(m: dict, scores: pd.DataFrame, set_name, bench) -> dict:
    row = {k: m[k] for k in ("task", "arch", "criterion", "strategy")}
    row["ratio"] = float(m["ratio"])
    row["set"] = set_name
    if "convention" in scores.columns:
        row["convention"] = scores.convention.iloc[0]
    row.update(psnr=scores.psnr.mean(), ssim=scores.ssim.mean(), psnr_std=scores.psnr.std(ddof=0),
               ssim_std=scores.ssim.std(ddof=0), n_images=len(scores))
    table = bench.get((m["task"], m["arch"]))
    if table is not None:
        b1, bn = table[table.batch == table.batch.min()], table[table.batch == table.batch.max()]
        name = "base" if m["strategy"] == "unpruned" else f"{m['criterion']}-r{m['ratio']}-{m['strategy']}"
        if name not in set(b1.variant):
            name = f"{m['criterion']}-r{m['ratio']}-none"
        ref1, var1 = b1.set_index("variant").loc["base"], b1.set_index("variant").loc[name]
        refn, varn = bn.set_index("variant").loc["base"], bn.set_index("variant").loc[name]
        row.update({k: var1.get(k) for k in ("params", "macs", "prior_params", "prior_macs", "latency_ms",
                                               "latency_p25_ms", "latency_p75_ms", "iterations", "device")})
        row.update(speedup=ref1.latency_ms / var1.latency_ms,
                   time_saved=1 - var1.latency_ms / ref1.latency_ms,
                   macs_speedup=ref1.macs / var1.macs,
                   batch_latency_ms=varn.latency_ms, batch_speedup=refn.latency_ms / varn.latency_ms,
                   batch=int(bn.batch.iloc[0]))
    return row


def markdown(summary: pd.DataFrame) -> str:
    """Markdown tables, one per task (and test set, where there are several), of quality and cost."""
    out = ["# SPADE study summary", ""]
    cols = ["arch", "ratio", "strategy", "psnr", "ssim", "params", "macs", "latency_ms", "speedup", "time_saved"]
    summary = summary.assign(_set=summary["set"].fillna("") if "set" in summary else "")
    for (task, set_name), part in summary.groupby(["task", "_set"], sort=False):
        title = f"{task}, {set_name}" if set_name else task
        conv = part["convention"].dropna().unique() if "convention" in part else []
        note = [f"Metric convention: {', '.join(map(str, conv))}.", ""] if len(conv) else []
        out += [f"## {title}", "", *note, "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for _, r in part.iterrows():
            cells = []
            for c in cols:
                v = r[c]
                if pd.isna(v):
                    cells.append("")
                elif c in ("psnr",):
                    cells.append(f"{v:.2f}")
                elif c in ("ssim", "speedup", "ratio"):
                    cells.append(f"{v:.3f}" if c != "ratio" else f"{v:g}")
                elif c == "time_saved":
                    cells.append(f"{100 * v:.1f}%")
                elif c == "latency_ms":
                    cells.append(f"{v:.1f}")
                elif c in ("params", "macs"):
                    cells.append(f"{int(v):,}")
                else:
                    cells.append(str(v))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def primary(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows the figures show: per task, its first test set (all rows when no sets),
    so that scores of different test sets are never averaged together."""
    if "set" not in summary or summary["set"].isna().all():
        return summary
    first = summary.dropna(subset=["set"]).groupby("task", sort=False)["set"].first()
    keep = summary["set"].isna() | (summary["set"] == summary.task.map(first))
    return summary[keep]


def _pruned(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[~summary.strategy.isin(["classical"])].copy()


def plot_psnr_vs_ratio(summary: pd.DataFrame, path) -> None:
    summary = primary(summary)
    data = _pruned(summary)
    unpruned = data[data.strategy == "unpruned"]
    data = data[data.strategy != "unpruned"]
    grid = sns.relplot(data=data, x="ratio", y="psnr", hue="strategy", style="arch", col="task", kind="line",
                       marker="o", facet_kws={"sharey": False}, height=3.2)
    for task, ax in grid.axes_dict.items():
        for _, r in unpruned[unpruned.task == task].iterrows():
            ax.axhline(r.psnr, color="k", ls="--", lw=1, label=f"unpruned {r.arch}")
        base = summary[(summary.task == task) & (summary.strategy == "classical")]
        for _, r in base.iterrows():
            ax.axhline(r.psnr, color="gray", ls=":", lw=1, label=r.arch)
        ax.set_xlabel("channel pruning ratio")
        ax.set_ylabel("PSNR (dB)")
    grid.savefig(path, dpi=120)
    plt.close("all")


def plot_speedup(summary: pd.DataFrame, path) -> None:
    summary = primary(summary)
    data = summary[summary.strategy.isin(["none"])].dropna(subset=["speedup"])
    long = pd.concat([data.assign(kind="measured (batch 1)", value=data.speedup),
                      data.assign(kind=f"measured (batch {int(data.batch.max())})", value=data.batch_speedup),
                      data.assign(kind="MACs bound", value=data.macs_speedup)])
    grid = sns.relplot(data=long, x="ratio", y="value", hue="kind", style="arch", col="task", kind="line",
                       marker="o", height=3.2, facet_kws={"sharey": False})
    grid.set_axis_labels("channel pruning ratio", "speedup (unpruned time / pruned time)")
    for ax in grid.axes.flat:
        ax.axhline(1, color="k", lw=0.8)
    grid.savefig(path, dpi=120)
    plt.close("all")


def plot_psnr_vs_latency(summary: pd.DataFrame, path) -> None:
    data = _pruned(primary(summary)).dropna(subset=["latency_ms"])
    grid = sns.relplot(data=data, x="latency_ms", y="psnr", hue="strategy", size="ratio", style="arch",
                       col="task", height=3.2, facet_kws={"sharex": False, "sharey": False})
    grid.set_axis_labels("latency at batch 1 (ms)", "PSNR (dB)")
    grid.savefig(path, dpi=120)
    plt.close("all")


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
                 "speedup_vs_eager_base", "speedup_vs_same_setting_base"]


def extra_timings(bench: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """The labelled extra timing rows (``variant@setting``) of every benchmark table."""
    from spade.benchmark import labelled_speedups

    parts = [labelled_speedups(table).assign(task=task, arch=arch) for (task, arch), table in bench.items()]
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
    summary.to_csv(csv_path, index=False, float_format="%.6g")
    md = markdown(summary)
    if extras is not None and extras_path is not None:
        extras.to_csv(extras_path, index=False, float_format="%.6g")
        md = md.rstrip("\n") + "\n\n" + extra_markdown(extras)
    Path(md_path).write_text(md)
