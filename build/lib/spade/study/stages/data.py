"""Building the study's split files: the task's splits, the external set, shifted test sets."""

from __future__ import annotations

import json
import os
from pathlib import Path

from spade.study.data import build_dataset
from spade.study.provenance import environment, write_json
from spade.study.stages.context import log
from spade.study.variants import shift_split


def make_data(task: str, cfg: dict, seed: int, outputs: dict[str, str], info_path) -> None:
    counts = build_dataset(task, cfg, seed, outputs)
    info = {"task": task, "counts": counts, "config": cfg}
    subjects = split_subjects(outputs)
    if subjects:
        info["subjects"] = subjects
    write_json({**info, **environment(seed)}, info_path)
    log.info("%s: %s%s", task, counts, f"; subjects {subjects}" if subjects else "")


def split_subjects(outputs: dict[str, str]) -> dict[str, list[str]]:
    """The subjects each written split holds, where it records them (the embedded MRI)."""
    import h5py

    out = {}
    for split, path in outputs.items():
        with h5py.File(path, "r") as f:
            if "subjects" in f.attrs:
                out[split] = json.loads(f.attrs["subjects"])
    return out


def make_external(task: str, cfg: dict, seed: int, out_path) -> int:
    """The external test set: real MR slices from sources that no split trains on."""
    if task != "mri":
        raise ValueError(f"an external test set is built for task 'mri' only, not {task!r}")
    from spade.study.data.embedded import build_mri_external

    count = build_mri_external(cfg, seed, out_path)
    log.info("%s external: %d slices", task, count)
    return count


def make_shift(task: str, cfg: dict, name: str, overrides: dict, seed: int, out_path) -> int:
    """A shifted test set ``shift_<name>``: the test split's images measured under
    ``overrides`` of the task's data settings (a higher acceleration, k-space noise,
    another blur kernel). No network trains or selects anything on it; every variant is
    scored on it as it is. Returns its sample count."""
    import h5py

    out = Path(out_path)
    tmp = out.with_name(out.name + ".build.h5")
    try:
        counts = build_dataset(task, {**cfg, **overrides}, seed, {"test": str(tmp)})
        with h5py.File(tmp, "r+") as f:
            f.attrs["split"] = shift_split(name)
            provenance = json.loads(f.attrs["provenance"])
            provenance["shift"] = {"name": name, "overrides": overrides, "of": "the test split's images"}
            f.attrs["provenance"] = json.dumps(provenance, sort_keys=True, default=str)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("%s: shift %s (%s): %d test images", task, name, overrides, counts["test"])
    return counts["test"]
