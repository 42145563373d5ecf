"""Super-resolution data from image folders on local disk (never downloaded).

Training: a folder of HR images (DIV2K layout: ``DIV2K_train_HR/0001.png`` ...), random
patches; optionally the matching LR images (``DIV2K_train_LR_bicubic/X2/0001x2.png``)
as measurements instead of ``A x``. Validation: a folder of its own (e.g.
``DIV2K_valid_HR``) or the last ``val_count`` training images (by name), as patches.
Test: several named folders laid out like the SR benchmarks, used as whole images:
``<set>/HR/*.png`` (EDSR's benchmark package), ``<set>/image_SRF_<s>/*_HR.png``
(Huang et al.'s Set5/Set14/BSD100/Urban100 release) or ``<set>/*.png``.

Images are RGB in [0, 1] (``colour: rgb``; grey images are repeated to three channels)
or the BT.601 luma ``Y`` (``colour: y``); HR images are cropped to a multiple of the
scale; measurements are ``y = A x`` with the configured kernel (the kernel is part of
``A`` in model-based SR) unless LR files are given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spade.study.data.h5 import DatasetFileError, SplitWriter, commit_all
from spade.physics import SuperResolution, blur_kernel

EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
SSIM_WINDOW = 11  # the smallest test image must leave an SSIM window after the border crop


def list_images(folder, what: str, scale: int | None = None) -> list[Path]:
    """The images of a folder (or of its ``HR`` / ``image_SRF_<scale>`` layout), by name."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DatasetFileError(f"{folder}: image folder ({what}) not found")
    if (folder / "HR").is_dir():
        folder = folder / "HR"
    elif scale is not None and (folder / f"image_SRF_{scale}").is_dir():
        srf = sorted(p for p in (folder / f"image_SRF_{scale}").iterdir() if p.stem.endswith("_HR")
                     and p.suffix.lower() in EXTENSIONS)
        if srf:
            return srf
        folder = folder / f"image_SRF_{scale}"
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if not images:
        raise DatasetFileError(f"{folder}: no images ({', '.join(EXTENSIONS)}) in this folder ({what})")
    return images


def read_image(path, colour: str) -> np.ndarray:
    """``[C, H, W]`` float64 in [0, 1]: RGB (``colour='rgb'``) or BT.601 luma (``'y'``)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
            mode = im.mode
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise DatasetFileError(f"{path}: not a readable image, truncated or corrupt ({err})") from err
    if arr.dtype == np.uint8:
        img = arr / 255.0
    elif arr.dtype in (np.uint16, np.int32) and mode.startswith("I"):
        img = arr / 65535.0
    elif arr.dtype == bool:
        img = arr.astype(np.float64)
    else:
        raise DatasetFileError(f"{path}: pixel type {arr.dtype} (mode {mode}); expected 8- or 16-bit images")
    if not np.isfinite(img).all():
        raise DatasetFileError(f"{path}: holds NaN or inf values")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)  # a grey image in a colour study
    elif img.ndim != 3 or img.shape[2] not in (3, 4):
        raise DatasetFileError(f"{path}: image of shape {arr.shape}; expected [H, W], [H, W, 3] or [H, W, 4]")
    img = img[..., :3]  # an alpha channel carries no image content
    if colour == "y":
        img = ((16.0 + 65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255.0)[..., None]
    elif colour != "rgb":
        raise ValueError(f"colour must be rgb or y, got {colour!r}")
    return img.transpose(2, 0, 1)


def _lr_path(folder: Path, hr: Path, scale: int) -> Path:
    """DIV2K's LR name (``0001x2.png``) or the HR name itself."""
    for name in (f"{hr.stem}x{scale}{hr.suffix}", hr.name):
        if (folder / name).is_file():
            return folder / name
    raise DatasetFileError(f"{folder}: no LR image for {hr.name} (looked for {hr.stem}x{scale}{hr.suffix}, {hr.name})")


