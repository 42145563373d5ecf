"""Shared fixtures: tiny dataset files in the pipeline's own layout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from spade.study.data import write_split
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


TINY_DU = {"prior": {"name": "edsr", "features": 8, "blocks": 1}, "steps": 2, "step_size": 1.0}
TINY_OPTS = {"epochs": 1, "batch_size": 4, "lr": 2e-3, "loss": "l1", "selfsup": {"mri": "ei"},
             "ssdu": {"loss_fraction": 0.4, "center_fraction": 0.1}, "ei": {"weight": 1.0, "rotate": True},
             "distill": {"weight": 1.0}, "recipes": {"budget": 3},
             # label-free fits watch their own loss here (the schema's default watches held-out scores)
             "label_free": {"monitor": {"mri": "loss", "sr": "loss"}}}


@pytest.fixture
def pruned_du(mri_files, tmp_path):
    """A tiny MRI du trained 2 epochs, an unlabelled split (the training measurements
    without /x) and the du pruned at 0.5 (l1) with it: what fine-tuning starts from."""
    from spade.study.data import H5Split, read_physics, write_split
    from spade.study.stages import prune, train_unpruned

    unpruned, pruned = tmp_path / "unpruned.pt", tmp_path / "pruned.pt"
    train_unpruned("mri", "du", TINY_DU, {**TINY_OPTS, "epochs": 2}, 0, 1, mri_files["train"], mri_files["val"],
                   unpruned, tmp_path / "h.csv", tmp_path / "s.pt")
    source = H5Split(mri_files["train"], True)
    task, params = read_physics(mri_files["train"])
    write_split(tmp_path / "unlabelled.h5", task, "unlabelled", source.y, None, source.names, params, {})
    prune(unpruned, tmp_path / "unlabelled.h5", 0.5, "l1", 0, pruned)
    return {**mri_files, "unpruned": unpruned, "pruned": pruned, "unlabelled": tmp_path / "unlabelled.h5"}


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


# ------------------------------------------------------------------ fastMRI-format files

ISMRMRD_HEADER = """<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <encoding>
    <encodedSpace><matrixSize><x>{ex}</x><y>{ey}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>440</x><y>220</y><z>7.5</z></fieldOfView_mm></encodedSpace>
    <reconSpace><matrixSize><x>{rx}</x><y>{ry}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>220</x><y>220</y><z>7.5</z></fieldOfView_mm></reconSpace>
    <encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{ey1}</maximum>
      <center>{eyc}</center></kspace_encoding_step_1></encodingLimits>
  </encoding>
</ismrmrdHeader>"""


def fastmri_volume(slices: int, shape=(32, 20), recon=(16, 16), coils: int = 4, seed: int = 0):
    """``(kspace [S, C, H, W] complex64, maps [C, H, W], objects [S, H, W])``: smooth
    objects inside the central ``recon`` field of view (the readout is 2x oversampled,
    as in fastMRI), coil images ``S_c x`` with known smooth maps."""
    from spade.physics.mri import simulate_coil_maps

    h, w = shape
    objects = np.zeros((slices, h, w))
    r0, c0 = h // 2 - recon[0] // 2, w // 2 - recon[1] // 2
    for s, img in enumerate(_smooth_images(slices, min(recon), seed)):
        objects[s, r0 : r0 + recon[0], c0 : c0 + recon[1]] = img[: recon[0], : recon[1]]
    maps = simulate_coil_maps(coils, shape, seed)
    maps = maps[:, 0] + 1j * maps[:, 1]
    coil_images = maps[None] * objects[:, None]
    kspace = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coil_images, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    return kspace.astype(np.complex64), maps, objects


def write_fastmri_file(path, challenge: str = "multicoil", slices: int = 3, shape=(32, 20), recon=(16, 16),
                       coils: int = 4, acquisition: str = "AXT2", seed: int = 0) -> None:
    """A file in fastMRI's exact layout: complex64 ``kspace``, float32
    ``reconstruction_rss`` (multi-coil) or ``reconstruction_esc`` (single-coil), attrs
    ``acquisition, max, norm, patient_id`` and an ``ismrmrd_header`` XML."""
    import h5py

    kspace, _, _ = fastmri_volume(slices, shape, recon, 1 if challenge == "singlecoil" else coils, seed)
    images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    h, w = shape
    r0, c0 = h // 2 - recon[0] // 2, w // 2 - recon[1] // 2
    images = images[..., r0 : r0 + recon[0], c0 : c0 + recon[1]]
    rec = np.sqrt((np.abs(images) ** 2).sum(1)).astype(np.float32)
    header = ISMRMRD_HEADER.format(ex=h, ey=w, rx=recon[0], ry=recon[1], ey1=w - 1, eyc=w // 2)
    with h5py.File(path, "w") as f:
        if challenge == "singlecoil":
            f.create_dataset("kspace", data=kspace[:, 0])
            f.create_dataset("reconstruction_esc", data=rec)
        else:
            f.create_dataset("kspace", data=kspace)
            f.create_dataset("reconstruction_rss", data=rec)
        f.create_dataset("ismrmrd_header", data=header.encode())
        f.attrs["acquisition"] = acquisition
        f.attrs["max"] = float(rec.max())
        f.attrs["norm"] = float(np.linalg.norm(rec))
        f.attrs["patient_id"] = f"p{seed:04d}"


def write_fastmri_folder(folder, n: int, challenge: str = "multicoil", acquisitions=("AXT2",), **kw):
    """``n`` volumes named like fastMRI's (``file_brain_AXT2_200_<id>.h5``)."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        acq = acquisitions[i % len(acquisitions)]
        p = folder / f"file_brain_{acq}_200_{6000 + i}.h5"
        write_fastmri_file(p, challenge, acquisition=acq, seed=i, **kw)
        paths.append(p)
    return paths


