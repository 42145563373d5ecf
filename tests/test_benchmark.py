import torch
from torch import nn

from spade import benchmark as bench
from spade.models import build_model
from spade.physics import SingleCoilMRI, cartesian_mask
from spade.prune import prune_model

from conftest import TINY_SPECS


def test_macs_of_a_convolution_match_the_formula():
    conv = nn.Conv2d(3, 5, 3, padding=1)
    x = torch.randn(1, 3, 10, 12)
    assert bench.count_macs(conv, lambda: conv(x)) == 5 * 10 * 12 * 3 * 9


def test_unrolled_network_counts_its_prior_at_every_step():
    model = build_model(TINY_SPECS["edsr"])
    physics = SingleCoilMRI(cartesian_mask((16, 16), 3, 0.1))
    y = physics.forward(torch.randn(1, 2, 16, 16))
    cost = bench.cost(model, physics, y)
    assert cost["macs"] == TINY_SPECS["edsr"]["steps"] * cost["prior_macs"]
    prune_model(model, torch.randn(1, 2, 16, 16), 0.5)
    pruned = bench.cost(model, physics, y)
    assert pruned["macs"] < cost["macs"] and pruned["params"] < cost["params"]


def test_variants_are_timed_side_by_side():
    physics = SingleCoilMRI(cartesian_mask((16, 16), 3, 0.1))
    y = physics.forward(torch.randn(2, 2, 16, 16))
    models = {"a": build_model(TINY_SPECS["edsr"]).eval(), "b": build_model(TINY_SPECS["dncnn"]).eval()}
    times = bench.time_variants(models, physics, y, warmup=1, repeats=5, device=torch.device("cpu"))
    assert set(times) == {"a", "b"} and all(len(t) == 5 and min(t) > 0 for t in times.values())
    s = bench.summarise(times["a"])
    assert s["latency_p25_ms"] <= s["latency_ms"] <= s["latency_p75_ms"]
