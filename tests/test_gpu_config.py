"""The GPU overlay (config/gpu.yaml) merges over the default and the extended study, and its
short speed check (tests/gpu_speed.sh) plans only the width rules' speed table."""

import subprocess

from conftest import ROOT, snakemake
from test_paper_configs import job_counts

CONFIG = ROOT / "config"


def test_the_short_gpu_speed_check_plans_the_scale_table_alone(tmp_path):
    res = snakemake("-n", "--configfile", str(CONFIG / "config.yaml"), str(CONFIG / "extended.yaml"),
                    str(CONFIG / "gpu.yaml"), "--directory", str(tmp_path), "results/tables/scale.md")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    # the study's du, deq and varnet and the paper's deq and varnet: no data, no training
    assert job_counts(res.stdout + res.stderr) == {"time_scale": 5, "scale_table": 1, "total": 6}


def test_the_gpu_scripts_are_valid_bash():
    for script in ("gpu_speed.sh", "gpu_check.sh"):
        res = subprocess.run(["bash", "-n", str(ROOT / "tests" / script)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
