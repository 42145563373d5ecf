import copy
import time

import torch
from torch import nn

from spade import benchmark as bench
from spade.models import build_model
from spade.physics import SingleCoilMRI, cartesian_mask
from spade.prune import prune_model
from spade.study import timing

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
    s = bench.latency_summary(times["a"])
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
    extra = timing.labelled_variants(models, {"deq_loose_tol": 1e-2, "channels_last": True})
    assert set(extra) == {"l1-r0.5-none@tol=0.01", "unpruned@channels_last", "l1-r0.5-none@channels_last",
                          "du@channels_last"}
    assert extra["l1-r0.5-none@tol=0.01"].tol == 1e-2 and pruned.tol == 1e-3 and base.tol == 1e-3
    # a looser tolerance stops the same solve earlier, and channels-last changes no number
    assert bench.iterations(extra["l1-r0.5-none@tol=0.01"], physics, y) < bench.iterations(pruned, physics, y)
    with torch.inference_mode():
        torch.testing.assert_close(extra["du@channels_last"](y, physics), models["du"](y, physics))
    assert timing.split_label("l1-r0.5-none@tol=0.01") == ("l1-r0.5-none", "tol=0.01")
    assert timing.split_label("unpruned") == ("unpruned", timing.MAIN)


def test_labelled_speedups_compare_with_the_eager_and_the_same_setting_base():
    import pandas as pd

    table = pd.DataFrame({"variant": ["unpruned", "p", "p@tol=0.01", "unpruned@channels_last", "p@channels_last"],
                          "batch": 1, "latency_ms": [10.0, 8.0, 4.0, 5.0, 2.5], "iterations": float("nan")})
    out = timing.labelled_speedups(table).set_index(["variant", "setting"])
    assert out.loc[("p", "tol=0.01"), "speedup_vs_eager_unpruned"] == 2.5
    assert pd.isna(out.loc[("p", "tol=0.01"), "speedup_vs_same_setting_unpruned"])
    assert out.loc[("p", "channels_last"), "speedup_vs_same_setting_unpruned"] == 2.0
    assert len(out) == 3


class _SleepPhysics:
    """An operator whose every call takes 10 ms (and does nothing)."""

    def to(self, device):
        return self

    def _slow(self, x):
        time.sleep(0.01)
        return x

    forward = adjoint = init = _slow


class _SleepPrior(nn.Module):
    def forward(self, x):
        time.sleep(0.03)
        return x


class _SleepNet(nn.Module):
    """Two steps: 2 x 30 ms in the prior, 5 x 10 ms in the physics, 2 x 20 ms of its own."""

    def __init__(self):
        super().__init__()
        self.prior = _SleepPrior()

    def priors(self):
        return [self.prior]

    def forward(self, y, physics):
        x = physics.init(y)
        for _ in range(2):
            x = self.prior(x - physics.adjoint(physics.forward(x) - y))
            time.sleep(0.02)
        return x


def test_time_breakdown_attributes_time_to_prior_physics_and_the_rest():
    out = bench.time_breakdown(_SleepNet(), _SleepPhysics(), torch.zeros(1, 2, 4, 4), repeats=3,
                               device=torch.device("cpu"))
    # sleeps are lower bounds; the margins absorb a busy machine's scheduling
    assert 60 <= out["prior_ms"] < 90 and 50 <= out["physics_ms"] < 80 and 40 <= out["other_ms"] < 70, out
    assert abs(out["prior_ms"] + out["physics_ms"] + out["other_ms"] - out["breakdown_total_ms"]) < 1e-6
    assert out["prior_share"] == out["prior_ms"] / out["breakdown_total_ms"]


def test_time_breakdown_of_a_real_network_and_its_prior_off_control():
    from spade.models import prior_off

    physics = SingleCoilMRI(cartesian_mask((16, 16), 3, 0.1))
    y = physics.forward(torch.randn(1, 2, 16, 16))
    model = build_model(TINY_SPECS["edsr"]).eval()
    full = bench.time_breakdown(model, physics, y, repeats=3, device=torch.device("cpu"))
    off = bench.time_breakdown(prior_off(model), physics, y, repeats=3, device=torch.device("cpu"))
    assert 0 < full["prior_share"] < 1 and full["physics_ms"] > 0
    assert off["prior_ms"] < full["prior_ms"]


def test_amdahl_bound():
    assert bench.amdahl_speedup(1.0, 4.0) == 4.0  # all time in the prior: the MAC reduction
    assert bench.amdahl_speedup(0.0, 4.0) == 1.0  # none: nothing to gain
    assert abs(bench.amdahl_speedup(0.5, 2.0) - 4 / 3) < 1e-12
    assert abs(bench.amdahl_speedup(0.5, 2.0, iteration_ratio=1.5) - 2.0) < 1e-12  # fewer DEQ iterations
