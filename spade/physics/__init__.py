"""Measurement operators ``A`` with their adjoints, one module per inverse problem."""

from spade.physics.mri import MultiCoilMRI, SingleCoilMRI, cartesian_mask, fft2c, ifft2c
from spade.physics.sr import SuperResolution, blur_kernel

__all__ = [
    "MultiCoilMRI",
    "SingleCoilMRI",
    "SuperResolution",
    "blur_kernel",
    "cartesian_mask",
    "fft2c",
    "ifft2c",
]


def make_physics(task: str, params: dict):
    """Build the operator of ``task`` from the parameters recorded in a dataset file."""
    if task == "mri":
        if "sens" in params:
            return MultiCoilMRI(params["mask"], params["sens"])
        return SingleCoilMRI(params["mask"])
    if task == "sr":
        return SuperResolution(params["kernel"], int(params["scale"]))
    raise ValueError(f"unknown task {task!r}; expected 'mri' or 'sr'")
