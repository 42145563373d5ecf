"""The study's tidy summary table: per-image scores, timings and fit costs merged on the
identity columns (:data:`spade.variants.IDENTITY`), and the tables derived from it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spade.report.palette import order
from spade.variants import IDENTITY, PRIOR_OFF, SHIFT_PREFIX, UNPRUNED, UNPRUNED_KINDS, is_shifted, timed_strategy


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


COST = ["params", "macs", "prior_params", "prior_macs", "actual_ratio", "device"]


def criterion_label(criterion: str, target: float = 0.0) -> str:
    """A criterion as tables and figures name it: with its speed target where it was pruned to one."""
    return f"{criterion} to {target:g}x" if target else criterion


def criterion_labels(rows: pd.DataFrame) -> list[str]:
    """:func:`criterion_label` of every row (rows without a ``target`` column: none)."""
    targets = rows["target"] if "target" in rows else [0.0] * len(rows)
    return [criterion_label(c, t) for c, t in zip(rows.criterion, targets)]


def with_target(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the ``target`` identity column (0: none), which tables written before
    speed targets were a column lack."""
    return frame if "target" in frame.columns else frame.assign(target=0.0)


def read_scores(paths) -> pd.DataFrame:
    """The per-image CSVs of the evaluate stage, each carrying its variant's identity."""
    frames = [pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in paths]
    scores = pd.concat(frames, ignore_index=True)
    scores = with_target(scores)
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
    from spade.variants import Variant

    rows = []
    for path in paths:
        meta = load_payload(path)["meta"]
        cost = meta.get("cost") or ({"seconds": 0.0, "data": "none", "epochs": 0, "prior_calls": 0.0}
                                    if meta.get("stage") == "prune" else {})
        rows.append({**Variant.from_meta(meta).columns(), **{f"fit_{k}": v for k, v in cost.items()}})
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
    scores = with_target(scores)
    agg = scores.groupby(KEYS, sort=False, dropna=False).agg(
        psnr=("psnr", "mean"), ssim=("ssim", "mean"), psnr_std=("psnr", lambda v: v.std(ddof=0)),
        ssim_std=("ssim", lambda v: v.std(ddof=0)), n_images=("psnr", "size"),
        iterations=("iterations", "mean"), iterations_max=("iterations", "max"),
        convention=("convention", "first")).reset_index()
    if bench is not None and len(bench):
        agg = _merge_bench(agg, bench)
    if costs is not None and len(costs):
        agg = agg.merge(with_target(costs), on=list(IDENTITY), how="left", validate="many_to_one")
    agg = _prior_margin(agg)
    frame = agg.reindex(columns=COLUMNS)
    rank = {k: i for i, k in enumerate(order())}
    frame["_o"] = frame.strategy.map(rank).fillna(len(rank))
    frame["_split"] = (frame.split != "test").astype(int)
    sets = {name: i for i, name in enumerate(frame["set"].drop_duplicates())}
    frame["_s"] = frame["set"].map(sets)
    return (frame.sort_values(["task", "_split", "_s", "arch", "_o", "ratio"], kind="stable")
            .drop(columns=["_o", "_s", "_split"]).reset_index(drop=True))


def _merge_bench(agg: pd.DataFrame, bench: pd.DataFrame) -> pd.DataFrame:
    bench = with_target(bench[bench.setting == "eager"].copy())
    bench["criterion"] = bench["criterion"].fillna("")
    key = list(IDENTITY)
    where = [k if k != "strategy" else "_timed" for k in key]
    first = bench[bench.batch == bench.groupby(["task", "arch"]).batch.transform("min")]
    last = bench[bench.batch == bench.groupby(["task", "arch"]).batch.transform("max")]
    agg = agg.copy()
    agg["_timed"] = [timed_strategy(a, s) for a, s in zip(agg.arch, agg.strategy)]  # whose timing stands for it
    breakdown = [c for c in ("prior_share", "prior_ms", "physics_ms", "other_ms", "breakdown_total_ms")
                 if c in bench.columns]  # benchmarks written before the time breakdown lack them
    cols = COST + ["latency_ms", "latency_p25_ms", "latency_p75_ms", "images", "iterations", "batch"] + breakdown
    one = first[key + cols].rename(columns={"strategy": "_timed", "images": "bench_images",
                                             "iterations": "bench_iterations", "batch": "_batch1"})
    out = agg.merge(one, on=where, how="left", validate="many_to_one")
    many = last[key + ["latency_ms", "batch"]].rename(columns={"strategy": "_timed", "latency_ms": "batch_latency_ms"})
    out = out.merge(many, on=where, how="left", validate="many_to_one")
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


# "At no loss": within this margin of the unpruned network's PSNR on the test split.
NO_LOSS_DB = 0.1


def within_margin(summary: pd.DataFrame, margin: float = NO_LOSS_DB) -> pd.DataFrame:
    """Per task, arch and strategy (recipes included) on the test split: the variant with
    the largest measured speedup whose PSNR is within ``margin`` dB of the unpruned
    network's, with its fit's epochs and prior evaluations; none where no variant is."""
    test = summary[summary.split == "test"]
    ref = test[test.strategy == UNPRUNED].drop_duplicates(["task", "arch"]).set_index(["task", "arch"]).psnr
    pruned = test[~test.strategy.isin(UNPRUNED_KINDS)].copy()
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
                     "target": best.target if best is not None else np.nan,
                     "delta_db": best.delta_db if best is not None else np.nan,
                     "closest_db": closest.delta_db, "closest_speedup": closest.speedup,
                     "fit_epochs": part.get("fit_epochs", pd.Series(dtype=float)).max(),
                     "fit_prior_calls": part.get("fit_prior_calls", pd.Series(dtype=float)).max()})
    return pd.DataFrame(rows)


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
    rank = {k: i for i, k in enumerate(order())}
    table["_o"] = table.strategy.map(rank).fillna(len(rank))
    cols = ["task", "arch", "shift", "criterion", "ratio", "target", "strategy", "psnr_test", "psnr_shift", "drop_db",
            "unpruned_drop_db", "vs_unpruned_db"]
    return table.sort_values(["task", "arch", "shift", "_o", "ratio"], kind="stable")[cols].reset_index(drop=True)


def primary(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows the figures show: per task, the test split's first test set, so that scores
    of different test sets (or of the external set) are never averaged together."""
    summary = summary[summary.split == "test"]
    sets = summary["set"].fillna("")
    first = sets.groupby(summary.task, sort=False).first()
    return summary[sets == summary.task.map(first)]


EXTRA_COLUMNS = ["task", "arch", "variant", "setting", "batch", "latency_ms", "iterations",
                 "speedup_vs_eager_unpruned", "speedup_vs_same_setting_unpruned"]


def extra_timings(bench: pd.DataFrame) -> pd.DataFrame:
    """The labelled extra timing rows (``variant@setting``) of the benchmark tables."""
    from spade.benchmark import labelled_speedups

    parts = [labelled_speedups(table).assign(task=task, arch=arch)
             for (task, arch), table in bench.groupby(["task", "arch"], sort=False)]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True)[EXTRA_COLUMNS] if parts else pd.DataFrame(columns=EXTRA_COLUMNS)
