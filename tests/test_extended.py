"""The extended study's features, run for real on the tiny config (tests/conftest.py
`extended_run`): criteria and allocation, pruning to a measured speed target, shifted
test sets with the robustness table, the time breakdown and the cost of each fit."""

import json

import pandas as pd
import pytest
import yaml

from spade.checkpoint import layer_shapes, load_model, load_payload


def _summary(work):
    return pd.read_csv(work / "results/tables/summary.csv", keep_default_na=False, na_values=[""])


def test_every_criterion_and_allocation_is_pruned_fine_tuned_and_scored(extended_run):
    r = extended_run / "results"
    table = _summary(extended_run)
    test = table[table.split == "test"]
    assert {"l1", "taylor_global"} == set(test.criterion.replace("", float("nan")).dropna())
    assert set(test.target) == {0, 1.05}
    for criterion in ("l1", "taylor_global"):
        rows = test[(test.criterion == criterion) & (test.target == 0)]
        # the recipe with the first criterion only, and scratch at the ratio the seeds repeat
        extra = {"distill-iter", "scratch"} if criterion == "l1" else set()
        assert set(rows.strategy) == {"none", "school"} | extra, criterion
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
    crop = yaml.safe_load((extended_run / "results/config.yaml").read_text())["config"]["benchmark"]["crop"]
    assert search["timed_shape"][-2:] == [crop, crop], "timed at the benchmark's input size"
    probes = {p["ratio"]: p["speedup"] for p in search["probes"]}
    assert search["ratio"] in probes and probes[search["ratio"]] == search["speedup"]
    if search["reached"]:  # the smallest probed ratio that reaches it
        assert search["speedup"] >= 1.05
        assert all(s < 1.05 for ratio, s in probes.items() if ratio < search["ratio"])
    meta = load_payload(r / "pruned/sr/du/l1-x1.05.pt")["meta"]
    assert meta["identity"]["criterion"] == "l1" and meta["identity"]["target"] == 1.05
    assert meta["identity"]["ratio"] == search["ratio"]
    rows = _summary(extended_run)
    rows = rows[(rows.split == "test") & (rows.target == 1.05)]
    assert set(rows.strategy) == {"none", "school"} and rows.ratio.eq(search["ratio"]).all()
    text = (r / "tables/summary.md").read_text()
    assert "## Pruned to a speed target" in text
    # its speedups and differences carry their intervals, like every other table's
    assert "| measured speedup | strategy | PSNR | minus unpruned (dB) |" in text
    target = text.split("## Pruned to a speed target")[1].split("\n## ")[0]
    assert "x [" in target and "] |" in target


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
    assert set(du.criterion) <= {"", "l1"} and set(du.target) == {0, 1.05} and "distill-iter" not in set(du.strategy)
    noise = du[du["shift"] == "noise"].set_index(["criterion", "target", "strategy"])
    assert (noise.drop_db < 0).all(), "noise must cost every network PSNR"
    unpruned = noise.loc[("", 0, "unpruned")]
    assert noise.vs_unpruned_db.sub(noise.drop_db - unpruned.drop_db).abs().max() < 1e-9
    assert (r / "figures/robustness.png").is_file() and "## sr / du" in (r / "tables/robustness.md").read_text()


def test_time_breakdown_and_fit_costs_reach_the_summary(extended_run):
    table = _summary(extended_run)
    test = table[(table.split == "test") & (table.arch == "du")]
    timed = test[test.strategy != "prior-off"]
    assert ((timed.prior_share + timed.physics_share + timed.other_share - 1).abs() < 1e-4).all()  # %.6g
    pruned = test[~test.strategy.isin(["unpruned", "prior-off", "unpruned-long"])]
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


def test_a_recipe_runs_in_the_study_with_its_compute(extended_run):
    """distill-iter (config: budget 2): pruned in two steps to the one-shot widths,
    fine-tuned after each, with labels and the teacher; its compute in the summary."""
    r = extended_run / "results"
    meta = load_payload(r / "finetuned/sr/du/l1-r0.5/distill-iter.pt")["meta"]
    assert meta["recipe"] == {"name": "iter", "budget": 2}
    assert sorted({row["step"] for row in meta["history"]}) == [1, 2]
    assert layer_shapes(load_model(r / "finetuned/sr/du/l1-r0.5/distill-iter.pt")[0]) == \
        layer_shapes(load_model(r / "pruned/sr/du/l1-r0.5.pt")[0])
    test = _summary(extended_run)
    test = test[(test.split == "test") & (test.criterion == "l1") & (test.target == 0)].set_index("strategy")
    assert test.loc["distill-iter", "fit_data"] == "labelled pairs + teacher"
    assert test.loc["distill-iter", "fit_epochs"] == 2 * test.loc["school", "fit_epochs"]
    assert test.loc["distill-iter", "fit_prior_calls"] > test.loc["school", "fit_prior_calls"]
    # a fixed-iteration network: the one-shot model's timing stands for the recipe (same widths)
    assert test.loc["distill-iter", "speedup"] == test.loc["none", "speedup"]
    # beside the recipe, the unpruned network trained on for the recipe's epochs (a control with
    # the unpruned widths: the unpruned network's timing, its own paired difference)
    table = _summary(extended_run)
    control = table[(table.split == "test") & (table.strategy == "unpruned-long")].iloc[0]
    assert control.fit_epochs == test.loc["distill-iter", "fit_epochs"] and control.fit_data == "labelled pairs"
    assert control.params == table[(table.split == "test") & (table.strategy == "unpruned")].params.iloc[0]
    assert control.speedup == 1.0 and pd.notna(control.minus_unpruned_db) and pd.notna(control.minus_unpruned_low)
    assert "`unpruned-long`), minus the unpruned network" in (r / "tables/summary.md").read_text()
    assert "## Largest speedup within 0.1 dB of the unpruned network" in (r / "tables/summary.md").read_text()


