"""One HDF5 file per split; the layout every builder writes and every stage reads.

```
/            attrs: format, task, split, provenance (JSON)
/physics     attrs: task-specific scalars (scale ...); datasets: mask or kernel
/y/<i>       measurement of sample i       (float32, [C, h, w]; multi-coil [coils, 2, H, W])
/x/<i>       ground-truth image of sample i (float32, [C, H, W]); supervised use only
/names       sample identifiers (slice index, image name and patch corner)
```
Samples are stored one dataset each so that whole test images of different sizes fit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import torch

FORMAT = "spade-split/1"


class DatasetFileError(ValueError):
    """A dataset file is missing, unreadable or not in the expected layout."""


def write_split(path, task: str, split: str, ys, xs, names, physics: dict, provenance: dict) -> None:
    """Write a split atomically: a temporary file renamed into place, never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["task"] = task
            f.attrs["split"] = split
            f.attrs["provenance"] = json.dumps(provenance, sort_keys=True)
            grp = f.create_group("physics")
            for key, value in physics.items():
                if isinstance(value, np.ndarray):
                    grp.create_dataset(key, data=value)
                else:
                    grp.attrs[key] = value
            gy, gx = f.create_group("y"), f.create_group("x")
            for i, (y, x) in enumerate(zip(ys, xs, strict=True)):
                gy.create_dataset(f"{i:06d}", data=np.asarray(y, dtype=np.float32))
                gx.create_dataset(f"{i:06d}", data=np.asarray(x, dtype=np.float32))
            f.create_dataset("names", data=np.array([str(n) for n in names], dtype=h5py.string_dtype()))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _open(path) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"{path}: dataset file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DatasetFileError(f"{path}: not a readable HDF5 file ({err})") from err
    if f.attrs.get("format") != FORMAT:
        f.close()
        raise DatasetFileError(f"{path}: attribute 'format' is {f.attrs.get('format')!r}, expected {FORMAT!r}")
    return f


def read_physics(path) -> tuple[str, dict]:
    """``(task, params)`` recorded in a split file, enough to rebuild its operator."""
    with _open(path) as f:
        if "physics" not in f:
            raise DatasetFileError(f"{path}: missing group 'physics'")
        grp = f["physics"]
        params = {k: np.asarray(v) for k, v in grp.attrs.items()}
        params.update({k: grp[k][()] for k in grp.keys()})
        return str(f.attrs["task"]), params


class H5Split(torch.utils.data.Dataset):
    """A split held in memory. ``with_target=False`` never reads ``/x``: the label-free
    strategies open their data this way, so ground truth cannot reach them."""

    def __init__(self, path, with_target: bool):
        self.path = Path(path)
        self.with_target = with_target
        with _open(self.path) as f:
            keys = ["y", "x"] if with_target else ["y"]
            for key in keys + ["names"]:
                if key not in f:
                    raise DatasetFileError(f"{self.path}: missing key '/{key}'")
            self.task = str(f.attrs["task"])
            self.names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["names"][()]]
            self.y = self._load(f, "y")
            self.x = self._load(f, "x") if with_target else None
        if self.x is not None and len(self.x) != len(self.y):
            raise DatasetFileError(f"{self.path}: {len(self.y)} measurements but {len(self.x)} targets")

    def _load(self, f: h5py.File, key: str) -> list[torch.Tensor]:
        out = []
        for name in sorted(f[key].keys()):
            arr = f[key][name][()]
            if arr.dtype != np.float32 or arr.ndim not in (3, 4):
                raise DatasetFileError(
                    f"{self.path}: '/{key}/{name}' is {arr.dtype} {arr.shape}, expected float32 [C, H, W] "
                    "(or [coils, 2, H, W] for multi-coil k-space)"
                )
            if not np.isfinite(arr).all():
                raise DatasetFileError(f"{self.path}: '/{key}/{name}' holds NaN or inf values")
            out.append(torch.from_numpy(arr))
        if not out:
            raise DatasetFileError(f"{self.path}: '/{key}' holds no samples")
        return out

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        if self.with_target:
            return self.y[i], self.x[i]
        return self.y[i]
