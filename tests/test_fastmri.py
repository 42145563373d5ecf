"""fastMRI reading, targets, splits and per-sample physics on format-faithful files."""

import json

import h5py
import numpy as np
import pytest
import torch

from conftest import corrupt, fastmri_volume, write_fastmri_file, write_fastmri_folder
from spade.study.data import DatasetFileError, H5Split, build_dataset, read_physics
from spade.study.data.fastmri import build_targets, coil_combine, crop_or_pad, parse_header, scan
from spade.physics import MultiCoilMRI, SingleCoilMRI, batch_physics, make_physics

torch.set_num_threads(1)
SPLITS = ("train", "val", "test", "unlabelled")


def mri_cfg(root, **fastmri):
    block = {"root": str(root), "challenge": "multicoil", "acquisitions": ["AXT2"], "slices": [0, None],
             "split": {"train": 0.6, "val": 0.2, "test": 0.2}, "crop": [16, 16], "acs_lines": 12,
             "mask": "fixed", "normalise": "volume", "measurements": "simulated"}
    block.update(fastmri)
    return {"source": "fastmri", "acceleration": 3, "center_fraction": 0.25, "noise_std": 0.0, "fastmri": block}


def outputs(tmp_path, prefix="out"):
    return {s: tmp_path / prefix / f"{s}.h5" for s in SPLITS}


def test_scan_reads_the_fastmri_layout(tmp_path):
    write_fastmri_file(tmp_path / "mc.h5", "multicoil", slices=3, coils=4, acquisition="AXT2")
    write_fastmri_file(tmp_path / "sc.h5", "singlecoil", slices=2, acquisition="CORPD_FBK")
    mc, sc = scan(tmp_path / "mc.h5", "multicoil"), scan(tmp_path / "sc.h5", "singlecoil")
    assert mc["shape"] == (3, 4, 32, 20) and mc["acquisition"] == "AXT2"
    assert sc["shape"] == (2, 32, 20) and sc["acquisition"] == "CORPD_FBK"
    assert mc["header"] == {"encoded": (32, 20, 1), "recon": (16, 16, 1)}
    assert mc["max"] > 0 and mc["norm"] > 0
    with pytest.raises(DatasetFileError, match="mc.h5.*reconstruction_esc"):
        scan(tmp_path / "mc.h5", "singlecoil")  # a multi-coil file lacks the single-coil target


def test_coil_combination_matches_an_independent_computation():
    kspace, maps, objects = fastmri_volume(3, coils=6, seed=2)
    t = build_targets(kspace.astype(np.complex128), (16, 16), 12, "acs")
    truth = crop_or_pad(objects, (16, 16))
    # with the true maps (sum |S|^2 = 1) the combination returns the object exactly
    coil = crop_or_pad(maps[None] * objects[:, None], (16, 16))
    np.testing.assert_allclose(coil_combine(coil, crop_or_pad(maps, (16, 16))).real, truth, atol=1e-9)
    # the estimated maps give the object's magnitude to within 2% (numpy, independently)
    err = np.linalg.norm(np.abs(t["x"]) - truth) / np.linalg.norm(truth)
    assert err < 0.02, err
    assert np.allclose((np.abs(t["maps"]) ** 2).sum(1), 1.0, atol=1e-6), "maps normalised: sum |S|^2 = 1"
    assert t["kspace"].shape == (3, 6, 16, 16)


@pytest.mark.parametrize("method, aligned", [("espirit", 0.999), ("acs", 0.99)])
def test_coil_maps_recover_known_maps(method, aligned):
    """Both estimators against the known smooth maps of synthetic coil data: inside the
    object each estimated map vector points along the true one (|<S, S_true>| near 1 per
    pixel, whatever its phase), and combining with it returns the object's magnitude;
    ESPIRiT's maps vanish outside the object."""
    from spade.study.data.fastmri import coil_maps

    kspace, truth, objects = fastmri_volume(2, shape=(48, 48), recon=(32, 32), coils=6, seed=3)
    est = coil_maps(kspace.astype(np.complex128), 24, method)
    inside = objects > 0.05 * objects.max()
    inner = (np.conj(est) * truth[None]).sum(1)
    norms = np.sqrt((np.abs(est) ** 2).sum(1) * (np.abs(truth[None]) ** 2).sum(1)).clip(1e-12)
    covered = inside & ((np.abs(est) ** 2).sum(1) > 0.5)  # ESPIRiT's crop may drop faint edge pixels
    alignment = (np.abs(inner) / norms)[covered]
    print(f"{method}: mean alignment with the true maps {alignment.mean():.5f}, lowest {alignment.min():.4f}, "
          f"object pixels covered {covered.sum() / inside.sum():.4f}")
    assert alignment.mean() > aligned and covered.sum() > 0.97 * inside.sum()
    coil_images = truth[None] * objects[:, None]
    combined = np.abs(coil_combine(coil_images, est))
    err = np.linalg.norm((combined - objects)[inside]) / np.linalg.norm(objects[inside])
    assert err < 0.03, err
    if method == "espirit":  # the eigenvalue crop: no sensitivity where no signal is
        assert (np.abs(est).sum(1)[objects == 0] < 1e-3).mean() > 0.5


