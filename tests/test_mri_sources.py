"""The embedded MRI data: real sources, splits by subject, unlabelled and external sets."""

import json

import h5py
import numpy as np
import pytest
import torch

from spade.study.data import H5Split, read_physics
from spade.study.config import ConfigError, check_config, load_schema
from spade.study.data.embedded import build_mri, build_mri_external, mri_plan
from spade.study.data.mr_sources import SOURCE_NAMES, augment_image, load_source, stack_indices
from spade.physics import make_physics

SPLITS = ("train", "val", "test", "unlabelled")
PATTERN = ["train", "train", "unlabelled"]
SUBJECTS = {"train": ["mni_t1", "nipy_t1"], "val": ["dipy_s0", "s1045"], "test": ["dipy_t1", "dipy_b0"]}


def small_cfg(**kw):
    cfg = {"image_size": 16, "slab": 2, "gap": 1, "split_pattern": PATTERN, "stride": 8.0, "eval_stride": 8.0,
           "min_fill": 0.1, "acceleration": 4, "center_fraction": 0.125, "noise_std": 0.0, "coils": 4, "phase": 0.5,
           "subjects": SUBJECTS, "external": ["epi"],
           "orientations": ["axial", "coronal", "sagittal"],
           "augment": {"gamma": [0.7, 1.4], "invert": 0.5, "flip": True, "zoom": [1.0, 2.0]}}
    cfg.update(kw)
    return cfg


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("mri")
    cfg = small_cfg()
    out = {s: root / f"{s}.h5" for s in SPLITS}
    counts = build_mri(cfg, 3, out)
    n_ext = build_mri_external(cfg, 3, root / "external.h5")
    return cfg, out, counts, root / "external.h5", n_ext


