"""The GPU overlay (config/gpu.yaml) merges over the default and the extended study, and its
short speed check (tests/gpu_speed.sh) plans only the width rules' speed table."""

import subprocess

import yaml
from conftest import ROOT, snakemake
from conftest import job_counts

CONFIG = ROOT / "config"


def test_the_short_gpu_speed_check_plans_the_scale_table_alone(tmp_path):
    res = snakemake("-n", "--configfile", str(CONFIG / "config.yaml"), str(CONFIG / "extended.yaml"),
                    str(CONFIG / "gpu.yaml"), "--directory", str(tmp_path), "results/tables/scale.md")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    # the study's du and deq (the extended study's archs) and the paper's deq and varnet: no
    # data, no training
    assert job_counts(res.stdout + res.stderr) == {"time_scale": 4, "scale_table": 1, "total": 5}


def test_the_gpu_scripts_are_valid_bash():
    for script in ("gpu_speed.sh", "gpu_check.sh"):
        res = subprocess.run(["bash", "-n", str(ROOT / "tests" / script)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr


def test_the_gpu_speed_check_times_the_paper_networks_with_auto_widths(tmp_path):
    """config/gpu.yaml leaves auto widths out at the paper's size (hours on a CPU); the
    script's overlay puts them back, and Snakemake merges it into the paper scale's block."""
    overlay = tmp_path / "paper_auto.yaml"
    overlay.write_text("scale_timing: {scales: {paper: {round_to: [null, 8, auto]}}}\n")
    work = tmp_path / "work"
    work.mkdir()
    res = snakemake("--cores", "1", "--configfile", str(CONFIG / "config.yaml"), str(CONFIG / "extended.yaml"),
                    str(CONFIG / "gpu.yaml"), str(overlay), "--directory", str(work), "results/config.yaml")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    timing = yaml.safe_load((work / "results" / "config.yaml").read_text())["config"]["scale_timing"]
    assert timing["scales"]["paper"]["round_to"] == [None, 8, "auto"] and timing["scales"]["paper"]["size"] == 320
    assert timing["batch_sizes"] == [1, 8] and timing["round_to"] == [None, 8, "auto"]
    assert "paper_auto.yaml" in (ROOT / "tests" / "gpu_speed.sh").read_text()
