"""The runtimes a study may time its networks in, and whether this machine has them
(torch-free: the config checks read it before any job runs; :mod:`spade.deploy` runs them)."""

from __future__ import annotations

import importlib.util

EAGER = "eager"
CHANNELS_LAST = "channels_last"
ONNXRUNTIME = "onnxruntime"
ONNXRUNTIME_CUDA = "onnxruntime-cuda"
RUNTIMES = (EAGER, CHANNELS_LAST, ONNXRUNTIME, ONNXRUNTIME_CUDA)
ONNX_RUNTIMES = (ONNXRUNTIME, ONNXRUNTIME_CUDA)
# the extra of pyproject.toml that installs the ONNX packages
EXTRA = "deploy"
# the setting of a benchmark's main rows: every variant in the deploy runtime with the common
# solver (the labelled extra rows are variant@setting)
MAIN = "main"
PROVIDERS = {ONNXRUNTIME: "CPUExecutionProvider", ONNXRUNTIME_CUDA: "CUDAExecutionProvider"}


def missing_packages(runtime: str) -> list[str]:
    """The Python packages ``runtime`` needs that are not installed (none for torch's own)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if runtime not in ONNX_RUNTIMES:
        return []
    return [p for p in ("onnx", "onnxruntime") if importlib.util.find_spec(p) is None]


def check_runtime(runtime: str, where: str = "benchmark.runtimes") -> None:
    """Refuse a runtime whose packages are missing, naming them and the extra that installs them."""
    missing = missing_packages(runtime)
    if missing:
        raise RuntimeError(f"{where}: runtime {runtime!r} needs the package(s) {', '.join(missing)}, not installed; "
                           f"install them with `pip install -e '.[{EXTRA}]'` (or leave {runtime!r} out of {where})")
    if runtime == ONNXRUNTIME_CUDA:
        import onnxruntime

        if PROVIDERS[runtime] not in onnxruntime.get_available_providers():
            raise RuntimeError(f"{where}: runtime {runtime!r} needs onnxruntime's CUDAExecutionProvider, which this "
                               f"onnxruntime build lacks (install onnxruntime-gpu, or leave {runtime!r} out of {where})")


def available(runtime: str) -> bool:
    """Whether :func:`check_runtime` would accept ``runtime`` here."""
    try:
        check_runtime(runtime)
    except RuntimeError:
        return False
    return True
