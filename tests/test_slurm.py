"""The SLURM profile, run for real: a one-node SLURM cluster on loopback
(tests/slurm/start.sh) executes the tiny study through snakemake-executor-plugin-slurm
with workflow/profiles/slurm, and its results must equal the local run's.

Needs root and Debian's munge/SLURM packages (tests/slurm/install.sh, run by `make
test`); skipped without them, unless SPADE_REQUIRE_SLURM=1 (CI) turns the skip into a
failure. Every step is wrapped in a timeout, so it cannot hang.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, TINY, snakemake

pytestmark = pytest.mark.workflow

SLURM = ROOT / "tests" / "slurm"
PROFILE = ROOT / "workflow" / "profiles" / "slurm" / "config.yaml"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue")


def _unavailable() -> str | None:
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    if missing:
        return f"{', '.join(missing)} not installed (run tests/slurm/install.sh as root)"
    if os.geteuid() != 0:
        return "the one-node cluster needs root"
    return None


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for init to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = _unavailable()
    if reason:
        if os.environ.get("SPADE_REQUIRE_SLURM") == "1":
            pytest.fail(f"SPADE_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)
    # not under pytest's private (0700) tmp dir: the munge user must reach its socket
    state = Path(tempfile.mkdtemp(prefix="spade-slurm-"))
    state.chmod(0o755)
    start = subprocess.run(["timeout", "-k", "5", "90", "bash", str(SLURM / "start.sh"), str(state)],
                           capture_output=True, text=True)
    records = [line.split() for line in (state / "pids").read_text().splitlines()] \
        if (state / "pids").exists() else []
    pids = [int(pid) for name, pid in records if name != "link"]
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        assert [name for name, _ in records] == ["munged", "link", "slurmctld", "slurmd"], records
        yield {"SLURM_CONF": str(state / "slurm.conf")}, state
    finally:
        stop = subprocess.run(["timeout", "-k", "5", "60", "bash", str(SLURM / "stop.sh"), str(state)],
                              capture_output=True, text=True)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        alive = [pid for pid in pids if _running(pid)]
        assert not alive, f"daemons still running after stop.sh: {alive}"
        assert not os.path.lexists("/etc/slurm/slurm.conf"), "stop.sh left the configuration link behind"
        shutil.rmtree(state, ignore_errors=True)


def test_profile_asks_for_partition_account_and_gpus():
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert {"slurm_partition", "slurm_account", "runtime", "mem_mb"} <= set(profile["default-resources"])
    for rule in ("train_unpruned", "train_scratch", "finetune", "benchmark"):
        assert profile["set-resources"][rule].get("gpu") == 1, rule
    # the timing job's 1024 threads mean "the whole machine" locally: a cluster caps them
    assert profile["set-threads"]["benchmark"] < 1024


def cluster_profile(folder, cpus: int) -> dict:
    """workflow/profiles/slurm with what a user edits (partition, account) filled in, and
    what this one small node needs: memory capped, one thread per job as in the local
    run (so the numbers match and two jobs share the node), the timing job on every
    core, quick status checks by squeue (no slurmdbd here, so no sacct)."""
    profile = yaml.safe_load(PROFILE.read_text())
    profile["default-resources"].update(slurm_partition="debug", slurm_account="spade-test", mem_mb=1000)
    for resources in profile["set-resources"].values():
        if "mem_mb" in resources:
            resources["mem_mb"] = 1000
    profile["set-threads"] = {rule: cpus if rule == "benchmark" else 1 for rule in profile["set-threads"]}
    profile.update({"slurm-status-command": "squeue", "slurm-init-seconds-before-status-checks": 2,
                    "seconds-between-status-checks": 2, "latency-wait": 5, "jobs": 4, "retries": 0,
                    "keep-going": False})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return profile


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    env, state = cluster
    work = tmp_path_factory.mktemp("tiny-slurm")
    profile_dir = work.parent / (work.name + "-profile")
    cluster_profile(profile_dir, os.cpu_count() or 1)
    res = snakemake("--workflow-profile", str(profile_dir), "--configfile", str(TINY), "--directory", str(work),
                    cwd=ROOT, timeout=2400, env=env)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-6000:]
    # every job the cluster ran (MinJobAge keeps finished ones), one line of key=value each
    shown = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True,
                           timeout=30, env={**os.environ, **env})
    assert shown.returncode == 0, shown.stderr
    jobs = [dict(field.split("=", 1) for field in line.split() if "=" in field)
            for line in shown.stdout.splitlines() if line.startswith("JobId=")]
    return work, jobs


def planned_jobs(tmp_path) -> dict[str, int]:
    """Jobs per rule of the tiny study, from a dry run in an empty directory."""
    res = snakemake("-n", "--configfile", str(TINY), "--directory", str(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    table = res.stdout.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    return {rule: int(count) for rule, count in (line.split() for line in table) if rule != "total"}


def test_every_network_job_ran_as_a_slurm_job(slurm_run, tmp_path):
    work, jobs = slurm_run
    assert jobs, "no job reached SLURM"
    assert all(job["JobState"] == "COMPLETED" for job in jobs), [(j["JobId"], j["JobState"]) for j in jobs]
    planned = planned_jobs(tmp_path)
    local = {"all", "summary", "figures", "examples"}  # the Snakefile's localrules
    assert len(jobs) == sum(n for rule, n in planned.items() if rule not in local), (len(jobs), planned)
    # the profile's per-rule GPU request reached sbatch
    gpu_rules = ("train_unpruned", "train_scratch", "finetune", "evaluate_network", "evaluate_variant", "benchmark")
    with_gpu = [job for job in jobs if "gpu" in job.get("TresPerJob", "")]
    assert len(with_gpu) == sum(planned.get(rule, 0) for rule in gpu_rules), jobs


def test_slurm_run_gives_the_local_results(slurm_run, tiny_run):
    work, _ = slurm_run
    local = sorted(p.relative_to(tiny_run) for p in (tiny_run / "results").rglob("*") if p.is_file())
    remote = sorted(p.relative_to(work) for p in (work / "results").rglob("*") if p.is_file())
    assert set(local) - {p for p in local if p.name == "report.html"} <= set(remote)
    # same config, same machine, one thread per job: the same numbers, except timings
    for csv in (tiny_run / "results" / "metrics").rglob("*.csv"):
        a, b = pd.read_csv(csv), pd.read_csv(work / csv.relative_to(tiny_run))
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6)
    cols = ["task", "arch", "ratio", "strategy", "psnr", "ssim", "params", "macs", "iterations"]
    a = pd.read_csv(tiny_run / "results/tables/summary.csv")[cols]
    b = pd.read_csv(work / "results/tables/summary.csv")[cols]
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6)
