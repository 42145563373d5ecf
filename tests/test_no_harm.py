"""Label-free recovery that does no harm: the hybrid strategy, proximal fine-tuning (the
pull toward the starting weights, a label-free curve that holds the starting network), the
refusals of labelled data and PSNR choices, and the no-harm check the study runs."""

import copy

import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT, TINY_SPECS

from spade.study.config import ConfigError, check_config, load_schema
from spade.study.data import H5Split, read_physics
from spade.models import build_model
from spade.physics import make_physics
from spade.strategies import REGISTRY
from spade.train import fit, label_free_fit_options, make_strategy

SCHEMA = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
OPTS = {"epochs": 2, "batch_size": 4, "lr": 2e-3, "loss": "l1", "selfsup": {"mri": "ei"},
        "ei": {"weight": 1.0, "rotate": True}, "hybrid": {"mc_weight": 1.0}}


def _config(**finetune):
    cfg = copy.deepcopy(DEFAULT)
    cfg["finetune"].update(finetune)
    return cfg


def test_label_free_data_that_carries_labels_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"'finetune.label_free_data': 'val' is not data a label-free strategy"):
        check_config(_config(label_free_data="val"), SCHEMA)
    cfg = copy.deepcopy(DEFAULT)
    cfg["label_free_ablation"] = {"task": "mri", "ratio": 0.5, "archs": ["du"],
                                  "settings": {"a": {"data": {"split": "val"}}}}
    with pytest.raises(ConfigError, match=r"'label_free_ablation.settings.a.data.split': 'val'"):
        check_config(cfg, SCHEMA)
    assert check_config(_config(label_free_data="unlabelled"), SCHEMA) == []
    # the training split's measurements: their ground truth is what the networks trained on
    with pytest.raises(ConfigError, match=r"'finetune.label_free_data': 'train' is not data .* networks were trained"):
        check_config(_config(label_free_data="train"), SCHEMA)


def test_a_label_free_choice_set_to_read_psnr_is_refused():
    block = {**DEFAULT["finetune"]["label_free"], "monitor": {"mri": "psnr", "sr": "loss"}}
    with pytest.raises(ConfigError, match=r"'finetune.label_free.monitor.mri': 'psnr' reads ground truth"):
        check_config(_config(label_free=block), SCHEMA)


def test_the_default_gives_label_free_strategies_measurements_no_network_trained_on():
    from spade.study import Study

    study = Study(copy.deepcopy(DEFAULT))
    assert study.label_free_split == "unlabelled", "measurements of slices no network trained on"
    assert study.no_harm_strategies() == [], "the no-harm check runs in `make choices`, not in every run"
    study = Study({**copy.deepcopy(DEFAULT), "no_harm_check": True})
    assert study.no_harm_strategies() == ["school", "selfsup"]
    fits = study.no_harm_fits()
    assert {(f["task"], f["arch"]) for f in fits} == set(study.pairs()) and len(fits) == 2 * len(study.pairs())
    inputs = study.no_harm_inputs("mri", "deq", "school")
    assert inputs["pruned"] == inputs["teacher"] == study.unpruned_path("mri", "deq")
    assert inputs["train"] == study.data_path("mri", "unlabelled")


def test_label_free_options_apply_to_label_free_fits_only():
    opts = {**OPTS, "label_free": {"lr": 1e-5, "epochs": 4, "anchor": 0.5, "monitor": {"mri": "heldout_kspace"}}}
    out = label_free_fit_options(opts, "mri")
    assert (out.lr, out.epochs, out.anchor_weight, out.monitor) == (1e-5, 4, 0.5, "heldout_kspace")
    assert label_free_fit_options(opts, "sr").monitor == "loss"
    assert label_free_fit_options(OPTS, "mri").lr == OPTS["lr"], "null: the task's own"


def test_hybrid_is_school_plus_measurement_consistency(mri_files):
    from spade.losses import hybrid_loss, school_loss

    spec = REGISTRY["hybrid"]
    assert spec.needs_teacher and not spec.needs_target
    torch.manual_seed(0)
    teacher, student = build_model(TINY_SPECS["dncnn"]), build_model(TINY_SPECS["dncnn"])
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(0.05 * torch.randn_like(p))
    physics = make_physics(*read_physics(mri_files["train"]))
    split = H5Split(mri_files["train"], False)
    y = torch.stack([split[i] for i in range(2)])
    with torch.no_grad():
        mc = torch.nn.functional.mse_loss(physics.forward(student(y, physics)), y)
        got = hybrid_loss(student, teacher, physics, y, 2.0)
        torch.testing.assert_close(got, school_loss(student, teacher, physics, y) + 2.0 * mc)
        # against itself as teacher only the consistency term is left
        torch.testing.assert_close(hybrid_loss(student, student, physics, y, 2.0), 2.0 * mc)
        strategy = make_strategy("hybrid", "mri", {**OPTS, "hybrid": {"mc_weight": 2.0}}, teacher)
        torch.testing.assert_close(strategy.loss(student, physics, y, None), got)
        torch.testing.assert_close(strategy.paired_loss(student, physics, (y, teacher(y, physics)), None), got)


