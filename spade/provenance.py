"""What every stage records next to its outputs: seed, versions, device, threads."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

import torch


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
