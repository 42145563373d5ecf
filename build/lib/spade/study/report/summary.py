"""The study's tidy summary table: per-image scores, timings and fit costs merged on the
identity columns (:data:`spade.study.variants.IDENTITY`), with each row's paired comparisons.
The artifacts are read by :mod:`.readers`; the tables derived from the summary are in
:mod:`.derived`."""

from __future__ import annotations

import pandas as pd

from spade.runtimes import MAIN
from spade.study.report.palette import order
from spade.study.report.readers import with_target
from spade.study.report.units import KEYS, split_unit, unit_weighted_means
from spade.study.stats import paired_difference
from spade.study.variants import CLASSICAL, IDENTITY, PRIOR_OFF, SCRATCH, UNPRUNED, timed_strategy

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
