"""Reading the study's artifacts into tidy frames: the evaluate stage's per-image scores, each
fit's validation curve and fit cost from the models' metadata, and the criterion labels the
identity columns give."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spade.study.report.units import UNITS
from spade.study.variants import EXTERNAL, IDENTITY, Variant


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
