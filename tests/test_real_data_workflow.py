"""A tiny study end to end on format-faithful fastMRI files and SR image folders, and a
bad input stopping the Snakemake job."""

import pandas as pd
import pytest
import yaml

from conftest import write_fastmri_folder
from conftest import corrupt, snakemake, write_images

TINY_PRIOR = {"name": "edsr", "features": 8, "blocks": 1, "res_scale": 1.0}


def real_config(data):
    fit = {"epochs": 2, "batch_size": 4, "lr": 3.0e-3, "loss": "l1"}
    return {
        "seed": 0, "device": "cpu", "tasks": ["mri", "sr"], "archs": ["du"], "criteria": ["l1"], "ratios": [0.5],
        "strategies": ["selfsup"], "threads": {"train": 1, "finetune": 1, "evaluate": 1},
        "data": {
            "mri": {"source": "fastmri", "acceleration": 3, "center_fraction": 0.25, "noise_std": 0.0,
                    "fastmri": {"root": str(data / "brain"), "challenge": "multicoil", "acquisitions": ["AXT2"],
                                "slices": [0, None], "split": {"train": 0.6, "val": 0.2, "test": 0.2},
                                "crop": [16, 16], "acs_lines": 12, "mask": "random", "normalise": "volume",
                                "measurements": "simulated"}},
            "sr": {"source": "folders", "scale": 2, "kernel": "bicubic", "sigma": None, "patch_size": 16,
                   "patches_per_image": 4, "noise_std": 0.0,
                   "folders": {"train": str(data / "DIV2K_train_HR"), "val": None, "val_count": 1, "colour": "rgb",
                               "test": {"Set5": str(data / "Set5"), "Set14": str(data / "Set14")}}},
        },
        "models": {"du": {t: {"prior": TINY_PRIOR, "steps": 2, "step_size": 1.0} for t in ("mri", "sr")}},
        "train": {"mri": fit, "sr": fit},
        "finetune": {"mri": {**fit, "epochs": 1}, "sr": {**fit, "epochs": 1}, "selfsup": {"mri": "ssdu", "sr": "ei"},
                     "ssdu": {"loss_fraction": 0.4, "center_fraction": 0.25}, "ei": {"weight": 1.0, "rotate": True}},
        "evaluate": {"examples": 1, "conventions": {"mri": "fastmri", "sr": "y_border"}},
        "benchmark": {"batch_sizes": [1, 2], "warmup": 1, "repeats": 2, "threads": 1, "crop": 16},
    }


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    data = root / "data"
    write_fastmri_folder(data / "brain", 6, acquisitions=("AXT2", "AXT2", "AXT1"))
    write_images(data / "DIV2K_train_HR", 4)
    write_images(data / "Set5", 2, size=(36, 30), seed=10)
    write_images(data / "Set14", 2, size=(34, 38), seed=20)
    cfg = root / "config.yaml"
    cfg.write_text(yaml.safe_dump(real_config(data)))
    work = root / "work"
    work.mkdir()
    res = snakemake("--cores", "2", "--configfile", str(cfg), "--directory", str(work))
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]
    return work


def test_real_data_study_reports_conventions_volumes_and_sets(real_run):
    r = real_run / "results"
    mri = pd.read_csv(r / "metrics/test/mri/du/l1-r0.5/selfsup.csv")
    assert {"image", "volume", "psnr", "ssim", "convention"} <= set(mri.columns)
    assert (mri.convention == "fastmri").all() and mri.volume.nunique() == 1, "one test volume of four AXT2"
    sr = pd.read_csv(r / "metrics/test/sr/du/unpruned.csv")
    assert sorted(sr.set.unique()) == ["Set14", "Set5"] and (sr.convention == "y_border").all()
    table = pd.read_csv(r / "tables/summary.csv")
    srt = table[table.task == "sr"]
    assert set(srt.set) == {"Set5", "Set14"}, "SR summarised per test set"
    assert len(srt) == 2 * (1 + 2 + 2), "classical, unpruned, prior-off, none and selfsup per set"
    mri_rows = table[table.task == "mri"]
    assert mri_rows.set.isna().all() and (mri_rows.split == "test").all(), "no external set"
    assert len(mri_rows) == 6, "zero-filled, TV compressed sensing, unpruned, prior-off, none and selfsup"
    assert (mri_rows.arch == "cs-tv").sum() == 1, "compressed sensing on the multi-coil fastMRI volumes too"
    # the label-free strategy trained on the unlabelled split's measurements (the default:
    # volumes no network trained on), never targets; the unlabelled split's volumes are in no
    # other split
    from spade.checkpoint import load_payload
    from spade.study.data import H5Split

    meta = load_payload(r / "finetuned/mri/du/l1-r0.5/selfsup.pt")["meta"]
    assert meta["trained_on"].endswith("results/data/mri/unlabelled.h5") and meta["cost"]["data"] == "measurements"
    unlabelled = set(H5Split(r / "data/mri/unlabelled.h5", False).groups)
    for split in ("train", "val", "test"):
        assert not unlabelled & set(H5Split(r / f"data/mri/{split}.h5", False).groups), split
    assert table.psnr.between(5, 80).all() and table.ssim.between(-1, 1).all()
    assert "Set14" in (r / "tables/summary.md").read_text()
    assert (r / "figures/examples_sr.png").is_file() and (r / "figures/psnr_vs_ratio.png").is_file()


def test_bad_fastmri_file_fails_the_snakemake_job_without_output(tmp_path):
    data = tmp_path / "data"
    files = write_fastmri_folder(data / "brain", 4)
    corrupt(data / "brain", files[1].name, "nan")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(real_config(data)))
    work = tmp_path / "work"
    work.mkdir()
    res = snakemake("--cores", "1", "--configfile", str(cfg), "--directory", str(work), "results/data/mri/train.h5")
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert files[1].name in out and "NaN or inf" in out and "DatasetFileError" in out
    assert not list(work.rglob("*.h5*")), "no split file, complete or partial"
