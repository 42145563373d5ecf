"""`protect: true` makes the built datasets read-only once written, and a rerun that would
replace them stops before any job, naming the file (issue: paper-scale runs)."""

import contextlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, SNAKEMAKE, TINY, snakemake

TARGET = "results/data/sr/train.h5"
SPLITS = ("train", "val", "test", "unlabelled")


@contextlib.contextmanager
def traversable(paths):
    """Let every user pass through the folders above ``paths`` for the duration (CI clones
    into a folder only root may enter, e.g. one made by mkdtemp): each folder that lacks
    the others' execute bit gets it, and its mode is restored afterwards."""
    changed = {}
    for path in paths:
        for folder in Path(path).resolve().parents:
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH and folder not in changed:
                changed[folder] = mode
                folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    try:
        yield
    finally:
        for folder, mode in changed.items():
            folder.chmod(stat.S_IMODE(mode))


def as_unprivileged(args, work):
    """Snakemake as a user for whom read-only means read-only: root may write any file,
    so under root run it as `nobody`, with the checkout, the interpreter and the work
    folder made reachable for it (skip only where `setpriv` is missing)."""
    cmd = [str(SNAKEMAKE), "-s", str(ROOT / "workflow" / "Snakefile"), *args, "--configfile", str(TINY),
           "--directory", str(work)]
    env = {**os.environ, "HOME": str(work), "XDG_CACHE_HOME": str(work / ".cache")}
    if os.geteuid() != 0:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv to run as an unprivileged user")
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    with traversable([TINY, SNAKEMAKE, os.path.realpath(sys.executable), work]):
        assert subprocess.run([*prefix, "test", "-r", str(TINY)]).returncode == 0, "nobody cannot read the config"
        return subprocess.run([*prefix, *cmd], cwd=ROOT, capture_output=True, text=True, env=env)


def test_protected_datasets_are_read_only_and_not_rebuilt():
    work = Path(tempfile.mkdtemp(prefix="spade-protect-"))
    try:
        work.chmod(0o777)  # the unprivileged rerun writes Snakemake's metadata here
        res = snakemake("--cores", "1", TARGET, "--configfile", str(TINY), "--directory", str(work),
                        "--config", "protect=true")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        for split in SPLITS:
            mode = (work / f"results/data/sr/{split}.h5").stat().st_mode
            assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), split
        subprocess.run(["chmod", "-R", "a+rwX", str(work / ".snakemake")], check=True)
        res = as_unprivileged(["-n", TARGET, "--forcerun", "make_dataset", "--config", "protect=true"], work)
        out = res.stdout + res.stderr
        assert res.returncode != 0, out[-3000:]
        assert "Write-protected output files" in out and "results/data/sr/train.h5" in out, out[-3000:]
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(work)])
        shutil.rmtree(work, ignore_errors=True)


def test_unprotected_datasets_stay_writable(tmp_path):
    res = snakemake("--cores", "1", "results/data/sr/val.h5", "--configfile", str(TINY), "--directory",
                    str(tmp_path))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (tmp_path / "results/data/sr/val.h5").stat().st_mode & stat.S_IWUSR
