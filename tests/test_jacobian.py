"""The DEQ's Jacobian penalty (Bai, Koltun and Kolter 2021): Hutchinson's estimate of
||J||_F^2 / d at the fixed point, its exact value, and fine-tuning that lowers it."""

import pytest
import torch

from spade.study.data import H5Split, read_physics
from spade.models import build_model
from spade.models.deq import jacobian_estimate
from spade.physics import make_physics
from spade.train import fit, make_strategy

from conftest import ALL_SPECS, TINY_SPECS

OPTS = {"epochs": 4, "batch_size": 4, "lr": 2e-3, "loss": "l1"}


def test_the_estimate_is_unbiased_for_the_frobenius_norm():
    """The mean of many one-sample estimates is ||J||_F^2 / d, J computed exactly."""
    torch.manual_seed(0)
    weight = torch.randn(6, 6) / 3
    x = torch.randn(1, 6, requires_grad=True)
    fx = torch.tanh(x @ weight)
    exact = torch.autograd.functional.jacobian(lambda z: torch.tanh(z @ weight), x).reshape(6, 6)
    estimates = torch.stack([jacobian_estimate(fx, x).detach() for _ in range(4000)])
    assert estimates.mean().item() == pytest.approx(exact.pow(2).sum().item() / 6, rel=0.05)


def test_fine_tuning_with_the_penalty_lowers_it_and_only_deqs_take_it(mri_files, tmp_path):
    """A DEQ fine-tuned with the penalty ends with a smaller estimate at its fixed points than
    one fine-tuned without it (same data, seed, epochs); the history records it per epoch; a
    network with no fixed point is refused by name."""
    physics = make_physics(*read_physics(mri_files["train"]))
    train, val = H5Split(mri_files["train"], True), H5Split(mri_files["val"], True)

    def tuned(weight, tag):
        torch.manual_seed(0)
        model = build_model(ALL_SPECS["deq-dncnn"])
        opts = {**OPTS, "jacobian_weight": weight}
        _, history = fit(model, make_strategy("supervised", "mri", opts), physics, train, val, opts, 3,
                         tmp_path / f"{tag}.state.pt", tmp_path / f"{tag}.csv", log=lambda m: None)
        model.train()
        model.track_jacobian = True  # measure both the same way, on the training split
        torch.manual_seed(1)
        for i in range(len(train)):
            model(train.y[i][None], physics)
        value = torch.stack(model.jacobian_terms).mean().item()
        model.jacobian_terms.clear()
        return value, history

    penalised, history = tuned(5.0, "penalised")
    plain, plain_history = tuned(0.0, "plain")
    assert all(row["jacobian"] is not None for row in history)
    assert all(row["jacobian"] is None for row in plain_history)
    assert penalised < plain
    with pytest.raises(ValueError, match="jacobian_weight 1.0: Unrolled is not an equilibrium"):
        opts = {**OPTS, "jacobian_weight": 1.0}
        fit(build_model(TINY_SPECS["dncnn"]), make_strategy("supervised", "mri", opts), physics, train, val, opts, 3,
            tmp_path / "du.state.pt", tmp_path / "du.csv", log=lambda m: None)


def test_the_weight_sweep_scores_each_weight_on_validation_only(tiny_run, tmp_path):
    """spade.study.jacobian_sweep on a finished study: each weight fine-tunes the study's pruned DEQ
    and is scored on validation beside the study's own supervised fit; the rule picks at most
    one weight, and only one within the margin."""
    import pandas as pd

    from spade.study.jacobian_sweep import MARGIN_DB, sweep

    results = tiny_run / "results"
    table = sweep(results, 0.5, [0.01, 10.0], tmp_path)
    assert table.weight.tolist() == [0.0, 0.01, 10.0]
    reference = pd.read_csv(results / "metrics/val/mri/deq/l1-r0.5/supervised.csv")
    assert table.val_psnr.iloc[0] == pytest.approx(reference.psnr.mean())
    assert (table.iterations > 0).all() and table.val_psnr.between(5, 60).all()
    picked = table[table.chosen]
    assert len(picked) <= 1 and (picked.minus_supervised_db > -MARGIN_DB).all()
    scored = {p.name for p in tmp_path.glob("*_val.csv")}
    assert scored == {"jac0.01_val.csv", "jac10_val.csv"}
    for name in scored:
        assert set(pd.read_csv(tmp_path / name).split) == {"val"}, "the test split is never read"