# The tiny study, run once per session: tests/test_workflow.py checks it, and
# tests/test_slurm.py compares the same study run through SLURM against it.
ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / ".test" / "config" / "config.yaml"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def snakemake(*args, cwd=ROOT, timeout=1200, env=None):
    """Run the project's workflow with ``args``; the completed process."""
    cmd = [str(SNAKEMAKE), "-s", str(ROOT / "workflow" / "Snakefile"), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny")
    res = snakemake("--cores", "2", "--configfile", str(TINY), "--directory", str(work))
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]
    rep = snakemake("--configfile", str(TINY), "--directory", str(work), "--report", str(work / "results/report.html"))
    assert rep.returncode == 0, rep.stdout[-3000:] + rep.stderr[-3000:]
    return work


# The tiny extended study (config/extended.yaml's features on the SR du of the tiny config):
# criteria and allocation, a recipe (distillation with iterative pruning), a speed target,
# shifted test sets, at exact widths (round_to null, as config/extended.yaml: global allocation
# needs them). Its l1 rows repeat part of
# the tiny study from nothing, so tests/test_reliability.py compares the two runs.
EXTENDED = ("tasks=[sr]", "archs=[du]", "ratios=[0.5]", "strategies=[school,distill-iter]",
            "first_criterion_only=[distill-iter]", "finetune={'recipes': {'budget': 2}}", "scratch_ratios=[]",
            "criteria=[l1,taylor_global]", "target_speedups=[1.05]", "round_to=null",
            "target_search={'grid': [0.5, 0.75], 'warmup': 1, 'repeats': 5}",
            "shifts={'sr': {'noise': {'noise_std': 0.05}}}",
            "seeds={'repeat': [3], 'ratios': [0.5], 'strategies': ['school']}")


@pytest.fixture(scope="session")
def extended_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("extended")
    res = snakemake("--cores", "2", "--configfile", str(TINY), "--config", *EXTENDED, "--directory", str(work))
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]
    return work


# Tests that run a study end to end (through these fixtures) are slow: `make test-fast`
# (pytest -m "not workflow") leaves them out.
STUDY_FIXTURES = {"tiny_run", "real_run", "slurm_run", "extended_run"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if STUDY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.workflow)


# ------------------------------------------------------------------ helpers several test modules share

def photo(h, w, seed):
    """A smooth colour test picture (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    chans = [0.5 + 0.4 * np.sin(rng.uniform(3, 12) * yy + rng.uniform(3, 12) * xx + rng.uniform(0, 6))
             for _ in range(3)]
    return (np.stack(chans, -1) * 255).round().astype(np.uint8)


def write_images(folder, n, size=(40, 44), seed=0, fmt="png", gray=()):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = photo(*size, seed + i)
        if i in gray:
            img = img[..., 0]
        p = folder / f"{i + 1:04d}.{fmt}"
        Image.fromarray(img).save(p)
        paths.append(p)
    return paths


def corrupt(folder, name, how):
    """Damage volume ``name`` of ``folder`` in one way."""
    path = folder / name
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "corrupt":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    else:
        with h5py.File(path, "a") as f:
            if how == "no_kspace":
                del f["kspace"]
            elif how == "no_target":
                del f["reconstruction_rss"]
            elif how == "no_header":
                del f["ismrmrd_header"]
            elif how == "no_attr":
                del f.attrs["acquisition"]
            elif how == "dtype":
                k = np.abs(f["kspace"][()])
                del f["kspace"]
                f["kspace"] = k.astype(np.float32)
            elif how == "shape":
                k = f["kspace"][()][:, 0]
                del f["kspace"]
                f["kspace"] = k
            elif how == "nan":
                f["kspace"][1, 0, 3, 3] = np.nan
            elif how == "inf":
                f["reconstruction_rss"][0, 2, 2] = np.inf
            elif how == "undersampled":
                f["mask"] = np.ones(20, dtype=np.float32)
    return path


def job_counts(text):
    """Job stats of a dry run: {rule: count}."""
    block = text[text.index("Job stats:"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", block, re.M)}
