"""The workflow itself: lint, formatting, and the tiny study end to end."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import ROOT, TINY, snakemake

BIN = Path(sys.executable).parent


def test_lint_is_clean():
    res = snakemake("--lint", "--configfile", str(TINY))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Lints for" not in res.stdout + res.stderr, res.stdout + res.stderr


def test_workflow_is_snakefmt_formatted():
    files = [str(ROOT / "workflow" / "Snakefile"), *map(str, (ROOT / "workflow" / "rules").glob("*.smk"))]
    res = subprocess.run([str(BIN / "snakefmt"), "--check", *files], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("good, bad, named", [
    ("ratios: [0.5]", "ratios: [1.5]", "ratios"),
    ("finetune: {epochs: 2}", "finetune: {epoch: 2}", "epoch"),  # an arch's override: unknown key
])
def test_invalid_config_is_refused(tmp_path, good, bad, named):
    config = tmp_path / "bad.yaml"
    config.write_text(TINY.read_text().replace(good, bad))
    res = snakemake("-n", "--configfile", str(config), "--directory", str(tmp_path))
    assert res.returncode != 0
    assert named in res.stdout + res.stderr


STUDY = [("mri", "du"), ("mri", "deq"), ("mri", "varnet"), ("sr", "du")]
RATIOS = ("0.5",)
STRATEGIES = ("none", "supervised", "school", "selfsup")
SCRATCH = "0.5"  # scratch_ratios of the tiny config


def test_tiny_study_leaves_every_output(tiny_run):
    r = tiny_run / "results"
    expected = [
        "tables/summary.csv", "tables/summary.md", "tables/extra_timings.csv", "figures/psnr_vs_ratio.png",
        "figures/speedup_vs_ratio.png", "figures/psnr_vs_latency.png", "figures/psnr_vs_speedup.png",
        "figures/examples_mri.png",
        "figures/examples_sr.png", "report.html", "data/mri/external.h5",
    ]
    expected += [f"data/{task}/{s}.h5" for task in ("mri", "sr") for s in ("train", "val", "test", "unlabelled")]
    for task, arch in STUDY:
        splits = ("test", "external") if task == "mri" else ("test",)
        expected += [f"models/{task}/{arch}/unpruned.pt", f"models/{task}/{arch}/unpruned_history.csv",
                     f"bench/{task}/{arch}.csv", f"bench/{task}/{arch}.json",
                     f"scratch/{task}/{arch}/l1-r{SCRATCH}.pt"]
        expected += [f"metrics/{split}/{task}/{arch}/{kind}.csv" for split in splits
                     for kind in ("unpruned", "prior-off")]
        expected += [f"metrics/{split}/{task}/{arch}/l1-r{SCRATCH}/scratch.csv" for split in splits]
        for ratio in RATIOS:
            expected.append(f"pruned/{task}/{arch}/l1-r{ratio}.pt")
            expected += [f"finetuned/{task}/{arch}/l1-r{ratio}/{s}.pt" for s in STRATEGIES[1:]]
            expected += [f"metrics/{split}/{task}/{arch}/l1-r{ratio}/{s}.csv" for split in splits
                         for s in STRATEGIES]
    missing = [p for p in expected if not (r / p).is_file()]
    assert not missing, missing
    # every job leaves its log: one per training and benchmark job at least
    logs = {p.relative_to(tiny_run / "logs").as_posix() for p in (tiny_run / "logs").rglob("*.log")}
    wanted = [f"train/{task}/{arch}.log" for task, arch in STUDY] + [f"bench/{task}/{arch}.log" for task, arch in STUDY]
    assert set(wanted) <= logs, sorted(set(wanted) - logs)


def test_tiny_study_numbers_are_sane(tiny_run):
    table = pd.read_csv(tiny_run / "results" / "tables" / "summary.csv", keep_default_na=False,
                        na_values=[""])
    required = {"task", "arch", "criterion", "ratio", "strategy", "split", "psnr", "ssim", "params", "macs",
                "latency_ms", "speedup", "iterations", "iterations_max", "actual_ratio", "prior_margin_db",
                "prior_inactive"}
    assert required <= set(table.columns)
    per_arch = 2 + len(RATIOS) * len(STRATEGIES) + 1  # unpruned, prior-off, pruned kinds, scratch
    n_mri, n_sr = sum(t == "mri" for t, _ in STUDY), sum(t == "sr" for t, _ in STUDY)
    # MRI: test rows and the external subject's (epi), each split with zero-filling and both
    # compressed-sensing baselines; SR: bicubic
    assert len(table) == 2 * (3 + n_mri * per_arch) + (1 + n_sr * per_arch)
    assert set(table[table.split == "external"]["set"]) == {"epi"}
    cs = table[table.arch.str.startswith("cs-")]
    assert set(cs.arch) == {"cs-tv", "cs-wavelet"} and set(cs.task) == {"mri"} and (cs.strategy == "classical").all()
    assert (cs[cs.split == "test"].latency_ms > 0).all(), "compressed sensing is timed like the networks"
    assert set(table[table.task == "mri"].split) == {"test", "external"} and set(table[table.task == "sr"].split) == {
        "test"}
    assert table.psnr.between(5, 60).all() and table.ssim.between(0, 1).all()
    test = table[table.split == "test"]
    for (task, arch), part in test[test.strategy != "classical"].groupby(["task", "arch"]):
        classical = test[(test.task == task) & (test.arch == "classical")].psnr.item()
        unpruned = part[part.strategy == "unpruned"]
        assert unpruned.psnr.item() > classical, f"{task}/{arch}: the trained network must beat the baseline"
        strongest = test[(test.task == task) & (test.strategy == "classical")].psnr.max()
        assert unpruned.minus_classical_db.item() == pytest.approx(unpruned.psnr.item() - strongest, abs=1e-3)
        off = part[part.strategy == "prior-off"]
        assert ((part.prior_margin_db - (unpruned.psnr.item() - off.psnr.item())).abs() < 1e-3).all()
        pruned = part[~part.strategy.isin(["unpruned", "prior-off"])]
        assert (pruned.prior_params < unpruned.prior_params.item()).all() and off.prior_params.item() == 0
        assert pruned.actual_ratio.between(0.2, 0.8).all() and unpruned.actual_ratio.item() == 0
        assert (pruned.speedup > 0).all() and unpruned.speedup.item() == 1.0
        # where the time goes: the three shares of each timed network add up to one; the
        # Amdahl bound of a pruned fixed-step network lies between 1 and its MAC bound
        timed = part[part.strategy != "prior-off"]
        assert ((timed.prior_share + timed.physics_share + timed.other_share - 1).abs() < 1e-4).all()  # %.6g
        assert timed.prior_share.between(0.01, 1).all()
        if arch != "deq":
            assert (pruned.amdahl_speedup > 1).all() and (pruned.amdahl_speedup <= pruned.macs_speedup + 1e-9).all()
        # what each fit cost and what data it needed
        fits = part.drop_duplicates(["strategy", "ratio"]).set_index(["strategy", "ratio"])
        expected = {"unpruned": "labelled pairs", "supervised": "labelled pairs", "scratch": "labelled pairs",
                    "school": "measurements + teacher", "selfsup": "measurements", "none": "none"}
        for (strategy, _), r in fits.drop(index="prior-off", level=0).iterrows():
            assert r.fit_data == expected[strategy], (task, arch, strategy)
            assert (r.fit_seconds > 0) == (strategy != "none") and (strategy == "none" or r.fit_train_images > 0)
        if arch == "deq":  # iterations are measured over the test set, per variant
            assert part.iterations.between(1, 20).all() and (part.iterations_max >= part.iterations).all()
            assert part.bench_images.eq(2).all()
        else:
            assert part.iterations.isna().all()
            assert pruned.groupby("ratio").macs.nunique().eq(1).all(), "a ratio's variants share one architecture"


def test_label_free_strategies_train_on_the_unlabelled_split(tiny_run):
    """School and selfsup fine-tune on measurements no network trained on, from a file that
    holds no ground truth; supervised on the labelled training split."""
    import h5py

    from spade.checkpoint import load_payload

    r = tiny_run / "results"
    for task in ("mri", "sr"):
        with h5py.File(r / "data" / task / "unlabelled.h5") as f:
            assert "x" not in f and len(f["y"])
        train = set(h5py.File(r / "data" / task / "train.h5")["names"].asstr()[()])
        unlabelled = set(h5py.File(r / "data" / task / "unlabelled.h5")["names"].asstr()[()])
        assert not train & unlabelled
    for task, arch in STUDY:
        for strategy, split in (("supervised", "train"), ("school", "unlabelled"), ("selfsup", "unlabelled")):
            meta = load_payload(r / "finetuned" / task / arch / "l1-r0.5" / f"{strategy}.pt")["meta"]
            assert meta["trained_on"] == f"results/data/{task}/{split}.h5", (task, arch, strategy)
            assert meta["identity"] == {"task": task, "arch": arch, "criterion": "l1", "ratio": 0.5,
                                        "strategy": strategy, "target": 0.0}


def test_validation_target_reads_only_validation_data(tiny_run):
    res = snakemake("-n", "--configfile", str(TINY), "--directory", str(tiny_run), "validation")
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert "results/metrics/val/" in out and "results/metrics/test/" not in out
    assert "rule train_unpruned" not in out and "rule finetune" not in out, "nothing to retrain"
    # the study's own run scored every variant on validation already (the headline is chosen there)
    assert "rule validation" in out and "rule evaluate_networks" not in out


def test_arch_fit_override_replaces_the_task_setting(tiny_run):
    """models.varnet.mri.finetune sets 2 epochs; the other MRI archs keep the task's 1."""
    for arch, epochs in (("varnet", 2), ("du", 1), ("deq", 1)):
        for strategy in STRATEGIES[1:]:
            history = pd.read_csv(tiny_run / "results" / "finetuned" / "mri" / arch / "l1-r0.5" / f"{strategy}_history.csv")
            # a label-free fit's curve also holds epoch 0, the starting network, untrained
            assert (history.epoch > 0).sum() == epochs, (arch, strategy)
            assert (history.epoch == 0).sum() == (strategy in ("school", "selfsup")), (arch, strategy)
    assert len(pd.read_csv(tiny_run / "results" / "models" / "mri" / "varnet" / "unpruned_history.csv")) == 4
    # scratch: the epochs of pruning's whole path (4 of training + 2 of fine-tuning) as its cap;
    # patience may stop it earlier, one epoch after its best
    from spade.checkpoint import load_payload

    meta = load_payload(tiny_run / "results" / "scratch" / "mri" / "varnet" / f"l1-r{SCRATCH}.pt")["meta"]
    ran = len(pd.read_csv(tiny_run / "results" / "scratch" / "mri" / "varnet" / f"l1-r{SCRATCH}_history.csv"))
    assert meta["opts"]["epochs"] == 6 and meta["cost"]["epochs"] == ran
    assert ran == 6 or ran - meta["cost"]["best_epoch"] >= meta["opts"]["patience"]