def test_the_extended_config_plans_its_comparison_ablation_and_seeds(tmp_path):
    """config/extended.yaml as `make extended` runs it: the equal-latency comparison per task x
    arch (with fewer steps for the unrolled networks only), each label-free loss per arch
    beside supervised fine-tuning, and the seeds for the unrolled networks only."""
    from conftest import ROOT, snakemake

    res = snakemake("-n", "--configfile", str(ROOT / "config/config.yaml"), str(ROOT / "config/extended.yaml"),
                    "--directory", str(tmp_path))
    assert res.returncode == 0, res.stderr[-2000:]
    planned = res.stdout
    for task, arch in (("mri", "du"), ("mri", "deq"), ("sr", "du")):
        assert f"results/equal_latency/{task}/{arch}.csv" in planned
    for steps in (4, 2):
        assert f"results/fewer_steps/mri/du/steps{steps}.pt" in planned
    assert "results/fewer_steps/mri/deq" not in planned
    for arch in ("du", "deq"):
        for setting in ("ei", "ei_multi", "ssdu", "wssdu", "es"):
            assert f"results/labelfree/mri/{arch}/{setting}.pt" in planned
        assert f"results/finetuned/mri/{arch}/l1-r0.5/supervised.pt" in planned  # the label-free reference
        assert f"results/scratch/mri/{arch}/l1-r0.75.pt" in planned  # scratch at every pruned width
    assert "results/tables/equal_latency.csv" in planned and "results/tables/label_free.csv" in planned
    # the seeds: the unrolled networks only
    assert "results/seeds/1/models/mri/du/unpruned.pt" in planned
    assert "results/seeds/2/models/sr/du/unpruned.pt" in planned
    assert "results/seeds/1/models/mri/deq" not in planned


def test_the_comparison_is_repeated_with_a_further_seed(extended_run):
    """`seeds.repeat: [3]`: the unpruned network, l1 at 0.5 with school fine-tuning and
    scratch are trained anew with seed 3 on the study's data (no second data set), and
    results/tables/seeds.md sets both seeds' differences side by side (a recipe there would
    bring unpruned-long too: tests/test_study.py)."""
    r = extended_run / "results"
    assert not (r / "seeds/3/data").exists()
    first, again = load_model(r / "models/sr/du/unpruned.pt"), load_model(r / "seeds/3/models/sr/du/unpruned.pt")
    assert again[1]["meta"]["seed"] == 3 and first[1]["meta"]["seed"] == 0
    assert any((p - q).abs().max() > 0 for p, q in zip(first[0].state_dict().values(), again[0].state_dict().values()))
    for name in ("finetuned/sr/du/l1-r0.5/school.pt", "scratch/sr/du/l1-r0.5.pt"):
        assert load_payload(r / "seeds/3" / name)["meta"]["seed"] == 3, name
    spread = pd.read_csv(r / "tables/seeds.csv", keep_default_na=False, na_values=[""])
    assert set(spread.seed.astype(str)) == {"0", "3", "seeds"} and set(spread.split) == {"val", "test"}
    across = spread[spread.seed.astype(str) == "seeds"]
    assert set(across.strategy) == {"prior-off", "none", "school", "scratch"}
    assert across.n_seeds.eq(2).all() and across.seed_sd.notna().all()
    # each seed's difference is from its own unpruned network: recomputed from the score files
    for seed, root in ((0, r), (3, r / "seeds/3")):
        ours = pd.read_csv(root / "metrics/test/sr/du/l1-r0.5/school.csv").psnr.mean()
        base = pd.read_csv(root / "metrics/test/sr/du/unpruned.csv").psnr.mean()
        row = spread[(spread.seed.astype(str) == str(seed)) & (spread.strategy == "school")
                     & (spread.split == "test")]
        assert row.minus_unpruned_db.iloc[0] == pytest.approx(ours - base, abs=1e-6)
    assert "## sr / du / test" in (r / "tables/seeds.md").read_text()
