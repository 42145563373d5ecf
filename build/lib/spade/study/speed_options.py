"""The ways of buying speed the equal-latency comparison sets side by side (config
`equal_latency`; :mod:`spade.study.stages.equal_latency`): one name each, in its table,
figure and findings. Nothing here imports torch."""

from __future__ import annotations

UNPRUNED = "unpruned"
EAGER_UNPRUNED = "unpruned, eager"  # the reference a user starts from: no deployment runtime
PRUNED = "pruned"  # SPADE: pruned, then fine-tuned supervised
SCRATCH = "scratch"  # the pruned widths trained from random init
DISTILLED = "distilled"  # pruned, then fine-tuned with the unpruned network as a second target
FEWER_STEPS = "fewer steps"  # the unpruned unrolled network cut to fewer steps, fine-tuned
LOOSER_TOL = "looser tolerance"  # a DEQ solved to a looser tolerance
LOWER_CAP = "lower cap"  # a DEQ solved with fewer iterations at most
INERTIAL = "inertial solver"  # a DEQ solved by inertial iteration instead of Anderson
INT8 = "int8"  # the prior quantized to INT8 (ONNX Runtime, static, QDQ)
# options whose network SPADE pruned (the others buy speed without pruning; a solver option
# or INT8 of a pruned network counts as pruning combined with it)
PRUNING = (PRUNED, DISTILLED)

# The `equal_latency` block's defaults (the schema declares its keys; a null block: no comparison).
SETTINGS = {"fewer_steps": {}, "int8": True, "calibration_images": 8, "loose_tol": 1.0e-2, "low_cap": 15,
            "momentum": 0.5, "targets": [1.5, 2.0, 4.0]}


def settings(block: dict | None) -> dict:
    """The comparison's settings: ``block`` (the config's `equal_latency`) over :data:`SETTINGS`."""
    return {**SETTINGS, **(block or {})}
