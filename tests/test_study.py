"""The study's design (spade.study) and its variants (spade.study.variants), without Snakemake:
which variants exist, where each lives, which timing stands for which."""

import pytest
import yaml
from conftest import ROOT

from spade.study import Study
from spade.study.variants import PRUNED, SCRATCH, Variant


def _config(**over):
    config = yaml.safe_load((ROOT / ".test" / "config" / "config.yaml").read_text())
    config.setdefault("first_criterion_only", [])
    config.setdefault("target_speedups", [])
    config.setdefault("shifts", {})
    config["finetune"].setdefault("distill", {"weight": 1.0})
    config["finetune"].setdefault("recipes", {"budget": 3})
    config.update(over)
    return config


def test_variant_keys_round_trip_and_never_parse_a_label():
    for v in (Variant("mri", "du", "l1", 0.4, "school"), Variant("sr", "deq", "taylor_global", 0.25, PRUNED),
              Variant("mri", "varnet", "l1", 0, "supervised-iter", target=2.0)):
        assert Variant.from_key(v.task, v.arch, v.key, v.strategy) == v
        assert Variant.from_identity(v.columns()) == v
    assert Variant("mri", "du", "l1", 0.4, PRUNED).key == "l1-r0.4"
    assert Variant("mri", "du", "l1", strategy=PRUNED, target=2).key == "l1-x2.0"
    assert Variant("mri", "du", "l1", 0.5, "school", target=1.05).label == "l1-x1.05-school"
    assert Variant("mri", "du").label == "unpruned" and not Variant("mri", "du").is_pruned
    old = {"task": "mri", "arch": "du", "criterion": "l1", "ratio": 0.4, "strategy": "none"}  # before targets
    assert Variant.from_identity(old).target == 0.0
    for bad in ("l1", "l1-q0.4", "-r0.4", "l1-rfast"):
        with pytest.raises(ValueError, match="path key"):
            Variant.from_key("mri", "du", bad)


def test_fixed_iteration_networks_share_their_pruned_timing():
    du, deq = Variant("mri", "du", "l1", 0.4, "school"), Variant("mri", "deq", "l1", 0.4, "school")
    assert du.timed_as() == du.with_strategy(PRUNED) and deq.timed_as() == deq
    assert Variant("mri", "du").timed_as() == Variant("mri", "du")
    assert Variant("mri", "varnet", "l1", 0.4, SCRATCH).timed_as().strategy == PRUNED


def test_variants_follow_the_config():
    study = Study(_config(criteria=["l1", "l2"], ratios=[0.3, 0.6], strategies=["school", "supervised-iter"],
                          first_criterion_only=["supervised-iter"], scratch_ratios=[0.6, 0.9],
                          target_speedups=[2.0]))
    variants = study.variants("mri", "du")
    keys = {(v.criterion, v.ratio, v.strategy, v.target) for v in variants}
    assert ("l1", 0.3, "supervised-iter", 0.0) in keys and ("l2", 0.3, "supervised-iter", 0.0) not in keys
    assert ("l2", 0.6, SCRATCH, 0.0) in keys and ("l1", 0.9, SCRATCH, 0.0) not in keys  # 0.9 is off the grid
    targets = [v for v in variants if v.target]
    assert {v.strategy for v in targets} == {PRUNED, "school"} and {v.criterion for v in targets} == {"l1"}
    assert len(variants) == 2 * 2 * 2 + 2 * 1 + 2 + 2  # criteria x ratios x (none, school), iter, scratch, targets
    # on shifted sets only the first criterion, without first_criterion_only
    assert all(v.criterion == "l1" and v.strategy != "supervised-iter" for v in study.robustness_variants("mri", "du"))


