"""Shared fixtures: tiny dataset files in the pipeline's own layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spade.data import write_split
from spade.physics import SuperResolution, blur_kernel, cartesian_mask


def _smooth_images(n: int, size: int, seed: int) -> list[np.ndarray]:
    """Random blobs: smooth, positive images with structure at a few scales."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        img = np.zeros((size, size))
        for _ in range(6):
            cy, cx, r, a = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.25), rng.uniform(0.3, 1)
            img += a * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
        out.append((img / img.max()).astype(np.float32))
    return out


def write_mri_split(path, n: int, size: int = 24, seed: int = 0, coils: int = 1) -> None:
    """Single-coil (``coils=1``) or multi-coil MRI samples of smooth images."""
    from spade.physics import make_physics
    from spade.physics.mri import simulate_coil_maps

    mask = cartesian_mask((size, size), 3, 0.1 if coils == 1 else 0.15)
    params = {"mask": mask}
    if coils > 1:
        params["sens"] = simulate_coil_maps(coils, (size, size), seed)
    physics = make_physics("mri", params)
    xs, ys = [], []
    for img in _smooth_images(n, size, seed):
        x = torch.zeros(1, 2, size, size)
        x[0, 0] = torch.from_numpy(img)
        xs.append(x[0].numpy())
        ys.append(physics.forward(x)[0].numpy())
    write_split(path, "mri", "train", ys, xs, [f"s{i}" for i in range(n)], params, {"seed": seed})


def write_sr_split(path, n: int, size: int = 24, seed: int = 0) -> None:
    kernel = blur_kernel("gaussian", 2, 1.0)
    physics = SuperResolution(kernel, 2)
    xs = [img[None] for img in _smooth_images(n, size, seed)]
    ys = [physics.forward(torch.from_numpy(x)[None])[0].numpy() for x in xs]
    write_split(path, "sr", "train", ys, xs, [f"s{i}" for i in range(n)], {"kernel": kernel, "scale": 2},
                {"seed": seed})


def _three_splits(tmp_path, prefix, write):
    paths = {s: tmp_path / f"{prefix}_{s}.h5" for s in ("train", "val", "test")}
    for i, (split, p) in enumerate(paths.items()):
        write(p, 8 if split == "train" else 3, seed=i)
    return paths


@pytest.fixture
def mri_files(tmp_path):
    return _three_splits(tmp_path, "mri", write_mri_split)


@pytest.fixture
def mc_files(tmp_path):
    return _three_splits(tmp_path, "mc", lambda p, n, seed: write_mri_split(p, n, seed=seed, coils=4))


@pytest.fixture
def sr_files(tmp_path):
    return _three_splits(tmp_path, "sr", write_sr_split)


TINY_SPECS = {
    "edsr": {"arch": "du", "channels": 2, "steps": 2, "prior": {"name": "edsr", "features": 16, "blocks": 2}},
    "dncnn": {"arch": "du", "channels": 2, "steps": 2, "prior": {"name": "dncnn", "features": 16, "layers": 4}},
}


ALL_SPECS = {
    "du-edsr": TINY_SPECS["edsr"],
    "du-dncnn": TINY_SPECS["dncnn"],
    "du-unet": {"arch": "du", "channels": 2, "steps": 2, "prior": {"name": "unet", "features": 8, "pools": 2}},
    "deq-edsr": {"arch": "deq", "channels": 2, "prior": {"name": "edsr", "features": 16, "blocks": 1},
                 "solver": {"memory": 5, "max_iter": 40, "tol": 1e-4, "train_max_iter": 10}},
    "deq-dncnn": {"arch": "deq", "channels": 2, "prior": {"name": "dncnn", "features": 16, "layers": 3},
                  "solver": {"memory": 5, "max_iter": 40, "tol": 1e-4}},
    "varnet-unet": {"arch": "varnet", "channels": 2, "cascades": 3, "prior": {"name": "unet", "features": 8, "pools": 2}},
    "varnet-edsr": {"arch": "varnet", "channels": 2, "cascades": 2, "prior": {"name": "edsr", "features": 16, "blocks": 1}},
}
