"""Measurement operators ``A`` with their adjoints, one module per inverse problem."""

from spade.physics.mri import MultiCoilMRI, SingleCoilMRI, cartesian_mask, fft2c, ifft2c
from spade.physics.masks import make_mask
from spade.physics.sr import SuperResolution, blur_kernel

__all__ = [
    "MultiCoilMRI",
    "SingleCoilMRI",
    "SuperResolution",
    "blur_kernel",
    "cartesian_mask",
    "fft2c",
    "ifft2c",
    "make_mask",
]

# Arrays that a split file may hold per sample instead of once for the whole file.
PER_SAMPLE_KEYS = ("mask", "sens")


def make_physics(task: str, params: dict):
    """Build the operator of ``task`` from the parameters recorded in a dataset file."""
    if task == "mri":
        if "sens" in params:
            return MultiCoilMRI(params["mask"], params["sens"])
        return SingleCoilMRI(params["mask"])
    if task == "sr":
        return SuperResolution(params["kernel"], int(params["scale"]), int(params.get("channels", 1)))
    raise ValueError(f"unknown task {task!r}; expected 'mri' or 'sr'")


def batch_physics(physics, params: dict | None):
    """The operator of one batch: ``physics`` with its per-sample arrays replaced by the
    batch's own (``mask`` ``[B, H, W]``, ``sens`` ``[B, C, 2, H, W]``). ``params`` empty or
    None: ``physics`` itself (every sample shares the file's operator)."""
    if not params:
        return physics
    unknown = set(params) - set(PER_SAMPLE_KEYS)
    if unknown:
        raise ValueError(f"no per-sample physics keys {sorted(unknown)}; expected a subset of {PER_SAMPLE_KEYS}")
    if not isinstance(physics, SingleCoilMRI):
        raise ValueError(f"per-sample physics is only defined for MRI, not {type(physics).__name__}")
    mask = params.get("mask", physics.mask)
    sens = params.get("sens", getattr(physics, "sens", None))
    return SingleCoilMRI(mask) if sens is None else MultiCoilMRI(mask, sens)
