"""The weight of the DEQ's Jacobian penalty (``finetune.recipes.jacobian_weight``), chosen on
validation from the artifacts of a finished study (``make run``):

    python -m spade.study.jacobian_sweep results --ratio 0.4 --weights 0.001 0.003 0.01 0.03 0.1 0.3

Each weight fine-tunes the study's pruned DEQ (group L1 at ``ratio``) with ``supervised-jac`` for
the study's own fine-tuning settings and scores it on the validation split (PSNR and solver
iterations per image); plain supervised fine-tuning of the same widths (the study's own fit) is
the reference. Rule, fixed before the runs: among the weights whose mean validation PSNR minus
the reference's is above -0.1 dB, the one with the fewest mean iterations (none: say so). The
test split is never read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from spade.checkpoint import load_payload
from spade.study.paths import DATA, FINETUNED, METRICS_VARIANT, PRUNED_MODEL
from spade.study.stages import finetune
from spade.study.stages.evaluate import evaluate
from spade.study.variants import PRUNED, Variant

MARGIN_DB = 0.1


def _in(results: Path, template: str, **fields) -> Path:
    """A study path template (:mod:`spade.study.paths`) inside the ``results`` folder given."""
    return results / template.format(run="", **fields).removeprefix("results/")


def sweep(results: Path, ratio: float, weights: list[float], out_dir: Path, task: str = "mri") -> pd.DataFrame:
    """One row per weight (0: the study's supervised fit): mean validation PSNR, iterations and
    the PSNR minus the reference; ``chosen`` marks the rule's pick."""
    key = Variant(task, "deq", "l1", ratio, PRUNED).key
    reference = _in(results, FINETUNED, task=task, arch="deq", key=key, strategy="supervised")
    meta = load_payload(f"{reference}.pt")["meta"]
    opts, seed = meta["opts"], int(meta.get("seed") or 0)  # the study's seed, as its own fit used
    metrics = _in(results, METRICS_VARIANT, split="val", task=task, arch="deq", key=key, strategy="supervised")
    scores = pd.read_csv(f"{metrics}.csv")
    rows = [{"weight": 0.0, "val_psnr": scores.psnr.mean(), "iterations": scores.iterations.mean()}]
    out_dir.mkdir(parents=True, exist_ok=True)
    train, val = (_in(results, DATA, task=task, split=split) for split in ("train", "val"))
    pruned = _in(results, PRUNED_MODEL, task=task, arch="deq", key=key)
    for weight in weights:
        stem = out_dir / f"jac{weight:g}"
        fit_opts = {**opts, "recipes": {**opts.get("recipes", {}), "jacobian_weight": float(weight)}}
        finetune("supervised-jac", pruned, None, train, val, fit_opts, seed, 1, f"{stem}.pt", f"{stem}_history.csv",
                 f"{stem}.state.pt", "cpu")
        scored = evaluate(f"{stem}.pt", val, f"{stem}_val.csv", f"{stem}_val.npz", 0, 1)
        rows.append({"weight": float(weight), "val_psnr": scored.psnr.mean(), "iterations": scored.iterations.mean()})
    table = pd.DataFrame(rows)
    table["minus_supervised_db"] = table.val_psnr - table.val_psnr.iloc[0]
    within = table[(table.weight > 0) & (table.minus_supervised_db > -MARGIN_DB)]
    table["chosen"] = False
    if len(within):
        table.loc[within.iterations.idxmin(), "chosen"] = True
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a finished study's results/ folder")
    parser.add_argument("--ratio", type=float, default=0.4)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3])
    parser.add_argument("--out", type=Path, default=Path("choices/jacobian_weight"))
    args = parser.parse_args(argv)
    table = sweep(args.results, args.ratio, args.weights, args.out)
    table.to_csv(args.out / "jacobian_weight.csv", index=False, float_format="%.4f")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
