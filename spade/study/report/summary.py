"""The study's tidy summary table: per-image scores, timings and fit costs merged on the
identity columns (:data:`spade.study.variants.IDENTITY`), and the tables derived from it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spade.runtimes import MAIN
from spade.study.report.palette import order
from spade.study.report.units import KEYS, UNITS, split_unit, unit_weighted_means
from spade.study.stats import paired_difference
from spade.study.variants import (CLASSICAL, EXTERNAL, IDENTITY, PRIOR_OFF, SCRATCH, SHIFT_PREFIX, UNPRUNED, UNPRUNED_KINDS,
                            Variant, is_shifted, timed_strategy)

# the strategy scratch is compared with: pruning plus fine-tuning on the same labelled data
SUPERVISED = "supervised"

# An unpruned network within this margin of its prior-off control barely uses its prior:
# its pruning rows say nothing about pruning.
PRIOR_MARGIN_DB = 0.2

# Paired differences (spade.study.stats), weighted by unit: this row minus the unpruned network,
# minus the best classical baseline, a label-free row minus supervised, a scratch row minus
# pruning + supervised fine-tuning at its widths; each with its interval (95% bootstrap over
# units from 8 units on, else the range of the unit means), the count of units whose own
# difference is above 0 (``_higher``) and the number of units (subjects, volumes,
# photographs, or images where a split records none).
COMPARISONS = ("minus_unpruned", "minus_classical", "minus_supervised", "scratch_minus_pruned")
PAIRED = ["minus_unpruned_db", "minus_unpruned_low", "minus_unpruned_high", "minus_unpruned_higher",
          "minus_unpruned_ssim", "minus_unpruned_ssim_low", "minus_unpruned_ssim_high", "units",
          "scratch_minus_pruned_db", "scratch_minus_pruned_low", "scratch_minus_pruned_high",
          "scratch_minus_pruned_higher", "unit_kind", "best_classical", "minus_classical_db", "minus_classical_low",
          "minus_classical_high", "minus_classical_higher", "minus_supervised_db", "minus_supervised_low",
          "minus_supervised_high", "minus_supervised_higher"]
# a speedup's spread over timing rounds (spade.study.stages.benchmark.run_benchmark)
SPEEDUP_SPREAD = ["speedup_median", "speedup_low", "speedup_high", "speedup_coverage", "rounds"]
# the main rows' runtime (spade.deploy) and, where the deploy runtime is not eager PyTorch, the
# same variant's eager speedup and the deployed variant's speedup over the eager unpruned network
RUNTIME = ["runtime", "runtime_difference", "eager_latency_ms", "eager_speedup", "eager_speedup_low",
           "eager_speedup_high", "total_speedup"]

COLUMNS = KEYS + ["psnr", "ssim", "psnr_std", "ssim_std", "n_images", "n_units", "actual_ratio", "params", "macs",
                  "prior_params", "prior_macs", "latency_ms", "latency_p25_ms", "latency_p75_ms", "speedup",
                  "speedup_low", "speedup_high", "speedup_coverage", "rounds", *RUNTIME, "time_saved", "macs_speedup",
                  "amdahl_speedup", "prior_share", "physics_share", "other_share", "batch_latency_ms", "batch_speedup", "batch", "iterations",
                  "iterations_max", "bench_images", "bench_iterations", "prior_margin_db", "prior_inactive",
                  "device", "convention", "fit_seconds", "fit_peak_rss_mb", "fit_peak_gpu_mb", "fit_train_images",
                  "fit_data", "fit_epochs", "fit_best_epoch", "fit_prior_calls", *PAIRED]


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
    unit = next((u for u in UNITS if u in scores.columns), None)
    if unit:  # the external set, per subject: its subjects differ in contrast and anatomy
        external = scores.split == EXTERNAL
        scores.loc[external, "set"] = scores.loc[external, unit]
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


def read_curves(paths) -> pd.DataFrame:
    """Every fit's validation curve, one row per epoch, from the artifacts' metadata: the
    variant's identity, ``epoch``, ``train_loss``, ``val_loss`` (the strategy's own loss),
    ``val_psnr`` (fits with targets only), ``best`` (best point so far) and ``kept`` (the
    epoch whose weights the fit kept). Artifacts without a fit (pruned only) have none."""
    from spade.checkpoint import load_payload

    frames = []
    for path in paths:
        meta = load_payload(path)["meta"]
        history = meta.get("history") or []
        if not history:
            continue
        frame = pd.DataFrame(history)
        for column in ("val_psnr", "best"):
            if column not in frame:
                frame[column] = np.nan if column == "val_psnr" else False
        kept = frame.epoch[frame.best.fillna(False).astype(bool)]
        frame["kept"] = frame.epoch == (kept.iloc[-1] if len(kept) else frame.epoch.iloc[-1])
        frames.append(frame.assign(**Variant.from_meta(meta).columns(), stage=meta.get("stage", "")))
    if not frames:
        return pd.DataFrame(columns=[*IDENTITY, "epoch", "train_loss", "val_loss", "val_psnr", "best", "kept"])
    curves = pd.concat(frames, ignore_index=True)
    columns = [*IDENTITY, "stage", "epoch", "train_loss", "val_loss", "val_psnr", "best", "kept"]
    return curves[columns + [c for c in curves.columns if c not in columns]]


def read_costs(paths) -> pd.DataFrame:
    """What each variant's fit cost (:func:`spade.study.stages.fit_cost`), from the artifacts'
    metadata: one row per artifact with its identity; a pruned model never fine-tuned
    (``none``) cost nothing beyond pruning."""
    from spade.checkpoint import load_payload

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
              costs: pd.DataFrame | None = None, seed: int = 0) -> pd.DataFrame:
    """One row per variant and test split (and named test set: SR benchmarks), merged with
    the benchmark on the identity columns.

    ``scores``: :func:`read_scores`. ``bench``: the benchmark tables concatenated. Networks
    with a fixed number of prior calls are timed once per architecture (their pruned model,
    strategy ``none``); every strategy of that ratio, and the scratch control with the same
    widths, takes that timing. Speedups are against the unpruned network's timing.

    PSNR and SSIM are weighted by unit (each subject's mean first: :func:`unit_weighted_means`).
    Every network row carries its paired difference from the unpruned network (PSNR and
    SSIM, image by image, weighted by unit, with its interval: :func:`paired_columns`), and
    a scratch row its difference from pruning + supervised fine-tuning at its widths;
    ``seed`` seeds the bootstrap.
    """
    scores = with_target(scores)
    agg = scores.groupby(KEYS, sort=False, dropna=False).agg(
        psnr_std=("psnr", lambda v: v.std(ddof=0)), ssim_std=("ssim", lambda v: v.std(ddof=0)),
        n_images=("psnr", "size"), iterations=("iterations", "mean"), iterations_max=("iterations", "max"),
        convention=("convention", "first")).reset_index()
    agg = agg.merge(unit_weighted_means(scores), on=KEYS, how="left", validate="one_to_one")
    if bench is not None and len(bench):
        agg = _merge_bench(agg, bench)
    if costs is not None and len(costs):
        agg = agg.merge(with_target(costs), on=list(IDENTITY), how="left", validate="many_to_one")
    agg = _prior_margin(agg)
    agg = agg.merge(paired_columns(scores, seed), on=KEYS, how="left", validate="one_to_one")
    frame = agg.reindex(columns=COLUMNS)
    rank = {k: i for i, k in enumerate(order())}
    frame["_o"] = frame.strategy.map(rank).fillna(len(rank))
    frame["_split"] = (frame.split != "test").astype(int)
    sets = {name: i for i, name in enumerate(frame["set"].drop_duplicates())}
    frame["_s"] = frame["set"].map(sets)
    return (frame.sort_values(["task", "_split", "_s", "arch", "_o", "ratio"], kind="stable")
            .drop(columns=["_o", "_s", "_split"]).reset_index(drop=True))


def best_classical(scores: pd.DataFrame) -> dict:
    """Per (task, split, set): the per-image scores of the classical row (zero-filled,
    bicubic, compressed sensing) with the highest mean PSNR: the baseline to beat."""
    out = {}
    classical = scores[scores.strategy == CLASSICAL]
    for where, part in classical.groupby(["task", "split", "set"], sort=False, dropna=False):
        means = unit_weighted_means(part).set_index("arch").psnr
        out[where] = part[part.arch == means.idxmax()]
    return out


def supervised_counterpart(strategy: str) -> str | None:
    """The supervised strategy (same recipe) a label-free strategy's row is compared with:
    ``school-iter`` against ``supervised-iter``; None for any other row."""
    from spade.strategies import Strategy

    try:
        name = Strategy.parse(strategy)
    except ValueError:  # the unpruned kinds, none, scratch, classical: no registry entry
        return None
    return None if name.needs_target else str(Strategy.parse(SUPERVISED).with_recipe(name.recipe))


def paired_columns(scores: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The :data:`PAIRED` columns of every row (``KEYS``) of the per-image ``scores``:
    each network row minus its unpruned network and minus the best classical baseline of
    its split (:func:`best_classical`), a scratch row minus pruning + supervised."""
    rows = []
    baselines = best_classical(scores)
    for (task, _, split, set_name), part in scores.groupby(["task", "arch", "split", "set"], sort=False,
                                                           dropna=False):
        unit = split_unit(part)
        ref = part[part.strategy == UNPRUNED]
        variants = {k: g for k, g in part.groupby(list(IDENTITY), sort=False, dropna=False)}
        for ident, rows_of in variants.items():
            variant = dict(zip(IDENTITY, ident))
            row = {**variant, "split": rows_of.split.iloc[0], "set": rows_of["set"].iloc[0],
                   "unit_kind": unit or "image"}
            if len(ref) and variant["strategy"] != UNPRUNED:
                psnr = paired_difference(rows_of, ref, "psnr", unit, seed)
                ssim = paired_difference(rows_of, ref, "ssim", unit, seed)
                row.update(_paired("minus_unpruned", psnr), minus_unpruned_ssim=ssim["diff"],
                           minus_unpruned_ssim_low=ssim["low"], minus_unpruned_ssim_high=ssim["high"],
                           units=psnr["units"])
            baseline = baselines.get((task, split, set_name))
            if baseline is not None and variant["strategy"] != CLASSICAL:
                gain = paired_difference(rows_of, baseline, "psnr", unit, seed)
                row.update(_paired("minus_classical", gain), best_classical=baseline.arch.iloc[0], units=gain["units"])
            counterpart = supervised_counterpart(variant["strategy"])
            if counterpart is not None:  # a label-free row against supervised fine-tuning of the same network
                same = tuple({**variant, "strategy": counterpart}[k] for k in IDENTITY)
                if same in variants:
                    gap = paired_difference(rows_of, variants[same], "psnr", unit, seed)
                    row.update(_paired("minus_supervised", gap))
            if variant["strategy"] == SCRATCH:
                pruned = tuple({**variant, "strategy": SUPERVISED}[k] for k in IDENTITY)
                if pruned in variants:
                    gap = paired_difference(rows_of, variants[pruned], "psnr", unit, seed)
                    row.update(_paired("scratch_minus_pruned", gap))
            rows.append(row)
    return pd.DataFrame(rows, columns=KEYS + PAIRED)


def _paired(name: str, diff: dict) -> dict:
    """The columns of one comparison (:data:`COMPARISONS`) from :func:`spade.study.stats.paired_difference`."""
    if name not in COMPARISONS:
        raise ValueError(f"unknown comparison {name!r}; expected one of {COMPARISONS}")
    return {f"{name}_db": diff["diff"], f"{name}_low": diff["low"], f"{name}_high": diff["high"],
            f"{name}_higher": diff["higher"]}


def _merge_bench(agg: pd.DataFrame, bench: pd.DataFrame) -> pd.DataFrame:
    bench = with_target(bench[bench.setting == MAIN].copy())
    bench["criterion"] = bench["criterion"].fillna("")
    key = list(IDENTITY)
    where = [k if k != "strategy" else "_timed" for k in key]
    first = bench[bench.batch == bench.groupby(["task", "arch"]).batch.transform("min")]
    last = bench[bench.batch == bench.groupby(["task", "arch"]).batch.transform("max")]
    agg = agg.copy()
    agg["_timed"] = [timed_strategy(a, s) for a, s in zip(agg.arch, agg.strategy)]  # whose timing stands for it
    breakdown = [c for c in ("prior_share", "prior_ms", "physics_ms", "other_ms", "breakdown_total_ms")
                 if c in bench.columns]  # benchmarks written before the time breakdown lack them
    spread = [c for c in SPEEDUP_SPREAD + RUNTIME if c in bench.columns]  # older benchmarks lack them
    cols = COST + ["latency_ms", "latency_p25_ms", "latency_p75_ms", "images", "iterations", "batch"] + breakdown + spread
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
    if "speedup_median" in out:  # timed in rounds: the median of the rounds' speedups
        out["speedup"] = out.speedup_median.where(out.speedup_median.notna(), out.speedup)
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


# "At no loss": the lower bound of the interval of PSNR minus the unpruned network's above
# minus this margin, on the validation split.
NO_LOSS_DB = 0.1


def pruning_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of networks that prune: a variant whose widths are the unpruned network's
    (auto widths where no narrower width runs faster: channel ratio 0) is no pruning result."""
    if "actual_ratio" not in rows:
        return rows
    return rows[~(rows.actual_ratio.fillna(1.0) <= 0)]


def headline(validation: pd.DataFrame, test: pd.DataFrame | None = None, margin: float = NO_LOSS_DB) -> pd.DataFrame:
    """The study's headline, chosen on validation: per task, arch and strategy (recipes
    included), the variant with the largest measured speedup among those whose PSNR minus
    the unpruned network has its interval's lower bound (95% bootstrap, or with fewer than 8
    units the lowest unit's difference) above ``-margin`` dB on the validation split (``validation``: :func:`summarise` of the validation scores), and
    where none has, the one closest to the unpruned network. The chosen variant's test row
    (``test``: the summary; its first test set) is then reported beside it, once."""
    val = validation[validation.split == "val"]
    pruned = pruning_rows(val[~val.strategy.isin(UNPRUNED_KINDS)])
    tested = primary(test).set_index(list(IDENTITY)) if test is not None else None
    rows = []
    for (task, arch, strategy), part in pruned.groupby(["task", "arch", "strategy"], sort=False):
        ok = part[part.minus_unpruned_low > -margin]
        found = len(ok) and ok.speedup.notna().any()
        best = ok.loc[ok.speedup.idxmax()] if found else part.loc[part.minus_unpruned_db.idxmax()]
        row = {**{k: best[k] for k in IDENTITY}, "within": bool(found), "speedup": best.speedup,
               "speedup_low": best.get("speedup_low"), "speedup_high": best.get("speedup_high"),
               **{f"val_{k}": best[f"minus_unpruned_{k}"] for k in ("db", "low", "high", "higher")},
               "val_units": best.get("units"), "unit_kind": best.get("unit_kind"),
               "fit_epochs": part.get("fit_epochs", pd.Series(dtype=float)).max(),
               "fit_prior_calls": part.get("fit_prior_calls", pd.Series(dtype=float)).max()}
        key = tuple(best[k] for k in IDENTITY)
        if tested is not None and key in tested.index:
            on_test = tested.loc[[key]].iloc[0]
            row.update({f"test_{k}": on_test[f"minus_unpruned_{k}"] for k in ("db", "low", "high", "higher")})
            row["test_units"] = on_test.get("units")
        rows.append(row)
    return pd.DataFrame(rows)


def speed_order(summary: pd.DataFrame) -> pd.DataFrame:
    """Every pair of a network and a more-pruned one of the same task, arch, criterion and
    strategy (the unpruned network counts as ratio 0, speedup 1) whose more-pruned member
    runs slower at the median: ``slower`` when the two speedup intervals (timing rounds) lie
    apart, else not resolved. Pruning more should never cost time; a ``slower`` row is a
    fault of the widths on this device."""
    rows = primary(summary)
    rows = rows[rows.get("target", pd.Series(0.0, index=rows.index)).fillna(0) == 0].dropna(subset=["speedup"])
    rows = pd.concat([rows[rows.strategy.isin(UNPRUNED_KINDS)], pruning_rows(rows[~rows.strategy.isin(UNPRUNED_KINDS)])])
    cols = ["ratio", "speedup", "speedup_low", "speedup_high"]
    pairs = []
    for (task, arch), part in rows.groupby(["task", "arch"], sort=False):
        unpruned = pd.DataFrame([{"ratio": 0.0, "speedup": 1.0, "speedup_low": 1.0, "speedup_high": 1.0}])
        pruned = part[~part.strategy.isin(UNPRUNED_KINDS)]
        for (criterion, strategy), line in pruned.groupby(["criterion", "strategy"], sort=False):
            points = list(pd.concat([unpruned, line[cols]], ignore_index=True).sort_values("ratio").itertuples())
            for i, less in enumerate(points):
                for more in points[i + 1:]:
                    if more.ratio > less.ratio and more.speedup < less.speedup:
                        pairs.append({"task": task, "arch": arch, "criterion": criterion, "strategy": strategy,
                                      "ratio": more.ratio, "speedup": more.speedup, "speedup_low": more.speedup_low,
                                      "speedup_high": more.speedup_high, "less_pruned_ratio": less.ratio,
                                      "less_pruned_speedup": less.speedup,
                                      "less_pruned_low": less.speedup_low, "less_pruned_high": less.speedup_high,
                                      "slower": bool(more.speedup_high < less.speedup_low)})
    return pd.DataFrame(pairs)


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
    shift = shifted.groupby(key + ["split", "set"], dropna=False).psnr.mean().rename("psnr_shift").reset_index()
    table = shift.merge(test.reset_index(), on=key, how="inner")
    # a shifted test set by its name; the external set per source (external/epi)
    table["shift"] = table.split.str.removeprefix(SHIFT_PREFIX) + [f"/{s}" if s else "" for s in table["set"]]
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
    from spade.study.timing import labelled_speedups

    parts = [labelled_speedups(table).assign(task=task, arch=arch)
             for (task, arch), table in bench.groupby(["task", "arch"], sort=False)]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True)[EXTRA_COLUMNS] if parts else pd.DataFrame(columns=EXTRA_COLUMNS)


def timing_spread(first: pd.DataFrame, again: pd.DataFrame) -> pd.DataFrame:
    """Each variant's speedup (median over rounds) in two benchmark jobs of the same
    networks, and ``again / first``: how far two jobs of one run disagree."""
    key = list(IDENTITY) + ["batch"]
    cols = key + ["speedup_median", "speedup_low", "speedup_high"]
    main = [t[t.setting == MAIN][cols].fillna({"criterion": ""}) for t in (first, again)]
    table = main[0].merge(main[1], on=key, suffixes=("_first", "_again"), validate="one_to_one")
    table["again_over_first"] = table.speedup_median_again / table.speedup_median_first
    return table[table.strategy != UNPRUNED].reset_index(drop=True)


def seed_spread(summaries: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """The comparison repeated over seeds of training and fine-tuning: per network row
    (identity and split) of every seed's :func:`summarise`, each seed's PSNR minus its own
    unpruned network with its bootstrap interval (``seed`` column), then one ``seeds`` row
    with the mean over seeds, their standard deviation and range, and ``consistent``: every
    seed's interval excludes 0 on the same side (otherwise the difference is not resolved
    across seeds, whatever one seed shows)."""
    frames = [summary.assign(seed=seed) for seed, summary in summaries.items()]
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows.minus_unpruned_db.notna() & (rows.strategy != UNPRUNED)]
    keep = [*IDENTITY, "split", "seed", "psnr", "minus_unpruned_db", "minus_unpruned_low", "minus_unpruned_high"]
    keep += [c for c in ("minus_unpruned_higher", "units", "unit_kind") if c in rows]
    per_seed = rows[keep].copy()
    out = []
    for key, part in per_seed.groupby([*IDENTITY, "split"], sort=False, dropna=False):
        diffs = part.minus_unpruned_db
        # which side of 0 each seed's interval lies on (0: it holds 0)
        signs = {1 if lo > 0 else (-1 if hi < 0 else 0)
                 for lo, hi in zip(part.minus_unpruned_low, part.minus_unpruned_high)}
        out.append({**dict(zip([*IDENTITY, "split"], key)), "seed": "seeds", "n_seeds": len(part),
                    "psnr": part.psnr.mean(), "minus_unpruned_db": diffs.mean(),
                    "seed_sd": diffs.std(ddof=1) if len(part) > 1 else np.nan,
                    "seed_min": diffs.min(), "seed_max": diffs.max(),
                    "consistent": len(part) > 1 and len(signs) == 1 and 0 not in signs})
    table = pd.concat([per_seed.assign(seed=per_seed.seed.astype(str)), pd.DataFrame(out)], ignore_index=True)
    position = {k: i for i, k in enumerate(dict.fromkeys(map(tuple, per_seed[[*IDENTITY, "split"]].values)))}
    table["_order"] = [position[tuple(r)] for r in table[[*IDENTITY, "split"]].values]
    return table.sort_values(["split", "_order", "seed"], kind="stable").drop(columns="_order").reset_index(drop=True)
