"""The arch and split registries: the one place their names live."""

import yaml

from spade.study.config import REGISTRY_ENUMS, SCHEMA_PATH, load_schema
from spade.models import DEQ, build_model
from spade.study.registry import ARCHS, DATASET_SPLITS, FIXED_ITERATION_ARCHS, FIXED_POINT_ARCHS, SPLITS, TRAINING_SPLITS
from spade.study import Study


def test_the_schemas_enums_are_the_registries_names():
    """The YAML spells the names out for Snakemake's own validation; they may not drift."""
    raw, loaded = yaml.safe_load(SCHEMA_PATH.read_text()), load_schema(SCHEMA_PATH)
    for where, names in REGISTRY_ENUMS.items():
        node_raw, node_loaded = raw, loaded
        for key in where:
            node_raw, node_loaded = node_raw[key], node_loaded[key]
        assert set(node_raw["enum"]) == set(names) == set(node_loaded["enum"]), where
    assert set(raw["properties"]["models"]["properties"]) == set(ARCHS), "a models entry per arch"


def test_the_library_builds_exactly_the_registrys_archs():
    """spade.models (the library) names its archs without importing the study's registry."""
    from spade.models import ARCHS as BUILDABLE

    assert BUILDABLE == tuple(ARCHS)


def test_an_archs_fixed_point_flag_is_what_its_network_is():
    prior = {"name": "dncnn", "features": 4, "layers": 2}
    specs = {"du": {"steps": 2}, "deq": {"solver": {"max_iter": 3}}, "varnet": {"cascades": 2}}
    for arch, spec in ARCHS.items():
        net = build_model({"arch": arch, "channels": 2, "prior": prior, **specs[arch]})
        assert isinstance(net, DEQ) == spec.fixed_point == (arch in FIXED_POINT_ARCHS) == (
            arch not in FIXED_ITERATION_ARCHS)


def test_the_splits_say_what_they_hold():
    assert DATASET_SPLITS == ("train", "val", "test", "unlabelled")
    assert [s for s in SPLITS if not SPLITS[s].labelled] == ["unlabelled"]
    assert TRAINING_SPLITS == ("train", "unlabelled")


def test_the_jacobian_recipe_runs_on_fixed_point_archs_only():
    config = yaml.safe_load((SCHEMA_PATH.parents[2] / "config" / "config.yaml").read_text())
    config["strategies"] = ["supervised", "supervised-jac"]
    study = Study(config)
    assert "supervised-jac" in study.strategies_of("deq")
    assert "supervised-jac" not in study.strategies_of("du") and "supervised-jac" not in study.strategies_of("varnet")
