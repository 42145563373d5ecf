"""Fine-tuning recipes: distillation with labels, longer fine-tuning and iterative pruning,
at a compute each fit records (prior evaluations)."""

import pandas as pd
import pytest
import torch
from conftest import TINY_DU, TINY_OPTS

from spade import losses
from spade.checkpoint import layer_shapes, load_model, load_payload
from spade.study.config import ConfigError, check_config, load_schema
from spade.study.data import H5Split, read_physics
from spade.models import build_model
from spade.physics import make_physics
from spade.prune import StepwisePruning, prior_channels, prune_model
from spade.study.stages import finetune
from spade.train import TeacherOutputs
from spade.study.report.palette import palette
from spade.strategies import Strategy, names

ARCH, OPTS = TINY_DU, TINY_OPTS


def test_strategy_names_parse_into_strategy_and_recipe():
    assert (Strategy.parse("school").name, Strategy.parse("school").recipe) == ("school", None)
    iterated = Strategy.parse("supervised-iter")
    assert (iterated.name, iterated.recipe) == ("supervised", "iter") and str(iterated) == "supervised-iter"
    distill = Strategy.parse("distill-long")
    assert distill.needs_target and distill.needs_teacher
    assert Strategy.parse("school-iter").data == "measurements + teacher"
    jac = Strategy.parse("selfsup-jac")
    assert (jac.name, jac.recipe) == ("selfsup", "jac") and jac.needs_fixed_point and not jac.spends_budget
    assert Strategy.parse("supervised-long").spends_budget and not Strategy.parse("school").needs_fixed_point
    for bad in ("supervised-short", "teacher", "school-"):
        with pytest.raises(ValueError, match="unknown strategy"):
            Strategy.parse(bad)
    # every name has its own colour in every figure
    colours = palette()
    assert set(names()) <= set(colours) and len(set(colours.values())) == len(colours)


def test_distill_loss_is_the_supervised_loss_plus_the_teachers():
    torch.manual_seed(0)
    student, teacher = build_model({"arch": "du", "channels": 2, **ARCH}), build_model({"arch": "du", "channels": 2,
                                                                                       **ARCH})
    physics = make_physics("mri", {"mask": (torch.rand(16, 16) < 0.4).float().numpy()})
    x = torch.rand(2, 2, 16, 16)
    y = physics.forward(x)
    with torch.no_grad():
        both = losses.distill_loss(student, teacher, physics, y, x, 0.5)
        sup = losses.supervised_loss(student, physics, y, x)
        school = losses.school_loss(student, teacher, physics, y)
        torch.testing.assert_close(both, sup + 0.5 * school)
        torch.testing.assert_close(losses.distill_loss(student, teacher, physics, y, x, 0.0), sup)


def test_teacher_outputs_of_a_labelled_split_keep_its_targets(mri_files):
    split = H5Split(mri_files["val"], True)
    _, params = read_physics(mri_files["val"])
    physics = make_physics("mri", params)
    teacher = build_model({"arch": "du", "channels": 2, **ARCH}).eval()
    paired = TeacherOutputs(split, teacher, physics, 2, torch.device("cpu"))
    y, x, out = paired[1]
    torch.testing.assert_close(y, torch.as_tensor(split[1][0]))
    torch.testing.assert_close(x, torch.as_tensor(split[1][1]))
    with torch.no_grad():
        torch.testing.assert_close(out, teacher(y[None], physics)[0])


@pytest.mark.parametrize("criterion", ["l1", "random", "taylor"])
def test_stepwise_pruning_ends_at_the_one_shot_widths(criterion):
    torch.manual_seed(0)
    base = build_model({"arch": "du", "channels": 2, **{**ARCH, "prior": {"name": "edsr", "features": 16,
                                                                           "blocks": 2}}})
    physics = make_physics("mri", {"mask": (torch.rand(16, 16) < 0.4).float().numpy()})
    y = physics.forward(torch.rand(1, 2, 16, 16))
    example = physics.init(y)
    one_shot = build_model({"arch": "du", "channels": 2, **{**ARCH, "prior": {"name": "edsr", "features": 16,
                                                                               "blocks": 2}}})
    one_shot.load_state_dict(base.state_dict())
    prune_model(one_shot, example, 0.6, criterion, measurements=[(y, physics)])
    pruning = StepwisePruning(base, example, 0.6, criterion, steps=3, measurements=[(y, physics)])
    removed = []
    for _ in range(3):
        removed.append(pruning.step()["channel_ratio"])
    assert removed[0] < removed[1] < removed[2], "each step removes more"
    assert layer_shapes(base) == layer_shapes(one_shot)
    assert prior_channels(base) == prior_channels(one_shot)
    with pytest.raises(Exception, match="all 3 pruning steps are done"):
        pruning.step()


def test_stepwise_pruning_refuses_global_allocation():
    model = build_model({"arch": "du", "channels": 2, **ARCH})
    with pytest.raises(ValueError, match="uniform allocation"):
        StepwisePruning(model, torch.rand(1, 2, 16, 16), 0.5, "l1_global", steps=2)


def _finetune(study, tmp_path, strategy, **kw):
    out = tmp_path / f"{strategy}.pt"
    rule = Strategy.parse(strategy)
    finetune(strategy, study["pruned"], study["unpruned"] if rule.needs_teacher else None,
             study["train"] if rule.needs_target else study["unlabelled"], study["val"], OPTS, 0, 1, out,
             tmp_path / f"{strategy}.csv", tmp_path / f"{strategy}.state.pt", **kw)
    return out