def build_folders(cfg: dict, seed: int, outputs: dict[str, str]) -> dict:
    """SR splits from image folders; ``cfg`` is the config's ``data.sr`` (``scale``,
    ``kernel``, ``sigma``, ``patch_size``, ``patches_per_image``, ``noise_std`` and the
    ``folders`` block: ``train``, optional ``train_lr``, ``val`` or ``val_count``,
    ``unlabelled`` or ``unlabelled_count`` (default: a tenth of the training images, at
    least one; measurements only, never trained on by the base model), ``test`` {set
    name: folder}, ``colour``, optional ``max_images``)."""
    fcfg = cfg["folders"]
    scale = int(cfg["scale"])
    kernel = blur_kernel(cfg["kernel"], scale, cfg.get("sigma"))
    colour = fcfg.get("colour", "rgb")
    channels = 3 if colour == "rgb" else 1
    physics = SuperResolution(kernel, scale, channels)
    patch = int(cfg["patch_size"])
    if patch % scale:
        raise ValueError(f"patch_size {patch} must be a multiple of scale {scale}")
    if not fcfg.get("test"):
        raise ValueError("data.sr.folders.test must name at least one test folder")
    train = list_images(fcfg["train"], "train")
    if fcfg.get("val"):
        val = list_images(fcfg["val"], "val")
    else:
        n_val = int(fcfg.get("val_count", 1))
        if n_val >= len(train):
            raise DatasetFileError(f"{fcfg['train']}: {len(train)} images cannot spare {n_val} for validation")
        train, val = train[:-n_val], train[-n_val:]
    if fcfg.get("unlabelled"):
        unlabelled = list_images(fcfg["unlabelled"], "unlabelled")
    else:
        n_unl = int(fcfg.get("unlabelled_count") or max(1, round(0.1 * len(train))))
        if n_unl >= len(train):
            raise DatasetFileError(f"{fcfg['train']}: {len(train)} images cannot spare {n_unl} for the unlabelled split")
        train, unlabelled = train[:-n_unl], train[-n_unl:]
    cap = fcfg.get("max_images")
    if cap:
        train = train[: int(cap)]
    for other_name, other in (("val", val), ("unlabelled", unlabelled)):
        overlap = {p.resolve() for p in train} & {p.resolve() for p in other}
        if overlap:
            raise DatasetFileError(f"{sorted(overlap)[0]}: image in both train and {other_name}")
    lr_folder = Path(fcfg["train_lr"]).expanduser() if fcfg.get("train_lr") else None
    if lr_folder is not None and not lr_folder.is_dir():
        raise DatasetFileError(f"{lr_folder}: LR folder (train_lr) not found")
    tests = {name: list_images(folder, f"test set {name}", scale) for name, folder in fcfg["test"].items()}
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    noise = float(cfg.get("noise_std", 0.0))
    params = {"kernel": kernel, "scale": scale, "channels": channels}
    counts, writers, provenance = {}, {}, {}

    def measure(x: np.ndarray) -> np.ndarray:
        y = physics.forward(torch.from_numpy(x.astype(np.float32))[None])
        if noise > 0:
            y = y + noise * torch.randn(y.shape, generator=gen)
        return y[0].numpy()

    try:
        for split, images in (("train", train), ("val", val), ("unlabelled", unlabelled)):
            if split not in outputs:  # a shifted test set builds its split alone
                continue
            labelled = split != "unlabelled"  # the unlabelled split stores no target at all
            w = writers[split] = SplitWriter(outputs[split], "sr", split, params, with_target=labelled)
            use_lr = lr_folder is not None and split == "train"
            for path in images:
                img = read_image(path, colour)
                h, wd = img.shape[1] // scale * scale, img.shape[2] // scale * scale
                if min(h, wd) < patch:
                    raise DatasetFileError(f"{path}: image {img.shape[1]}x{img.shape[2]} is smaller than "
                                           f"patch_size {patch}")
                img = img[:, :h, :wd]
                lr = None
                if use_lr:
                    lr_path = _lr_path(lr_folder, path, scale)
                    lr = read_image(lr_path, colour)
                    if lr.shape[1:] != (h // scale, wd // scale):
                        raise DatasetFileError(f"{lr_path}: LR image is {lr.shape[1]}x{lr.shape[2]}, expected "
                                               f"{h // scale}x{wd // scale} (HR {path.name} / scale {scale})")
                n = int(cfg["patches_per_image"])
                # corners on the LR grid, so that LR patches from files line up with HR patches
                rows = rng.integers(0, (h - patch) // scale + 1, n) * scale
                cols = rng.integers(0, (wd - patch) // scale + 1, n) * scale
                for r, c in zip(rows, cols):
                    x = img[:, r : r + patch, c : c + patch]
                    if lr is None:
                        y = measure(x)
                    else:
                        y = lr[:, r // scale : (r + patch) // scale, c // scale : (c + patch) // scale]
                    w.add(y, x if labelled else None, f"{path.stem}@{r},{c}")
            counts[split] = len(w.names)
            provenance[split] = {"images": [p.name for p in images], "folder": str(images[0].parent),
                            "lr_folder": str(lr_folder) if use_lr else None,
                            "measurements": "LR files" if use_lr else "A x"}
        if "test" in outputs:
            w = writers["test"] = SplitWriter(outputs["test"], "sr", "test", params, group_kind="set")
            for name, images in tests.items():
                for path in images:
                    img = read_image(path, colour)
                    h, wd = img.shape[1] // scale * scale, img.shape[2] // scale * scale
                    if min(h, wd) < 2 * scale + SSIM_WINDOW:
                        raise DatasetFileError(f"{path}: test image {img.shape[1]}x{img.shape[2]} is too small to score "
                                               f"(needs at least {2 * scale + SSIM_WINDOW} pixels a side)")
                    x = img[:, :h, :wd]
                    w.add(measure(x), x, f"{name}/{path.stem}", group=name)
            counts["test"] = len(w.names)
            provenance["test"] = {"sets": {k: [p.name for p in v] for k, v in tests.items()},
                            "folders": {k: str(v) for k, v in fcfg["test"].items()}, "measurements": "A x"}
        common = {"source": "image folders (local files)", "scale": scale, "kernel": cfg["kernel"],
                  "sigma": cfg.get("sigma"), "colour": colour, "patch_size": patch, "noise_std": noise, "seed": seed}
        # every split built: only now do the files appear, all together
        commit_all(writers.values(), [{**common, **provenance[split]} for split in writers])
    finally:
        for w in writers.values():
            w.discard()
    return counts
