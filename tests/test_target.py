"""Pruning to a speed target: the search times the input shape the benchmark times."""

import torch

from spade.models import build_model
from spade.physics.sr import SuperResolution, blur_kernel
from spade.stages import timing_input
from spade.target import ratio_for_speedup


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
