"""The library as a user installs it (issue 39): the wheel `pip wheel .` builds, installed with
its core requirements and the `deploy` extra only into a clean virtualenv outside the checkout,
runs the whole API path (tests/wheel/api_path.py) and pulls in none of the study's packages.

The resolver is held to the study's lock where the two overlap (a constraints file from the
`study` extra: constraints pin versions, they add no package), so that no CUDA build of torch is
downloaded; the library's own requirements are ranges (pyproject.toml)."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDY_ONLY = ("snakemake", "nilearn", "dipy", "sigpy", "seaborn", "h5py", "matplotlib", "jsonschema", "pyyaml")


def _run(cmd, **kw):
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=1500, **kw)
    assert res.returncode == 0, f"{cmd}: {res.stdout[-3000:]}{res.stderr[-3000:]}"
    return res.stdout


@pytest.mark.workflow
def test_the_wheel_installs_light_and_runs_the_api_path(tmp_path):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "spade-mbdl"
    assert not any("==" in r for r in project["dependencies"]), "the library's requirements are ranges"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp_path / "dist", ROOT])
    (wheel,) = (tmp_path / "dist").glob("spade_mbdl-*.whl")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("\n".join(project["optional-dependencies"]["study"]) + "\n")
    _run([sys.executable, "-m", "venv", tmp_path / "venv"])
    py = tmp_path / "venv" / "bin" / "python"
    _run([py, "-m", "pip", "install", "--quiet", "--constraint", constraints, f"{wheel}[deploy]"])
    installed = {line.split("==")[0].lower() for line in _run([py, "-m", "pip", "freeze"]).splitlines()}
    assert not installed & set(STUDY_ONLY), sorted(installed & set(STUDY_ONLY))
    assert {"torch", "torch-pruning", "numpy", "pandas", "onnxruntime"} <= installed, sorted(installed)
    out = _run([py, ROOT / "tests" / "wheel" / "api_path.py", "--installed"], cwd=tmp_path)
    assert "deepinv-shaped stand-in: pruned" in out and "saved and loaded" in out, out
    version = _run([tmp_path / "venv" / "bin" / "spade", "--version"], cwd=tmp_path)
    assert "spade" in version and "0." in version, version
