"""Tables derived from the study's summary (:func:`spade.study.report.summary.summarise`): the
headline chosen on validation, the speed order, robustness under shifts, the rows the figures
show, the labelled extra timings, the spread between two timing jobs and across seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spade.runtimes import MAIN
from spade.study.report.palette import order
from spade.study.variants import IDENTITY, SHIFT_PREFIX, UNPRUNED, UNPRUNED_KINDS, is_shifted

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
    units the lowest unit's difference) above ``-margin`` dB on the validation split (``validation``: :func:`spade.study.report.summary.summarise` of the validation scores), and
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
    (identity and split) of every seed's :func:`spade.study.report.summary.summarise`, each seed's PSNR minus its own
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
