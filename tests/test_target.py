"""Pruning to a speed target: the search times the input shape the benchmark times."""

import torch

from spade.models import build_model
from spade.physics.sr import SuperResolution, blur_kernel
from spade.study.stages import timing_input
from spade.study.target import ratio_for_speedup


def test_timing_input_tiles_sr_patches_to_the_benchmarks_crop():
    y = torch.arange(2 * 12 * 12, dtype=torch.float32).reshape(1, 2, 12, 12)
    tiled = timing_input(y, "sr", 30)
    assert tiled.shape == (1, 2, 30, 30)
    torch.testing.assert_close(tiled[..., :12, :12], y)
    torch.testing.assert_close(tiled[..., 12:24, 12:24], y)  # the patch repeated, nothing invented
    assert timing_input(y, "sr", None) is y and timing_input(y, "mri", 30) is y


def test_search_runs_on_the_tiled_input_and_records_each_probe():
    torch.manual_seed(0)
    model = build_model({"arch": "du", "channels": 1, "prior": {"name": "edsr", "features": 16, "blocks": 2},
                         "steps": 2, "step_size": 1.0}).eval()
    physics = SuperResolution(blur_kernel("gaussian", 2, 1.0), 2)
    patch = physics.forward(torch.rand(1, 1, 16, 16))  # an 8 x 8 low-resolution patch
    y = timing_input(patch, "sr", 32)
    found = ratio_for_speedup(model, physics, y, 1.01, [0.5, 0.75], warmup=1, repeats=3)
    assert found["ratio"] in (0.5, 0.75) and set(p["ratio"] for p in found["probes"]) <= {0.5, 0.75}
    assert all(p["speedup"] > 0 for p in found["probes"])


def _controlled(monkeypatch, speedups: dict[float, float]):
    """Replace the timing with a table: the speedup measured for each ratio's pruned copy,
    recognised by the fraction of prior channels it kept."""
    from spade.study import target
    from spade.prune import prior_channels

    calls = []

    def measured(unpruned, pruned, *args, **kwargs):
        kept = prior_channels(pruned) / prior_channels(unpruned)
        ratio = min(speedups, key=lambda r: abs((1 - r) - kept))
        calls.append(ratio)
        return speedups[ratio]

    monkeypatch.setattr(target, "measured_speedup", measured)
    return calls


def _model():
    torch.manual_seed(0)
    return build_model({"arch": "du", "channels": 1, "prior": {"name": "edsr", "features": 20, "blocks": 1},
                        "steps": 1, "step_size": 1.0}).eval()


def test_search_returns_the_smallest_sufficient_ratio_under_controlled_timings(monkeypatch):
    physics = SuperResolution(blur_kernel("gaussian", 2, 1.0), 2)
    y = physics.forward(torch.rand(1, 1, 16, 16))
    grid = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    speed = {0.1: 1.05, 0.2: 1.2, 0.3: 1.35, 0.4: 1.6, 0.5: 1.9, 0.6: 2.3, 0.7: 2.8, 0.8: 3.5}
    calls = _controlled(monkeypatch, speed)
    for goal, expected in ((1.5, 0.4), (1.6, 0.4), (1.61, 0.5), (1.01, 0.1), (3.5, 0.8)):
        calls.clear()
        found = ratio_for_speedup(_model(), physics, y, goal, grid)
        assert found["ratio"] == expected and found["reached"], goal
        assert found["speedup"] == speed[expected]
        assert len(set(calls)) <= 4, "a bisection, not a sweep of the grid"
        # every probed ratio below the answer fell short; the answer reached it
        assert all(p["speedup"] < goal for p in found["probes"] if p["ratio"] < expected)
    found = ratio_for_speedup(_model(), physics, y, 4.0, grid)
    assert found["ratio"] == 0.8 and not found["reached"] and found["speedup"] == 3.5


def test_search_times_both_networks_in_the_deploy_runtime(monkeypatch):
    """The ratio a search returns is measured in the runtime the benchmark reports it in."""
    import pytest

    pytest.importorskip("onnxruntime")
    from spade import benchmark
    from spade.deploy import OrtModule

    timed = []
    original = benchmark.time_variants

    def recording(models, *args, **kwargs):
        timed.append({name: [type(p) for p in m.priors()] for name, m in models.items()})
        return original(models, *args, **kwargs)

    monkeypatch.setattr(benchmark, "time_variants", recording)
    physics = SuperResolution(blur_kernel("gaussian", 2, 1.0), 2)
    y = physics.forward(torch.rand(1, 1, 16, 16))
    found = ratio_for_speedup(_model(), physics, y, 1.01, [0.5], warmup=1, repeats=2, runtime="onnxruntime")
    assert found["runtime"] == "onnxruntime" and timed
    assert all(kinds == [OrtModule] for probe in timed for kinds in probe.values())


def test_search_refuses_a_latency_table_of_another_runtime():
    import pytest

    from spade.widths import LatencyTable

    physics = SuperResolution(blur_kernel("gaussian", 2, 1.0), 2)
    y = physics.forward(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="chose widths in 'eager'"):
        ratio_for_speedup(_model(), physics, y, 1.5, [0.5], round_to="auto", latency=LatencyTable(),
                          runtime="onnxruntime")
