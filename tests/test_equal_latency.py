"""The equal-latency comparison: its pieces (the Pareto front, fewer steps, the inertial
solver, INT8 priors) and the tiny study's table (tests/conftest.py `tiny_run`)."""

import numpy as np
import pandas as pd
import pytest
import torch

from spade import deploy
from spade.checkpoint import load_model, save_model
from spade.models import DEQ, Unrolled, build_prior
from spade.models.anderson import anderson, inertial
from spade.physics.mri import SingleCoilMRI, cartesian_mask
from spade.study.report.equal_latency import uses_pruning, winners
from spade.study.stages.equal_latency import fewer_steps_network, pareto_front


def test_pareto_front_keeps_only_undominated_points():
    speedup = [1.0, 2.0, 2.0, 3.0, 1.5]
    psnr = [30.0, 29.0, 28.0, 29.0, 29.5]
    # (2.0, 29.0) is dominated by (3.0, 29.0); (2.0, 28.0) by both; (1.5, 29.5) stands
    assert pareto_front(speedup, psnr).tolist() == [True, False, False, True, True]


def test_fewer_steps_keeps_the_prior_and_the_first_step_sizes(tmp_path):
    torch.manual_seed(0)
    model = Unrolled(build_prior({"name": "edsr", "features": 4, "blocks": 1}, 2), steps=4, step_size=1.0)
    with torch.no_grad():
        model.step_sizes.copy_(torch.tensor([0.9, 0.8, 0.7, 0.6]))
    spec = {"arch": "du", "prior": {"name": "edsr", "features": 4, "blocks": 1}, "steps": 4, "step_size": 1.0,
            "channels": 2}
    path = tmp_path / "unpruned.pt"
    save_model(path, model, spec, {"identity": {"task": "mri", "arch": "du", "criterion": "", "ratio": 0.0,
                                                "strategy": "unpruned", "target": 0.0}})
    cut, new_spec, _ = fewer_steps_network(path, 2)
    assert new_spec["steps"] == 2 and cut.step_sizes.tolist() == pytest.approx([0.9, 0.8])
    assert torch.equal(cut.prior.head.weight, model.prior.head.weight)
    with pytest.raises(ValueError, match="between 1 and"):
        fewer_steps_network(path, 4)


def test_inertial_iteration_reaches_anderson_s_fixed_point():
    # a contraction x = A x + b: both solvers find its unique fixed point
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(16, 16, generator=gen)
    a = 0.8 * a / torch.linalg.matrix_norm(a, 2)
    b = torch.randn(2, 16, generator=gen)
    f = lambda x: x @ a.T + b  # noqa: E731
    exact = torch.linalg.solve(torch.eye(16) - a, b.T).T
    x_a, _, _ = anderson(f, torch.zeros(2, 16), max_iter=200, tol=1e-7)
    x_i, iters, res = inertial(f, torch.zeros(2, 16), max_iter=500, tol=1e-7, momentum=0.3)
    assert torch.allclose(x_a, exact, atol=1e-4) and torch.allclose(x_i, exact, atol=1e-4)
    assert (iters < 500).all() and (res < 1e-7).all()


def test_a_deq_solves_with_the_inertial_solver_at_test_time_only():
    torch.manual_seed(0)
    deq = DEQ(build_prior({"name": "edsr", "features": 4, "blocks": 1}, 2), alpha=0.5, max_iter=50, tol=1e-4).eval()
    physics = SingleCoilMRI(cartesian_mask((16, 16), 4, 0.08))
    y = physics.forward(torch.randn(1, 2, 16, 16))
    with torch.no_grad():
        reference = deq(y, physics)
        deq.solver = "inertial"
        accelerated = deq(y, physics)
    assert (accelerated - reference).abs().max() < 0.05 * reference.abs().max()
    deq.solver = "broyden"
    with pytest.raises(ValueError, match="anderson or inertial"):
        deq(y, physics)


