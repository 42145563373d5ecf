"""The summary is a merge on identity columns: rows carry their own identity, fixed-iteration
networks share their pruned model's timing, and an inactive prior is flagged."""

import pandas as pd
import pytest

from spade.report import within_margin, markdown, summarise


def _scores(rows):
    out = []
    for task, arch, crit, ratio, strategy, split, psnrs in rows:
        for i, p in enumerate(psnrs):
            out.append({"image": f"i{i}", "task": task, "arch": arch, "criterion": crit, "ratio": ratio,
                        "strategy": strategy, "split": split, "set": "", "psnr": p, "ssim": 0.5,
                        "iterations": float(i + 3) if arch == "deq" else float("nan"), "convention": "c"})
    return pd.DataFrame(out)


def _bench(rows):
    return pd.DataFrame([{"task": "mri", "arch": a, "criterion": c, "ratio": r, "strategy": s, "variant": s,
                          "setting": "eager", "batch": 1, "latency_ms": lat, "latency_p25_ms": lat,
                          "latency_p75_ms": lat, "images": 2, "iterations": float("nan"), "params": 10, "macs": macs,
                          "prior_params": 8, "prior_macs": macs, "actual_ratio": ar, "device": "cpu"}
                         for a, c, r, s, lat, macs, ar in rows])


def test_rows_merge_on_identity_and_fixed_iteration_archs_share_a_timing():
    scores = _scores([
        ("mri", "classical", "", 0.0, "classical", "test", [20.0, 22.0]),
        ("mri", "du", "", 0.0, "unpruned", "test", [30.0, 32.0]),
        ("mri", "du", "", 0.0, "prior-off", "test", [20.0, 22.0]),
        ("mri", "du", "l1", 0.4, "none", "test", [25.0, 25.0]),
        ("mri", "du", "l1", 0.4, "supervised", "test", [29.0, 31.0]),
        ("mri", "du", "l1", 0.4, "scratch", "test", [28.0, 30.0]),
        ("mri", "du", "", 0.0, "unpruned", "external", [24.0, 24.0]),
        ("mri", "du", "", 0.0, "prior-off", "external", [23.9, 23.9]),
    ])
    bench = _bench([("du", "", 0.0, "unpruned", 10.0, 100, 0.0), ("du", "", 0.0, "prior-off", 2.0, 0, None),
                    ("du", "l1", 0.4, "none", 5.0, 40, 0.4)])
    table = summarise(scores, bench).set_index(["split", "strategy"])
    assert table.loc[("test", "supervised"), "psnr"] == 30.0
    # the supervised and scratch rows of a du take the timing of its pruned model
    for kind in ("none", "supervised", "scratch"):
        assert table.loc[("test", kind), "speedup"] == 2.0 and table.loc[("test", kind), "macs_speedup"] == 2.5
    assert table.loc[("test", "prior-off"), "speedup"] == 5.0 and pd.isna(table.loc[("test", "prior-off"),
                                                                                    "macs_speedup"])
    assert pd.isna(table.loc[("test", "classical"), "latency_ms"])
    # the prior adds 10 dB on test but 0.1 dB on the external set: flagged there only
    assert table.loc[("test", "supervised"), "prior_margin_db"] == pytest.approx(10.0)
    assert not bool(table.loc[("test", "unpruned"), "prior_inactive"])
    assert bool(table.loc[("external", "unpruned"), "prior_inactive"])
    assert "Warning (mri/external, du)" in markdown(summarise(scores, bench))
    assert "Warning (mri/test" not in markdown(summarise(scores, bench))
    # the readings above each table, computed from its rows
    text = markdown(summarise(scores, bench))
    assert "| du | none | -6.00 |" in text and "| du | supervised | -1.00 |" in text
    assert "du at 0.4: pruned + supervised 30.00, scratch 29.00 (pruning wins by 1.00 dB)" in text


def test_deq_iterations_are_summarised_over_the_test_set():
    scores = _scores([("mri", "deq", "", 0.0, "unpruned", "test", [30.0, 31.0, 32.0])])
    row = summarise(scores).iloc[0]
    assert row.iterations == 4.0 and row.iterations_max == 5.0 and row.n_images == 3


