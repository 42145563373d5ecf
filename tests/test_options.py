"""Typed options: a config block read once, with the library's defaults (spade.defaults, the
same values as the study's schema), and nowhere else."""

import re
from pathlib import Path

import pytest
import yaml

from spade.study.config import schema_defaults
from spade.options import BenchmarkOptions

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_options_take_the_schemas_defaults():
    opts = BenchmarkOptions.of({})
    assert opts.rounds == schema_defaults("benchmark")["rounds"] == 6, "spade bench times the schema's 6 rounds"
    assert opts.images == 3 and opts.breakdown_repeats == 5 and opts.runtimes == ("eager",)
    assert opts.deploy_runtime == "eager" and opts.deq_loose_tol is None
    given = BenchmarkOptions.of({"rounds": 2, "runtimes": ["onnxruntime", "eager"], "threads": None})
    assert given.rounds == 2 and given.threads is None and given.deploy_runtime == "onnxruntime"
    # a block as the workflow hands it over, the schema's defaults filled in: the same rule
    filled = BenchmarkOptions.of({**schema_defaults("benchmark"), "runtimes": ["onnxruntime", "eager"]})
    assert filled.deploy_runtime == "onnxruntime"
    assert BenchmarkOptions.of(given) is given
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["benchmark"]
    assert BenchmarkOptions.of(config).as_dict() == {**BenchmarkOptions.of({}).as_dict(), **config}


def test_the_library_defaults_are_the_schemas():
    """One value per default: spade.defaults (what an installed wheel reads) and the study's
    schema (what Snakemake fills a config with) declare the same."""
    from spade.study.config import fit_defaults as schema_fit_defaults
    from spade.defaults import benchmark_defaults, fit_defaults, strategy_settings

    assert fit_defaults() == schema_fit_defaults()
    assert benchmark_defaults() == schema_defaults("benchmark")
    finetune = schema_defaults("finetune")
    assert strategy_settings() == {k: finetune[k] for k in strategy_settings()}


def test_the_api_options_need_no_file_of_the_study(monkeypatch):
    """An installed wheel has no workflow/: the options never read the schema."""
    import spade.study.config
    from spade.options import FitOptions

    def refuse():
        raise AssertionError("the schema was read")

    monkeypatch.setattr(spade.study.config, "_package_schema", refuse)
    assert FitOptions.of({"epochs": 1, "batch_size": 1, "lr": 1e-3, "loss": "l1"}).settings["selfsup"]["mri"] == "ei"
    assert BenchmarkOptions.of({"runtimes": ["onnxruntime"]}).deploy_runtime == "onnxruntime"


def test_an_unknown_option_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"config key 'benchmark': unknown option\(s\) \['round'\]"):
        BenchmarkOptions.of({"round": 3})


def test_few_option_lookups_carry_a_default_of_their_own():
    """At most 5 config look-ups with their own default remain in the stages, the CLI and the
    API (issue "One reading of the config"): the schema holds the defaults."""
    lookup = re.compile(r"\b(opts|options|cfg|config|block|setting)\.get\([^()]*,")
    files = [*sorted((ROOT / "spade" / "stages").glob("*.py")), ROOT / "spade" / "cli.py", ROOT / "spade" / "api.py"]
    found = [f"{p.name}:{i}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
             if lookup.search(line)]
    assert len(found) <= 5, found


def test_fit_options_take_the_schemas_defaults_and_keep_the_rest_as_settings():
    from spade.study.config import fit_defaults
    from spade.options import STRATEGY_SETTINGS, FitOptions

    opts = FitOptions.of({"epochs": 2, "batch_size": 1, "lr": 5e-4, "loss": "l1", "ei": {"weight": 0.5}})
    assert (opts.lr_min_factor, opts.grad_clip, opts.patience, opts.jacobian_weight) == (0.1, None, None, 0.0)
    assert fit_defaults() == {"patience": None, "jacobian_weight": 0.0, "lr_min_factor": 0.1, "grad_clip": None}
    shared = schema_defaults("finetune")
    assert set(STRATEGY_SETTINGS) <= set(opts.settings)
    assert opts.settings["ei"] == {**shared["ei"], "weight": 0.5}, "a block given in part keeps the schema's keys"
    assert opts.settings["recipes"]["jacobian_weight"] == 0.001, "the validation choice, as in config/config.yaml"
    assert FitOptions.of(opts) is opts and FitOptions.of(opts.as_dict()) == opts
    # what the default config gives every fine-tuning fit is what the stage reads, key by key
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["finetune"]
    read = FitOptions.of({**config["mri"], **{k: config[k] for k in STRATEGY_SETTINGS}})
    assert read.as_dict() == {**fit_defaults(), **config["mri"], "anchor_weight": 0.0, "monitor": None,
                              **{k: {**shared[k], **config[k]} for k in STRATEGY_SETTINGS}}
    with pytest.raises(ValueError, match=r"\['lr'\] missing"):
        FitOptions.of({"epochs": 1, "batch_size": 1, "loss": "l1"})
