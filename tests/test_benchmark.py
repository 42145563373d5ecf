import copy

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


def test_labelled_rows_relax_only_pruned_equilibrium_networks():
    spec = {"arch": "deq", "channels": 2, "task": "mri", "prior": {"name": "dncnn", "features": 8, "layers": 3},
            "step_size": 0.5, "alpha": 0.5, "solver": {"memory": 5, "max_iter": 60, "tol": 1e-3}}
    physics = SingleCoilMRI(cartesian_mask((16, 16), 3, 0.1))
    torch.manual_seed(0)
    y = physics.forward(torch.rand(1, 2, 16, 16))
    base = build_model(spec).eval()
    for p in base.prior.parameters():  # a non-trivial prior (the output layer starts at zero)
        nn.init.normal_(p, std=0.01)
    pruned = copy.deepcopy(base)
    prune_model(pruned, torch.rand(1, 2, 16, 16), 0.5)
    models = {"unpruned": base, "l1-r0.5-none": pruned, "du": build_model(TINY_SPECS["edsr"]).eval()}
    extra = bench.labelled_variants(models, {"deq_loose_tol": 1e-2, "channels_last": True})
    assert set(extra) == {"l1-r0.5-none@tol=0.01", "unpruned@channels_last", "l1-r0.5-none@channels_last",
                          "du@channels_last"}
    assert extra["l1-r0.5-none@tol=0.01"].tol == 1e-2 and pruned.tol == 1e-3 and base.tol == 1e-3
    # a looser tolerance stops the same solve earlier, and channels-last changes no number
    assert bench.iterations(extra["l1-r0.5-none@tol=0.01"], physics, y) < bench.iterations(pruned, physics, y)
    with torch.inference_mode():
        torch.testing.assert_close(extra["du@channels_last"](y, physics), models["du"](y, physics))
    assert bench.split_label("l1-r0.5-none@tol=0.01") == ("l1-r0.5-none", "tol=0.01")
    assert bench.split_label("unpruned") == ("unpruned", "eager")


def test_labelled_speedups_compare_with_the_eager_and_the_same_setting_base():
    import pandas as pd

    table = pd.DataFrame({"variant": ["unpruned", "p", "p@tol=0.01", "unpruned@channels_last", "p@channels_last"],
                          "batch": 1, "latency_ms": [10.0, 8.0, 4.0, 5.0, 2.5], "iterations": float("nan")})
    out = bench.labelled_speedups(table).set_index(["variant", "setting"])
    assert out.loc[("p", "tol=0.01"), "speedup_vs_eager_unpruned"] == 2.5
    assert pd.isna(out.loc[("p", "tol=0.01"), "speedup_vs_same_setting_unpruned"])
    assert out.loc[("p", "channels_last"), "speedup_vs_same_setting_unpruned"] == 2.0
    assert len(out) == 3