def test_paths_and_inputs_come_from_one_set_of_templates():
    study = Study(_config(strategies=["supervised", "school", "distill-iter"]))
    school = Variant("mri", "du", "l1", 0.5, "school")
    assert study.model_path(school) == "results/finetuned/mri/du/l1-r0.5/school.pt"
    assert study.model_path(school.with_strategy(PRUNED)) == "results/pruned/mri/du/l1-r0.5.pt"
    assert study.model_path(school.with_strategy(SCRATCH)) == "results/scratch/mri/du/l1-r0.5.pt"
    assert study.metrics_path("val", school) == "results/metrics/val/mri/du/l1-r0.5/school.csv"
    assert study.finetune_inputs(school) == {"pruned": "results/pruned/mri/du/l1-r0.5.pt",
                                             "train": "results/data/mri/unlabelled.h5",
                                             "val": "results/data/mri/val.h5",
                                             "teacher": "results/models/mri/du/unpruned.pt"}
    iterative = study.finetune_inputs(school.with_strategy("distill-iter"))
    assert iterative["train"] == "results/data/mri/train.h5" and iterative["base"] == iterative["teacher"]
    assert iterative["prune_data"] == "results/data/mri/unlabelled.h5"
    assert "teacher" not in study.finetune_inputs(school.with_strategy("supervised"))


def test_benchmark_and_metric_lists():
    study = Study(_config())
    du = [v["path"] for v in study.timed_variants("mri", "du")]
    deq = [v["path"] for v in study.timed_variants("mri", "deq")]
    assert du[:2] == ["results/models/mri/du/unpruned.pt"] * 2
    assert "results/finetuned/mri/du/l1-r0.5/school.pt" not in du and "results/pruned/mri/du/l1-r0.5.pt" in du
    assert "results/finetuned/mri/deq/l1-r0.5/school.pt" in deq and "results/scratch/mri/deq/l1-r0.5.pt" in deq
    val = study.metric_paths("val")
    assert "results/metrics/val/mri/classical.csv" in val and all("/val/" in p for p in val)
    assert study.eval_splits("mri") == ["test", "external"] and study.eval_splits("sr") == ["test"]
    # compressed sensing beside zero-filling on MRI (bicubic alone on SR), scored and timed
    assert {"results/metrics/val/mri/cs-tv.csv", "results/metrics/val/mri/cs-wavelet.csv"} <= set(val)
    assert not [p for p in val if "/sr/cs-" in p]
    assert "results/bench/mri/classical.csv" in study.bench_tables()
    assert "results/bench/sr/classical.csv" not in study.bench_tables()
    no_external = _config()
    no_external["data"]["mri"]["external"] = []
    assert Study(no_external).eval_splits("mri") == ["test"]
    assert set(study.fit_options("finetune", "mri", "varnet")) >= {"epochs", "selfsup", "ei", "ssdu"}


def test_recipes_bring_the_unpruned_long_control():
    plain = Study(_config())
    assert not plain.has_recipes and [v.strategy for v in plain.unpruned_kinds("mri", "du")] == ["unpruned",
                                                                                                 "prior-off"]
    study = Study(_config(strategies=["school", "supervised-long"]))
    kinds = study.unpruned_kinds("mri", "deq")
    assert [v.strategy for v in kinds] == ["unpruned", "prior-off", "unpruned-long"]
    assert study.model_path(kinds[2]) == "results/models/mri/deq/unpruned-long.pt"
    assert "results/models/mri/deq/unpruned-long.pt" in study.cost_models()
    assert {"model": "results/models/mri/deq/unpruned-long.pt", "prior_off": False,
            "metrics": "results/metrics/test/mri/deq/unpruned-long.csv",
            "examples": "results/metrics/test/mri/deq/unpruned-long.npz"} in study.evaluation_jobs("test", "mri", "deq")
    # timed on its own where iterations depend on weights; the unpruned network's timing elsewhere
    assert "results/models/mri/deq/unpruned-long.pt" in [v["path"] for v in study.timed_variants("mri", "deq")]
    assert "results/models/mri/du/unpruned-long.pt" not in [v["path"] for v in study.timed_variants("mri", "du")]
    opts = study.unpruned_long_options("mri", "du")
    assert opts["epochs"] == study.fit_options("finetune", "mri", "du")["epochs"] * opts["recipes"]["budget"]


