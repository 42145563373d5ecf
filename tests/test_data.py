import json

import h5py
import numpy as np
import pytest

from spade.study.data import DatasetFileError, H5Split, read_physics
from spade.study.data.embedded import build_dataset, slab_splits

from conftest import write_mri_split


def test_slab_splits_keep_neighbours_together():
    splits = slab_splits(range(100), 8, 2, ["train", "train", "train", "val", "test"])
    owner = {z: s for s, zs in splits.items() for z in zs}
    assert len(owner) == sum(len(v) for v in splits.values()), "no slice in two splits"
    for z in owner:
        for nb in (z - 1, z + 1):
            assert owner.get(nb, owner[z]) == owner[z], f"slices {z} and {nb} straddle two splits"
    assert all(splits[s] for s in ("train", "val", "test"))
    # every split spans the volume rather than one end of it
    assert min(splits["test"]) < 50 < max(splits["test"])


def test_mri_builder_writes_provenance_and_consistent_measurements(tmp_path):
    cfg = {"slices": [70, 110], "image_size": 24, "slab": 4, "gap": 1, "split_pattern": ["train", "train", "unlabelled"],
           "acceleration": 4, "center_fraction": 0.1, "noise_std": 0.0}
    out = {s: tmp_path / f"{s}.h5" for s in ("train", "val", "test")}
    counts = build_dataset("mri", cfg, 3, out)
    assert counts == {"train": 10, "val": 8, "test": 10} or sum(counts.values()) > 20
    with h5py.File(out["train"]) as f:
        prov = json.loads(f.attrs["provenance"])
        assert prov["seed"] == 3 and prov["acceleration"] == 4 and prov["slices"]
        assert "MNI" in prov["source"]
        assert all(len(h) == 64 for src in prov["sources"].values() for h in src["files"].values())
    task, params = read_physics(out["test"])
    assert task == "mri" and params["mask"].shape == (24, 24)
    from spade.physics import make_physics

    physics = make_physics(task, params)
    data = H5Split(out["test"], True)
    import torch

    y, x = data[0]
    assert torch.allclose(physics.forward(x[None])[0], y, atol=1e-5), "y = A x (noise-free)"
    assert float(x.max()) <= 1.0 + 1e-6 and float(x[1].abs().max()) == 0.0


SR_SPLITS = ("train", "val", "test", "unlabelled")


def test_sr_builder_patches_and_whole_test_images(tmp_path):
    cfg = {"scale": 2, "kernel": "bicubic", "sigma": None, "hr_downscale": 4, "patch_size": 16,
           "patches_per_image": 3, "noise_std": 0.01,
           "images": {"train": ["brick", "moon"], "val": ["rocket"], "test": ["camera"], "unlabelled": ["coins"]}}
    out = {s: tmp_path / f"{s}.h5" for s in SR_SPLITS}
    assert build_dataset("sr", cfg, 0, out) == {"train": 6, "val": 3, "test": 1, "unlabelled": 3}
    with h5py.File(out["unlabelled"]) as f:  # measurements only: no ground truth is stored
        assert "x" not in f and len(f["y"]) == 3
    y, x = H5Split(out["test"], True)[0]
    assert x.shape == (1, 128, 128) and y.shape == (1, 64, 64)
    y, x = H5Split(out["train"], True)[0]
    assert x.shape == (1, 16, 16) and y.shape == (1, 8, 8)
    # same seed, same bytes
    again = {s: tmp_path / f"again_{s}.h5" for s in SR_SPLITS}
    build_dataset("sr", cfg, 0, again)
    a, b = H5Split(out["train"], True), H5Split(again["train"], True)
    assert all(np.array_equal(p, q) for p, q in zip(a.y, b.y))


def test_patch_larger_than_image_is_refused(tmp_path):
    cfg = {"scale": 2, "kernel": "bicubic", "sigma": None, "hr_downscale": 16, "patch_size": 48,
           "patches_per_image": 1, "noise_std": 0.0,
           "images": {"train": ["page"], "val": ["page"], "test": ["page"], "unlabelled": ["page"]}}
    with pytest.raises(ValueError, match="smaller than patch_size"):
        build_dataset("sr", cfg, 0, {s: tmp_path / f"{s}.h5" for s in SR_SPLITS})
    assert not list(tmp_path.glob("*.h5*")), "no partial output"


