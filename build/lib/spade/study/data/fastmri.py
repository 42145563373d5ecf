"""fastMRI volumes as distributed (``.h5``, read from local disk, never downloaded).

Layout read (facebookresearch/fastMRI, ``fastmri/data/mri_data.py``):

```
kspace                 complex64  single-coil [slices, H, W], multi-coil [slices, coils, H, W]
reconstruction_esc     float32    [slices, h, w]   single-coil target (magnitude)
reconstruction_rss     float32    [slices, h, w]   multi-coil target (root sum of squares)
ismrmrd_header         bytes      ISMRMRD XML: encodedSpace / reconSpace matrixSize ...
attrs                  acquisition (e.g. AXT2, CORPD_FBK), max, norm, patient_id
```
``H`` is the readout (2x oversampled), ``W`` the phase encode. Files carrying a ``mask``
(the challenge/test sets) are undersampled and are refused: targets need full k-space.

Targets (the paper's): coil images ``ifft2c(kspace)`` centre-cropped (zero-padded where
smaller) to ``crop`` in image space, which also drops the readout oversampling;
coil maps from the central ``acs_lines x acs_lines`` calibration block of their k-space:
ESPIRiT (Uecker et al. 2014, sigpy's ``EspiritCalib``; the paper's maps, the default,
``coil_maps: espirit``) or the "ACS ratio" (``coil_maps: acs``: Hann-windowed
low-resolution coil images divided by their root sum of squares, so ``sum_c |S_c|^2 = 1``,
the estimator E2E-VarNet starts its sensitivity network from); the target is the coil combination
``x = sum_c conj(S_c) coil_c``, a complex image, normalised to maximum magnitude 1 per
slice or per volume. Measurements are ``y = M F S x`` (``simulated``, noise-free as in
the paper, plus optional noise) or the acquired k-space itself, cropped and normalised
(``acquired``). Volumes (files), never slices, are assigned to splits.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import torch

from spade.study.config import definition_defaults
from spade.study.data.h5 import DatasetFileError, SplitWriter, commit_all
from spade.log import Heartbeat
from spade.physics import make_physics
from spade.physics.masks import file_rng, make_mask
from spade.physics.mri import centred_fft2, centred_ifft2
from spade.study.registry import DATASET_SPLITS as SPLITS

# Without a `split.unlabelled` fraction (or an `unlabelled` root folder), this share of the
# training volumes becomes the unlabelled split (measurements only, for the label-free
# fine-tuning strategies), so the base model never trains on it.
UNLABELLED_FRACTION = 0.1
TARGET_KEY = {"singlecoil": "reconstruction_esc", "multicoil": "reconstruction_rss"}
KSPACE_DIMS = {"singlecoil": 3, "multicoil": 4}
ISMRMRD_NS = "{http://www.ismrm.org/ISMRMRD}"


# --------------------------------------------------------------------- reading, validation


def parse_header(xml: bytes | str, path) -> dict:
    """Matrix sizes of the ISMRMRD header: ``encoded`` and ``recon`` ``(x, y, z)``."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise DatasetFileError(f"{path}: 'ismrmrd_header' is not valid XML ({err})") from err
    out = {}
    for key, space in (("encoded", "encodedSpace"), ("recon", "reconSpace")):
        node = root.find(f"{ISMRMRD_NS}encoding/{ISMRMRD_NS}{space}/{ISMRMRD_NS}matrixSize")
        if node is None:
            raise DatasetFileError(f"{path}: 'ismrmrd_header' has no encoding/{space}/matrixSize")
        try:
            out[key] = tuple(int(node.find(f"{ISMRMRD_NS}{a}").text) for a in ("x", "y", "z"))
        except (AttributeError, TypeError, ValueError) as err:
            raise DatasetFileError(f"{path}: 'ismrmrd_header' {space}/matrixSize lacks an integer x, y or z") from err
    return out


def _open(path) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"{path}: fastMRI file not found")
    try:
        return h5py.File(path, "r")
    except OSError as err:  # truncated or corrupt files fail here (or on the first read)
        raise DatasetFileError(f"{path}: not a readable HDF5 file, truncated or corrupt? ({err})") from err


