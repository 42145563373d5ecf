"""Hardware-aware widths (round_to="auto", spade.widths): each group keeps the width that a
latency table says runs fastest at or above what the ratio asks for. The tables here are
functions of the shape (no timing in tests): what is checked is the choice and the pruning."""

import copy
import json

import pytest
import torch

from spade.checkpoint import layer_shapes
from spade.models import build_model
from spade.prune import PruningError, prune_model
from spade.widths import LatencyTable, conv_shape, fastest_width

from conftest import ALL_SPECS, TINY_SPECS


def per_conv(latency):
    """A table's measure from a convolution's latency: a pruned prior's key (``("prior",
    [conv shapes])``) costs the sum of its convolutions."""
    def measure(shape, device=None):
        if shape[0] == "prior":
            return sum(latency(conv) for conv in shape[1])
        return latency(shape)
    return measure


@per_conv
def macs_latency(shape):
    """A latency proportional to MACs: narrower is always faster."""
    _, cin, cout, kernel, _, _, _, _, _, size = shape
    return cin * cout * kernel[0] * kernel[1] * size[0] * size[1] * 1e-9


@per_conv
def multiple_of_8(shape):
    """Widths that are multiples of 8 run at the cost of 8 fewer channels; others as MACs."""
    _, cin, cout, kernel, _, _, _, _, _, size = shape
    eff = [c - 8 if c % 8 == 0 else c for c in (cin, cout)]
    return max(eff[0], 1) * max(eff[1], 1) * kernel[0] * kernel[1] * size[0] * size[1] * 1e-9


@pytest.mark.parametrize("name", ["du-edsr", "du-dncnn", "du-unet"])
def test_auto_with_a_macs_latency_gives_the_exact_widths_and_channels(name):
    """Where narrower is always faster, auto keeps what the ratio asks for, and the same
    channels as exact pruning (the same ranking)."""
    torch.manual_seed(0)
    exact = build_model(ALL_SPECS[name])
    auto = copy.deepcopy(exact)
    example = torch.randn(1, 2, 16, 16)
    prune_model(exact, example, 0.4)
    info = prune_model(auto, example, 0.4, round_to="auto", latency=LatencyTable(measure=macs_latency))
    assert layer_shapes(auto) == layer_shapes(exact)
    for (k, a), b in zip(auto.state_dict().items(), exact.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    assert all(chosen == asked for plan in info["width_plans"] for _, asked, chosen in plan)


def test_auto_takes_the_fastest_width_at_or_above_the_asked_one():
    """With multiples of 8 fast, a 16-wide EDSR at 0.4 (asked 9) keeps 16, every channel, where
    16 is cheaper than 9-15 under this table (the unpruned network is the ratio's fastest, not
    an error), and at 0.6 (asked 6) it keeps 8: never below what is asked."""
    torch.manual_seed(0)
    example = torch.randn(1, 2, 16, 16)
    for ratio, expected in ((0.4, 16), (0.6, 8)):
        model = build_model(TINY_SPECS["edsr"])
        before = copy.deepcopy(model.state_dict())
        info = prune_model(model, example, ratio, round_to="auto", latency=LatencyTable(measure=multiple_of_8))
        if expected == 16:
            assert info["channel_ratio"] == 0 and info["params_after"] == info["params_before"]
            for k, v in model.state_dict().items():
                torch.testing.assert_close(v, before[k], msg=k)
        for plan in info["width_plans"]:
            for current, asked, chosen in plan:
                assert asked <= chosen <= current
                assert chosen == expected
        widths = {cout for _, cout in layer_shapes(model).values()} - {2}
        assert widths == {expected}
        physics_free = model.priors()[0](example)
        assert physics_free.shape == example.shape


def test_fastest_width_prefers_the_narrowest_of_equals():
    cost = {5: 3.0, 6: 2.0, 7: 2.0, 8: 1.0}
    assert fastest_width(5, 8, cost.__getitem__) == 8
    cost[6] = 1.0
    assert fastest_width(5, 8, cost.__getitem__) == 6


def test_latency_table_measures_once_caches_and_refuses_another_device(tmp_path):
    path = tmp_path / "latency.json"
    calls = []

    def measure(shape, device):
        calls.append(shape)
        return 1.5

    table = LatencyTable(path, measure=measure)
    conv = torch.nn.Conv2d(4, 8, 3, padding=1)
    shape = conv_shape(conv, 4, 8, (16, 16))
    assert table(shape) == table(shape) == 1.5 and len(calls) == 1
    table.save()
    again = LatencyTable(path, measure=measure)
    assert again(shape) == 1.5 and len(calls) == 1, "read from the file, not measured again"
    stored = json.loads(path.read_text())
    stored["identity"]["device_name"] = "another machine"
    path.write_text(json.dumps(stored))
    other = LatencyTable(path, measure=measure)
    assert other(shape) == 1.5 and len(calls) == 2, "a table of another device is measured anew"
    path.write_text("not json")
    with pytest.raises(ValueError, match="not a latency table"):
        LatencyTable(path, measure=measure)


def test_a_measured_table_times_real_convolutions():
    table = LatencyTable()
    small = table(conv_shape(torch.nn.Conv2d(2, 2, 3, padding=1), 2, 2, (8, 8)))
    assert small > 0 and table.measured == 1


def test_auto_is_refused_for_global_allocation_and_stepwise_pruning():
    model = build_model(TINY_SPECS["edsr"])
    with pytest.raises(ValueError, match="uniform allocation"):
        prune_model(model, torch.randn(1, 2, 16, 16), 0.4, "l1_global", round_to="auto",
                    latency=LatencyTable(measure=macs_latency))
    from spade.prune import StepwisePruning

    with pytest.raises(ValueError, match="one step"):
        StepwisePruning(model, torch.randn(1, 2, 16, 16), 0.4, round_to="auto", steps=2)


def test_the_study_measures_once_and_pruning_jobs_only_read_the_table(pruned_du, tmp_path):
    """Rule latency_table's stage measures the shapes the study's ratios need; the prune stage
    reads that table (measuring nothing), keeps what the plan chose, records it, and a ratio
    the table was not made for is refused with the file named."""
    from spade.checkpoint import load_model
    from spade.study.stages import latency_table, prune

    from conftest import TINY_DU

    table_path = tmp_path / "latency.json"
    plans = latency_table({"du": TINY_DU}, pruned_du["unlabelled"], [0.5], 0, 1, table_path)
    stored = json.loads(table_path.read_text())
    assert stored["entries"] and stored["identity"]["device"] == "cpu"
    # timed in place: each entry is a whole pruned prior (its convolutions' shapes), not one conv
    assert all(json.loads(key)[0] == "prior" for key in stored["entries"])
    plan = plans["du 0.5"]
    out = tmp_path / "auto.pt"
    prune(pruned_du["unpruned"], pruned_du["unlabelled"], 0.5, "l1", 0, out, "auto", latency_path=table_path)
    model, payload = load_model(out)
    assert payload["meta"]["round_to"] == "auto"
    as_lists = lambda plans: [[list(g) for g in prior] for prior in plans]  # noqa: E731
    assert as_lists(plan) == as_lists(payload["meta"]["width_plans"])
    # where this machine keeps every width the job writes the unpruned widths (channel_ratio 0)
    chosen = {c for prior in plan for _, _, c in prior}
    widths = {cout for _, cout in layer_shapes(model).values()} - {2}
    assert widths == chosen and all(asked <= c for prior in plan for _, asked, c in prior)
    with pytest.raises(ValueError, match="latency.json: no latency for"):
        prune(pruned_du["unpruned"], pruned_du["unlabelled"], 0.75, "l1", 0, tmp_path / "x.pt", "auto",
              latency_path=table_path)


def test_prune_priors_takes_auto_widths_for_a_network_of_ones_own():
    import spade
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.denoiser = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                                          nn.ReLU(), nn.Conv2d(16, 1, 3, padding=1))

        def forward(self, y, physics=None):
            return y - self.denoiser(y)

    torch.manual_seed(0)
    net = Net()
    y = torch.randn(1, 1, 16, 16)
    report = spade.prune_priors(net, ["denoiser"], example=lambda m: m(y), ratio=0.6, round_to="auto",
                                latency=LatencyTable(measure=multiple_of_8))
    assert report.widths_after["denoiser"] == [8, 8, 1]  # asked 6, 8 runs fastest at or above it
    with pytest.raises(PruningError, match="auto widths kept every channel"):
        spade.prune_priors(Net(), ["denoiser"], example=lambda m: m(y), ratio=0.4, round_to="auto",
                           latency=LatencyTable(measure=multiple_of_8))


