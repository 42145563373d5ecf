"""The embedded default data: real images that installed packages ship, never downloaded.

* ``mri``: axial slices of the MNI ICBM152 2009a nonlinear symmetric T1 template that
  nilearn ships (1 mm, skull-stripped). Licence: the ICBM152 template is free to use,
  copy and modify with its copyright notice kept (Copyright (C) 1993-2009 Louis Collins,
  McConnell Brain Imaging Centre, Montreal Neurological Institute, McGill University).
* ``sr``: photographs bundled with scikit-image (``skimage/data``; each image's licence is
  listed in that folder's README.txt), converted to luminance.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from spade.physics import SuperResolution, blur_kernel, cartesian_mask, make_physics
from spade.physics.mri import simulate_coil_maps, smooth_phase
from spade.data.h5 import write_split

SPLITS = ("train", "val", "test")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_all(pending: list[tuple]) -> None:
    """Write the splits only once all were built, so a bad input leaves no file behind."""
    for args in pending:
        write_split(*args)


def mni_template_path() -> Path:
    import nilearn

    path = Path(nilearn.__file__).parent / "datasets" / "data" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the MNI152 template is not where nilearn ships it")
    return path


def slab_splits(indices, slab: int, gap: int, pattern) -> dict[str, list[int]]:
    """Assign contiguous slabs of ``slab`` slices to splits in the repeating ``pattern``
    (e.g. ``train train train val test``) and drop ``gap`` slices at every boundary
    between different splits, so neighbouring slices never land in different splits
    while every split still spans the whole brain."""
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    indices = list(indices)
    slabs = [indices[i : i + slab] for i in range(0, len(indices), slab)]
    for n, block in enumerate(slabs):
        split = pattern[n % len(pattern)]
        nxt = pattern[(n + 1) % len(pattern)] if n + 1 < len(slabs) else split
        prev = pattern[(n - 1) % len(pattern)] if n > 0 else split
        lo = gap // 2 if prev != split else 0
        hi = gap - gap // 2 if nxt != split else 0
        out[split].extend(block[lo : len(block) - hi])
    return out


def build_mri(cfg: dict, seed: int, outputs: dict[str, str]) -> dict:
    """Cartesian CS-MRI splits from the MNI152 T1 template: single-coil, or multi-coil
    with simulated smooth coil maps (``coils`` > 1); ``phase`` > 0 gives every slice a
    smooth random phase."""
    import nibabel as nib
    from skimage.transform import resize

    src = mni_template_path()
    vol = np.asarray(nib.load(src).dataobj, dtype=np.float64)
    vol = vol / vol.max()  # per-volume normalisation: the data range of the metrics is 1
    size = int(cfg["image_size"])
    z0, z1 = cfg["slices"]
    splits = slab_splits(range(z0, z1), int(cfg["slab"]), int(cfg["gap"]), cfg["split_pattern"])
    mask = cartesian_mask((size, size), int(cfg["acceleration"]), float(cfg["center_fraction"]))
    coils = int(cfg.get("coils", 1))
    phase = float(cfg.get("phase", 0.0))
    physics_params = {"mask": mask}
    if coils > 1:
        physics_params["sens"] = simulate_coil_maps(coils, (size, size), seed)
    physics = make_physics("mri", physics_params)  # the operator every later stage rebuilds
    noise = float(cfg["noise_std"])
    gen = torch.Generator().manual_seed(seed)
    side = max(vol.shape[0], vol.shape[1])
    summary, pending = {}, []
    for split in SPLITS:
        xs, ys = [], []
        for z in splits[split]:
            img = vol[:, :, z].T[::-1]  # radiological display: anterior up
            padded = np.zeros((side, side))
            r0, c0 = (side - img.shape[0]) // 2, (side - img.shape[1]) // 2
            padded[r0 : r0 + img.shape[0], c0 : c0 + img.shape[1]] = img
            img = resize(padded, (size, size), anti_aliasing=True, order=3).clip(0, None)
            x = torch.zeros(1, 2, size, size)
            x[0, 0] = torch.from_numpy(img.astype(np.float32))
            if phase > 0:  # a smooth phase per slice: real MR images are complex
                phi = torch.from_numpy(smooth_phase((size, size), seed * 1000 + z, phase).astype(np.float32))
                x = torch.stack([x[:, 0] * torch.cos(phi), x[:, 0] * torch.sin(phi)], dim=1)
            y = physics.forward(x)
            if noise > 0:  # complex white Gaussian noise on the acquired samples only
                y = y + physics.mask * noise * torch.randn(y.shape, generator=gen)
            xs.append(x[0].numpy())
            ys.append(y[0].numpy())
        provenance = {
            "source": "MNI ICBM152 2009a nonlinear symmetric T1 template (nilearn)",
            "source_file": src.name,
            "source_sha256": _sha256(src),
            "licence": "ICBM152: free use with copyright notice (McConnell Brain Imaging Centre, MNI)",
            "orientation": "axial",
            "slices": splits[split],
            "image_size": size,
            "normalisation": "volume maximum = 1",
            "acceleration": int(cfg["acceleration"]),
            "center_fraction": float(cfg["center_fraction"]),
            "sampled_fraction": float(mask.mean()),
            "noise_std": noise,
            "coils": coils,
            "coil_maps": "simulated: ring of coils, 1/(1+d^2) fall-off, smooth phase" if coils > 1 else None,
            "phase": phase,
            "seed": seed,
        }
        pending.append((outputs[split], "mri", split, ys, xs, [f"z{z:03d}" for z in splits[split]],
                        physics_params, provenance))
        summary[split] = len(xs)
    _write_all(pending)
    return summary


def _skimage_gray(name: str) -> tuple[np.ndarray, Path]:
    import skimage
    from skimage import io
    from skimage.color import rgb2gray, rgba2rgb

    folder = Path(skimage.__file__).parent / "data"
    matches = sorted(p for p in folder.glob(f"{name}.*") if p.suffix in {".png", ".jpg"})
    if not matches:
        raise FileNotFoundError(f"{folder}: no image named {name!r} ships with scikit-image")
    img = io.imread(matches[0])
    if img.ndim == 3 and img.shape[2] == 4:
        img = rgba2rgb(img)
    if img.ndim == 3:
        img = rgb2gray(img)  # ITU-R BT.709 luminance
    elif img.dtype == np.uint8:
        img = img / 255.0
    return img.astype(np.float64), matches[0]


def build_sr(cfg: dict, seed: int, outputs: dict[str, str]) -> dict:
    """Super-resolution splits: training/validation patches, whole test images."""
    from skimage.transform import rescale

    scale = int(cfg["scale"])
    kernel = blur_kernel(cfg["kernel"], scale, cfg.get("sigma"))
    physics = SuperResolution(kernel, scale)
    patch = int(cfg["patch_size"])
    if patch % scale:
        raise ValueError(f"patch_size {patch} must be a multiple of scale {scale}")
    rng = np.random.default_rng(seed)
    noise = float(cfg["noise_std"])
    gen = torch.Generator().manual_seed(seed)
    summary, pending = {}, []
    for split in SPLITS:
        xs, ys, names, sources = [], [], [], {}
        for name in cfg["images"][split]:
            img, path = _skimage_gray(name)
            sources[name] = _sha256(path)
            if cfg["hr_downscale"] > 1:
                img = rescale(img, 1 / cfg["hr_downscale"], anti_aliasing=True, order=3).clip(0, 1)
            if split == "test":
                h, w = (img.shape[0] // scale) * scale, (img.shape[1] // scale) * scale
                crops = [(0, 0, h, w)]
            else:
                if min(img.shape) < patch:
                    raise ValueError(f"image {name!r} ({img.shape}) is smaller than patch_size {patch}")
                crops = [
                    (r, c, patch, patch)
                    for r, c in zip(
                        rng.integers(0, img.shape[0] - patch + 1, cfg["patches_per_image"]),
                        rng.integers(0, img.shape[1] - patch + 1, cfg["patches_per_image"]),
                    )
                ]
            for r, c, h, w in crops:
                x = torch.from_numpy(img[r : r + h, c : c + w].astype(np.float32))[None, None]
                y = physics.forward(x)
                if noise > 0:
                    y = y + noise * torch.randn(y.shape, generator=gen)
                xs.append(x[0].numpy())
                ys.append(y[0].numpy())
                names.append(f"{name}@{r},{c}")
        provenance = {
            "source": "scikit-image bundled photographs (skimage/data), luminance",
            "images": sources,
            "hr_downscale": cfg["hr_downscale"],
            "scale": scale,
            "kernel": cfg["kernel"],
            "sigma": cfg.get("sigma"),
            "patch_size": patch if split != "test" else None,
            "noise_std": noise,
            "seed": seed,
        }
        pending.append((outputs[split], "sr", split, ys, xs, names, {"kernel": kernel, "scale": scale}, provenance))
        summary[split] = len(xs)
    _write_all(pending)
    return summary


def build_dataset(task: str, cfg: dict, seed: int, outputs: dict[str, str]) -> dict:
    """Build the three splits of ``task``; returns the sample count per split."""
    if task == "mri":
        return build_mri(cfg, seed, outputs)
    if task == "sr":
        return build_sr(cfg, seed, outputs)
    raise ValueError(f"unknown task {task!r}")
