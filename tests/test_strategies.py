"""The strategy registry is the one place a strategy is defined: the schema, the command
line, the palette and docs/api.md read it, and a new entry reaches all of them."""

import pytest
import torch
from conftest import ROOT

from spade import strategies
from spade.cli import parser
from spade.study.config import ConfigError, check_config, load_schema
from spade.study.report.palette import order, palette
from spade.strategies import Strategy
from spade.train import make_strategy

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _cli_choices() -> list[str]:
    sub = next(a for a in parser()._actions if a.dest == "command")
    strategy = next(a for a in sub.choices["finetune"]._actions if a.dest == "strategy")
    return list(strategy.choices)


def _accepts(schema: dict, name: str) -> bool:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema["properties"]["strategies"]).is_valid([name])


def test_schema_cli_palette_and_docs_agree_with_the_registry():
    names = strategies.names()
    assert len(names) == len(strategies.REGISTRY) * (1 + len(strategies.RECIPES))
    schema = load_schema(SCHEMA)
    assert all(_accepts(schema, n) for n in names)
    assert not any(_accepts(schema, n) for n in ("teacher", "school-short", "none", "scratch"))
    assert _cli_choices() == names
    assert set(names) <= set(palette()) and set(names) <= set(order())
    docs = (ROOT / "docs" / "api.md").read_text()
    assert strategies.docs_table() in docs, "docs/api.md's strategy table: run python -m spade.strategies"


@pytest.fixture
def toy_strategy():
    """A label-free strategy with a loss of its own: half the measurement consistency."""

    def build(task, cfg, teacher):
        return (lambda m, p, y, g: 0.5 * (p.forward(m(y, p)) - y).abs().mean()), None

    entry = strategies.register(Strategy("toy", False, False, build, "#123456", "a toy loss"))
    yield entry
    strategies.unregister("toy")


def test_a_new_strategy_is_one_registry_entry(toy_strategy):
    schema = load_schema(SCHEMA)
    for name in ("toy", "toy-long", "toy-iter"):
        assert _accepts(schema, name) and name in _cli_choices() and name in palette()
    assert palette()["toy"] == "#123456" and palette()["toy-long"] not in ("#123456", palette()["toy-iter"])
    assert "| `toy` | `spade.Measurements(y)` |" in strategies.docs_table()
    strategy = make_strategy("toy-long", "mri", {})
    assert str(strategy) == "toy-long" and strategy.recipe == "long" and not strategy.needs_target and strategy.teacher is None
    y = torch.ones(1, 2, 4, 4)

    class Identity:
        def forward(self, x):
            return x

    loss = strategy.loss(lambda y, p: torch.zeros_like(y), Identity(), y, None)
    assert loss.item() == pytest.approx(0.5)


def test_config_check_reads_the_registry(toy_strategy):
    import yaml

    config = yaml.safe_load((ROOT / ".test" / "config" / "config.yaml").read_text())
    config["strategies"] = ["toy", "toy-iter"]
    check_config(config, load_schema(SCHEMA))
    config["strategies"] = ["toy-short"]
    with pytest.raises(ConfigError, match="strategies"):
        check_config(config, load_schema(SCHEMA))


def test_a_name_is_parsed_once_into_a_value():
    name = Strategy.parse("distill-iter")
    assert Strategy.parse(name) is name and str(name) == "distill-iter"
    assert name.needs_target and name.needs_teacher and name.recipe == "iter" and name.loss is None
    # one type in three states: the registry entry, named with a recipe, bound to its settings
    assert name == strategies.REGISTRY["distill"].with_recipe("iter") and name.with_recipe(None).recipe is None
    bound = name.bind("mri", {"loss": "l1", "distill": {"weight": 1.0}}, teacher=torch.nn.Identity())
    assert bound.loss is not None and bound.paired_loss is not None and str(bound) == "distill-iter"
    with pytest.raises(ValueError, match="taken"):
        strategies.register(Strategy("school", False, True, None, "#000000", ""))
    with pytest.raises(ValueError, match="needs the unpruned teacher"):
        make_strategy("school", "mri", {})