def test_no_held_out_subject_is_trained_on():
    cfg = small_cfg(stride=3.0, slab=3, gap=2)
    plan = mri_plan(cfg)
    owner = {}
    for split, entries in plan.items():
        for e in entries:
            assert e not in owner, f"{e} in {owner.get(e)} and {split}"
            owner[e] = split
    assert all(plan[s] for s in SPLITS)
    subjects = {s: {e[0] for e in plan[s]} for s in SPLITS}
    # split by subject: no voxel of a validation or test subject in a training or unlabelled slice
    assert subjects["val"] == set(SUBJECTS["val"]) and subjects["test"] == set(SUBJECTS["test"])
    assert subjects["train"] == subjects["unlabelled"] == set(SUBJECTS["train"])
    for held in ("val", "test"):
        assert not subjects[held] & (subjects["train"] | subjects["unlabelled"])
    assert not subjects["val"] & subjects["test"]
    for name in SUBJECTS["train"]:
        vol = load_source(name)
        for orientation in cfg["orientations"]:
            if orientation not in vol.orientations:
                continue
            kept = stack_indices(vol, orientation, cfg["stride"], cfg["min_fill"])
            used = [(i, owner[(name, orientation, z)]) for i, z in enumerate(kept) if (name, orientation, z) in owner]
            for (i, a), (j, b) in zip(used, used[1:]):
                if a != b:
                    assert j - i - 1 >= cfg["gap"], f"{name}/{orientation}: kept slices {i}, {j} straddle {a}/{b}"
    for name in SUBJECTS["train"]:
        assert {e[1] for e in plan["train"] if e[0] == name} == {"axial", "coronal", "sagittal"}
    # the symmetric template: sagittal slices from one hemisphere only
    mni = load_source("mni_t1")
    assert all(e[2] >= mni.data.shape[0] // 2 for s in SPLITS for e in plan[s] if e[:2] == ("mni_t1", "sagittal"))


def test_unlabelled_subjects_carry_no_label_any_network_trained_on():
    """The default's label-free pool: subjects no labelled split holds, every slice of them
    in unlabelled, none of a training subject; the held-out subjects capped to evenly spaced
    slices (a subject weighs the same whatever its slice count)."""
    subjects = {"train": ["mni_t1"], "unlabelled": ["nipy_t1"], "val": ["dipy_s0"], "test": ["dipy_t1", "dipy_b0"]}
    plan = mri_plan(small_cfg(subjects=subjects, split_pattern=["train"], eval_max_slices=2, eval_stride=2.0))
    assert {e[0] for e in plan["unlabelled"]} == {"nipy_t1"} and {e[0] for e in plan["train"]} == {"mni_t1"}
    assert not set(plan["unlabelled"]) & set(plan["train"])
    assert {e[1] for e in plan["unlabelled"]} == {"axial", "coronal", "sagittal"}
    b0 = [e for e in plan["test"] if e[0] == "dipy_b0"]
    every = stack_indices(load_source("dipy_b0"), "axial", 2.0, 0.1)
    assert [e[2] for e in b0] == [every[0], every[-1]], "two slices, evenly spaced: the first and the last"
    with pytest.raises(ValueError, match="subject 'nipy_t1' is in both 'train' and 'unlabelled'"):
        mri_plan(small_cfg(subjects={**subjects, "train": ["mni_t1", "nipy_t1"]}))


def test_the_default_tests_on_eight_subjects_no_network_or_setting_saw():
    import yaml

    mri = yaml.safe_load(open("config/config.yaml"))["data"]["mri"]
    seen = set(mri["subjects"]["train"]) | set(mri["subjects"]["val"]) | set(mri["subjects"]["unlabelled"])
    assert len(mri["subjects"]["test"]) >= 8 and not seen & set(mri["subjects"]["test"])
    # the training subjects cover the test's contrasts: T1 with skull and EPI
    contrasts = {load_source(name).contrast.split(" ")[0] for name in mri["subjects"]["train"]}
    assert {"T1", "T2*"} <= contrasts and any(load_source(n).skull for n in mri["subjects"]["train"])


def test_a_subject_in_two_splits_is_refused_naming_it(tmp_path):
    twice = {**SUBJECTS, "test": ["dipy_t1", "nipy_t1"]}
    with pytest.raises(ValueError, match="subject 'nipy_t1' is in both 'train' and 'test'"):
        mri_plan(small_cfg(subjects=twice))
    with pytest.raises(ValueError, match="subject 'epi' is in both 'val' and 'external'"):
        build_mri_external(small_cfg(subjects={**SUBJECTS, "val": ["epi"]}), 0, tmp_path / "e.h5")
    with pytest.raises(ValueError, match="split by subject"):
        mri_plan(small_cfg(split_pattern=["train", "val", "test"]))
    # and before any job: the config check names the subject
    import yaml

    config = yaml.safe_load(open("config/config.yaml"))
    config["data"]["mri"]["subjects"]["val"] = ["epi", "mni_t1"]
    with pytest.raises(ConfigError, match="subject 'mni_t1' is in both 'train' and 'val'"):
        check_config(config, load_schema("workflow/schemas/config.schema.yaml"))


def test_every_source_is_a_schema_subject_and_loads():
    schema = load_schema("workflow/schemas/config.schema.yaml")
    assert schema["definitions"]["mr_subject"]["enum"] == list(SOURCE_NAMES)
    for name in SOURCE_NAMES:
        vol = load_source(name)
        assert vol.data.ndim == 3 and vol.peak > 0 and all(len(h) == 64 for h in vol.sha256().values())
        for orientation in vol.orientations:
            assert stack_indices(vol, orientation, 2.0, 0.1), f"{name}/{orientation} gives no slice"


def test_splits_record_their_subjects(built):
    _, out, _, ext, _ = built
    for split, path in out.items():
        with h5py.File(path) as f:
            recorded = json.loads(f.attrs["subjects"])
        expected = SUBJECTS["train"] if split in ("train", "unlabelled") else SUBJECTS[split]
        assert recorded == sorted(expected)
        assert sorted(set(H5Split(path, False).groups)) == recorded
    assert H5Split(ext, True).subjects == ["epi"] and H5Split(ext, True).group_kind == "subject"


def test_unlabelled_has_no_targets_and_counts_match(built):
    cfg, out, counts, _, _ = built
    assert set(counts) == set(SPLITS) and all(counts[s] > 0 for s in SPLITS)
    for s in SPLITS:
        with h5py.File(out[s]) as f:
            assert ("x" in f) == (s != "unlabelled")
            assert f.attrs["split"] == s
            assert len(f["y"]) == counts[s]
    names = {s: set(H5Split(out[s], False).names) for s in SPLITS}
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not names[a] & names[b], f"{a} and {b} share slices"


def test_external_holds_only_held_out_sources_and_the_same_operator(built):
    cfg, out, _, ext, n_ext = built
    data = H5Split(ext, True)
    assert len(data) == n_ext > 0
    srcs = {n.split("/")[0] for n in data.names}
    assert srcs == {"epi"} and not srcs & {s for names in cfg["subjects"].values() for s in names}
    train_srcs = {n.split("/")[0] for n in H5Split(out["train"], True).names}
    assert not srcs & train_srcs
    with h5py.File(ext) as f:
        prov = json.loads(f.attrs["provenance"])
        assert f.attrs["split"] == "external"
    files = {k: v for s in prov["sources"].values() for k, v in s["files"].items()}
    assert set(files) == {"example4d.nii.gz"} and all(len(h) == 64 for h in files.values())
    _, p_test = read_physics(out["test"])
    _, p_ext = read_physics(ext)
    assert np.array_equal(p_test["mask"], p_ext["mask"]) and np.array_equal(p_test["sens"], p_ext["sens"])
    physics = make_physics("mri", p_ext)
    y, x = data[0]
    assert y.shape == (4, 2, 16, 16) and float(x[1].abs().max()) > 0, "multi-coil, complex (phase)"
    assert torch.allclose(physics.forward(x[None])[0], y, atol=1e-5)
    assert float(x.norm(dim=0).max()) <= 1.0 + 1e-5


def test_orientations_option():
    plan = mri_plan(small_cfg(orientations=["coronal"]))
    entries = [e for s in SPLITS for e in plan[s]]
    assert entries and {e[1] for e in entries} == {"coronal"}
    subjects = {"train": ["mni_t1", "epi"], "val": ["dipy_t1"], "test": ["nipy_t1"]}
    plan = mri_plan(small_cfg(subjects=subjects, external=[], orientations=["coronal"]))
    assert {e[0] for s in ("train", "unlabelled") for e in plan[s]} == {"mni_t1"}, "the EPI source is axial only"


def test_augmentation_touches_train_only_and_does_what_it_says(built, tmp_path):
    cfg, out, _, _, _ = built
    plain = {s: tmp_path / f"{s}.h5" for s in SPLITS}
    build_mri(small_cfg(augment=None), 3, plain)
    a, b = H5Split(out["train"], True), H5Split(plain["train"], True)
    assert a.names == b.names
    assert not all(torch.equal(p, q) for p, q in zip(a.x, b.x)), "train images are augmented"
    for s in ("val", "test", "unlabelled"):
        assert all(torch.equal(p, q) for p, q in zip(H5Split(out[s], False).y, H5Split(plain[s], False).y))
    with h5py.File(out["train"]) as f:
        drawn = json.loads(f.attrs["provenance"])["augment"]["drawn"]
    assert any(d.get("invert") for d in drawn.values()) and all("gamma" in d for d in drawn.values())
    # the transforms themselves
    img = np.zeros((16, 16))
    img[4:12, 4:12] = np.linspace(0.2, 0.8, 64).reshape(8, 8)
    rng = np.random.default_rng(0)
    g, d = augment_image(img, {"gamma": [2.0, 2.0]}, rng)
    assert d["gamma"] == 2.0 and g.max() == pytest.approx(0.8) and np.all(g[img > 0] <= img[img > 0] + 1e-12)
    inv, d = augment_image(img, {"invert": 1.0}, rng)
    assert d["invert"] and inv[0, 0] == 0 and inv[4, 4] > inv[11, 11], "contrast inverted, background kept"
    z, d = augment_image(img, {"zoom": [2.0, 2.0]}, rng)
    assert d["zoom"][0] == 2.0 and (z > 0.05).mean() > (img > 0.05).mean(), "tissue fills more of the view"
    f, d = augment_image(img, {"flip": True}, np.random.default_rng(1))
    assert np.allclose(np.sort(f.ravel()), np.sort(img.ravel()))


def test_build_is_deterministic_for_a_seed(built, tmp_path):
    cfg, out, counts, ext, _ = built
    again = {s: tmp_path / f"{s}.h5" for s in SPLITS}
    assert build_mri(cfg, 3, again) == counts
    for s in ("train", "unlabelled"):
        p, q = H5Split(out[s], False), H5Split(again[s], False)
        assert all(torch.equal(u, v) for u, v in zip(p.y, q.y))
    build_mri_external(cfg, 3, tmp_path / "external.h5")
    assert all(torch.equal(u, v) for u, v in zip(H5Split(ext, True).y, H5Split(tmp_path / "external.h5", True).y))
    other = {s: tmp_path / f"o_{s}.h5" for s in SPLITS}
    build_mri(cfg, 4, other)
    assert not all(torch.equal(u, v) for u, v in zip(H5Split(out["train"], True).x, H5Split(other["train"], True).x))


def test_a_missing_or_unreadable_source_names_its_file_and_package(tmp_path, monkeypatch):
    from spade.study.data import mr_sources

    monkeypatch.setattr(mr_sources, "_site", lambda package: tmp_path / package)
    load_source.cache_clear()  # a volume read before would come from the cache
    try:
        with pytest.raises(FileNotFoundError, match="aniso_vox.nii.gz: MR source 'dipy_b0' is not where package "
                                                    "'dipy' ships it"):
            load_source("dipy_b0")
        broken = tmp_path / "dipy" / "data" / "files" / "aniso_vox.nii.gz"
        broken.parent.mkdir(parents=True)
        broken.write_bytes(b"not a NIfTI file")
        with pytest.raises(ValueError, match=r"aniso_vox.nii.gz: MR source 'dipy_b0' \(package 'dipy'\) cannot be read"):
            load_source("dipy_b0")
    finally:
        load_source.cache_clear()


def test_photographs_join_the_training_split_only(tmp_path):
    """`photos`: crops of scikit-image photographs measured like the MR slices, in train only,
    named and grouped as photographs, recorded in the provenance."""
    subjects = {"train": ["nipy_t1"], "val": ["dipy_s0"], "test": ["dipy_t1"]}
    cfg = small_cfg(subjects=subjects, split_pattern=["train"], external=[], augment=None,
                    photos={"names": ["brick", "moon"], "crops": 3})
    out = {s: tmp_path / f"{s}.h5" for s in ("train", "val", "test")}
    counts = build_mri(cfg, 0, out)
    train = H5Split(out["train"], True)
    photos = [n for n in train.names if n.startswith("photo/")]
    assert len(photos) == 6 and {g for g in train.groups if g.startswith("photo:")} == {"photo:brick", "photo:moon"}
    assert counts["train"] == len(train.names) and not any(n.startswith("photo/") for n in H5Split(out["val"], True).names)
    with h5py.File(out["train"]) as f:
        assert set(json.loads(f.attrs["provenance"])["photos"]["images"]) == {"brick", "moon"}


def test_synthetic_contrasts_join_the_training_split_only_and_vary(tmp_path):
    """`synthetic`: random contrasts on the MNI tissue maps, in train only, grouped as one
    synthetic unit, each image in [0, 1] with maximum 1; the draws cover both orders of CSF
    and white matter (T1-like and T2-like), and the same seed draws the same images."""
    subjects = {"train": ["nipy_t1"], "val": ["dipy_s0"], "test": ["dipy_t1"]}
    cfg = small_cfg(subjects=subjects, split_pattern=["train"], external=[], augment=None, photos=None, synthetic=12)
    out = {s: tmp_path / f"{s}.h5" for s in ("train", "val", "test")}
    build_mri(cfg, 0, out)
    train = H5Split(out["train"], True)
    synth = [i for i, n in enumerate(train.names) if n.startswith("synthetic/")]
    assert len(synth) == 12 and {train.groups[i] for i in synth} == {"synthetic:mni"}
    assert not any(n.startswith("synthetic/") for n in H5Split(out["val"], True).names)
    for i in synth:
        x = np.asarray(train.x[i])
        assert x[0].max() == pytest.approx(1.0, abs=1e-6) and x[0].min() >= 0 and not x[1].any()
    with h5py.File(out["train"]) as f:
        drawn = json.loads(f.attrs["provenance"])["synthetic"]["drawn"]
    orders = {d["levels"]["csf"] > d["levels"]["wm"] for d in drawn.values()}
    assert orders == {True, False}
    again = {s: tmp_path / f"again_{s}.h5" for s in ("train", "val", "test")}
    build_mri(cfg, 0, again)
    np.testing.assert_array_equal(np.asarray(H5Split(again["train"], True).x[synth[-1]]), np.asarray(train.x[synth[-1]]))
