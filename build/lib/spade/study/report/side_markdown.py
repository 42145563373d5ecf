"""The tables beside the summary: the no-harm check, the label-free ablation and the
comparison repeated over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spade.study.report.readers import criterion_label
from spade.study.report.tables import comparison, interval_label, table
from spade.study.stats import NOT_RESOLVED
from spade.study.variants import IDENTITY, UNPRUNED


def no_harm_markdown(check: pd.DataFrame, margin: float) -> str:
    """The no-harm check (:func:`spade.study.stages.no_harm_scores`): one row per task, arch and
    label-free strategy, and a verdict line."""
    lines = ["## No harm: each label-free strategy fine-tunes the unpruned network (validation)", "",
             "Each label-free strategy, with its default settings, fine-tunes the unpruned network itself, which "
             "needs no repair; its validation PSNR minus the unpruned network's (dB, paired, weighted by unit; "
             + "; ".join(f"{task}: {interval_label(part)}" for task, part in check.groupby("task", sort=False))
             + f"). A default that loses more than {margin:g} dB here harms a network before any "
             "pruning, and is a defect of that default, not a finding.", ""]
    header = ["task", "arch", "strategy", "data", "images", "lr", "epochs", "anchor", "monitor", "kept epoch",
              "unpruned PSNR", "PSNR", "minus unpruned", f"within {margin:g} dB"]
    cells = [[r.task, r.arch, r.strategy, r.data, "" if pd.isna(r.train_images) else int(r.train_images), f"{r.lr:g}", int(r.epochs),
              f"{r.anchor:g}", r.monitor, "" if pd.isna(r.kept_epoch) else int(r.kept_epoch),
              f"{r.unpruned_psnr:.2f}", f"{r.psnr:.2f}",
              comparison(r),
              "yes" if r.harmless else "**no**"] for _, r in check.iterrows()]
    harmful = check[~check.harmless.astype(bool)]
    verdict = (f"Every default label-free strategy is within {margin:g} dB of the unpruned network." if harmful.empty
               else "Losing more than {:g} dB: {}.".format(margin, ", ".join(
                   f"{r.task} {r.arch} {r.strategy} ({r.minus_unpruned_db:+.2f})" for _, r in harmful.iterrows())))
    return "\n".join([*lines, *table(header, cells), "", verdict, ""])


def label_free_markdown(scores: pd.DataFrame) -> str:
    """The label-free ablation (:func:`spade.study.stages.label_free_scores`): one table per task and arch."""
    lines = ["# Label-free recovery on validation data", "",
             "Each self-supervised setting fine-tunes the same pruned network on unlabelled measurements. Per "
             "self-supervised loss, the choice is made on `heldout_kspace` (reconstruct from part of each validation "
             "acquisition, predict the held-out samples; label free, lower is better), among the settings trained on "
             "all of the unlabelled split; the others (`data`: the split's measurements and the fraction of them) "
             "show how recovery grows with the unlabelled data. No choice is made between EI and SSDU: the held-out "
             "score is SSDU's own loss (it ranks SSDU's fits above the unpruned network), EI's own loss favours EI, "
             "and no label-free score here is neutral between them. Validation PSNR is shown for the reader only; "
             "`minus supervised` is each fit's validation PSNR minus that of supervised fine-tuning of the same "
             "pruned network (the `supervised` row, which read labels), the gap a label-free loss leaves.", ""]
    header = ["setting", "loss", "data", "images", "epochs", "held-out k-space", "own val loss", "val PSNR",
              "minus unpruned", "minus supervised", "chosen"]
    for (task, arch), part in scores.groupby(["task", "arch"], sort=False):
        pruned = part[part.strategy != UNPRUNED].iloc[0]
        cells = [[r.setting, r.get("loss", "") if isinstance(r.get("loss", ""), str) else "",
                  r.get("data", "") if isinstance(r.get("data", ""), str) else "",
                  "" if pd.isna(r.get("train_images", np.nan)) else int(r.train_images),
                  "" if pd.isna(r.epochs) else int(r.epochs), f"{r.heldout_kspace:.4f}",
                  "" if pd.isna(r.own_val_loss) else f"{r.own_val_loss:.4g}", f"{r.val_psnr:.2f}",
                  f"{r.minus_unpruned:+.2f}",
                  "" if pd.isna(r.get("minus_supervised", np.nan)) else f"{r.minus_supervised:+.2f}",
                  "yes" if r.chosen else ""] for _, r in part.iterrows()]
        lines += [f"## {task} / {arch}, pruned {pruned.criterion} at ratio {pruned.ratio:g}", "",
                  *table(header, cells), ""]
    return "\n".join(lines)


def seeds_markdown(spread: pd.DataFrame) -> str:
    """The comparison repeated over seeds (:func:`spade.study.report.derived.seed_spread`): per
    split, task and arch, each network's PSNR minus its own seed's unpruned network, every
    seed with its bootstrap interval, then the mean, the standard deviation and range across
    seeds and whether every seed resolves it on the same side."""
    lines = ["# The comparison repeated over seeds", "",
             "Each seed trains the unpruned network, prunes it, fine-tunes it and trains the controls anew on the "
             "same data (`seeds` in the config). Per seed: PSNR minus that seed's unpruned network, weighted by "
             "subject, volume or photograph, with its interval (95% bootstrap from 8 units, else the range and sign "
             "count). Across seeds: mean, standard "
             "deviation, range; `consistent` where every seed's interval excludes 0 on the same side; otherwise the "
             f"difference is {NOT_RESOLVED} across seeds.", ""]
    per_seed = spread[spread.seed != "seeds"].copy()
    per_seed["criterion"] = per_seed.criterion.fillna("")
    seeds = list(dict.fromkeys(per_seed.seed))
    cells = {tuple(r[k] for k in (*IDENTITY, "split", "seed")): r for _, r in per_seed.iterrows()}
    summary = spread[spread.seed == "seeds"].copy()
    summary["criterion"] = summary.criterion.fillna("")
    for (split, task, arch), part in summary.groupby(["split", "task", "arch"], sort=False):
        lines += [f"## {task} / {arch} / {split}", ""]
        rows = []
        for _, r in part.iterrows():
            key = tuple(r[k] for k in (*IDENTITY, "split"))
            differences = [comparison(c) if (c := cells.get((*key, s))) is not None else "" for s in seeds]
            rows.append([r.strategy, criterion_label(r.criterion, r.target) if r.ratio else "",
                         f"{r.ratio:g}" if r.ratio else "", *differences, f"{r.minus_unpruned_db:+.2f}",
                         "" if pd.isna(r.seed_sd) else f"{r.seed_sd:.2f}",
                         f"{r.seed_min:+.2f} to {r.seed_max:+.2f}", "consistent" if r.consistent else NOT_RESOLVED])
        header = ["strategy", "criterion", "ratio", *[f"seed {s}" for s in seeds], "mean", "SD", "range",
                  "across seeds"]
        lines += table(header, rows) + [""]
    return "\n".join(lines)