def test_rerun_has_nothing_to_do(tiny_run):
    res = snakemake("-n", "--configfile", str(TINY), "--directory", str(tiny_run))
    assert res.returncode == 0
    assert "Nothing to be done" in res.stdout + res.stderr


def test_extra_timings_are_labelled_and_kept_apart(tiny_run):
    extras = pd.read_csv(tiny_run / "results" / "tables" / "extra_timings.csv")
    assert set(extras.setting) == {"tol=0.01", "channels_last", "eager"}  # eager: benchmark.runtimes
    relaxed = extras[extras.setting == "tol=0.01"]
    # only pruned equilibrium networks are relaxed: every DEQ variant but the unpruned one
    # and its prior-off control (pruned kinds and the scratch control), per batch size
    assert set(relaxed.arch) == {"deq"} and not relaxed.variant.isin(["unpruned", "prior-off"]).any()
    deqs = sum(arch == "deq" for _, arch in STUDY)
    assert len(relaxed) == deqs * (len(RATIOS) * len(STRATEGIES) + 1) * 2
    assert relaxed.iterations.between(1, 20).all()
    assert (extras.speedup_vs_eager_unpruned > 0).all()
    assert "## Labelled extra timings" in (tiny_run / "results" / "tables" / "summary.md").read_text()


