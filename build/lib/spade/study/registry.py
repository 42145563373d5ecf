"""The study's archs and data splits: one entry each, and every other place reads them.

The config schema's enums (:func:`spade.study.config.load_schema`), the network builder
(:func:`spade.models.build_model`), the design (:mod:`spade.study`, :mod:`spade.study.variants`)
and the dataset builders take their names from here; the strategies and recipes have their
own registry (:mod:`spade.strategies`). Nothing here imports torch: the workflow reads this
module when it parses the Snakefile.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArchSpec:
    """One MBDL arch: whether its network solves a fixed point (its iterations vary with its
    weights: a DEQ), and one line for the docs."""

    name: str
    fixed_point: bool
    summary: str


ARCHS: dict[str, ArchSpec] = {spec.name: spec for spec in (
    ArchSpec("du", False, "deep unfolding: a fixed number of proximal-gradient steps, one tied prior"),
    ArchSpec("deq", True, "deep equilibrium: the fixed point of the same step, Anderson acceleration"),
    ArchSpec("varnet", False, "E2E-VarNet-style cascades of untied U-Nets with soft data consistency"),
)}
# Archs with a fixed number of prior calls: one timing per widths stands for every strategy.
FIXED_ITERATION_ARCHS = frozenset(a for a, spec in ARCHS.items() if not spec.fixed_point)
# Archs that solve a fixed point: the DEQ-only recipes (-jac) apply to them.
FIXED_POINT_ARCHS = frozenset(a for a, spec in ARCHS.items() if spec.fixed_point)


@dataclass(frozen=True)
class SplitSpec:
    """One split a dataset builder writes: whether it stores ground truth (``labelled``),
    whether networks are fitted on it (``training``: no voxel of a validation or test subject
    may be in one), and what reads it."""

    name: str
    labelled: bool
    training: bool
    summary: str


SPLITS: dict[str, SplitSpec] = {spec.name: spec for spec in (
    SplitSpec("train", True, True, "supervised training and fine-tuning"),
    SplitSpec("val", True, False, "every choice: epochs, learning rates, tolerances, the headline"),
    SplitSpec("test", True, False, "read once, by the final evaluation"),
    SplitSpec("unlabelled", False, True, "measurements only, stored without ground truth"),
)}
DATASET_SPLITS = tuple(SPLITS)
# where the training subjects' slices may go (data.mri.split_pattern)
TRAINING_SPLITS = tuple(s for s, spec in SPLITS.items() if spec.training)
# the held-out subjects' splits (labelled, never trained on)
HELD_OUT_SPLITS = tuple(s for s, spec in SPLITS.items() if spec.labelled and not spec.training)
# what a label-free strategy may train on: measurements of slices whose ground truth no network
# trained on, opened without their targets (test: the paper's test-time variant). Not train:
# a teacher's outputs there are near the labels it was trained on, so school would be scored
# with targets a teacher does not give on new measurements.
LABEL_FREE_SPLITS = ("unlabelled", "test")
