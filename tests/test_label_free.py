"""The label-free ablation: rotations by any angle, the consistency weight, and the
held-out k-space score settings are chosen by, on validation data only."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_DU, TINY_OPTS

from spade import losses
from spade.study.data import H5Split, nested_fraction
from spade.physics import make_physics
from spade.study.stages import finetune, label_free_scores

ARCH, OPTS = TINY_DU, TINY_OPTS


def _smooth(size=32):
    g = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    return torch.stack([torch.exp(-4 * ((xx - 0.2) ** 2 + yy ** 2)), torch.exp(-6 * (xx ** 2 + (yy + 0.1) ** 2))])[None]


def test_rotation_by_any_angle():
    x = _smooth()
    torch.testing.assert_close(losses.rotate_image(x, 0.0), x, atol=1e-5, rtol=0)
    # a quarter turn agrees with rot90 (counter-clockwise in grid_sample's convention)
    quarter = losses.rotate_image(x, math.pi / 2)
    best = min((quarter - torch.rot90(x, k, dims=(-2, -1))).abs().max().item() for k in (1, 3))
    assert best < 1e-4
    # an angle no 90-degree turn reaches gives an image none of them gives
    odd = losses.rotate_image(x, math.radians(37))
    assert min((odd - torch.rot90(x, k, dims=(-2, -1))).abs().max().item() for k in range(4)) > 0.05
    gen = torch.Generator().manual_seed(0)
    assert losses.random_transform(x, gen, True, "any").shape == x.shape


def test_consistency_weight_scales_the_consistency_term():
    torch.manual_seed(0)
    physics = make_physics("mri", {"mask": (torch.rand(16, 16) < 0.4).float().numpy()})
    y = physics.forward(torch.rand(2, 2, 16, 16))
    model = lambda y, p: p.init(y) * 0.9  # noqa: E731  (not consistent: a known, non-zero term)
    terms = [losses.ei_loss(model, physics, y, torch.Generator().manual_seed(3), 1.0, True, "any", w)
             for w in (0.0, 1.0, 2.0)]
    consistency = torch.nn.functional.mse_loss(physics.forward(model(y, physics)), y)
    torch.testing.assert_close(terms[1] - terms[0], consistency)
    torch.testing.assert_close(terms[2] - terms[0], 2 * consistency)


def test_heldout_kspace_score_needs_no_ground_truth_and_ranks_networks():
    torch.manual_seed(0)
    physics = make_physics("mri", {"mask": (torch.rand(32, 32) < 0.5).float().numpy()})
    y = physics.forward(_smooth())
    zero = lambda y, p: torch.zeros_like(p.init(y))  # noqa: E731
    filled = lambda y, p: p.init(y)  # noqa: E731  (zero-filled: predicts no held-out sample)
    scores = [float(losses.heldout_kspace_score(m, physics, y, torch.Generator().manual_seed(1), 0.4, 0.08))
              for m in (zero, filled, zero)]
    assert scores[0] == scores[2] == pytest.approx(2.0)  # relative l2 + relative l1 of predicting 0
    assert scores[1] == pytest.approx(2.0)  # zero-filled from theta: nothing at the held-out samples
    assert np.isfinite(scores).all()
    # networks that reconstruct better score lower: the image itself (a network that knew
    # it), then halfway between it and zero-filling, then zero-filling; the score reads only y
    x = _smooth()
    exact = lambda y, p: x  # noqa: E731
    half = lambda y, p: 0.5 * x + 0.5 * p.init(y)  # noqa: E731
    ranked = [float(losses.heldout_kspace_score(m, physics, y, torch.Generator().manual_seed(1), 0.4, 0.08))
              for m in (exact, half, filled)]
    assert ranked[0] == pytest.approx(0.0, abs=1e-5) and ranked[0] < ranked[1] < ranked[2]


def test_cross_scale_score_reads_only_the_measurement_and_ranks_sr_networks():
    """SR's label-free score: y reconstructed from its own down-sampled copy A y. It equals
    ||f(A y) - y||^2 computed by hand, and a network that up-samples self-similar images
    better (bicubic over nearest, both from A y alone) scores lower."""
    physics = make_physics("sr", {"kernel": np.full((3, 3), 1 / 9, np.float32), "scale": 2})
    g = torch.linspace(0, 6, 64)
    x = (torch.sin(g)[None, :] * torch.cos(0.7 * g)[:, None])[None, None]
    y = physics.forward(x)
    nearest = lambda y, p: torch.nn.functional.interpolate(y, scale_factor=2, mode="nearest")  # noqa: E731
    bicubic = lambda y, p: p.init(y)  # noqa: E731
    coarse = physics.forward(y)  # 16 x 16 from the 32 x 32 measurement
    assert coarse.shape[-1] == y.shape[-1] // 2
    by_hand = ((nearest(coarse, physics) - y) ** 2).mean()
    torch.testing.assert_close(losses.cross_scale_score(nearest, physics, y), by_hand)
    assert losses.cross_scale_score(bicubic, physics, y) < losses.cross_scale_score(nearest, physics, y)
    mri = make_physics("mri", {"mask": np.ones((8, 8), np.float32)})
    with pytest.raises(ValueError, match="SR only"):
        losses.cross_scale_score(bicubic, mri, mri.forward(torch.rand(1, 2, 8, 8)))


def test_label_free_table_scores_every_setting_on_validation_and_chooses_without_labels(pruned_du, tmp_path):
    fits = []
    ei_any = {**OPTS, "ei": {"weight": 1.0, "rotate": True, "angles": "any"}}
    for name, opts, fraction in (("ei_any", ei_any, 1.0), ("ssdu", {**OPTS, "selfsup": {"mri": "ssdu"}, "epochs": 2}, 1.0),
                                 ("ei_any_half", ei_any, 0.5), ("ei_right", OPTS, 1.0)):
        out = tmp_path / f"{name}.pt"
        finetune("selfsup", pruned_du["pruned"], None, pruned_du["unlabelled"], pruned_du["val"], opts, 0, 1,
                 out, tmp_path / f"{name}.csv", tmp_path / f"{name}.state.pt", data_fraction=fraction)
        fits.append((name, str(out)))
    models = [("unpruned", str(pruned_du["unpruned"])), ("none", str(pruned_du["pruned"])), *fits]
    table = label_free_scores(models, pruned_du["val"], tmp_path / "lf.csv", tmp_path / "lf.md", 0, 1,
                              OPTS["ssdu"])
    assert list(table.setting) == ["unpruned", "none", "ei_any", "ssdu", "ei_any_half", "ei_right"]
    assert list(table.epochs.fillna(0)) == [0, 0, 1, 2, 1, 1]
    assert list(table.loss) == ["", "", "ei", "ssdu", "ei", "ei"]
    assert table.loc[table.setting == "unpruned", "minus_unpruned"].item() == 0
    # the data curve: half of the unlabelled split (a seeded, nested draw), never chosen among losses
    everything = len(H5Split(pruned_du["unlabelled"], False))
    half = table.set_index("setting").loc["ei_any_half"]
    assert half.data == "unlabelled x0.5" and half.train_images == math.ceil(everything / 2) and not half.chosen
    assert table.set_index("setting").loc["ei_any", "train_images"] == everything
    # one choice per loss, never across them: the lower held-out score of the two EI settings
    # on all of the split, and SSDU's only one
    ei = table[table.setting.isin(["ei_any", "ei_right"])]
    assert ei.heldout_kspace.nunique() == 2
    assert sorted(table.loc[table.chosen, "setting"]) == sorted([ei.loc[ei.heldout_kspace.idxmin(), "setting"], "ssdu"])
    tuned = table[table.setting.isin(["ei_any", "ssdu", "ei_right"])]
    assert tuned.own_val_loss.notna().all() and table.val_psnr.gt(0).all()
    assert pd.read_csv(tmp_path / "lf.csv").setting.tolist() == list(table.setting)
    assert f"| ei_any | ei | unlabelled x1 | {everything} | 1 |" in (tmp_path / "lf.md").read_text()


def test_a_fraction_of_a_split_is_a_nested_seeded_subset(pruned_du):
    """A quarter of the unlabelled split lies within its half (data added, not swapped), the
    same for the same seed, and the split then reads only those samples."""
    n = len(H5Split(pruned_du["unlabelled"], False))
    quarter, half = nested_fraction(n, 0.25, 3), nested_fraction(n, 0.5, 3)
    assert set(quarter) < set(half) and len(half) == math.ceil(n / 2) and quarter == nested_fraction(n, 0.25, 3)
    whole, part = H5Split(pruned_du["unlabelled"], False), H5Split(pruned_du["unlabelled"], False, half)
    assert len(part) == len(half) and part.names == [whole.names[i] for i in half]
    assert torch.equal(part[1], whole[half[1]])
    with pytest.raises(ValueError, match="fraction"):
        nested_fraction(n, 0.0, 3)


def test_multi_operator_ei_adds_the_other_masks_term():
    """`ei.operators: multi`: the loss is EI's plus ``weight * ||f(A_g f(y), A_g) - f(y)||^2``
    for a mask of the same family (outer columns rolled, the centre block kept), which
    acquires columns the study's fixed mask never does; SR has no such family."""
    from spade.physics.mri import cartesian_mask

    mask = cartesian_mask((16, 32), 4, 0.16)
    physics = make_physics("mri", {"mask": mask})
    other = physics.shifted_sampling(torch.Generator().manual_seed(2))
    fixed = set(np.flatnonzero(mask[0]))
    assert {14, 15, 16, 17, 18} <= fixed  # the centre block ...
    assert {14, 15, 16, 17, 18} <= set(np.flatnonzero(other.mask[0].numpy()))  # ... kept
    assert not np.array_equal(other.mask.numpy(), mask) and (other.mask.numpy() == other.mask.numpy()[:1]).all()
    reached = set()
    for seed in range(8):
        reached |= set(np.flatnonzero(physics.shifted_sampling(torch.Generator().manual_seed(seed)).mask[0].numpy()))
    assert len(reached - fixed) >= 10, "other masks reach columns the fixed one never acquires"
    y = physics.forward(torch.rand(2, 2, 16, 32))
    model = lambda y, p: 0.9 * p.init(y)  # noqa: E731
    one = losses.ei_loss(model, physics, y, torch.Generator().manual_seed(5), 1.5, True, "any")
    multi = losses.ei_loss(model, physics, y, torch.Generator().manual_seed(5), 1.5, True, "any", operators="multi")
    gen = torch.Generator().manual_seed(5)
    x1 = model(y, physics)
    losses.random_transform(x1, gen, True, "any")  # the draws EI takes first
    shifted = physics.shifted_sampling(gen)
    term = torch.nn.functional.mse_loss(model(shifted.forward(x1), shifted), x1)
    torch.testing.assert_close(multi - one, 1.5 * term)
    sr = make_physics("sr", {"scale": 2, "kernel": np.ones((3, 3), np.float32) / 9, "channels": 3})
    with pytest.raises(ValueError, match="multi-operator EI needs a family of operators"):
        losses.ei_loss(model, sr, sr.forward(torch.rand(1, 3, 16, 16)), torch.Generator(), operators="multi")