def scan(path, challenge: str) -> dict:
    """Check a file's layout without reading k-space; returns its metadata."""
    if challenge not in KSPACE_DIMS:
        raise ValueError(f"unknown challenge {challenge!r}; expected one of {sorted(KSPACE_DIMS)}")
    with _open(path) as f:
        try:
            if "mask" in f:
                raise DatasetFileError(f"{path}: holds a 'mask': an undersampled challenge/test file; "
                                       "targets need fully sampled k-space (use the train/val files)")
            for key in ("kspace", TARGET_KEY[challenge], "ismrmrd_header"):
                if key not in f:
                    raise DatasetFileError(f"{path}: missing key '{key}' expected in a fastMRI {challenge} file")
            k = f["kspace"]
            if not np.issubdtype(k.dtype, np.complexfloating) or k.ndim != KSPACE_DIMS[challenge]:
                expected = "[slices, H, W]" if challenge == "singlecoil" else "[slices, coils, H, W]"
                raise DatasetFileError(f"{path}: 'kspace' is {k.dtype} {k.shape}, expected complex {expected}")
            rec = f[TARGET_KEY[challenge]]
            if not np.issubdtype(rec.dtype, np.floating) or rec.ndim != 3 or rec.shape[0] != k.shape[0]:
                raise DatasetFileError(f"{path}: '{TARGET_KEY[challenge]}' is {rec.dtype} {rec.shape}, expected "
                                       f"float [{k.shape[0]}, h, w] (one image per k-space slice)")
            if min(k.shape) < 1:
                raise DatasetFileError(f"{path}: 'kspace' is empty {k.shape}")
            for attr in ("acquisition", "max", "norm"):
                if attr not in f.attrs:
                    raise DatasetFileError(f"{path}: missing attribute '{attr}' expected in a fastMRI file")
            raw = f["ismrmrd_header"][()]
            header = parse_header(raw.tobytes() if isinstance(raw, np.ndarray) else raw, path)
            acquisition = f.attrs["acquisition"]
            return {"path": Path(path), "acquisition": acquisition.decode() if isinstance(acquisition, bytes)
                    else str(acquisition), "shape": tuple(k.shape), "header": header,
                    "max": float(f.attrs["max"]), "norm": float(f.attrs["norm"]),
                    "patient_id": str(f.attrs.get("patient_id", ""))}
        except OSError as err:
            raise DatasetFileError(f"{path}: unreadable, truncated or corrupt ({err})") from err


def read_slices(path, challenge: str, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kspace [S, C, H, W] complex128, reconstruction [S, h, w])`` of slices ``[first, last)``."""
    with _open(path) as f:
        try:
            k = f["kspace"][first:last]
            rec = f[TARGET_KEY[challenge]][first:last]
        except OSError as err:
            raise DatasetFileError(f"{path}: unreadable, truncated or corrupt ({err})") from err
    for key, arr in (("kspace", k), (TARGET_KEY[challenge], rec)):
        if not np.isfinite(arr).all():
            raise DatasetFileError(f"{path}: '{key}' holds NaN or inf values (slices {first}-{last - 1})")
    if challenge == "singlecoil":
        k = k[:, None]
    return k.astype(np.complex128), rec


# --------------------------------------------------------------------- targets


def fft2c(x: np.ndarray) -> np.ndarray:
    """The operators' centred orthonormal 2-D FFT over the last two axes
    (:func:`spade.physics.mri.centred_fft2`, its one home) of a NumPy array, in its precision."""
    return centred_fft2(torch.from_numpy(np.ascontiguousarray(x))).numpy()


def ifft2c(k: np.ndarray) -> np.ndarray:
    """Inverse of :func:`fft2c` (:func:`spade.physics.mri.centred_ifft2`)."""
    return centred_ifft2(torch.from_numpy(np.ascontiguousarray(k))).numpy()


def crop_or_pad(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Centre crop (or zero-pad, where smaller) the last two axes to ``shape``, with the
    centre at index ``n // 2`` as fftshift puts it."""
    out = np.zeros(x.shape[:-2] + tuple(shape), dtype=x.dtype)
    src, dst = [], []
    for n, m in zip(x.shape[-2:], shape):
        if n >= m:
            s = n // 2 - m // 2
            src.append(slice(s, s + m))
            dst.append(slice(0, m))
        else:
            d = m // 2 - n // 2
            src.append(slice(0, n))
            dst.append(slice(d, d + n))
    out[(..., *dst)] = x[(..., *src)]
    return out


