"""One HDF5 file per split; the layout every builder writes and every stage reads.

```
/            attrs: format, task, split, provenance (JSON)
/physics     attrs: task-specific scalars (scale ...); datasets: mask or kernel
/y/<i>       measurement of sample i       (float32, [C, h, w]; multi-coil [coils, 2, H, W])
/x/<i>       ground-truth image of sample i (float32, [C, H, W]); supervised use only. The
             ``unlabelled`` split (measurements for the label-free strategies) has no ``/x``
             at all, so nothing downstream of it can read ground truth.
/names       sample identifiers (slice index, image name and patch corner)
/groups      optional: the group of each sample (its volume for MRI, its test set for SR);
             attrs: kind ("volume" or "set")
/physics_per_sample/<key>/<i>   optional: operator arrays that differ between samples
             (``mask`` [H, W], ``sens`` [C, 2, H, W]: real fastMRI slices have their own
             coil maps, per-file seeded masks differ per volume); they replace ``/physics/<key>``
```
Samples are stored one dataset each so that whole test images of different sizes fit.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import h5py
import numpy as np
import torch

FORMAT = "spade-split/1"


class DatasetFileError(ValueError):
    """A dataset file is missing, unreadable or not in the expected layout."""


class SplitWriter:
    """Writes one split file sample by sample into ``<path>.tmp``; :meth:`commit` renames
    it into place, :meth:`discard` removes it. Builders put every split in place together
    (:func:`commit_all`), so a bad input or a full disk leaves no split file behind, and
    large datasets (fastMRI) need not be held in memory."""

    def __init__(self, path, task: str, split: str, physics: dict, group_kind: str = "set",
                 with_target: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.f = h5py.File(self.tmp, "w")
        self.f.attrs["format"] = FORMAT
        self.f.attrs["task"] = task
        self.f.attrs["split"] = split
        grp = self.f.create_group("physics")
        for key, value in physics.items():
            if isinstance(value, np.ndarray):
                grp.create_dataset(key, data=value)
            else:
                grp.attrs[key] = value
        self.f.create_group("y")
        self.with_target = with_target
        if with_target:
            self.f.create_group("x")
        self.group_kind = group_kind
        self.names: list[str] = []
        self.groups: list[str] = []
        self.per_sample_keys: set[str] | None = None

    def add(self, y, x, name, per_sample: dict | None = None, group=None) -> None:
        """Append a sample; ``x`` must be None exactly when the split has no targets."""
        i = len(self.names)
        if (x is None) == self.with_target:
            raise ValueError(f"sample {name}: target {'missing' if x is None else 'given'} for a split "
                             f"written with with_target={self.with_target}")
        keys = set(per_sample or {})
        if self.per_sample_keys is None:
            self.per_sample_keys = keys
        elif keys != self.per_sample_keys:
            raise ValueError(f"sample {name}: per-sample keys {sorted(keys)} differ from {sorted(self.per_sample_keys)}")
        self.f["y"].create_dataset(f"{i:06d}", data=np.asarray(y, dtype=np.float32))
        if x is not None:
            self.f["x"].create_dataset(f"{i:06d}", data=np.asarray(x, dtype=np.float32))
        for key, arr in (per_sample or {}).items():
            self.f.require_group(f"physics_per_sample/{key}").create_dataset(
                f"{i:06d}", data=np.asarray(arr, dtype=np.float32))
        self.names.append(str(name))
        if group is not None:
            self.groups.append(str(group))

    def finish(self, provenance: dict) -> None:
        """Write the index and provenance and close ``<path>.tmp`` (still not in place)."""
        if self.groups and len(self.groups) != len(self.names):
            raise ValueError(f"{len(self.groups)} group labels for {len(self.names)} samples")
        self.f.attrs["provenance"] = json.dumps(provenance, sort_keys=True, default=str)
        self.f.create_dataset("names", data=np.array(self.names, dtype=h5py.string_dtype()))
        if self.groups:
            g = self.f.create_dataset("groups", data=np.array(self.groups, dtype=h5py.string_dtype()))
            g.attrs["kind"] = self.group_kind
            if self.group_kind == "subject":  # who the split holds, readable without the index
                self.f.attrs["subjects"] = json.dumps(sorted(set(self.groups)))
        self.f.close()

    def commit(self, provenance: dict) -> None:
        self.finish(provenance)
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        if self.f.id.valid:
            self.f.close()
        if self.tmp.exists():
            self.tmp.unlink()


def commit_all(writers, provenances) -> None:
    """Finish every split file, then rename them all into place: a failure while any of
    them is still being written (bad data, a full disk) leaves none of them behind. The
    caller discards the writers afterwards (a no-op for committed ones)."""
    writers = list(writers)
    for writer, provenance in zip(writers, provenances, strict=True):
        writer.finish(provenance)
    for writer in writers:
        os.replace(writer.tmp, writer.path)


def fill_split(path, task: str, split: str, ys, xs, names, physics: dict, per_sample: dict | None = None,
               groups=None, group_kind: str = "set") -> SplitWriter:
    """A :class:`SplitWriter` holding every sample, not yet committed (see :func:`write_split`)."""
    names = list(names)
    for key, arrays in (per_sample or {}).items():
        if len(arrays) != len(names):
            raise ValueError(f"per-sample '{key}': {len(arrays)} arrays for {len(names)} samples")
    if groups is not None and len(groups) != len(names):
        raise ValueError(f"{len(groups)} group labels for {len(names)} samples")
    writer = SplitWriter(path, task, split, physics, group_kind, with_target=xs is not None)
    try:
        for i, (y, x) in enumerate(zip(ys, [None] * len(ys) if xs is None else xs, strict=True)):
            writer.add(y, x, names[i], {k: v[i] for k, v in (per_sample or {}).items()},
                       None if groups is None else groups[i])
    except BaseException:
        writer.discard()
        raise
    return writer


def write_split(path, task: str, split: str, ys, xs, names, physics: dict, provenance: dict,
                per_sample: dict | None = None, groups=None, group_kind: str = "set") -> None:
    """Write a split atomically: a temporary file renamed into place, never half a file.
    ``xs=None`` writes a measurement-only split (no ``/x``).

    ``per_sample``: ``{key: [array per sample]}`` of operator arrays that differ between
    samples; ``groups``: one label per sample (``group_kind`` says what it is)."""
    writer = fill_split(path, task, split, ys, xs, names, physics, per_sample, groups, group_kind)
    try:
        writer.commit(provenance)
    finally:
        writer.discard()


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
    """``(task, params)`` recorded in a split file, enough to rebuild its operator.

    Where the file holds per-sample arrays, ``params`` carries those of the first sample
    with a leading batch axis of 1: the operator of sample 0, which broadcasts over a
    batch of copies of it (what pruning and the speed benchmark feed). Training and
    evaluation replace them batch by batch (:func:`spade.physics.batch_physics`)."""
    with _open(path) as f:
        if "physics" not in f:
            raise DatasetFileError(f"{path}: missing group 'physics'")
        grp = f["physics"]
        params = {k: np.asarray(v) for k, v in grp.attrs.items()}
        params.update({k: grp[k][()] for k in grp.keys()})
        if "physics_per_sample" in f:
            for key in f["physics_per_sample"].keys():
                first = sorted(f["physics_per_sample"][key].keys())
                if not first:
                    raise DatasetFileError(f"{path}: '/physics_per_sample/{key}' holds no samples")
                params[key] = f["physics_per_sample"][key][first[0]][()][None]
        return str(f.attrs["task"]), params


class Samples:
    """The samples of one group of a split file (``y``, ``x`` or a per-sample operator
    array), read from disk one at a time: memory does not grow with the split. Shapes and
    dtypes are checked when the split opens, values (NaN, inf) on every read."""

    def __init__(self, split: "H5Split", key: str, ndims: tuple[int, ...]):
        self.split, self.key = split, key
        with _open(split.path) as f:
            group = f[key]
            self.names = sorted(group.keys())
            for name in self.names:
                ds = group[name]
                if ds.dtype != np.float32 or ds.ndim not in ndims:
                    raise DatasetFileError(
                        f"{split.path}: '/{key}/{name}' is {ds.dtype} {ds.shape}, expected float32 with "
                        f"{' or '.join(map(str, ndims))} dimensions ([C, H, W], multi-coil k-space [coils, 2, H, W], "
                        "mask [H, W], coil maps [coils, 2, H, W])"
                    )
        if not self.names:
            raise DatasetFileError(f"{split.path}: '/{key}' holds no samples")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        name = self.names[i]  # IndexError past the end ends iteration
        with _open(self.split.path) as f:  # no handle stays open between reads
            arr = f[self.key][name][()]
        if not np.isfinite(arr).all():
            raise DatasetFileError(f"{self.split.path}: '/{self.key}/{name}' holds NaN or inf values")
        return torch.from_numpy(arr)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


class H5Split(torch.utils.data.Dataset):
    """A split file, read lazily: each item is read from disk when asked for (the file is
    opened for each read and closed again), so training, fine-tuning and evaluation hold one
    batch, not the split, in memory.
    ``with_target=False`` never reads ``/x``: the label-free strategies open their data
    this way, so ground truth cannot reach them.

    Items are ``y`` or ``(y, x)``; a file with per-sample physics appends the dict of
    that sample's arrays (``(y, params)``, ``(y, x, params)``), which the default
    collation stacks into batches. ``y``, ``x`` and ``per_sample[key]`` index like lists."""

    def __init__(self, path, with_target: bool, keep=None):
        """``keep``: indices of the samples to keep (all when None), e.g.
        :func:`nested_fraction`'s; the split then behaves as if it held only those."""
        self.path = Path(path)
        self.with_target = with_target
        with _open(self.path) as f:
            keys = ["y", "x"] if with_target else ["y"]
            for key in keys + ["names"]:
                if key not in f:
                    hint = " (a measurement-only split: no ground truth is stored)" if key == "x" else ""
                    raise DatasetFileError(f"{self.path}: missing key '/{key}'{hint}")
            self.task = str(f.attrs["task"])
            self.split = str(f.attrs.get("split", ""))
            self.names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["names"][()]]
            self.groups, self.group_kind = None, None
            self.subjects = json.loads(f.attrs["subjects"]) if "subjects" in f.attrs else None
            if "groups" in f:
                self.groups = [n.decode() if isinstance(n, bytes) else str(n) for n in f["groups"][()]]
                self.group_kind = str(f["groups"].attrs.get("kind", "set"))
            per_sample_keys = sorted(f["physics_per_sample"].keys()) if "physics_per_sample" in f else []
        self.y = Samples(self, "y", (3, 4))
        self.x = Samples(self, "x", (3, 4)) if with_target else None
        self.per_sample = {key: Samples(self, f"physics_per_sample/{key}", (2, 4)) for key in per_sample_keys}
        if self.x is not None and len(self.x) != len(self.y):
            raise DatasetFileError(f"{self.path}: {len(self.y)} measurements but {len(self.x)} targets")
        for key, arrays in self.per_sample.items():
            if len(arrays) != len(self.y):
                raise DatasetFileError(f"{self.path}: {len(self.y)} measurements but {len(arrays)} per-sample '{key}'")
        if len(self.names) != len(self.y) or (self.groups is not None and len(self.groups) != len(self.y)):
            raise DatasetFileError(f"{self.path}: names or groups do not match the {len(self.y)} samples")
        if keep is not None:
            self._keep([int(i) for i in keep])

    def _keep(self, indices: list[int]) -> None:
        if not indices or min(indices) < 0 or max(indices) >= len(self.y):
            raise DatasetFileError(f"{self.path}: cannot keep samples {indices} of {len(self.y)}")
        for samples in [self.y, self.x, *self.per_sample.values()]:
            if samples is not None:
                samples.names = [samples.names[i] for i in indices]
        self.names = [self.names[i] for i in indices]
        if self.groups is not None:
            self.groups = [self.groups[i] for i in indices]

    def __len__(self) -> int:
        return len(self.y)

    def sample_physics(self, i: int) -> dict:
        """Sample ``i``'s own operator arrays (empty when the file's operator is shared)."""
        return {key: arrays[i] for key, arrays in self.per_sample.items()}

    def __getitem__(self, i: int):
        item = (self.y[i], self.x[i]) if self.with_target else (self.y[i],)
        if self.per_sample:
            item = item + (self.sample_physics(i),)
        return item if len(item) > 1 else item[0]


def nested_fraction(n: int, fraction: float, seed: int) -> list[int]:
    """Indices of ``fraction`` of ``n`` samples (at least one), drawn with ``seed`` as the
    first ones of one random order: a smaller fraction is a subset of a larger one, so a
    curve over fractions adds data rather than swapping it."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    order = np.random.default_rng(seed).permutation(n)
    return sorted(int(i) for i in order[: max(1, math.ceil(fraction * n))])
