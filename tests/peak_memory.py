"""Peak memory of reading a paper-shape split: lazily (what training, fine-tuning and
evaluation do) against holding it whole (what the reader did before).

    python tests/peak_memory.py write DIR [--slices 300]   # synthetic split, 320 x 320, 8 coils
    python tests/peak_memory.py read DIR/train.h5 lazy|eager

`read` runs one training epoch's data path (shuffled batches of 4, each sample's own
operator built from its coil maps and mask, one forward and adjoint per batch) and
prints the process's peak resident memory. Not a test: it writes gigabytes.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spade.study.data import H5Split, SplitWriter, read_physics  # noqa: E402
from spade.physics import make_physics  # noqa: E402
from spade.physics.masks import make_mask  # noqa: E402
from spade.train import _batches, split_batch  # noqa: E402


def write(folder: Path, slices: int, size: int = 320, coils: int = 8) -> Path:
    """A fastMRI-shape multi-coil split in the project's layout: random complex images,
    smooth coil maps and a per-volume mask stored per slice, as the fastMRI builder does."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    mask = make_mask("fixed", (size, size), 6, 0.08).astype(np.float32)
    writer = SplitWriter(folder / "train.h5", "mri", "train", {}, group_kind="volume")
    yy, xx = np.mgrid[:size, :size] / size
    for i in range(slices):
        x = rng.standard_normal((2, size, size)).astype(np.float32)
        phase = np.exp(1j * 2 * np.pi * (np.arange(coils)[:, None, None] / coils + 0.3 * yy + 0.2 * xx))
        sens = np.stack([phase.real, phase.imag], axis=1).astype(np.float32) / np.sqrt(coils)
        op = make_physics("mri", {"mask": mask, "sens": sens})
        y = op.forward(torch.from_numpy(x)[None])[0].numpy()
        writer.add(y, x, f"vol{i // 16:03d}/s{i % 16:03d}", {"mask": mask, "sens": sens}, group=f"vol{i // 16:03d}")
    writer.commit({"synthetic": f"{slices} slices, {size} x {size}, {coils} coils"})
    return folder / "train.h5"


def read(path: Path, mode: str) -> None:
    tic = time.perf_counter()
    data = H5Split(path, True)
    if mode == "eager":  # the former reader: every sample in memory before the first batch
        data.y, data.x = list(data.y), list(data.x)
        data.per_sample = {k: list(v) for k, v in data.per_sample.items()}
    _, params = read_physics(path)
    physics = make_physics("mri", params)
    checksum, n = 0.0, 0
    for batch in _batches(data, 4, torch.Generator().manual_seed(0)):
        (y, x), op = split_batch(batch, data, physics)
        checksum += float(op.adjoint(op.forward(x)).abs().mean())
        n += y.shape[0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = path.stat().st_size / 2**20
    print(f"{mode}: {n} slices, file {size_mb:.0f} MB, peak RSS {peak_mb:.0f} MB, "
          f"{time.perf_counter() - tic:.0f} s (checksum {checksum:.4f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("folder", type=Path)
    w.add_argument("--slices", type=int, default=300)
    r = sub.add_parser("read")
    r.add_argument("path", type=Path)
    r.add_argument("mode", choices=["lazy", "eager"])
    args = parser.parse_args()
    if args.cmd == "write":
        print(write(args.folder, args.slices))
    else:
        read(args.path, args.mode)
