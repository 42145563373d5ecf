"""The extended study's features, run for real on the tiny config (tests/conftest.py
`extended_run`): criteria and allocation, pruning to a measured speed target, shifted
test sets with the robustness table, the time breakdown and the cost of each fit."""

import json

import pandas as pd
import pytest

from spade.checkpoint import layer_shapes, load_model, load_payload


def _summary(work):
    return pd.read_csv(work / "results/tables/summary.csv", keep_default_na=False, na_values=[""])


def test_every_criterion_and_allocation_is_pruned_fine_tuned_and_scored(extended_run):
    r = extended_run / "results"
    table = _summary(extended_run)
    test = table[table.split == "test"]
    assert {"l1", "taylor_global", "l1:1.05x"} <= set(test.criterion)
    for criterion in ("l1", "taylor_global"):
        rows = test[test.criterion == criterion]
        assert set(rows.strategy) == {"none", "school"}, criterion
        assert rows.actual_ratio.between(0.35, 0.65).all(), criterion  # one overall budget of 0.5
    # global allocation: other widths than l1's uniform ones (tests/test_prune.py: taylor keeps them)
    l1, glob = (load_model(r / f"pruned/sr/du/{c}-r0.5.pt")[0] for c in ("l1", "taylor_global"))
    assert layer_shapes(l1) != layer_shapes(glob)
    assert load_payload(r / "pruned/sr/du/taylor_global-r0.5.pt")["meta"]["pruned_with"].endswith("unlabelled.h5")
    assert (r / "figures/psnr_vs_speedup.png").stat().st_size > 10_000


def test_speed_target_finds_a_ratio_by_measuring_and_fine_tunes_it(extended_run):
    r = extended_run / "results"
    search = json.loads((r / "target/sr/du/l1-x1.05.json").read_text())
    assert search["target"] == 1.05 and search["ratio"] in (0.5, 0.75)
    probes = {p["ratio"]: p["speedup"] for p in search["probes"]}
    assert search["ratio"] in probes and probes[search["ratio"]] == search["speedup"]
    if search["reached"]:  # the smallest probed ratio that reaches it
        assert search["speedup"] >= 1.05
        assert all(s < 1.05 for ratio, s in probes.items() if ratio < search["ratio"])
    meta = load_payload(r / "pruned/sr/du/l1-rx1.05.pt")["meta"]
    assert meta["identity"]["criterion"] == "l1:1.05x" and meta["identity"]["ratio"] == search["ratio"]
    rows = _summary(extended_run)
    rows = rows[(rows.split == "test") & (rows.criterion == "l1:1.05x")]
    assert set(rows.strategy) == {"none", "school"} and rows.ratio.eq(search["ratio"]).all()
    assert "## Pruned to a speed target" in (r / "tables/summary.md").read_text()


def test_shifted_test_sets_and_the_robustness_table(extended_run):
    r = extended_run / "results"
    import h5py

    with h5py.File(r / "data/sr/shift_noise.h5") as f:
        assert f.attrs["split"] == "shift_noise"
        assert json.loads(f.attrs["provenance"])["shift"]["overrides"] == {"noise_std": 0.05}
        with h5py.File(r / "data/sr/test.h5") as t:  # the same images, other measurements
            assert list(f["names"].asstr()) == list(t["names"].asstr())
            assert (f["x/000000"][()] == t["x/000000"][()]).all() and (f["y/000000"][()] != t["y/000000"][()]).any()
    table = pd.read_csv(r / "tables/robustness.csv", keep_default_na=False, na_values=[""])
    du = table[table.arch == "du"].fillna({"criterion": ""})
    assert set(du["shift"]) == {"noise"}
    # only the first criterion stands for pruning on shifted sets (and the speed target)
    assert set(du.criterion) <= {"", "l1", "l1:1.05x"}
    noise = du[du["shift"] == "noise"].set_index(["criterion", "strategy"])
    assert (noise.drop_db < 0).all(), "noise must cost every network PSNR"
    unpruned = noise.loc[("", "unpruned")]
    assert noise.vs_unpruned_db.sub(noise.drop_db - unpruned.drop_db).abs().max() < 1e-9
    assert (r / "figures/robustness.png").is_file() and "## sr / du" in (r / "tables/robustness.md").read_text()


def test_time_breakdown_and_fit_costs_reach_the_summary(extended_run):
    table = _summary(extended_run)
    test = table[(table.split == "test") & (table.arch == "du")]
    timed = test[test.strategy != "prior-off"]
    assert ((timed.prior_share + timed.physics_share + timed.other_share - 1).abs() < 1e-4).all()  # %.6g
    pruned = test[~test.strategy.isin(["unpruned", "prior-off"])]
    assert (pruned.amdahl_speedup > 1).all() and (pruned.amdahl_speedup <= pruned.macs_speedup + 1e-9).all()
    school = test[test.strategy == "school"]
    assert (school.fit_data == "measurements + teacher").all() and (school.fit_seconds > 0).all()
    assert (school.fit_peak_rss_mb > 100).all()
    assert float(table.macs.dropna().iloc[0]).is_integer()
    text = (extended_run / "results/tables/summary.md").read_text()
    assert "## Cost of each fit" in text and "| amdahl_speedup | prior_share |" in text


@pytest.mark.parametrize("criterion", ["random_global", "l2"])
def test_other_criteria_plan(criterion, tmp_path):
    """Every criterion the schema lists plans a study (random, l2, and their global forms)."""
    from conftest import TINY, snakemake

    res = snakemake("-n", "--configfile", str(TINY), "--config", f"criteria=[{criterion}]", "--directory",
                    str(tmp_path))
    assert res.returncode == 0, res.stderr[-2000:]
