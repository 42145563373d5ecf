"""Settings of the study chosen on validation data (`make choices`).

Each question of config/choices.yaml names candidate overlays of the study's config and the
fits whose validation curves score them. Every candidate runs the real workflow, up to those
fits only, in its own directory (``choices/<question>/<candidate>``); its score for a fit is
the best validation PSNR of the fit's curve, the epoch the fit keeps. The rule, fixed before
any run: per fit, the highest score wins, unless a cheaper candidate (fewer fit seconds) is
within ``margin`` dB of it, which is taken instead. Validation PSNR uses validation ground
truth, so only settings of fits with targets (training, supervised fine-tuning) are chosen
this way; the test split is never read.

``checks`` run the workflow once on the defaults with an overlay (the no-harm check: each
label-free strategy fine-tunes the unpruned network) and publish named outputs under docs/:
checks of the tool's defaults, made once here, not by every run.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import yaml


def read_choices(path) -> dict:
    """config/choices.yaml, checked: ``margin`` (dB) and ``questions``, each with ``fits``
    (name -> history CSV under the candidate's directory) and at least two ``candidates``
    (name -> overlay of the study's config)."""
    text = yaml.safe_load(Path(path).read_text())
    if not isinstance(text, dict) or not isinstance(text.get("questions"), dict) or not text["questions"]:
        raise ValueError(f"{path}: expected a mapping with `questions` (name -> fits, candidates)")
    stray = set(text.get("pending") or []) - set(text["questions"])
    if stray:
        raise ValueError(f"{path}: pending names no question: {sorted(stray)}")
    for name, check in (text.get("checks") or {}).items():
        outputs = check.get("outputs") if isinstance(check, dict) else None
        if not isinstance(check, dict) or not isinstance(check.get("overlay"), dict) or not isinstance(outputs, dict) \
                or not outputs:
            raise ValueError(f"{path}: checks.{name}: expected `overlay` (a config overlay) and `outputs` (workflow "
                             "output -> path to publish it at)")
    if not isinstance(text.get("margin"), (int, float)) or text["margin"] < 0:
        raise ValueError(f"{path}: `margin` must be a number of dB >= 0, got {text.get('margin')!r}")
    for name, question in text["questions"].items():
        where = f"{path}: questions.{name}"
        if not isinstance(question, dict) or not isinstance(question.get("fits"), dict) or not question["fits"]:
            raise ValueError(f"{where}: expected `fits` (a name -> history CSV mapping)")
        candidates = question.get("candidates")
        if not isinstance(candidates, dict) or len(candidates) < 2:
            raise ValueError(f"{where}: expected at least two `candidates` (name -> config overlay)")
        for cand, overlay in candidates.items():
            if not isinstance(overlay, dict):
                raise ValueError(f"{where}.candidates.{cand}: expected a config overlay mapping, got {overlay!r}")
    return text


def curve_score(history_csv) -> dict:
    """What one fit's curve says: the best validation PSNR (the kept epoch's), the epoch it
    was reached at, the epochs run and the fit's seconds."""
    curve = pd.read_csv(history_csv)
    if curve.empty or "val_psnr" not in curve or curve.val_psnr.isna().all():
        raise ValueError(f"{history_csv}: no validation PSNR in this history (a fit without targets "
                         "cannot be scored on validation ground truth)")
    best = curve.val_psnr.idxmax()
    return {"val_psnr": float(curve.val_psnr[best]), "best_epoch": int(curve.epoch[best]),
            "epochs": int(curve.epoch.max()), "seconds": float(curve.seconds.sum())}


def pick(scores: pd.DataFrame, margin: float) -> pd.Series:
    """Per fit, the chosen candidate: the highest ``val_psnr``, or the cheapest (fewest
    ``seconds``) candidate within ``margin`` dB of it. ``scores``: fit, candidate, val_psnr,
    seconds."""
    chosen = {}
    for fit, rows in scores.groupby("fit", sort=False):
        near = rows[rows.val_psnr >= rows.val_psnr.max() - margin]
        chosen[fit] = near.sort_values(["seconds", "val_psnr"], ascending=[True, False]).candidate.iloc[0]
    return pd.Series(chosen, name="chosen")


def run_candidate(root: Path, base_configs: list[str], question: str, candidate: str, overlay: dict,
                  targets: list[str], cores: int) -> Path:
    """Run the workflow for one candidate, up to ``targets`` (its fits' models), in
    ``root/choices/<question>/<candidate>``; the overlay is written there beside the log."""
    workdir = root / "choices" / question / candidate
    workdir.mkdir(parents=True, exist_ok=True)
    overlay_path = workdir / "overlay.yaml"
    overlay_path.write_text(yaml.safe_dump(overlay, sort_keys=True))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(root / "workflow" / "Snakefile"),
               "--cores", str(cores), "--configfile", *[str(root / c) for c in base_configs], str(overlay_path.resolve()),
               "--directory", str(workdir), *targets]
    with open(workdir / "snakemake.log", "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"choices: {question}/{candidate} failed (exit {done.returncode}); see {workdir / 'snakemake.log'}")
    return workdir


def model_of(history: str) -> str:
    """The model file a fit's history CSV sits beside (``x_history.csv`` -> ``x.pt``)."""
    if not history.endswith("_history.csv"):
        raise ValueError(f"choices: {history!r} is not a fit history (expected a path ending in _history.csv)")
    return history[: -len("_history.csv")] + ".pt"


def run_checks(spec: dict, root: Path, base_configs: list[str], only=None, cores: int = 2) -> list[Path]:
    """Run each check of ``spec`` (``only``: those named) on the defaults with its overlay, in
    ``root/choices/checks/<name>``, and copy its outputs where it publishes them."""
    import shutil

    published = []
    for name, check in (spec.get("checks") or {}).items():
        if only and name not in only:
            continue
        workdir = run_candidate(root, base_configs, "checks", name, check["overlay"], list(check["outputs"]), cores)
        for output, dest in check["outputs"].items():
            (root / dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(workdir / output, root / dest)
            published.append(root / dest)
    return published


def run_choices(choices_path, out_csv, out_md, root=".", base_configs=("config/config.yaml",), jobs: int = 2,
                only=None) -> pd.DataFrame:
    """Answer every question of ``choices_path`` (``only``: the questions and checks named):
    each candidate's workflow run (``jobs`` at a time, one core each), its fits' scores, the
    choice per fit, written to ``out_csv`` and ``out_md``; then its checks (:func:`run_checks`)."""
    root = Path(root).resolve()
    spec = read_choices(choices_path)
    if only:
        unknown = set(only) - set(spec["questions"]) - set(spec.get("checks") or {})
        if unknown:
            raise ValueError(f"{choices_path}: no question or check named {sorted(unknown)}")
        spec = {**spec, "questions": {q: v for q, v in spec["questions"].items() if q in only}}
    # candidates with the same overlay (a question's default, say) share one run
    runs: dict[str, dict] = {}
    for q, question in spec["questions"].items():
        for c, overlay in question["candidates"].items():
            key = yaml.safe_dump(overlay, sort_keys=True)
            run = runs.setdefault(key, {"question": q, "candidate": c, "overlay": overlay, "targets": []})
            run["targets"] += [model_of(h) for h in question["fits"].values() if model_of(h) not in run["targets"]]
    rows = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        dirs = dict(zip(runs, pool.map(lambda r: run_candidate(root, list(base_configs), r["question"], r["candidate"],
                                                               r["overlay"], r["targets"], 1), runs.values())))
    for q, question in spec["questions"].items():
        for c, overlay in question["candidates"].items():
            workdir = dirs[yaml.safe_dump(overlay, sort_keys=True)]
            for fit, history in question["fits"].items():
                # one line however long: the overlay is a cell of the Markdown table
                rows.append({"question": q, "fit": fit, "candidate": c,
                             "overlay": yaml.safe_dump(overlay, default_flow_style=True, width=10**6).strip(),
                             "directory": str(workdir.relative_to(root)), **curve_score(workdir / history)})
    run_checks(spec, root, list(base_configs), only, cores=jobs)
    table = pd.DataFrame(rows, columns=["question", "fit", "candidate", "overlay", "directory", "val_psnr",
                                        "best_epoch", "epochs", "seconds"])
    table["chosen"] = False
    for q, rows_q in table.groupby("question", sort=False):
        chosen = pick(rows_q, float(spec["margin"]))
        table.loc[rows_q.index, "chosen"] = rows_q.candidate.values == rows_q.fit.map(chosen).values
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.6g")
    Path(out_md).write_text(choices_markdown(table, float(spec["margin"])))
    return table


def choices_markdown(table: pd.DataFrame, margin: float) -> str:
    lines = ["# Settings chosen on validation", "",
             "Each candidate ran the workflow up to the fits named (`make choices`, config/choices.yaml). "
             "Score: the best validation PSNR of the fit's curve (the epoch it keeps). Chosen: the highest, "
             f"or the cheapest candidate within {margin:g} dB of it. The test split is never read.", ""]
    for q, rows in table.groupby("question", sort=False):
        lines += [f"## {q}", "", "| fit | candidate | overlay | val PSNR | best epoch | epochs | fit seconds | chosen |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in rows.itertuples():
            lines.append(f"| {r.fit} | {r.candidate} | `{r.overlay}` | {r.val_psnr:.2f} | {r.best_epoch} | {r.epochs} | "
                         f"{r.seconds:.0f} | {'yes' if r.chosen else ''} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="answer config/choices.yaml on validation data")
    parser.add_argument("choices", nargs="?", default="config/choices.yaml")
    parser.add_argument("--configfile", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="results/tables/choices")
    parser.add_argument("--only", nargs="+", help="the questions and checks to run (default: all)")
    args = parser.parse_args()
    run_choices(args.choices, args.out + ".csv", args.out + ".md", base_configs=args.configfile, jobs=args.jobs,
                only=args.only)