def test_single_coil_target_is_the_esc_reconstruction(tmp_path):
    write_fastmri_file(tmp_path / "sc.h5", "singlecoil", slices=2)
    with h5py.File(tmp_path / "sc.h5") as f:
        k, esc = f["kspace"][()], f["reconstruction_esc"][()]
    t = build_targets(k[:, None].astype(np.complex128), (16, 16), 12)
    assert t["maps"] is None
    np.testing.assert_allclose(np.abs(t["x"]), esc, rtol=1e-4, atol=1e-5)


def test_header_must_be_ismrmrd_xml():
    with pytest.raises(DatasetFileError, match="f.h5.*not valid XML"):
        parse_header(b"<ismrmrd", "f.h5")
    with pytest.raises(DatasetFileError, match="reconSpace"):
        parse_header(b'<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding><encodedSpace><matrixSize>'
                     b"<x>1</x><y>1</y><z>1</z></matrixSize></encodedSpace></encoding></ismrmrdHeader>", "f.h5")


def test_multicoil_splits_by_volume_with_per_sample_maps(tmp_path):
    files = write_fastmri_folder(tmp_path / "raw", 7, acquisitions=("AXT2", "AXT2", "AXT1"))
    out = outputs(tmp_path)
    counts = build_dataset("mri", mri_cfg(tmp_path / "raw", slices=[1, None]), 0, out)
    axt2 = [p.stem for p in files if "AXT2" in p.name]
    assert sum(counts.values()) == len(axt2) * 2, "AXT2 volumes only, slices 1..2 of each"
    owner = {}
    for s in SPLITS:
        labelled = s != "unlabelled"
        data = H5Split(out[s], labelled)
        assert data.group_kind == "volume" and set(data.per_sample) == {"sens"}
        for g in set(data.groups):
            assert g not in owner, f"volume {g} in {owner.get(g)} and {s}"
            owner[g] = s
        task, params = read_physics(out[s])
        assert params["mask"].shape == (16, 16) and params["sens"].shape == (1, 4, 2, 16, 16)
        if not labelled:  # measurements only: no ground truth was stored
            assert "x" not in h5py.File(out[s]) and data.names[0].endswith("/s001")
            continue
        for i in range(len(data)):
            y, x, phys = data[i]
            op = batch_physics(make_physics(task, params), {k: v[None] for k, v in phys.items()})
            assert isinstance(op, MultiCoilMRI)
            assert torch.allclose(op.forward(x[None])[0], y, atol=1e-5), "y = M F S x with this slice's maps"
        mags = torch.stack([torch.sqrt(x[0] ** 2 + x[1] ** 2) for x in data.x])
        for g in set(data.groups):  # per-volume normalisation: each volume's maximum is 1
            idx = [i for i, h in enumerate(data.groups) if h == g]
            assert float(mags[idx].max()) == pytest.approx(1.0, abs=1e-5)
        assert data.names[0].endswith("/s001")
    assert sorted(owner) == sorted(axt2)
    prov = json.loads(h5py.File(out["test"]).attrs["provenance"])
    assert prov["split_by"] == "volume" and prov["volumes"][0]["header"]["recon"] == [16, 16, 1]
    assert prov["volumes"][0]["target_vs_reconstruction_rel_error"] < 0.05