def test_auto_widths_are_timed_in_the_tables_runtime():
    """The runtime that chooses the widths is the runtime that reports them: a table made for
    ONNX Runtime times each candidate prior there, and is not reused for eager PyTorch."""
    pytest.importorskip("onnxruntime")
    from spade.deploy import OrtModule
    from spade.prune import prune_prior_auto

    torch.manual_seed(0)
    prior = build_model(TINY_SPECS["edsr"]).prior
    ran = []
    table = LatencyTable(runtime="onnxruntime")
    original = OrtModule.forward

    def forward(self, *args):
        ran.append(self)
        return original(self, *args)

    OrtModule.forward = forward
    try:
        plan = prune_prior_auto(prior, torch.randn(1, 2, 16, 16), 0.5, latency=table)
    finally:
        OrtModule.forward = original
    assert ran and table.measured >= 2, "every candidate prior ran in ONNX Runtime"
    assert all(asked <= chosen <= current for current, asked, chosen in plan)
    assert table.identity["runtime"] == "onnxruntime" and "onnxruntime" in table.identity
    assert LatencyTable().identity != table.identity, "an eager table is another table"


def test_a_pruning_job_refuses_widths_timed_in_another_runtime(pruned_du, tmp_path):
    from spade.study.stages import latency_table, prune

    from conftest import TINY_DU

    table_path = tmp_path / "latency.json"
    latency_table({"du": TINY_DU}, pruned_du["unlabelled"], [0.5], 0, 1, table_path)  # eager
    with pytest.raises(ValueError, match=r"latency.json: widths timed in runtime 'eager', but the study deploys in "
                                         r"'onnxruntime'"):
        prune(pruned_du["unpruned"], pruned_du["unlabelled"], 0.5, "l1", 0, tmp_path / "x.pt", "auto",
              latency_path=table_path, runtime="onnxruntime")
    assert not (tmp_path / "x.pt").exists()
