"""Strict config checks: a typo anywhere is refused naming its path; command-line numbers
are accepted; what each studied task needs is checked before any job."""

import copy

import pytest
import yaml
from conftest import ROOT, snakemake

from spade.study.config import ConfigError, check_config, load_schema

SCHEMA = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def with_key(path, value):
    cfg = copy.deepcopy(DEFAULT)
    node = cfg
    for key in path[:-1]:
        if node.get(key) is None:  # a block the default leaves empty (augment: null)
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return cfg


def test_default_config_passes():
    assert check_config(copy.deepcopy(DEFAULT), SCHEMA) == []


# one misspelt key in every block of the config
TYPOS = [
    ("round_too",), ("threads", "benchmark"), ("data", "mri", "strides"), ("data", "sr", "kernal"),
    ("data", "sr", "images", "tests"), ("data", "mri", "augment", "gama"), ("models", "du", "mri", "stepz"),
    ("models", "du", "mri", "prior", "feature"), ("models", "deq", "mri", "solver", "tolerance"),
    ("models", "varnet", "mri", "finetune", "epoch"), ("models", "du", "mir"), ("models", "resnet"),
    ("train", "mri", "lr_min"), ("train", "mir"), ("finetune", "mri", "batchsize"), ("finetune", "ei", "weigth"),
    ("finetune", "ssdu", "fraction"), ("finetune", "selfsup", "mr"), ("finetune", "label_free", "anchr"),
    ("evaluate", "convention"), ("benchmark", "repeat"), ("data", "mri", "external_sources"), ("data", "ct"),
]


@pytest.mark.parametrize("path", TYPOS, ids=[".".join(p) for p in TYPOS])
def test_a_typo_in_any_block_is_refused_naming_its_path(path):
    with pytest.raises(ConfigError, match=f"config key '{'.'.join(path)}' is not known"):
        check_config(with_key(path, 1), SCHEMA)


def test_numbers_given_as_strings_on_the_command_line_are_converted():
    cfg = with_key(("ratios",), ["0.25", "0.5", "0.75"])
    cfg["seed"] = "7"
    cfg["benchmark"]["repeats"] = "3"
    check_config(cfg, SCHEMA)
    assert cfg["ratios"] == [0.25, 0.5, 0.75] and cfg["seed"] == 7 and cfg["benchmark"]["repeats"] == 3
    with pytest.raises(ConfigError, match="config key 'ratios\\[0\\]'"):
        check_config(with_key(("ratios",), ["ten"]), SCHEMA)


def test_what_a_studied_task_needs_is_checked_up_front():
    cfg = copy.deepcopy(DEFAULT)
    cfg["finetune"]["selfsup"] = {"mri": "ei"}
    with pytest.raises(ConfigError, match="finetune.selfsup.sr' is missing"):
        check_config(cfg, SCHEMA)
    cfg = copy.deepcopy(DEFAULT)
    del cfg["train"]["sr"]
    with pytest.raises(ConfigError, match="'train.sr' is missing"):
        check_config(cfg, SCHEMA)
    cfg = with_key(("tasks",), ["sr"])
    cfg["archs"] = ["varnet"]
    with pytest.raises(ConfigError, match="models.varnet' names none of the tasks"):
        check_config(cfg, SCHEMA)


def test_scratch_ratios_outside_ratios_warn():
    warnings = check_config(with_key(("ratios",), [0.25, 0.75]), SCHEMA)
    assert len(warnings) == 1 and "scratch_ratios [0.5]" in warnings[0]