def _distance(model, start):
    return sum((p - q).pow(2).sum().item() for p, q in zip(model.parameters(), start))


def _label_free_fit(files, tmp_path, tag, **label_free):
    torch.manual_seed(0)
    model = build_model(TINY_SPECS["dncnn"])
    with torch.no_grad():  # a trained-looking prior (the tiny DnCNN's output layer starts at zero)
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    start = [p.detach().clone() for p in model.parameters()]
    physics = make_physics(*read_physics(files["train"]))
    opts = label_free_fit_options({**OPTS, "label_free": label_free}, "mri")
    strategy = make_strategy("selfsup", "mri", opts)
    model, history = fit(model, strategy, physics, H5Split(files["train"], False), H5Split(files["val"], False),
                         opts, 3, tmp_path / f"{tag}.state.pt", tmp_path / f"{tag}.csv", log=lambda msg: None)
    return _distance(model, start), history


def test_the_anchor_pulls_a_label_free_fit_toward_its_starting_weights(mri_files, tmp_path):
    free, _ = _label_free_fit(mri_files, tmp_path, "free", monitor={"mri": "loss"})
    pulled, _ = _label_free_fit(mri_files, tmp_path, "pulled", anchor=100.0, monitor={"mri": "loss"})
    assert 0 < pulled < 0.5 * free, (pulled, free)


def test_a_label_free_curve_holds_the_starting_network(mri_files, tmp_path):
    """Epoch 0 is the starting network: a fit that cannot improve on it (learning rate 0)
    keeps it, and the fit's cost counts the trained epochs only."""
    from spade.study.stages.context import fit_cost

    moved, history = _label_free_fit(mri_files, tmp_path, "still", lr=1e-12, monitor={"mri": "heldout_kspace"})
    assert [row["epoch"] for row in history] == [0, 1, 2] and history[0]["best"]
    assert moved < 1e-12
    cost = fit_cost(history, H5Split(mri_files["train"], False), "measurements", torch.device("cpu"))
    assert cost["epochs"] == 2 and cost["best_epoch"] in (0, 1, 2)


def test_school_cannot_move_a_network_that_is_its_own_teacher(mri_files, tmp_path):
    """The no-harm check's premise for school: the unpruned network as student and teacher
    gives a zero loss and zero gradient, so the fit returns the network unchanged."""
    torch.manual_seed(0)
    model = build_model(TINY_SPECS["dncnn"])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    teacher = copy.deepcopy(model)
    start = [p.detach().clone() for p in model.parameters()]
    physics = make_physics(*read_physics(mri_files["train"]))
    opts = label_free_fit_options(OPTS, "mri")
    model, history = fit(model, make_strategy("school", "mri", opts, teacher), physics,
                         H5Split(mri_files["train"], False), H5Split(mri_files["val"], False), opts, 3,
                         tmp_path / "s.state.pt", tmp_path / "s.csv", log=lambda msg: None)
    assert _distance(model, start) == 0.0 and history[1]["train_loss"] == 0.0


def test_the_tiny_study_runs_the_no_harm_check_and_prints_it(tiny_run):
    tables = tiny_run / "results" / "tables"
    check = pd.read_csv(tables / "no_harm.csv")
    summary = pd.read_csv(tables / "summary.csv")
    pairs = summary[summary.strategy == "unpruned"][["task", "arch"]].drop_duplicates()
    assert len(check) == 2 * len(pairs) and set(check.strategy) == {"school", "selfsup"}
    assert set(map(tuple, check[["task", "arch"]].to_numpy())) == set(map(tuple, pairs.to_numpy()))
    # each row against the unpruned network's own validation PSNR, recomputed from the per-image
    # scores: each subject's (photograph's) mean first, then the mean over them
    val = pd.concat(pd.read_csv(p) for p in (tiny_run / "results/metrics/val").rglob("unpruned.csv"))
    for _, row in check.iterrows():
        unit = "subject" if row.task == "mri" else "photograph"
        ref = val[(val.task == row.task) & (val.arch == row.arch)].groupby(unit).psnr.mean().mean()
        assert row.unpruned_psnr == pytest.approx(ref, abs=1e-4)
        assert row.psnr - row.unpruned_psnr == pytest.approx(row.minus_unpruned_db, abs=1e-4)
        if row.units > 1:  # one validation photograph (the tiny SR): no interval
            assert row.minus_unpruned_low <= row.minus_unpruned_db <= row.minus_unpruned_high
        else:
            assert pd.isna(row.minus_unpruned_low)
    assert (check.harmless == (check.minus_unpruned_db > -0.1)).all()
    md = (tables / "summary.md").read_text()
    assert "## No harm: each label-free strategy fine-tunes the unpruned network (validation)" in md
    assert "Label-free fine-tuning minus supervised fine-tuning of the same pruned network" in md
    rows = summary[summary.strategy.isin(["school", "selfsup"]) & summary.minus_supervised_db.notna()]
    bounded = rows.dropna(subset=["minus_supervised_low"])  # one subject (the external set): no interval
    assert len(bounded) and (bounded.minus_supervised_low <= bounded.minus_supervised_db).all()
