"""The label-free ablation: rotations by any angle, the consistency weight, and the
held-out k-space score settings are chosen by, on validation data only."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_DU, TINY_OPTS

from spade import losses
from spade.physics import make_physics
from spade.stages import finetune, label_free_scores

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


def test_label_free_table_scores_every_setting_on_validation_and_chooses_without_labels(pruned_du, tmp_path):
    fits = []
    for name, opts in (("ei_any", {**OPTS, "ei": {"weight": 1.0, "rotate": True, "angles": "any"}}),
                       ("ssdu", {**OPTS, "selfsup": {"mri": "ssdu"}, "epochs": 2})):
        out = tmp_path / f"{name}.pt"
        finetune("selfsup", pruned_du["pruned"], None, pruned_du["unlabelled"], pruned_du["val"], opts, 0, 1,
                 out, tmp_path / f"{name}.csv", tmp_path / f"{name}.state.pt")
        fits.append((name, str(out)))
    models = [("unpruned", str(pruned_du["unpruned"])), ("none", str(pruned_du["pruned"])), *fits]
    table = label_free_scores(models, pruned_du["val"], tmp_path / "lf.csv", tmp_path / "lf.md", 0, 1,
                              OPTS["ssdu"])
    assert list(table.setting) == ["unpruned", "none", "ei_any", "ssdu"]
    assert list(table.epochs.fillna(0)) == [0, 0, 1, 2]
    assert table.loc[table.setting == "unpruned", "minus_unpruned"].item() == 0
    tuned = table[table.setting.isin(["ei_any", "ssdu"])]
    assert table.chosen.sum() == 1 and table.loc[table.chosen, "setting"].item() == \
        tuned.loc[tuned.heldout_kspace.idxmin(), "setting"]
    assert tuned.own_val_loss.notna().all() and table.val_psnr.gt(0).all()
    assert pd.read_csv(tmp_path / "lf.csv").setting.tolist() == list(table.setting)
    assert "| ei_any | 1 |" in (tmp_path / "lf.md").read_text()