def test_random_masks_are_per_file_and_reproducible(tmp_path):
    write_fastmri_folder(tmp_path / "raw", 5, challenge="singlecoil", shape=(32, 40))
    cfg = mri_cfg(tmp_path / "raw", challenge="singlecoil", mask="random", normalise="slice", acquisitions=None)
    cfg.update(acceleration=4, center_fraction=0.125)
    out = outputs(tmp_path)
    build_dataset("mri", cfg, 5, out)
    data = H5Split(out["train"], True)
    assert set(data.per_sample) == {"mask"}
    masks = {}
    for g, m in zip(data.groups, data.per_sample["mask"]):
        assert torch.equal(masks.setdefault(g, m), m), "one mask per volume"
    assert len({tuple(m[0].tolist()) for m in masks.values()}) > 1, "volumes get different masks"
    for i in range(len(data)):
        y, x, phys = data[i]
        op = batch_physics(SingleCoilMRI(data.per_sample["mask"][0]), {"mask": phys["mask"][None]})
        assert torch.allclose(op.forward(x[None])[0], y, atol=1e-5)
        mag = torch.sqrt(x[0] ** 2 + x[1] ** 2)
        assert float(mag.max()) == pytest.approx(1.0, abs=1e-5), "per-slice normalisation"
    again = outputs(tmp_path, "again")
    build_dataset("mri", cfg, 5, again)
    other = H5Split(again["train"], True)
    assert all(torch.equal(a, b) for a, b in zip(data.y, other.y)), "same seed, same masks and measurements"


def test_explicit_split_folders_and_acquired_measurements(tmp_path):
    # fastMRI's own folders (train and val) used as given; file names stay unique
    roots = {}
    for k, (s, n) in enumerate(zip(SPLITS[:3], (3, 1, 1))):
        roots[s] = tmp_path / s
        roots[s].mkdir()
        for i in range(n):
            write_fastmri_file(roots[s] / f"file_brain_AXT2_{k}{i}.h5", seed=10 * k + i)
    cfg = mri_cfg(tmp_path, measurements="acquired")
    cfg["fastmri"]["root"] = {s: str(p) for s, p in roots.items()}
    counts = build_dataset("mri", cfg, 0, outputs(tmp_path))
    # without an unlabelled folder, a tenth (at least one) of the training volumes
    assert counts == {"train": 6, "val": 3, "test": 3, "unlabelled": 3}
    data = H5Split(outputs(tmp_path)["val"], True)
    y, x, phys = data[0]
    op = MultiCoilMRI(read_physics(outputs(tmp_path)["val"])[1]["mask"], phys["sens"])
    # acquired k-space: A x reproduces it up to what the estimated maps miss
    rel = (op.forward(x[None])[0] - y).norm() / y.norm()
    assert 0 < rel < 0.05
    dup = tmp_path / "dup"
    dup.mkdir()
    write_fastmri_file(dup / "file_brain_AXT2_00.h5")
    cfg["fastmri"]["root"]["test"] = str(dup)
    with pytest.raises(DatasetFileError, match="file_brain_AXT2_00.h5.*in both"):
        build_dataset("mri", cfg, 0, outputs(tmp_path, "dup_out"))


def test_training_and_evaluation_use_each_samples_operator(tmp_path):
    from spade.models import build_model
    from spade.study.stages import evaluate, load_physics
    from spade.train import fit, make_strategy

    write_fastmri_folder(tmp_path / "raw", 6)
    out = outputs(tmp_path)
    build_dataset("mri", mri_cfg(tmp_path / "raw", mask="equispaced", acquisitions=None), 0, out)
    task, physics = load_physics(out["train"])
    spec = {"arch": "varnet", "channels": 2, "cascades": 2, "prior": {"name": "unet", "features": 4, "pools": 1},
            "sens": {"features": 4, "pools": 1}}
    opts = {"epochs": 1, "batch_size": 2, "lr": 1e-3, "loss": "l1", "selfsup": {"mri": "ssdu"},
            "ssdu": {"loss_fraction": 0.4, "center_fraction": 0.1}, "ei": {"weight": 1.0, "rotate": True}}
    base = build_model(spec)
    for name in ("supervised", "school", "selfsup"):
        needs = name == "supervised"
        strategy = make_strategy(name, task, opts, teacher=build_model(spec) if name == "school" else None)
        model, hist = fit(build_model(spec), strategy, physics, H5Split(out["train" if needs else "unlabelled"], needs),
                          H5Split(out["val"], needs), opts, 0, tmp_path / f"{name}.state", tmp_path / f"{name}.csv")
        assert np.isfinite(hist[0]["train_loss"]) and np.isfinite(hist[0]["val_loss"])
    # label-free readers never touch /x: they work on a file without it
    with h5py.File(out["val"], "a") as f:
        del f["x"]
    assert len(H5Split(out["val"], False)[0]) == 2, "(y, per-sample physics)"
    from spade.checkpoint import save_model

    save_model(tmp_path / "m.pt", base, spec, {"identity": {"task": "mri", "arch": "varnet", "criterion": "",
                                                            "ratio": 0.0, "strategy": "unpruned"}})
    frame = evaluate(tmp_path / "m.pt", out["test"], tmp_path / "m.csv", tmp_path / "m.npz", 1, 1,
                     convention="fastmri")
    assert set(frame.columns) >= {"image", "volume", "psnr", "ssim", "convention"}
    assert (frame.convention == "fastmri").all() and frame.psnr.between(5, 80).all()