def test_command_line_overrides_from_the_repository_root(tmp_path):
    res = snakemake("-n", "--config", "ratios=[0.25,0.75]", "--directory", str(tmp_path),
                    "--configfile", str(ROOT / "config" / "config.yaml"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "no scratch control" in res.stdout + res.stderr
    res = snakemake("-n", "--config", "benchmark={'repeat': 3}", "--directory", str(tmp_path),
                    "--configfile", str(ROOT / "config" / "config.yaml"))
    assert res.returncode != 0 and "config key 'benchmark.repeat' is not known" in res.stdout + res.stderr


def test_a_ratio_that_empties_a_layer_is_refused_naming_it():
    cfg = with_key(("ratios",), [0.2, 0.95])
    cfg["archs"] = ["du", "deq", "varnet"]  # the VarNet's 16-feature U-Nets (the extended study's)
    cfg["round_to"] = None  # exact widths (an integer round_to keeps at least one multiple)
    with pytest.raises(ConfigError, match=r"ratio 0.95 would remove every channel .* models.varnet.mri.prior \(features: 16\)"):
        check_config(cfg, SCHEMA)
    cfg["ratios"] = [0.9]
    check_config(cfg, SCHEMA)  # 16 - ceil(14.4) = 1 channel kept


def test_a_ratio_without_widths_of_its_own_is_refused_naming_it():
    cfg = with_key(("ratios",), [0.25, 0.3, 0.5])  # 0.3 keeps 44 of 64 channels: 32 after rounding, as 0.5
    with pytest.raises(ConfigError, match=r"ratio 0.5 gives the widths of ratio 0.3 \(32,\) for models.du.mri.prior"):
        check_config(cfg, SCHEMA)
    cfg = with_key(("ratios",), [0.1, 0.5])
    cfg["models"]["du"]["mri"]["prior"]["features"] = 16
    with pytest.raises(ConfigError, match=r"ratio 0.1 keeps every channel for models.du.mri.prior"):
        check_config(cfg, SCHEMA)


def test_booleans_and_numbers_from_the_command_line_are_converted():
    cfg = with_key(("protect",), "True")
    cfg["ratios"] = ["0.25", "5e-1"]
    check_config(cfg, SCHEMA)
    assert cfg["protect"] is True and cfg["ratios"] == [0.25, 0.5]
    with pytest.raises(ConfigError, match="protect"):
        check_config(with_key(("protect",), "yes please"), SCHEMA)


def test_auto_widths_are_refused_with_stepwise_pruning_and_global_allocation():
    assert check_config(with_key(("round_to",), "auto"), SCHEMA) == []
    cfg = with_key(("round_to",), "auto")
    cfg["strategies"] = ["supervised", "supervised-iter"]
    with pytest.raises(ConfigError, match="'round_to': auto chooses each group's width in one step"):
        check_config(cfg, SCHEMA)
    cfg = with_key(("round_to",), "auto")
    cfg["criteria"] = ["l1", "l1_global"]
    with pytest.raises(ConfigError, match="needs uniform allocation; criterion l1_global"):
        check_config(cfg, SCHEMA)
    with pytest.raises(ConfigError, match="round_to"):
        check_config(with_key(("round_to",), "fastest"), SCHEMA)


def test_a_runtime_not_installed_is_refused_naming_package_and_extra(monkeypatch):
    import spade.runtimes as runtimes

    real = runtimes.importlib.util.find_spec
    monkeypatch.setattr(runtimes.importlib.util, "find_spec", lambda n: None if n == "onnxruntime" else real(n))
    with pytest.raises(ConfigError, match=r"runtime 'onnxruntime' needs the package\(s\) onnxruntime.*\.\[deploy\]"):
        check_config(copy.deepcopy(DEFAULT), SCHEMA)
    cfg = copy.deepcopy(DEFAULT)
    cfg["benchmark"].update(runtimes=["eager"], deploy_runtime="eager")
    check_config(cfg, SCHEMA)  # eager PyTorch alone needs nothing more
    cfg["benchmark"]["deploy_runtime"] = "onnxruntime"
    with pytest.raises(ConfigError, match="deploy_runtime': 'onnxruntime' is not among benchmark.runtimes"):
        check_config(cfg, SCHEMA)