def test_amdahl_bound_and_time_shares_come_from_the_breakdown():
    """Unpruned: 60% of its time in the prior; the pruned prior has 2.5x fewer MACs, so at
    most 1 / (0.4 + 0.6 / 2.5) = 1.5625x faster."""
    scores = _scores([("mri", "du", "", 0.0, "unpruned", "test", [30.0]),
                      ("mri", "du", "l1", 0.4, "none", "test", [25.0]),
                      ("mri", "du", "l1", 0.4, "supervised", "test", [29.0])])
    bench = _bench([("du", "", 0.0, "unpruned", 10.0, 100, 0.0), ("du", "l1", 0.4, "none", 8.0, 40, 0.4)])
    bench["breakdown_total_ms"] = [10.0, 8.0]
    bench["prior_ms"], bench["physics_ms"], bench["other_ms"] = [6.0, 4.0], [3.0, 3.0], [1.0, 1.0]
    bench["prior_share"] = bench.prior_ms / bench.breakdown_total_ms
    table = summarise(scores, bench).set_index("strategy")
    assert table.loc["supervised", "amdahl_speedup"] == pytest.approx(1.5625)
    assert table.loc["unpruned", "amdahl_speedup"] == pytest.approx(1.0)
    assert table.loc["none", "physics_share"] == pytest.approx(3 / 8) and table.loc["none", "prior_share"] == 0.5
    text = markdown(summarise(scores, bench))
    assert "| macs_speedup | amdahl_speedup | prior_share |" in text and "| 2.50 | 1.56 | 50.0% |" in text


def test_fit_costs_merge_on_identity():
    scores = _scores([("mri", "du", "", 0.0, "unpruned", "test", [30.0]),
                      ("mri", "du", "", 0.0, "prior-off", "test", [20.0]),
                      ("mri", "du", "l1", 0.4, "none", "test", [25.0]),
                      ("mri", "du", "l1", 0.4, "school", "test", [29.0])])
    costs = pd.DataFrame([
        {"task": "mri", "arch": "du", "criterion": "", "ratio": 0.0, "strategy": "unpruned", "fit_seconds": 50.0,
         "fit_peak_rss_mb": 900.0, "fit_train_images": 100, "fit_data": "labelled pairs"},
        {"task": "mri", "arch": "du", "criterion": "l1", "ratio": 0.4, "strategy": "none", "fit_seconds": 0.0,
         "fit_data": "none"},
        {"task": "mri", "arch": "du", "criterion": "l1", "ratio": 0.4, "strategy": "school", "fit_seconds": 7.0,
         "fit_peak_rss_mb": 800.0, "fit_train_images": 40, "fit_data": "measurements + teacher", "fit_epochs": 2,
         "fit_prior_calls": 1600.0}])
    table = summarise(scores, None, costs).set_index("strategy")
    assert table.loc["school", "fit_seconds"] == 7.0 and table.loc["school", "fit_data"] == "measurements + teacher"
    assert pd.isna(table.loc["prior-off", "fit_seconds"])
    text = markdown(summarise(scores, None, costs))
    assert "| mri | du | school | 7.0 | 800 | 40 | 2 | 1,600 | measurements + teacher |" in text


def test_largest_speedup_within_the_margin_per_strategy():
    scores = _scores([("mri", "du", "", 0.0, "unpruned", "test", [30.0]),
                      ("mri", "du", "l1", 0.3, "supervised", "test", [29.95]),
                      ("mri", "du", "l1", 0.6, "supervised", "test", [29.5]),
                      ("mri", "du", "l1", 0.3, "supervised-iter", "test", [29.96]),
                      ("mri", "du", "l1", 0.6, "supervised-iter", "test", [29.92]),
                      ("mri", "du", "l1", 0.3, "school", "test", [29.7])])
    table = summarise(scores, None)
    table["speedup"] = table.ratio.map({0.0: 1.0, 0.3: 1.4, 0.6: 2.2})
    best = within_margin(table).set_index("strategy")
    assert best.loc["supervised", "speedup"] == 1.4 and best.loc["supervised", "ratio"] == 0.3
    assert best.loc["supervised-iter", "speedup"] == 2.2
    assert best.loc["supervised-iter", "delta_db"] == pytest.approx(-0.08)
    assert pd.isna(best.loc["school", "speedup"]) and best.loc["school", "closest_db"] == pytest.approx(-0.3)
    text = markdown(table)
    assert "| mri | du | school | none |  |  |  | -0.30, 1.40x |" in text