def test_every_artifact_names_the_resolved_config(tiny_run):
    """Datasets, models and benchmarks record the digest of the config that ran, the one
    written to results/config.yaml."""
    import json

    import yaml

    from spade.checkpoint import load_payload
    from spade.study.provenance import config_digest

    r = tiny_run / "results"
    resolved = yaml.safe_load((r / "config.yaml").read_text())
    digest = resolved["config_sha256"]
    assert digest == config_digest(resolved["config"]) and len(digest) == 64
    recorded = [json.loads((r / "data" / "mri" / "info.json").read_text())["config_sha256"],
                json.loads((r / "bench" / "sr" / "du.json").read_text())["config_sha256"]]
    for path in ("models/mri/deq/unpruned.pt", "pruned/sr/du/l1-r0.5.pt", "finetuned/mri/varnet/l1-r0.5/school.pt",
                 f"scratch/mri/du/l1-r{SCRATCH}.pt"):
        recorded.append(load_payload(r / path)["meta"]["config_sha256"])
    assert recorded == [digest] * len(recorded)


def test_widths_follow_the_config_not_the_timings(tiny_run):
    """round_to 4: every pruned prior has the widths spade.plan computes from the config
    alone, on any machine; no latency table is timed or read."""
    import yaml

    from spade import plan
    from spade.checkpoint import load_model
    from spade.prune import output_convs

    r = tiny_run / "results"
    config = yaml.safe_load(TINY.read_text())
    assert not (r / "latency").exists()
    for task, arch in STUDY:
        spec = config["models"][arch][task]["prior"]
        for ratio in RATIOS:
            model, payload = load_model(r / "pruned" / task / arch / f"l1-r{ratio}.pt")
            assert payload["meta"]["round_to"] == config["round_to"]
            last = {id(m) for p in model.priors() for m in output_convs(p)}
            widths = {m.out_channels for p in model.priors() for m in p.modules()
                      if isinstance(m, torch.nn.Conv2d) and id(m) not in last}
            assert widths == set(plan.planned_widths(spec, float(ratio), config["round_to"])), (task, arch)