def test_recipes_spend_budget_times_the_epochs_and_record_the_compute(pruned_du, tmp_path):
    plain = load_payload(_finetune(pruned_du, tmp_path, "distill"))["meta"]
    long = load_payload(_finetune(pruned_du, tmp_path, "supervised-long"))["meta"]
    stepwise_path = _finetune(pruned_du, tmp_path, "supervised-iter", base_path=pruned_du["unpruned"],
                              prune_data_path=pruned_du["unlabelled"])
    stepwise = load_payload(stepwise_path)["meta"]
    images = len(H5Split(pruned_du["train"], True))
    assert plain["cost"]["epochs"] == 1 and long["cost"]["epochs"] == 3 and stepwise["cost"]["epochs"] == 3
    assert plain["cost"]["data"] == "labelled pairs + teacher"
    # two unrolled steps: two prior evaluations per image and epoch
    assert plain["cost"]["prior_calls"] == 2 * images
    assert long["cost"]["prior_calls"] == stepwise["cost"]["prior_calls"] == 3 * 2 * images
    assert [row["step"] for row in stepwise["history"]] == [1, 2, 3]
    assert pd.read_csv(tmp_path / "supervised-iter.csv").step.tolist() == [1, 2, 3]
    assert stepwise["identity"]["strategy"] == "supervised-iter" and stepwise["recipe"] == {"name": "iter",
                                                                                            "budget": 3}
    # the same widths as the one-shot model that stands beside it (and for it, in timings)
    model, _ = load_model(stepwise_path)
    assert layer_shapes(model) == layer_shapes(load_model(pruned_du["pruned"])[0])
    assert sorted(p.name for p in tmp_path.glob("supervised-iter.state.step*.pt")) == [
        f"supervised-iter.state.step{i}.pt" for i in (1, 2, 3)]


def test_iterative_recipe_needs_the_unpruned_network(pruned_du, tmp_path):
    with pytest.raises(ValueError, match="stepwise pruning needs the unpruned network"):
        _finetune(pruned_du, tmp_path, "school-iter")


def _minimal(strategies, criteria):
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "config" / "config.yaml").read_text())
    # exact widths: -iter and global allocation refuse the default's auto (tested in test_config_strict)
    config.update(strategies=strategies, criteria=criteria, round_to=None)
    return config, load_schema(root / "workflow" / "schemas" / "config.schema.yaml")


def test_config_refuses_unknown_recipes_and_stepwise_global_allocation():
    check_config(*_minimal(["supervised-iter", "distill-long", "selfsup-long"], ["l1", "taylor"]))
    with pytest.raises(ConfigError, match="strategies"):
        check_config(*_minimal(["supervised-short"], ["l1"]))
    with pytest.raises(ConfigError, match="needs uniform allocation; criterion l1_global"):
        check_config(*_minimal(["school-iter"], ["l1", "l1_global"]))
    # with the first criterion alone, a global criterion elsewhere in the study is fine
    config, schema = _minimal(["school", "school-iter"], ["l1", "l1_global"])
    check_config({**config, "first_criterion_only": ["school-iter"]}, schema)
    with pytest.raises(ConfigError, match="'first_criterion_only': 'distill' is not among strategies"):
        check_config({**config, "first_criterion_only": ["distill"]}, schema)
    check_config(*_minimal(["supervised", "supervised-jac"], ["l1"]))
    config, schema = _minimal(["supervised-jac"], ["l1"])
    with pytest.raises(ConfigError, match="supervised-jac penalises a fixed point's Jacobian, but no DEQ"):
        check_config({**config, "archs": ["du", "varnet"]}, schema)


def test_the_jacobian_recipe_runs_on_deqs_only_without_the_long_control():
    from spade.study import Study

    config, _ = _minimal(["supervised", "school-jac"], ["l1"])
    study = Study({**config, "first_criterion_only": [], "target_speedups": []})
    assert not study.has_recipes, "the penalty spends no extra epochs: no unpruned-long control"
    deq = {v.strategy for v in study.variants("mri", "deq")}
    du = {v.strategy for v in study.variants("mri", "du")}
    assert "school-jac" in deq and "school-jac" not in du and "supervised" in du


def test_the_jacobian_recipe_fine_tunes_a_deq_with_the_penalty(mri_files, tmp_path):
    """A pruned DEQ fine-tuned with supervised-jac: the strategy's epochs, the penalty in its
    history at the configured weight, the recipe recorded."""
    from spade.study.stages import prune, train_unpruned

    deq = {"prior": {"name": "dncnn", "features": 8, "layers": 3}, "step_size": 1.0, "alpha": 0.5,
           "solver": {"memory": 5, "max_iter": 20, "tol": 1e-3}}
    unpruned, pruned = tmp_path / "deq.pt", tmp_path / "deq-pruned.pt"
    train_unpruned("mri", "deq", deq, {**OPTS, "epochs": 1}, 0, 1, mri_files["train"], mri_files["val"], unpruned,
                   tmp_path / "h.csv", tmp_path / "s.pt")
    prune(unpruned, mri_files["train"], 0.5, "l1", 0, pruned)
    out = tmp_path / "jac.pt"
    opts = {**OPTS, "epochs": 2, "recipes": {"budget": 3, "jacobian_weight": 0.5}}
    finetune("supervised-jac", pruned, None, mri_files["train"], mri_files["val"], opts, 0, 1, out,
             tmp_path / "jac.csv", tmp_path / "jac.state.pt")
    meta = load_payload(out)["meta"]
    assert meta["recipe"] == {"name": "jac", "budget": 1} and meta["cost"]["epochs"] == 2
    penalties = [row["jacobian"] for row in meta["history"]]
    assert len(penalties) == 2 and all(p > 0 for p in penalties)