def estimate_coil_maps(coil_kspace: np.ndarray, acs_lines: int) -> np.ndarray:
    """Coil maps ``[..., C, H, W]`` from the central ``acs x acs`` block of fully sampled
    coil k-space: Hann-windowed (against ringing) low-resolution coil images divided by
    their root sum of squares, so that ``sum_c |S_c|^2 = 1`` at every pixel."""
    h, w = coil_kspace.shape[-2:]
    acs = int(min(acs_lines, h, w))
    if acs < 2:
        raise ValueError(f"acs_lines must be >= 2, got {acs_lines}")
    window = np.zeros((h, w))
    hann = np.hanning(acs + 2)[1:-1]  # strictly positive taps over the block
    r0, c0 = h // 2 - acs // 2, w // 2 - acs // 2
    window[r0 : r0 + acs, c0 : c0 + acs] = np.outer(hann, hann)
    low = ifft2c(coil_kspace * window)
    rss = np.sqrt((np.abs(low) ** 2).sum(axis=-3, keepdims=True))
    # outside the object the RSS is tiny but non-zero; a floor relative to its maximum
    # keeps the division finite without biasing the object region
    floor = 1e-6 * rss.max(axis=(-3, -2, -1), keepdims=True) + 1e-30
    maps = low / np.maximum(rss, floor)
    return maps / np.sqrt((np.abs(maps) ** 2).sum(axis=-3, keepdims=True)).clip(1e-30)


# ESPIRiT's settings (sigpy's defaults but for the calibration width, which is the ACS block):
# the kernel, the threshold on the calibration matrix's singular values (relative to the
# largest) and the eigenvalue crop that zeroes the maps outside the object
ESPIRIT = {"kernel_width": 6, "thresh": 0.02, "crop": 0.95, "max_iter": 100}
COIL_MAPS = ("espirit", "acs")


def espirit_coil_maps(coil_kspace: np.ndarray, acs_lines: int, **options) -> np.ndarray:
    """ESPIRiT coil maps ``[..., C, H, W]`` of fully sampled coil k-space, one slice at a
    time (sigpy's ``EspiritCalib`` on the central ``acs_lines`` calibration block, on the
    CPU): the leading eigenvector maps, ``sum_c |S_c|^2 = 1`` inside the object and 0 where
    the eigenvalue falls below ``crop`` (outside it)."""
    from sigpy.mri.app import EspiritCalib

    settings = {**ESPIRIT, **options}
    h, w = coil_kspace.shape[-2:]
    acs = int(min(acs_lines, h, w))
    if acs < settings["kernel_width"] + 1:
        raise ValueError(f"acs_lines must exceed ESPIRiT's kernel width {settings['kernel_width']}, got {acs_lines}")
    flat = coil_kspace.reshape(-1, *coil_kspace.shape[-3:])
    maps = np.stack([EspiritCalib(np.ascontiguousarray(k, dtype=np.complex64), calib_width=acs,
                                  show_pbar=False, **settings).run() for k in flat])
    return maps.reshape(coil_kspace.shape).astype(np.complex64)


def coil_maps(coil_kspace: np.ndarray, acs_lines: int, method: str = "espirit") -> np.ndarray:
    """Coil maps by ``method``: ``espirit`` (:func:`espirit_coil_maps`) or ``acs``
    (:func:`estimate_coil_maps`)."""
    if method == "espirit":
        return espirit_coil_maps(coil_kspace, acs_lines)
    if method == "acs":
        return estimate_coil_maps(coil_kspace, acs_lines)
    raise ValueError(f"data.mri.fastmri.coil_maps: {method!r}, expected one of {COIL_MAPS}")


