"""The no-harm check: each label-free strategy fine-tunes the unpruned network, which needs
no repair, with its default settings; scored on validation against that network."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from spade.checkpoint import load_payload
from spade.study.report.side_markdown import no_harm_markdown
from spade.study.report.units import split_unit
from spade.study.stages.evaluate import evaluate
from spade.study.stats import paired_difference, unit_means

# A default that loses more than this on validation harms the network: a defect, not a finding.
NO_HARM_DB = 0.1


def no_harm_scores(fits: list[dict], val_paths: dict[str, str], out_csv, out_md, seed: int, threads: int,
                   device_setting: str = "cpu") -> pd.DataFrame:
    """Score each of ``fits`` (``task``, ``arch``, ``strategy``, ``unpruned`` and ``model``
    paths) and its unpruned network on ``val_paths[task]``: the fit's validation PSNR minus
    the unpruned network's, paired image by image, weighted by subject (or volume, or image),
    with its interval (:func:`spade.study.stats.unit_weighted`), the data and settings it fine-tuned with, and
    ``harmless``: the difference is above ``-NO_HARM_DB`` dB."""
    rows, scored = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        def scores(path, task):
            if path not in scored:
                out = Path(tmp) / f"{len(scored)}.csv"
                scored[path] = evaluate(path, val_paths[task], out, out.with_suffix(".npz"), 0, threads,
                                        device_setting)
            return scored[path]

        for fit in fits:
            ref, mine = scores(fit["unpruned"], fit["task"]), scores(fit["model"], fit["task"])
            unit = split_unit(ref)
            diff = paired_difference(mine, ref, "psnr", unit, seed)
            meta = load_payload(fit["model"])["meta"]
            opts, history = meta.get("opts") or {}, meta.get("history") or []
            kept = max((r["epoch"] for r in history if r.get("best")), default=None)
            rows.append({"task": fit["task"], "arch": fit["arch"], "strategy": fit["strategy"],
                         "data": Path(meta["trained_on"]).stem, "train_images": (meta.get("cost") or {}).get(
                             "train_images"), "lr": opts.get("lr"), "epochs": opts.get("epochs"),
                         "anchor": opts.get("anchor_weight"), "monitor": opts.get("monitor"),
                         "kept_epoch": kept, "unpruned_psnr": _unit_mean(ref, unit), "psnr": _unit_mean(mine, unit),
                         "minus_unpruned_db": diff["diff"], "minus_unpruned_low": diff["low"],
                         "minus_unpruned_high": diff["high"], "minus_unpruned_higher": diff["higher"],
                         "units": diff["units"], "unit_kind": unit or "image",
                         "harmless": bool(diff["diff"] > -NO_HARM_DB)})
    table = pd.DataFrame(rows)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.6g")
    Path(out_md).write_text(no_harm_markdown(table, NO_HARM_DB))
    return table


def _unit_mean(scores: pd.DataFrame, unit: str | None) -> float:
    """Mean PSNR over units, each unit's own mean first."""
    return float(unit_means(scores.psnr, scores[unit] if unit else scores.image).mean())