def test_every_variant_is_timed_in_each_runtime(tiny_run):
    """benchmark.runtimes [eager, onnxruntime], deploy onnxruntime: the main rows run in ONNX
    Runtime (reconstructions within 1e-4 of torch's for fixed-step networks; a DEQ within its
    solver's tolerance), each with its eager speedup and its total speedup over eager unpruned."""
    for task, arch in STUDY:
        bench = pd.read_csv(tiny_run / "results" / "bench" / task / f"{arch}.csv")
        main = bench[bench.setting == "main"]
        assert set(main.runtime) == {"onnxruntime"}
        eager = bench[bench.setting == "eager"]
        assert set(eager.variant.str.removesuffix("@eager")) == set(main.variant)
        pruned = main[main.strategy != "unpruned"]
        assert pruned.eager_speedup.notna().all() and (pruned.total_speedup > 0).all()
        limit = 1e-4 if arch != "deq" else 1e-2
        print(f"{task}/{arch}: largest |onnxruntime - torch| {main.runtime_difference.max():.2e} of the range")
        assert (main.runtime_difference <= limit).all(), (task, arch)
    summary = pd.read_csv(tiny_run / "results" / "tables" / "summary.csv")
    assert {"runtime", "eager_speedup", "total_speedup"} <= set(summary.columns)
