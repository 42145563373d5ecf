"""The label-free ablation's table: every self-supervised setting scored on validation
data, chosen by a label-free score."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from spade.checkpoint import load_model
from spade.study.report.side_markdown import label_free_markdown
from spade.study.stages.context import open_split, sample_operator, start_job
from spade.study.stages.evaluate import evaluate
from spade.study.variants import LABELLED_REFERENCE, PRUNED, UNPRUNED, Variant


def label_free_scores(models: list[tuple[str, str]], val_path, out_csv, out_md, seed: int, threads: int,
                      score_opts: dict, device_setting: str = "cpu",
                      label_free_split: str = "unlabelled") -> pd.DataFrame:
    """Score ``models`` (``(setting name, artifact)``: per arch, the unpruned and pruned
    networks of each arch and its self-supervised fits) on the validation split for the
    label-free ablation. ``heldout_kspace``: the label-free score the choice is made on
    (:func:`spade.losses.heldout_kspace_score`, one fixed draw of held-out samples per image,
    the same for every network; lower is better); ``own_val_loss``: the best validation
    loss of the network's own fit; ``val_psnr``: for the reader only, never for the
    choice. The ``chosen`` rows: per arch and self-supervised loss (``loss``: ei, ssdu), the
    setting with the lowest held-out score among those trained on all of
    ``label_free_split`` (settings on less data, or on other measurements, draw the data
    curve: ``data``, ``train_images``). Never across losses: the held-out score is SSDU's
    own loss (the same split of the samples), so it ranks networks SSDU trained above all
    others by construction, and EI's own loss favours EI the same way; no label-free score
    here is neutral between the two;
    ``minus_unpruned`` compares validation PSNR with the unpruned network's."""
    from spade.losses import heldout_kspace_score

    device = start_job(seed, threads, device_setting)
    _, physics, data = open_split(val_path, False)
    rows = []
    for name, path in models:
        model, payload = load_model(path)
        model = model.to(device).eval()
        gen = torch.Generator().manual_seed(seed)
        heldout = []
        for i in range(len(data)):
            op = sample_operator(physics, data, i).to(device)
            heldout.append(float(heldout_kspace_score(model, op, data.y[i][None].to(device), gen,
                                                      float(score_opts["loss_fraction"]),
                                                      float(score_opts["center_fraction"]))))
        with tempfile.TemporaryDirectory() as tmp:
            frame = evaluate(path, val_path, Path(tmp) / "val.csv", Path(tmp) / "val.npz", 0, threads,
                             device_setting)
        meta = payload["meta"]
        fitted = meta.get("stage") == "finetune"
        losses = [row["val_loss"] for row in meta.get("history") or [] if fitted]
        variant = Variant.from_meta(meta)
        fraction = float(meta.get("data_fraction", 1.0))
        rows.append({"setting": name, "strategy": variant.strategy,
                     "loss": meta["opts"]["selfsup"][variant.task] if fitted and variant.strategy == "selfsup" else "",
                     "heldout_kspace": np.mean(heldout),
                     "own_val_loss": min(losses) if losses else np.nan, "val_psnr": frame.psnr.mean(),
                     "epochs": sum(r["epoch"] > 0 for r in meta.get("history") or []) if fitted else np.nan,
                     # what the fit trained on: the split's measurements, the fraction, the images
                     "data": f"{Path(meta['trained_on']).stem} x{fraction:g}" if fitted else "",
                     "train_images": (meta.get("cost") or {}).get("train_images", np.nan) if fitted else np.nan,
                     "task": variant.task, "arch": variant.arch, "criterion": variant.criterion,
                     "ratio": variant.ratio})
    table = pd.DataFrame(rows)
    ref = table[table.strategy == UNPRUNED].set_index("arch").val_psnr
    table["minus_unpruned"] = table.val_psnr - table.arch.map(ref)
    # the question the ablation answers: how far each label-free fit stays behind supervised
    # fine-tuning of the same pruned network (validation PSNR; the supervised fit chose its
    # checkpoint on it, so the gap is if anything flattering to supervised)
    labelled = table[table.strategy == LABELLED_REFERENCE].set_index("arch").val_psnr
    table["minus_supervised"] = table.val_psnr - table.arch.map(labelled) if len(labelled) else np.nan
    # the choice is among settings of one loss on the same data: all of the split the
    # study's strategies use
    tuned = table[~table.strategy.isin([UNPRUNED, PRUNED, LABELLED_REFERENCE])
                  & (table.data == f"{label_free_split} x1")]
    table["chosen"] = table.index.isin(tuned.groupby(["arch", "loss"]).heldout_kspace.idxmin())
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.6g")
    Path(out_md).write_text(label_free_markdown(table))
    return table
