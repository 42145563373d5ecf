"""Speed at a scale: pruned networks of a given size timed without data."""

import pytest
import torch

from spade.study.report.speed_markdown import scale_markdown
from spade.study.scale import scale_physics, time_scale

DEQ = {"arch": "deq", "prior": {"name": "edsr", "features": 20, "blocks": 2}, "solver": {"memory": 3, "max_iter": 50,
                                                                                        "tol": 1e-4}}
VARNET = {"arch": "varnet", "prior": {"name": "unet", "features": 8, "pools": 2}, "cascades": 2,
          "sens": {"features": 4, "pools": 1}}


def test_every_ratio_with_exact_and_rounded_widths_beside_the_unpruned_network():
    physics = scale_physics(32, 4, 4, 0.08)
    table = time_scale("small", DEQ, physics, [0.3, 0.6], [None, 8], 0, 2, 0, 2, 1)
    assert list(table.widths) == ["", "exact", "round_to 8", "exact", "round_to 8"]
    assert table.speedup.iloc[0] == 1.0 and (table.latency_ms > 0).all()
    assert (table.iterations == 2).all(), "a DEQ at fixed iterations"
    pruned = table.iloc[1:]
    assert (pruned.macs_speedup > 1).all() and (pruned.amdahl_speedup > 1).all()
    assert (pruned.amdahl_speedup <= pruned.macs_speedup + 1e-9).all() or (table.prior_share > 0.99).all()
    # rounding to 8 keeps widths that are multiples of 8 (20 * 0.7 = 14 -> 8 or 16, not 14)
    exact, rounded = table.iloc[1], table.iloc[2]
    assert rounded.params != exact.params
    assert table.input.iloc[0] == "4x2x32x32"
    text = scale_markdown(table, "note")
    assert "| small | deq | 4x2x32x32 | 0.3 | round_to 8 |" in text and "Prior share" in text
    assert text.startswith("# Speed of the width rules at the scales `small`"), "the title names the scales timed"
    study_only = scale_markdown(table.assign(scale="study"))
    assert study_only.startswith("# Speed of the width rules at the study's scale\n")
    # as read back from the CSV (the unpruned row's empty widths become NaN)
    again = scale_markdown(table.assign(widths=table.widths.replace("", float("nan"))))
    assert "| small | deq | 4x2x32x32 | 0 | unpruned |" in again and "small deq " in again


def test_varnet_at_a_scale_keeps_its_sensitivity_network_unpruned():
    physics = scale_physics(32, 4, 4, 0.08)
    table = time_scale("small", VARNET, physics, [0.5], [None], 0, None, 0, 1, 1)
    assert len(table) == 2 and table.iterations.isna().all()
    assert table.macs_speedup.iloc[1] > 1 and table.prior_macs.iloc[1] < table.prior_macs.iloc[0]
    assert torch.get_num_threads() >= 1


def test_exact_speedup_at_equal_macs_is_interpolated_between_the_exact_rows():
    """Rounded and auto widths keep other channel counts than exact ones: each is compared
    with the speedup exact widths reach at its own MACs."""
    import pandas as pd

    from spade.study.scale import with_exact_at_equal_macs

    rows = pd.DataFrame({"scale": "study", "arch": "du", "widths": ["", "exact", "exact", "auto", "round_to 8"],
                         "macs": [100.0, 60.0, 20.0, 40.0, 10.0], "speedup": [1.0, 1.2, 2.0, 1.7, 2.5]})
    got = with_exact_at_equal_macs(rows).exact_speedup_at_macs.tolist()
    assert got[:4] == pytest.approx([1.0, 1.2, 2.0, 1.6])  # auto at 40: halfway between 1.2 and 2.0
    assert pd.isna(got[4]), "below the most-pruned exact row: no interpolation"


def test_every_variant_is_timed_at_each_batch_size_with_per_image_macs():
    physics = scale_physics(32, 1, 4, 0.08)
    table = time_scale("small", DEQ, physics, [0.5], [None], 0, 2, 0, 1, 1, batch_sizes=(1, 3))
    assert list(table.batch) == [1, 1, 3, 3] and list(table.widths) == ["", "exact"] * 2
    assert list(table.input) == ["2x32x32"] * 4, "the input shape per image"
    assert (table[table.widths == ""].speedup == 1.0).all(), "each batch against its own unpruned run"
    one, three = table[table.batch == 1], table[table.batch == 3]
    assert list(one.macs) == list(three.macs), "MACs per image, whatever the batch"
    assert (three.latency_ms.values > 0).all()
    text = scale_markdown(table)
    assert "| small | deq | 2x32x32 | 3 | 0.5 | exact |" in text and "small deq batch 3 " in text


def test_every_variant_is_timed_in_each_runtime():
    """runtimes: each variant in eager PyTorch and in ONNX Runtime, side by side; speedups
    against the unpruned network in the same runtime and against the eager unpruned one."""
    pytest.importorskip("onnxruntime")
    physics = scale_physics(32, 1, 4, 0.08)
    table = time_scale("small", DEQ, physics, [0.5], [None], 0, 2, 0, 1, 1, runtimes=("eager", "onnxruntime"))
    assert list(table.runtime) == ["eager", "eager", "onnxruntime", "onnxruntime"]
    assert list(table.widths) == ["", "exact"] * 2 and table.macs.iloc[1] == table.macs.iloc[3]
    same = table[table.widths == ""]
    assert (same.speedup == 1.0).all() and same.speedup_vs_first_runtime.iloc[0] == 1.0
    assert table.prior_share.between(0, 1).all()
    text = scale_markdown(table, "note")
    assert "| onnxruntime |" in text and "vs eager" in text