def coil_combine(coil_images: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """``sum_c conj(S_c) coil_c`` over the coil axis (-3)."""
    return (np.conj(maps) * coil_images).sum(axis=-3)


def compress_coils(kspace: np.ndarray, virtual: int) -> np.ndarray:
    """SVD coil compression (Buehrer et al. 2007; Huang et al. 2008): ``kspace [S, C, H, W]``
    projected on the ``virtual`` principal coil combinations of the volume, so that
    volumes acquired with different coil arrays stack into one batch."""
    coils = kspace.shape[1]
    data = np.moveaxis(kspace, 1, 0).reshape(coils, -1)
    _, vectors = np.linalg.eigh(data @ data.conj().T)  # ascending eigenvalues
    basis = vectors[:, ::-1][:, :virtual]
    return np.einsum("cv,schw->svhw", basis.conj(), kspace)


def build_targets(kspace: np.ndarray, crop: tuple[int, int], acs_lines: int, method: str = "espirit") -> dict:
    """Complex targets ``[S, H, W]``, cropped coil k-space ``[S, C, H, W]`` and coil maps
    (None for one coil; ``method``: :func:`coil_maps`) of fully sampled ``kspace [S, C, H', W']``."""
    coil_images = crop_or_pad(ifft2c(kspace), crop)
    coil_kspace = fft2c(coil_images)
    if kspace.shape[1] == 1:
        return {"x": coil_images[:, 0], "kspace": coil_kspace, "maps": None}
    maps = coil_maps(coil_kspace, acs_lines, method)
    return {"x": coil_combine(coil_images, maps), "kspace": coil_kspace, "maps": maps}


# --------------------------------------------------------------------- selection, splits


def list_files(folders, what: str) -> list[Path]:
    """The ``.h5`` files of ``folders`` (a path or a list of paths), sorted by name."""
    if isinstance(folders, (str, Path)):
        folders = [folders]
    files = []
    for folder in folders:
        folder = Path(folder).expanduser()
        if not folder.exists():
            raise DatasetFileError(f"{folder}: fastMRI folder ({what}) not found")
        if folder.is_file():
            files.append(folder)
            continue
        found = sorted(folder.glob("*.h5"))
        if not found:
            raise DatasetFileError(f"{folder}: no .h5 files in this fastMRI folder ({what})")
        files += found
    return sorted(set(files), key=lambda p: (p.name, str(p)))


def split_volumes(files: list, fractions: dict, seed: int) -> dict[str, list]:
    """Assign whole volumes to splits: a seeded shuffle cut by ``fractions``; val, test
    and unlabelled get at least one volume each (unlabelled: ``UNLABELLED_FRACTION`` of
    the whole when ``fractions`` has no ``unlabelled``)."""
    n = len(files)
    if n < 4:
        raise DatasetFileError(f"{n} fastMRI volume(s) selected; at least 4 are needed for train/val/test/"
                               f"unlabelled ({', '.join(str(f) for f in files) or 'none'})")
    order = np.random.default_rng(seed).permutation(n)
    fractions = {"unlabelled": UNLABELLED_FRACTION * sum(float(fractions[s]) for s in SPLITS[:3]), **fractions}
    total = sum(float(fractions[s]) for s in SPLITS)
    sizes = {s: max(1, int(round(n * float(fractions[s]) / total))) for s in SPLITS[1:]}
    n_train = n - sum(sizes.values())
    if n_train < 1:
        raise DatasetFileError(f"{n} fastMRI volumes are too few for the split fractions {fractions}")
    picked = [files[i] for i in order]
    out, start = {"train": sorted(picked[:n_train], key=str)}, n_train
    for s in SPLITS[1:]:
        out[s] = sorted(picked[start : start + sizes[s]], key=str)
        start += sizes[s]
    return out


def select_splits(fcfg: dict, seed: int) -> dict[str, list[dict]]:
    """Scanned metadata of the volumes of each split, filtered by acquisition."""
    challenge, wanted, root = fcfg["challenge"], fcfg["acquisitions"], fcfg["root"]
    if isinstance(root, dict):  # the user's own split folders (e.g. fastMRI's train and val)
        files = {s: list_files(root[s], s) for s in SPLITS if s in root}
    else:
        files = {"all": list_files(root, "root")}
    scanned = {k: [scan(p, challenge) for p in v] for k, v in files.items()}
    if wanted:
        scanned = {k: [m for m in v if m["acquisition"] in wanted] for k, v in scanned.items()}
    for k, v in scanned.items():
        if not v:
            raise DatasetFileError(f"no fastMRI {challenge} volume with acquisition in {wanted} among "
                                   f"{len(files[k])} files of {root if k == 'all' else root[k]}")
    if "all" in scanned:
        by_path = {m["path"]: m for m in scanned["all"]}
        parts = split_volumes(sorted(by_path), fcfg["split"], seed)
        scanned = {s: [by_path[p] for p in parts[s]] for s in SPLITS}
    else:
        if "unlabelled" not in scanned:  # carved from the training volumes: never trained on
            train = sorted(scanned["train"], key=lambda m: str(m["path"]))
            if len(train) < 2:
                raise DatasetFileError(f"{root['train']}: at least 2 training volumes are needed to carve an "
                                       "unlabelled split from them (or give root.unlabelled)")
            n_unl = max(1, int(round(len(train) * UNLABELLED_FRACTION)))
            order = np.random.default_rng(seed).permutation(len(train))
            scanned["unlabelled"] = [train[i] for i in sorted(order[:n_unl])]
            scanned["train"] = [train[i] for i in sorted(order[n_unl:])]
        seen: dict = {}
        for s in SPLITS:
            for m in scanned[s]:
                if m["path"].name in seen and seen[m["path"].name] != s:
                    raise DatasetFileError(f"{m['path']}: volume {m['path'].name} is in both {seen[m['path'].name]} "
                                           f"and {s}: a volume must be in one split only")
                seen[m["path"].name] = s
    caps = fcfg["max_volumes"] or {}
    for s in SPLITS:
        if caps.get(s):  # a seeded subset, so a smaller study still spans the data
            keep = np.random.default_rng(seed + SPLITS.index(s) + 1).permutation(len(scanned[s]))[: int(caps[s])]
            scanned[s] = [scanned[s][i] for i in sorted(keep)]
    return scanned


# --------------------------------------------------------------------- the builder


def build_fastmri(cfg: dict, seed: int, outputs: dict[str, str]) -> dict:
    """Splits of fastMRI volumes; ``cfg`` is the config's ``data.mri`` (``acceleration``,
    ``center_fraction``, ``noise_std``, and the ``fastmri`` block, its defaults filled in by
    the config schema, their one home)."""
    fcfg = {**definition_defaults("fastmri"), **cfg["fastmri"]}
    challenge = fcfg["challenge"]
    crop = tuple(int(v) for v in fcfg["crop"])
    acs = int(fcfg["acs_lines"])
    maps_method = fcfg["coil_maps"]
    kind = fcfg["mask"]
    accel, cf = float(cfg["acceleration"]), float(cfg["center_fraction"])
    normalise = fcfg["normalise"]
    measurements = fcfg["measurements"]
    first, last = fcfg["slices"]
    virtual = fcfg["coils"]  # None: keep the acquired coils
    noise = float(cfg["noise_std"])
    if normalise not in ("volume", "slice") or measurements not in ("simulated", "acquired"):
        raise ValueError(f"normalise must be volume|slice and measurements simulated|acquired, "
                         f"got {normalise!r}, {measurements!r}")
    volumes = select_splits(fcfg, seed)
    fixed = make_mask("fixed", crop, accel, cf) if kind == "fixed" else None
    gen = torch.Generator().manual_seed(seed)
    counts, writers, provenance, n_coils = {}, {}, {}, {}
    beat = Heartbeat("fastMRI build", sum(len(volumes[s]) for s in SPLITS), logging.getLogger("spade").info,
                     unit="volume")
    try:
        for split in SPLITS:
            if split not in outputs:  # a shifted test set builds its split alone
                continue
            physics_params = {"mask": fixed} if fixed is not None else {}
            labelled = split != "unlabelled"  # the unlabelled split stores no target at all
            writer = writers[split] = SplitWriter(outputs[split], "mri", split, physics_params, group_kind="volume",
                                                  with_target=labelled)
            records = []
            for meta in volumes[split]:
                path = meta["path"]
                n_slices = meta["shape"][0]
                lo, hi = int(first), n_slices if last is None else min(int(last), n_slices)
                if lo < 0:
                    lo = max(0, n_slices + lo)
                if hi <= lo:
                    raise DatasetFileError(f"{path}: no slice in the range {fcfg['slices']} ({n_slices} slices)")
                kspace, rec = read_slices(path, challenge, lo, hi)
                if challenge == "multicoil":
                    if virtual:
                        if kspace.shape[1] < int(virtual):
                            raise DatasetFileError(f"{path}: {kspace.shape[1]} coils, fewer than the {virtual} "
                                                   "virtual coils asked for (data.mri.fastmri.coils)")
                        kspace = compress_coils(kspace, int(virtual))
                    n_coils.setdefault(kspace.shape[1], path)
                    other = next((c for c in n_coils if c != kspace.shape[1]), None)
                    if other is not None:
                        raise DatasetFileError(f"{path}: {kspace.shape[1]} coils, but {n_coils[other]} has {other}: "
                                               "batches need one coil count; set data.mri.fastmri.coils to "
                                               "compress every volume to that many virtual coils")
                t = build_targets(kspace, crop, acs, maps_method)
                x = t["x"]
                scale = np.abs(x).max(axis=(-2, -1), keepdims=True)
                if normalise == "volume":
                    scale = np.full_like(scale, scale.max())
                if not (scale > 0).all():
                    raise DatasetFileError(f"{path}: a slice in {lo}-{hi - 1} has all-zero k-space")
                x = x / scale
                mask = fixed if fixed is not None else make_mask(kind, crop, accel, cf, file_rng(seed, path.name))
                agreement = _agreement(np.abs(t["x"]), rec, crop)
                for j in range(x.shape[0]):
                    xr = torch.from_numpy(np.stack([x[j].real, x[j].imag]).astype(np.float32))[None]
                    per = {} if fixed is not None else {"mask": mask}
                    if t["maps"] is not None:
                        m = t["maps"][j]
                        per["sens"] = np.stack([m.real, m.imag], axis=1).astype(np.float32)
                    op = make_physics("mri", {"mask": mask, **({"sens": per["sens"]} if "sens" in per else {})})
                    if measurements == "simulated":
                        y = op.forward(xr)
                    else:  # the acquired k-space, cropped with the image and scaled with the target
                        k = t["kspace"][j] / scale[j]
                        k = torch.from_numpy(np.stack([k.real, k.imag], axis=-3).astype(np.float32))
                        y = (k * torch.from_numpy(mask))[None]  # [1, C, 2, H, W]
                        if challenge == "singlecoil":
                            y = y[:, 0]
                    if noise > 0:
                        y = y + op.mask * noise * torch.randn(y.shape, generator=gen)
                    writer.add(y[0].numpy(), xr[0].numpy() if labelled else None, f"{path.stem}/s{lo + j:03d}", per,
                               group=path.stem)
                records.append({"file": path.name, "acquisition": meta["acquisition"], "slices": [lo, hi],
                                "kspace_shape": list(meta["shape"]), "header": meta["header"],
                                "attr_max": meta["max"], "attr_norm": meta["norm"],
                                "sampled_fraction": float(mask.mean()),
                                "target_vs_reconstruction_rel_error": agreement})
                beat.step()
            counts[split] = len(writer.names)
            if not counts[split]:
                raise DatasetFileError(f"the {split} split of {fcfg['root']} holds no slice")
            provenance[split] = {
                "source": f"fastMRI {challenge} (local files)", "volumes": records, "crop": list(crop),
                "coil_maps": ({"espirit": f"ESPIRiT (sigpy EspiritCalib, {ESPIRIT})",
                               "acs": "ACS ratio: Hann-windowed central block, divided by RSS"}[maps_method]
                              if challenge == "multicoil" else None), "acs_lines": acs, "mask": kind, "acceleration": accel, "center_fraction": cf,
                "mask_seed": "per file: sha256(seed, file name)" if kind != "fixed" else None,
                "normalisation": f"per {normalise}: maximum target magnitude = 1",
                "coil_compression": f"SVD to {virtual} virtual coils" if virtual else None,
                "measurements": measurements, "noise_std": noise, "seed": seed, "split_by": "volume",
            }
        # every split built: only now do the files appear, all together
        commit_all(writers.values(), [provenance[split] for split in writers])
    finally:
        for writer in writers.values():
            writer.discard()
    return counts


def _agreement(magnitude: np.ndarray, rec: np.ndarray, crop) -> float | None:
    """Mean relative difference between the target's magnitude (before normalisation)
    and the file's own reconstruction, where their sizes match: a check on the reading."""
    if tuple(rec.shape[-2:]) != tuple(crop):
        return None
    ref = np.asarray(rec, dtype=np.float64)
    return float(np.linalg.norm(magnitude - ref) / max(np.linalg.norm(ref), 1e-30))
