"""What every stage records next to its outputs: seed, versions, device, threads."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

import torch


CONFIG_DIGEST_VAR = "SPADE_CONFIG_SHA256"


def plain(obj):
    """Snakemake's config and params mapping types as plain dicts and lists."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def config_digest(config: dict) -> str:
    """SHA-256 of a resolved config (key order does not matter)."""
    import hashlib

    text = json.dumps(plain(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def environment(seed: int | None = None, device: str = "cpu") -> dict:
    import numpy

    info = {
        "seed": seed,
        "device": device,
        "device_name": torch.cuda.get_device_name(device) if device.startswith("cuda") else platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": str(torch.__version__),
        "torch_pruning": metadata.version("torch-pruning"),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        # the resolved config the workflow ran (results/config.yaml holds the same digest)
        "config_sha256": os.environ.get(CONFIG_DIGEST_VAR),
    }
    if device.startswith("cuda"):
        info.update(gpu_environment())
    return info


def gpu_environment() -> dict:
    """CUDA runtime, cuDNN and driver versions: GPU timings mean little without them."""
    import subprocess

    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30, check=True).stdout.split("\n")[0].strip()
    except (OSError, subprocess.SubprocessError):
        driver = None
    return {"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "gpu_driver": driver,
            "gpu_count": torch.cuda.device_count()}


def write_json(obj: dict, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def write_resolved_config(out_path, files: list[str], config: dict, budgets: dict) -> None:
    """results/config.yaml: the config files in the order they were applied, the resolved
    config and the fit budgets every rule received (``budgets[stage][task][arch]``)."""
    import yaml

    text = yaml.safe_dump({"config_files": plain(files), "config_sha256": config_digest(config),
                           "budgets": plain(budgets), "config": plain(config)}, sort_keys=False)
    tmp = Path(str(out_path) + ".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(text)
    tmp.replace(out_path)


def stage_seconds(root=".") -> dict[str, tuple[int, float]]:
    """``{stage: (jobs, job-seconds)}`` from the Snakemake benchmark files under
    ``root/benchmarks`` (``s``: each job's wall seconds), the stage being the first folder
    (after a seed's ``seeds/<n>/`` or a run's prefix)."""
    import csv

    out: dict[str, tuple[int, float]] = {}
    base = Path(root) / "benchmarks"
    for path in sorted(base.rglob("*.tsv")) if base.is_dir() else []:
        parts = path.relative_to(base).parts
        stage = parts[2] if parts[0] == "seeds" and len(parts) > 3 else parts[0]
        with path.open() as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        seconds = sum(float(r["s"]) for r in rows if r.get("s") not in (None, "", "NA"))
        jobs, total = out.get(stage, (0, 0.0))
        out[stage] = (jobs + 1, total + seconds)
    return out


def run_note(seconds: float, config_paths=("config/config.yaml",), root=".") -> str:
    """Markdown naming a finished run: commit (and whether the tree was clean), config hash,
    machine, load average and the Snakemake wall time."""
    import hashlib
    import subprocess
    from datetime import datetime, timezone

    def git(*args):
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return ""

    if isinstance(config_paths, (str, Path)):
        config_paths = [config_paths]
    configs = ", ".join(f"{p} (sha256 {hashlib.sha256(Path(p).read_bytes()).hexdigest()[:12]})"
                        if Path(p).is_file() else f"{p} (?)" for p in config_paths)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    env = environment()
    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    lines = [
        f"- run finished {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; Snakemake wall time {seconds / 60:.1f} min",
        f"- commit {git('rev-parse', '--short', 'HEAD') or '?'}{dirty}",
        f"- config {configs}",
        f"- machine: {env['platform']}, {env['cpu_count']} CPUs ({env['device_name']}), torch {env['torch']}, "
        f"torch-pruning {env['torch_pruning']}",
        f"- load average at the end (1, 5, 15 min): {load}",
    ]
    stages = stage_seconds(root)
    if stages:
        total = sum(s for _, s in stages.values())
        lines.append(f"- job-seconds per stage (wall seconds of each job, summed; Snakemake benchmark files, "
                     f"{total / 60:.1f} job-min in all; the timing stages (bench, scale) run alone on the machine): "
                     + ", ".join(f"{stage} {s:.0f} s ({n} jobs)" for stage, (n, s) in
                                 sorted(stages.items(), key=lambda kv: -kv[1][1])))
    return "\n".join(lines) + "\n"


def results_page(note: str, summary_md: str, validation_md: str | None = None, extras: list[str] = (),
                 title: str = "Results of the default study", made_by: str = "make results-doc") -> str:
    """A results page in docs/: the run's note above its summary tables (and, when given,
    the same run's validation tables: the numbers that settings are chosen on, and
    further generated tables ``extras``), as generated."""
    def body(md):
        return md.split("\n", 1)[1] if md.startswith("# ") else md

    page = (f"# {title}\n\n"
            f"Regenerated by `{made_by}` from the run note and the tables that the run named here wrote; "
            "not edited by hand.\n\n" + note + "\n" + body(summary_md))
    for extra in extras:  # each its own section: every heading one level down
        page += "\n" + "\n".join("#" + line if line.startswith("#") else line for line in extra.splitlines()) + "\n"
    if validation_md:
        page += ("\n## Validation split\n\nThe same variants on the validation split, which every setting of "
                 "config/config.yaml is chosen on (the test split above is read only by the final evaluation).\n"
                 + body(validation_md).replace("\n## ", "\n### "))
    return page


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the note naming a run, and the results page built from it")
    sub = parser.add_subparsers(dest="cmd", required=True)
    note_cmd = sub.add_parser("run-note", help="write the note naming a finished run")
    note_cmd.add_argument("out")
    note_cmd.add_argument("--seconds", type=float, required=True)
    note_cmd.add_argument("--config", nargs="+", default=["config/config.yaml"], help="the config files it ran")
    note_cmd.add_argument("--root", default=".", help="the run's directory (its benchmarks/ folder)")
    page_cmd = sub.add_parser("results-page", help="build docs/results.md from a run note and its summary")
    page_cmd.add_argument("note")
    page_cmd.add_argument("summary")
    page_cmd.add_argument("out")
    page_cmd.add_argument("--validation", help="the same run's results/tables/validation.md")
    page_cmd.add_argument("--extra", nargs="*", default=[], help="further tables of the same run (Markdown)")
    page_cmd.add_argument("--title", default="Results of the default study")
    page_cmd.add_argument("--made-by", default="make results-doc", help="the command that writes the page")
    args = parser.parse_args()
    if args.cmd == "run-note":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(run_note(args.seconds, args.config, args.root))
    else:
        validation = Path(args.validation).read_text() if args.validation else None
        extras = [Path(p).read_text() for p in args.extra]
        Path(args.out).write_text(results_page(Path(args.note).read_text(), Path(args.summary).read_text(), validation,
                                               extras, args.title, args.made_by))
