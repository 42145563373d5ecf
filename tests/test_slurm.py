"""The SLURM profile, run for real: a one-node SLURM cluster on loopback
(tests/slurm/start.sh) executes the smallest study of the tiny config with GPU and CPU jobs
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


# the equal-latency comparison, which the default study leaves to the extended one
EQUAL_LATENCY_RULES = {"fewer_steps_fit", "equal_latency"}
NETWORK_RULES = {"train_unpruned", "train_scratch", "finetune", "evaluate_networks", "evaluate_networks_shifted",
                 "evaluate_deq_networks", "evaluate_deq_networks_shifted", "benchmark", "benchmark_again",
                 # auto widths' latency table and the width rules' timing run on the study's device
                 "latency_table", "time_scale",
                 # the no-harm check's fits (label-free strategies on the unpruned network)
                 "no_harm_fit",
                 # the equal-latency comparison's fits and its scoring and timing (the extended study)
                 *EQUAL_LATENCY_RULES}
# with recipes (not in the default study) also train_unpruned_long
# the classical baselines (zero-filling and bicubic, compressed sensing) run on the CPU
CPU_RULES = {"evaluate_classical", "choose_cs_lambda", "evaluate_cs", "benchmark_classical"}
# every timing job asks for 1024 threads (the whole machine locally)
TIMING_RULES = ("benchmark", "benchmark_again", "benchmark_classical", "equal_latency")


def test_profile_asks_for_partition_account_and_grows_on_retry():
    text = PROFILE.read_text()
    assert "--workflow-profile" in text.splitlines()[0], "the first line says how to use it"
    profile = yaml.safe_load(text)
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    assert {"slurm_partition", "slurm_account", "runtime", "mem_mb"} <= set(profile["default-resources"])
    every = [profile["default-resources"], *profile["set-resources"].values()]
    for resources in every:
        assert not {"gpu", "gres", "gpu_model"} & set(resources), "GPUs come from the study config"
        for key in ("mem_mb", "runtime"):
            if key in resources:  # the expression Snakemake evaluates per attempt
                first, retry = (eval(str(resources[key]), {}, {"attempt": a}) for a in (1, 2))
                assert retry == 2 * first > 0, (key, resources[key])
    # the timing jobs' 1024 threads mean "the whole machine" locally: a cluster caps them
    assert all(profile["set-threads"][rule] < 1024 for rule in TIMING_RULES)
    # every CPU-only rule has its own size, not the default's
    assert set(CPU_RULES) <= set(profile["set-resources"]), set(CPU_RULES) - set(profile["set-resources"])


def planned_resources(tmp_path, *config) -> list[tuple[str, dict]]:
    """(rule, resources) of every job of the default study's dry run under ``config``."""
    res = snakemake("-n", "--configfile", str(ROOT / "config" / "config.yaml"), "--config", *config,
                    "--directory", str(tmp_path))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    jobs, rule = [], None
    for line in res.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.strip().startswith("resources:") and rule:
            jobs.append((rule, dict(kv.split("=", 1) for kv in line.split(":", 1)[1].strip().split(", "))))
            rule = None
    return jobs


@pytest.mark.parametrize("device, spelling, sbatch", [
    ("cuda", "gpus", " --gpus=1"), ("cuda", "gres", " --gres=gpu:1"), ("cpu", "gpus", ""), ("cpu", "gres", ""),
])
def test_each_job_asks_for_its_gpu_once_in_the_chosen_spelling(tmp_path, device, spelling, sbatch):
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    class Resources(dict):
        __getattr__ = dict.__getitem__

    class Job:
        def __init__(self, resources):
            self.resources = Resources(resources)

    # round_to=auto: the latency table's job too (the default's widths need none); the
    # default has no external set, so no shifted evaluation (the SLURM run below has one)
    # and the no-harm check, which `make choices` runs
    jobs = planned_resources(tmp_path, f"device={device}", f"gpu_request={spelling}", "round_to=auto",
                             "no_harm_check=true")
    shifted = {"evaluate_networks_shifted", "evaluate_deq_networks_shifted"}
    assert {rule for rule, _ in jobs} >= (NETWORK_RULES - shifted - EQUAL_LATENCY_RULES) | {"make_dataset", "prune",
                                                                                            *CPU_RULES}
    for rule, resources in jobs:
        resources = {k: int(v) if v.isdigit() else v for k, v in resources.items()}
        got = set_gres_string(Job(resources))  # the plugin's own sbatch GPU options
        assert got == (sbatch if rule in NETWORK_RULES else ""), (rule, resources, got)


def cluster_profile(folder, cpus: int) -> dict:
    """workflow/profiles/slurm with what a user edits (partition, account) filled in, and
    what this one small node needs: memory capped, one thread per job as in the local
    run (so the numbers match and two jobs share the node), the timing job on every
    core, quick status checks by squeue (no slurmdbd here, so no sacct)."""
    profile = yaml.safe_load(PROFILE.read_text())
    profile["default-resources"].update(slurm_partition="debug", slurm_account="spade-test", mem_mb=CAP_MB)
    for resources in profile["set-resources"].values():
        if "mem_mb" in resources:
            resources["mem_mb"] = f"{CAP_MB} * attempt"
    # The external set's first attempt gets too little memory to start Python: SLURM kills
    # it, and the profile's retry must ask for more (30 MB, then 960 MB).
    profile["set-resources"]["make_external"]["mem_mb"] = f"{STARVED_MB} * 32 ** (attempt - 1)"
    profile["set-threads"] = {rule: cpus if rule in TIMING_RULES else 1 for rule in profile["set-threads"]}
    profile.update({"slurm-status-command": "squeue", "slurm-init-seconds-before-status-checks": 2,
                    "seconds-between-status-checks": 2, "latency-wait": 5, "jobs": 4, "retries": 1,
                    "keep-going": False})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return profile