def test_a_split_failing_to_write_leaves_no_split_behind(tmp_path, monkeypatch):
    """Splits go into place together: a full disk while the last one is written leaves none
    of them (and no temporary file), not the first three."""
    import errno

    from spade.study.data.h5 import SplitWriter

    finish, calls = SplitWriter.finish, []

    def full_disk_on_last(self, provenance):
        calls.append(self.path.name)
        if len(calls) == len(SR_SPLITS):
            raise OSError(errno.ENOSPC, "No space left on device", str(self.tmp))
        finish(self, provenance)

    monkeypatch.setattr(SplitWriter, "finish", full_disk_on_last)
    cfg = {"scale": 2, "kernel": "bicubic", "sigma": None, "hr_downscale": 4, "patch_size": 16,
           "patches_per_image": 1, "noise_std": 0.0,
           "images": {"train": ["moon"], "val": ["rocket"], "test": ["camera"], "unlabelled": ["coins"]}}
    with pytest.raises(OSError, match="No space left"):
        build_dataset("sr", cfg, 0, {s: tmp_path / f"{s}.h5" for s in SR_SPLITS})
    assert len(calls) == len(SR_SPLITS) and not list(tmp_path.iterdir())


def test_unknown_image_is_named(tmp_path):
    cfg = {"scale": 2, "kernel": "bicubic", "sigma": None, "hr_downscale": 1, "patch_size": 16,
           "patches_per_image": 1, "noise_std": 0.0,
           "images": {"train": ["lena"], "val": ["moon"], "test": ["moon"], "unlabelled": ["moon"]}}
    with pytest.raises(FileNotFoundError, match="lena"):
        build_dataset("sr", cfg, 0, {s: tmp_path / f"{s}.h5" for s in SR_SPLITS})


def test_bad_split_files_fail_with_file_and_key(tmp_path):
    with pytest.raises(DatasetFileError, match="absent.h5.*not found"):
        H5Split(tmp_path / "absent.h5", True)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(DatasetFileError, match="junk.h5.*not a readable HDF5"):
        H5Split(junk, True)
    good = tmp_path / "good.h5"
    write_mri_split(good, 3)
    with h5py.File(good, "a") as f:
        del f["x"]
    with pytest.raises(DatasetFileError, match="good.h5.*'/x'"):
        H5Split(good, True)
    assert len(H5Split(good, False)) == 3, "measurement-only readers do not need /x"
    nan = tmp_path / "nan.h5"
    write_mri_split(nan, 2)
    with h5py.File(nan, "a") as f:
        f["y/000001"][0, 0, 0] = np.nan
    with pytest.raises(DatasetFileError, match="nan.h5.*/y/000001.*NaN"):
        list(H5Split(nan, False).y)  # checked as each sample is read (splits are read lazily)
    wrong = tmp_path / "wrong.h5"
    write_mri_split(wrong, 2)
    with h5py.File(wrong, "a") as f:
        del f["y/000000"]
        f["y/000000"] = np.zeros((4, 4))
    with pytest.raises(DatasetFileError, match="wrong.h5.*float32"):
        H5Split(wrong, False)


def test_multicoil_mri_builder(tmp_path):
    cfg = {"slices": [80, 100], "image_size": 24, "slab": 4, "gap": 0, "split_pattern": ["train"],
           "acceleration": 3, "center_fraction": 0.15, "noise_std": 0.0, "coils": 4, "phase": 0.5}
    out = {s: tmp_path / f"{s}.h5" for s in ("train", "val", "test")}
    build_dataset("mri", cfg, 0, out)
    task, params = read_physics(out["val"])
    assert params["sens"].shape == (4, 2, 24, 24)
    from spade.physics import MultiCoilMRI, make_physics

    physics = make_physics(task, params)
    assert isinstance(physics, MultiCoilMRI)
    y, x = H5Split(out["val"], True)[0]
    assert y.shape == (4, 2, 24, 24) and x.shape == (2, 24, 24)
    assert float(x[1].abs().max()) > 0, "complex images with a smooth phase"
    import torch

    assert torch.allclose(physics.forward(x[None])[0], y, atol=1e-5)