def test_a_repeat_with_a_further_seed_has_its_own_networks_and_the_studys_data():
    """`seeds.repeat`: each further seed trains, prunes and fine-tunes anew under its own
    paths, on the study's data; the comparison it repeats (first criterion at `seeds.ratios`,
    `seeds.strategies`, scratch, unpruned-long with a recipe) is also in the study itself,
    whose seed is the first."""
    config = _config(criteria=["l1", "l2"], ratios=[0.3, 0.6], strategies=["supervised", "school", "supervised-long"],
                     scratch_ratios=[], seed=5,
                     seeds={"repeat": [7, 8], "ratios": [0.6], "strategies": ["supervised", "supervised-long"]})
    study = Study(config)
    repeat = study.seeded(7)
    assert repeat.config["seed"] == 7 and repeat.run == "seeds/7/" and not repeat.repeat_seeds
    v = Variant("mri", "du", "l1", 0.6, "supervised")
    assert study.model_path(v) == "results/finetuned/mri/du/l1-r0.6/supervised.pt"
    assert repeat.model_path(v) == "results/seeds/7/finetuned/mri/du/l1-r0.6/supervised.pt"
    assert repeat.metrics_path("val", Variant("mri", "du")) == "results/seeds/7/metrics/val/mri/du/unpruned.csv"
    inputs = repeat.finetune_inputs(v)
    assert inputs["train"] == study.finetune_inputs(v)["train"] == "results/data/mri/train.h5"
    assert inputs["pruned"] == "results/seeds/7/pruned/mri/du/l1-r0.6.pt"
    assert repeat.unpruned_path("mri", "du") == "results/seeds/7/models/mri/du/unpruned.pt"
    strategies = {v.strategy for v in repeat.variants("mri", "du")}
    assert strategies == {"none", "supervised", "supervised-long", SCRATCH}
    assert {(v.criterion, v.ratio) for v in repeat.variants("mri", "du")} == {("l1", 0.6)}
    assert "unpruned-long" in {v.strategy for v in repeat.unpruned_kinds("mri", "du")}
    # the study itself holds every variant the repeats compare (scratch at 0.6 included)
    compared = study.seed_comparison()
    mine = {v for t, a in study.pairs() for v in study.unpruned_kinds(t, a) + study.variants(t, a)}
    assert compared and set(compared) <= mine
    files = study.seed_metric_paths()
    assert list(files) == [5, 7, 8]
    assert all(p.startswith("results/seeds/8/metrics/") for p in files[8])
    assert all(p.startswith("results/metrics/") for p in files[5])
    assert study.for_run("seeds/8/").config["seed"] == 8 and study.for_run("") is study
    assert "results/tables/seeds.csv" in study.all_outputs()
    assert "results/tables/seeds.csv" not in Study(_config()).all_outputs()


def test_a_repeat_must_repeat_the_studys_own_variants():
    from spade.study.config import study_problems

    problems = study_problems(_config(ratios=[0.3], strategies=["supervised"], seed=0,
                                      seeds={"repeat": [0, 1], "ratios": [0.6], "strategies": ["school"]}))
    assert any("'seeds.ratios': 0.6 is not among ratios" in p for p in problems)
    assert any("'seeds.strategies': 'school' is not among strategies" in p for p in problems)
    assert any("'seeds.repeat': holds the study's own seed 0" in p for p in problems)
    assert not [p for p in study_problems(_config(seeds={"repeat": [], "ratios": [0.6], "strategies": []}))
                if "seeds" in p]


def test_a_scale_may_have_its_own_width_rules():
    deq = {"prior": {"name": "edsr", "features": 8, "blocks": 1}}
    config = _config(scale_timing={"ratios": [0.5], "round_to": [None, "auto"], "scales": {
        "big": {"size": 64, "coils": 2, "networks": {"deq": deq}},
        "huge": {"size": 96, "coils": 2, "round_to": [None, 8], "networks": {"deq": deq}}}})
    specs = Study(config).scale_specs()
    assert "round_to" not in specs[("big", "deq")], "the block's rules (scale_timing.round_to)"
    assert specs[("huge", "deq")]["round_to"] == [None, 8]