# The smallest study of the tiny config that still has GPU-requesting jobs (device auto on a
# cluster executor: every network job), CPU-only jobs (data, pruning, classical baseline)
# and a summary: the MRI du at one ratio with supervised fine-tuning.
STARVED_MB = 30
# Every other job's memory on the node: a job runs Snakemake and its script's Python, and
# sigpy's compressed sensing peaks at about 1.07 GB under SLURM's accounting.
CAP_MB = 1500
SMALL = ("device=auto", "tasks=[mri]", "archs=[du]", "ratios=[0.5]", "strategies=[supervised]", "scratch_ratios=[]")


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    env, state = cluster
    work = tmp_path_factory.mktemp("tiny-slurm")
    profile_dir = work.parent / (work.name + "-profile")
    cluster_profile(profile_dir, os.cpu_count() or 1)
    res = snakemake("--workflow-profile", str(profile_dir), "--configfile", str(TINY), "--config", *SMALL,
                    "--directory", str(work), cwd=ROOT, timeout=2400, env=env)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-6000:]
    # every job the cluster ran (MinJobAge keeps finished ones), one line of key=value each
    shown = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True,
                           timeout=30, env={**os.environ, **env})
    assert shown.returncode == 0, shown.stderr
    jobs = [dict(field.split("=", 1) for field in line.split() if "=" in field)
            for line in shown.stdout.splitlines() if line.startswith("JobId=")]
    return work, jobs


def planned_jobs(tmp_path) -> dict[str, int]:
    """Jobs per rule of the SLURM run's study, from a dry run in an empty directory."""
    res = snakemake("-n", "--configfile", str(TINY), "--config", *SMALL, "--directory", str(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    table = res.stdout.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    return {rule: int(count) for rule, count in (line.split() for line in table) if rule != "total"}


def test_every_network_job_ran_as_a_slurm_job(slurm_run, tmp_path):
    work, jobs = slurm_run
    assert jobs, "no job reached SLURM"
    starved = [job for job in jobs if job.get("MinMemoryNode") == f"{STARVED_MB}M"]
    assert len(starved) == 1 and starved[0]["JobState"] in ("OUT_OF_MEMORY", "FAILED", "CANCELLED"), starved
    jobs = [job for job in jobs if job not in starved]
    assert all(job["JobState"] == "COMPLETED" for job in jobs), [(j["JobId"], j["JobState"]) for j in jobs]
    planned = planned_jobs(tmp_path)
    local = {"all", "summary", "resolved_config", "figures", "examples", "timing_spread", "fit_curves",
             "no_harm_table", "equal_latency_table"}  # localrules
    assert len(jobs) == sum(n for rule, n in planned.items() if rule not in local), (len(jobs), planned)
    # exactly the network jobs asked for one GPU each (sbatch --gpus=1); the rest for none
    gpu = [job for job in jobs if "gpu" in job.get("TresPerJob", "") + job.get("TresPerNode", "")]
    assert all(job["TresPerJob"] in ("gres:gpu:1", "gres/gpu:1", "gpu:1") for job in gpu), [j["TresPerJob"] for j in gpu]
    assert len(gpu) == sum(planned.get(rule, 0) for rule in NETWORK_RULES), (len(gpu), planned)
    cpu_only = sum(planned.get(rule, 0) for rule in ("make_dataset", "make_external", "prune", *CPU_RULES))
    assert cpu_only and len(jobs) - len(gpu) == cpu_only
    # memory as the profile's expression gives it: the first attempt's everywhere but the
    # starved job, whose retry asked for 32 times its first request
    retried = [job for job in jobs if job.get("MinMemoryNode") == f"{STARVED_MB * 32}M"]
    assert len(retried) == 1 and retried[0].get("Comment") == starved[0].get("Comment"), (retried, starved)
    assert all(job.get("MinMemoryNode") == f"{CAP_MB}M" for job in jobs if job not in retried), \
        {j.get("MinMemoryNode") for j in jobs}


def test_slurm_run_gives_the_local_results(slurm_run, tiny_run):
    work, _ = slurm_run
    metrics = sorted((work / "results" / "metrics").rglob("*.csv"))
    assert len(metrics) >= 8, metrics
    # same settings of every job it ran, same machine, one thread per job: the numbers of
    # the local tiny study, except timings
    for csv in metrics:
        a, b = pd.read_csv(tiny_run / csv.relative_to(work)), pd.read_csv(csv)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6)
    key = ["task", "arch", "split", "set", "ratio", "strategy"]  # set: the external set's source
    cols = key + ["psnr", "ssim", "params", "macs", "iterations"]
    read = lambda path: pd.read_csv(path, keep_default_na=False, na_values=[""])[cols].fillna({"set": ""})  # noqa: E731
    b = read(work / "results/tables/summary.csv")
    a = read(tiny_run / "results/tables/summary.csv").merge(b[key], on=key)
    assert len(a) == len(b) >= 5
    pd.testing.assert_frame_equal(a.sort_values(key, ignore_index=True), b.sort_values(key, ignore_index=True),
                                  check_exact=False, rtol=1e-6)
