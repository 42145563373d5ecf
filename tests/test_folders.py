"""SR image folders: DIV2K-style training, benchmark-style test sets, bad input."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import photo, write_images
from spade.study.data import DatasetFileError, H5Split, build_dataset, read_physics
from spade.physics import make_physics

torch.set_num_threads(1)
SPLITS = ("train", "val", "test", "unlabelled")


def sr_cfg(root, scale=2, **folders):
    block = {"train": str(root / "DIV2K_train_HR"), "val": None, "val_count": 1,
             "test": {"Set5": str(root / "Set5"), "Set14": str(root / "Set14")}, "colour": "rgb"}
    block.update(folders)
    return {"source": "folders", "scale": scale, "kernel": "bicubic", "sigma": None, "patch_size": 16,
            "patches_per_image": 3, "noise_std": 0.0, "folders": block}


@pytest.fixture
def sr_root(tmp_path):
    write_images(tmp_path / "DIV2K_train_HR", 4)
    write_images(tmp_path / "Set5" / "HR", 2, size=(36, 30), seed=10)  # EDSR benchmark layout
    srf = tmp_path / "Set14" / "image_SRF_2"  # Huang et al.'s layout
    srf.mkdir(parents=True)
    for i, p in enumerate(write_images(tmp_path / "tmp14", 3, size=(33, 35), seed=20, gray=(1,))):
        p.rename(srf / f"img_{i + 1:03d}_SRF_2_HR.png")
        Image.fromarray(np.zeros((16, 17, 3), np.uint8)).save(srf / f"img_{i + 1:03d}_SRF_2_LR.png")
    return tmp_path


def test_colour_splits_from_folders(sr_root, tmp_path):
    out = {s: tmp_path / "out" / f"{s}.h5" for s in SPLITS}
    counts = build_dataset("sr", sr_cfg(sr_root), 0, out)
    # 4 training images: the last for val, the one before it (a tenth, at least one) unlabelled
    assert counts == {"train": 6, "val": 3, "test": 5, "unlabelled": 3}
    task, params = read_physics(out["test"])
    physics = make_physics(task, params)
    assert physics.image_channels == 3
    test = H5Split(out["test"], True)
    assert test.group_kind == "set" and test.groups == ["Set5"] * 2 + ["Set14"] * 3
    assert test.names[0].split("/")[0] in ("Set5", "Set14") and not any("_LR" in n for n in test.names)
    for y, x in test:
        assert x.shape[0] == 3 and x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0
        assert torch.allclose(physics.forward(x[None])[0], y, atol=1e-6)
    gray = test.x[test.names.index("Set14/img_002_SRF_2_HR")]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2]), "grey images repeat to RGB"
    train = H5Split(out["train"], True)
    assert all(x.shape == (3, 16, 16) and y.shape == (3, 8, 8) for y, x in train)
    assert not {n.split("@")[0] for n in train.names} & {n.split("@")[0] for n in H5Split(out["val"], True).names}
    unlabelled = H5Split(out["unlabelled"], False)
    assert {n.split("@")[0] for n in unlabelled.names} == {"0003"}, "disjoint from train and val"
    with pytest.raises(DatasetFileError, match="measurement-only"):
        H5Split(out["unlabelled"], True)


@pytest.mark.parametrize("scale,kernel,sigma", [(3, "gaussian", 1.5), (4, "bicubic", None)])
def test_other_scales_and_kernels(sr_root, tmp_path, scale, kernel, sigma):
    cfg = sr_cfg(sr_root, scale=scale, test={"Set5": str(sr_root / "Set5")})
    cfg.update(kernel=kernel, sigma=sigma, patch_size={3: 24, 4: 16}[scale])
    out = {s: tmp_path / "out" / f"{s}.h5" for s in SPLITS}
    build_dataset("sr", cfg, 0, out)
    physics = make_physics(*read_physics(out["test"]))
    assert physics.scale == scale and physics.kernel.shape[0] % 2 == scale % 2
    for y, x in H5Split(out["test"], True):
        assert x.shape[1] % scale == 0 and y.shape[1:] == (x.shape[1] // scale, x.shape[2] // scale)
        assert torch.allclose(physics.forward(x[None])[0], y, atol=1e-6)
    y, x = H5Split(out["train"], True)[0]
    assert x.shape[1] == cfg["patch_size"] and y.shape[1] == cfg["patch_size"] // scale


def test_luma_training_and_lr_files(sr_root, tmp_path):
    lr = sr_root / "DIV2K_train_LR_bicubic" / "X2"
    lr.mkdir(parents=True)
    for p in sorted((sr_root / "DIV2K_train_HR").glob("*.png")):
        hr = np.asarray(Image.open(p))
        Image.fromarray(hr[::2, ::2]).save(lr / f"{p.stem}x2.png")
    out = {s: tmp_path / "out" / f"{s}.h5" for s in SPLITS}
    build_dataset("sr", sr_cfg(sr_root, colour="y", train_lr=str(lr)), 1, out)
    train = H5Split(out["train"], True)
    y, x = train[0]
    assert x.shape == (1, 16, 16) and y.shape == (1, 8, 8)
    # the measurement is the LR file's patch (decimation here), not A x
    assert torch.allclose(y, x[:, ::2, ::2], atol=1e-6)
    assert float(x.min()) >= 16 / 255 - 1e-6 and float(x.max()) <= 235 / 255 + 1e-6, "BT.601 luma range"


def test_bad_image_folders(sr_root, tmp_path):
    out = {s: tmp_path / "out" / f"{s}.h5" for s in SPLITS}

    def fails(cfg, match):
        with pytest.raises(DatasetFileError, match=match):
            build_dataset("sr", cfg, 0, out)
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir()), "no partial output"

    fails(sr_cfg(sr_root, train=str(sr_root / "nowhere")), "nowhere.*not found")
    (sr_root / "empty").mkdir()
    fails(sr_cfg(sr_root, test={"Set5": str(sr_root / "empty")}), "empty.*no images")
    small = sr_root / "small"
    write_images(small, 3, size=(12, 40))
    fails(sr_cfg(sr_root, train=str(small)), "0001.png: image 12x40 is smaller than patch_size 16")
    write_images(sr_root / "tiny_test", 1, size=(10, 10))
    fails(sr_cfg(sr_root, test={"Set5": str(sr_root / "tiny_test")}), "0001.png: test image 10x10 is too small")
    broken = sr_root / "DIV2K_train_HR" / "0003.png"
    broken.write_bytes(broken.read_bytes()[:60])
    fails(sr_cfg(sr_root), "0003.png: not a readable image")
    broken.write_bytes(b"garbage")
    fails(sr_cfg(sr_root), "0003.png: not a readable image")
    write_images(sr_root / "ok", 4)
    floats = sr_root / "floats"
    floats.mkdir()
    Image.fromarray(np.full((32, 32), 0.5, np.float32)).save(floats / "f.tif")
    fails(sr_cfg(sr_root, train=str(sr_root / "ok"), test={"Set5": str(floats)}), "f.tif: pixel type float32")
    wrong_lr = sr_root / "wrong_lr"
    write_images(wrong_lr, 4, size=(10, 10))
    fails(sr_cfg(sr_root, train=str(sr_root / "ok"), train_lr=str(wrong_lr)), "0001.png: LR image is 10x10, expected 20x22")