def test_int8_priors_run_inside_the_iteration_close_to_floating_point():
    torch.manual_seed(0)
    model = Unrolled(build_prior({"name": "edsr", "features": 16, "blocks": 1}, 2), steps=2).eval()
    physics = SingleCoilMRI(cartesian_mask((32, 32), 4, 0.08))
    ys = [physics.forward(torch.randn(1, 2, 32, 32)) for _ in range(3)]
    calibration = deploy.prior_inputs(model, lambda: [model(y, physics) for y in ys])
    assert len(calibration[0]) == 6  # 3 measurements x 2 steps
    int8 = deploy.quantized(model, calibration)
    with torch.inference_mode():
        ref, out = model(ys[0], physics), int8(ys[0], physics)
    assert isinstance(int8.prior, deploy.QuantizedOrtModule)
    # quantized: not torch's output bit for bit, yet close (1% of the range here)
    assert 0 < deploy.max_difference(ref, out) < 0.01
    # another image size runs on the same calibration (height and width are free)
    with torch.inference_mode():
        assert int8(physics.forward(torch.randn(1, 2, 32, 32)), physics).shape == (1, 2, 32, 32)


def test_winners_compare_the_best_with_and_without_pruning_on_paired_units():
    part = pd.DataFrame([
        {"label": "unpruned", "option": "unpruned", "base": "unpruned", "speedup": 1.0, "psnr_unit_mean": 30.0},
        {"label": "pruned r0.5", "option": "pruned", "base": "pruned r0.5", "speedup": 2.2, "psnr_unit_mean": 29.8},
        {"label": "pruned r0.5 int8", "option": "int8", "base": "pruned r0.5", "speedup": 4.4,
         "psnr_unit_mean": 29.0},
        {"label": "4-step", "option": "fewer steps", "base": "4-step", "speedup": 2.0, "psnr_unit_mean": 29.5},
        {"label": "unpruned int8", "option": "int8", "base": "unpruned", "speedup": 2.5, "psnr_unit_mean": 29.9},
    ]).assign(kept=True, unit="subject")
    assert uses_pruning(part).tolist() == [False, True, True, False, False]
    rng = np.random.default_rng(0)
    scores = pd.concat(pd.DataFrame({"image": [f"i{k}" for k in range(8)], "subject": [f"s{k}" for k in range(8)],
                                     "psnr": r.psnr_unit_mean + 0.01 * rng.standard_normal(8), "label": r.label})
                       for r in part.itertuples())
    found = {w["target"]: w for w in winners(part, scores, [1.5, 2.0, 4.0])}
    assert found[1.5]["best"].label == "unpruned int8" and found[1.5]["pruning"].label == "pruned r0.5"
    assert found[2.0]["other"].label == "unpruned int8"
    assert found[2.0]["diff"]["diff"] == pytest.approx(-0.1, abs=0.02) and found[2.0]["diff"]["units"] == 8
    assert found[4.0]["pruning"].label == "pruned r0.5 int8" and found[4.0]["other"] is None


def test_the_tiny_study_sets_every_way_of_buying_speed_side_by_side(tiny_run):
    r = tiny_run / "results"
    table = pd.read_csv(r / "tables/equal_latency.csv")
    du = table[(table.task == "mri") & (table.arch == "du")]
    assert {"unpruned", "unpruned, eager", "pruned", "scratch", "fewer steps", "int8"} <= set(du.option)
    deq = table[(table.task == "mri") & (table.arch == "deq")]
    assert {"looser tolerance", "lower cap", "inertial solver"} <= set(deq.option)
    # the DEQ's options with and without pruning; the lower cap caps the iterations it reports
    assert set(deq[deq.option == "lower cap"].base) == {"unpruned", "pruned r0.5"}
    cap = load_model(r / "models/mri/deq/unpruned.pt")[0].max_iter
    assert (deq[deq.option == "lower cap"].iterations <= min(cap, 15)).all()
    assert table.front.any() and (table.speedup > 0).all()
    assert table[table.option == "unpruned"].speedup.eq(1.0).all()
    fewer = load_model(r / "fewer_steps/mri/du/steps1.pt")[0]
    assert len(fewer.step_sizes) == 1
    text = (r / "tables/equal_latency.md").read_text()
    assert "Which way wins (mri / du)" in text and "| 2x |" in text
    assert (r / "figures/equal_latency.png").stat().st_size > 10_000
