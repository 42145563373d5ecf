"""More pruning must never cost time: the summary lists every pair where it did."""

import pandas as pd

from spade.study.report.speed_markdown import order_lines
from spade.study.report.derived import speed_order


def rows(speedups):
    """Test-split rows of one arch and strategy: ratio -> (median, low, high)."""
    base = {"task": "mri", "arch": "du", "split": "test", "set": "", "criterion": "l1", "target": 0.0}
    out = [{**base, "criterion": "", "ratio": 0.0, "strategy": "unpruned", "speedup": 1.0, "speedup_low": 1.0,
            "speedup_high": 1.0}]
    for ratio, (med, low, high) in speedups.items():
        out.append({**base, "ratio": ratio, "strategy": "supervised", "speedup": med, "speedup_low": low,
                    "speedup_high": high})
    return pd.DataFrame(out)


def test_a_more_pruned_network_that_runs_slower_is_listed_with_its_verdict():
    summary = rows({0.2: (0.86, 0.84, 0.88), 0.4: (1.30, 1.2, 1.4), 0.6: (1.25, 1.1, 1.5)})
    pairs = speed_order(summary)
    got = {(p.less_pruned_ratio, p.ratio): p.slower for p in pairs.itertuples()}
    # 0.2 is slower than the unpruned network, its interval below 1: a fault; 0.6 below 0.4 at
    # the median with overlapping intervals: not resolved
    assert got == {(0.0, 0.2): True, (0.4, 0.6): False}
    text = "\n".join(order_lines(summary))
    assert "| slower |" in text and "not resolved" in text


def test_monotone_speedups_list_nothing():
    summary = rows({0.2: (1.0, 0.98, 1.02), 0.4: (1.3, 1.2, 1.4), 0.6: (2.1, 2.0, 2.2)})
    assert speed_order(summary).empty
    assert any("None: in every line" in line for line in order_lines(summary))


def test_the_speed_target_verdict_reads_the_interval():
    """Met only where the whole interval reaches the target; missed (with the shortfall) where
    it lies below; a variant outside the quality margin never counts."""
    from spade.study.report.speed_markdown import speed_target_lines

    base = {"task": "mri", "criterion": "l1", "target": 0.0}
    best = pd.DataFrame([
        {**base, "arch": "du", "strategy": "supervised", "ratio": 0.6, "within": True, "speedup": 2.1,
         "speedup_low": 2.0, "speedup_high": 2.2},
        {**base, "arch": "du", "strategy": "school", "ratio": 0.4, "within": True, "speedup": 1.2,
         "speedup_low": 1.1, "speedup_high": 1.3},
        {**base, "arch": "deq", "strategy": "supervised", "ratio": 0.2, "within": True, "speedup": 1.14,
         "speedup_low": 1.07, "speedup_high": 1.17},
        {**base, "arch": "deq", "strategy": "school", "ratio": 0.6, "within": False, "speedup": 3.0,
         "speedup_low": 2.9, "speedup_high": 3.1},
        {**base, "arch": "varnet", "strategy": "supervised", "ratio": 0.4, "within": True, "speedup": 1.5,
         "speedup_low": 1.4, "speedup_high": 1.6},
        {**base, "arch": "edsr", "strategy": "supervised", "ratio": 0.6, "within": False, "speedup": 2.0,
         "speedup_low": 1.9, "speedup_high": 2.1},
    ])
    best = pd.concat([best, pd.DataFrame([
        {**base, "arch": "deq", "strategy": "scratch", "ratio": 0.5, "within": True, "speedup": 3.0,
         "speedup_low": 2.8, "speedup_high": 3.2}])], ignore_index=True)
    rows = {line.split("|")[2].strip(): line for line in speed_target_lines(best, 1.5) if line.startswith("| mri")}
    cells = {arch: [c.strip() for c in line.split("|")[1:-1]] for arch, line in rows.items()}
    assert cells["du"][6] == "met" and cells["du"][2] == "supervised"
    # the school row is outside the margin, and scratch is the control, not a pruning result
    assert cells["deq"][6] == "missed (1.32x short)" and cells["deq"][2] == "supervised"
    assert cells["deq"][7] == "within at 0.5: 3.00x [2.80, 3.20], met"
    assert "not resolved" in cells["varnet"][6]
    assert "no pruned variant within the margin" in cells["edsr"][6]