@pytest.mark.parametrize("how,message", [
    ("truncated", "truncated or corrupt"),
    ("corrupt", "not a readable HDF5"),
    ("no_kspace", "missing key 'kspace'"),
    ("no_target", "missing key 'reconstruction_rss'"),
    ("no_header", "missing key 'ismrmrd_header'"),
    ("no_attr", "missing attribute 'acquisition'"),
    ("dtype", "'kspace' is float32.*expected complex"),
    ("shape", r"'kspace' is complex64 \(3, 32, 20\), expected complex \[slices, coils, H, W\]"),
    ("nan", "'kspace' holds NaN or inf"),
    ("inf", "'reconstruction_rss' holds NaN or inf"),
    ("undersampled", "undersampled"),
])
def test_bad_fastmri_files_stop_with_the_file_named_and_no_output(tmp_path, how, message):
    files = write_fastmri_folder(tmp_path / "raw", 4)
    bad = corrupt(tmp_path / "raw", files[2].name, how)
    out = outputs(tmp_path)
    with pytest.raises(DatasetFileError, match=f"{bad.name}.*{message}"):
        build_dataset("mri", mri_cfg(tmp_path / "raw", acquisitions=None), 0, out)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir()), "no partial output"


def test_missing_and_empty_folders_and_no_match(tmp_path):
    out = outputs(tmp_path)
    with pytest.raises(DatasetFileError, match="nowhere.*not found"):
        build_dataset("mri", mri_cfg(tmp_path / "nowhere"), 0, out)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetFileError, match="empty.*no .h5 files"):
        build_dataset("mri", mri_cfg(tmp_path / "empty"), 0, out)
    write_fastmri_folder(tmp_path / "raw", 4, acquisitions=("AXT1",))
    with pytest.raises(DatasetFileError, match="acquisition in \\['AXT2'\\]"):
        build_dataset("mri", mri_cfg(tmp_path / "raw"), 0, out)
    with pytest.raises(DatasetFileError, match="no slice in the range"):
        build_dataset("mri", mri_cfg(tmp_path / "raw", acquisitions=None, slices=[5, 9]), 0, out)
    write_fastmri_folder(tmp_path / "two", 3)
    with pytest.raises(DatasetFileError, match="at least 4"):
        build_dataset("mri", mri_cfg(tmp_path / "two"), 0, out)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_coil_counts_must_agree_or_be_compressed(tmp_path):
    from spade.study.data.fastmri import compress_coils

    write_fastmri_folder(tmp_path / "raw", 3, coils=4)
    write_fastmri_file(tmp_path / "raw" / "file_brain_AXT2_200_7000.h5", coils=6, seed=9)
    with pytest.raises(DatasetFileError, match="coils, but .*has .*data.mri.fastmri.coils"):
        build_dataset("mri", mri_cfg(tmp_path / "raw"), 0, outputs(tmp_path))
    counts = build_dataset("mri", mri_cfg(tmp_path / "raw", coils=3), 0, outputs(tmp_path))
    assert sum(counts.values()) == 12
    y, x, phys = H5Split(outputs(tmp_path)["train"], True)[0]
    assert y.shape == (3, 2, 16, 16) and phys["sens"].shape == (3, 2, 16, 16)
    # compression keeps the energy of a 4-coil volume whose coils span 4 dimensions
    k, _, _ = fastmri_volume(2, coils=4, seed=1)
    kc = compress_coils(k.astype(np.complex128), 4)
    assert np.linalg.norm(kc) == pytest.approx(np.linalg.norm(k), rel=1e-6)
    with pytest.raises(DatasetFileError, match="fewer than the 5 virtual coils"):
        build_dataset("mri", mri_cfg(tmp_path / "raw", coils=5), 0, outputs(tmp_path, "o5"))
