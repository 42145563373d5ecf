"""The library's defaults: one home for every setting the API, the CLI and the option objects
fall back on, so that an installed wheel needs no file of the study.

The study's schema (workflow/schemas/config.schema.yaml) declares the same values for its
config keys, and tests/test_options.py checks that the two agree: change a default here and
there together."""

from __future__ import annotations

import copy
from types import MappingProxyType

# One fit (spade.train.fit): what a `train.<task>` / `finetune.<task>` block may leave out.
FIT = MappingProxyType({"patience": None, "jacobian_weight": 0.0, "lr_min_factor": 0.1, "grad_clip": None})

# The strategies' own settings (spade.strategies, spade.losses) that every fine-tuning fit carries.
STRATEGY_SETTINGS = MappingProxyType({
    "label_free": {"lr": None, "epochs": None, "anchor": 0.0, "monitor": {"mri": "heldout_kspace", "sr": "cross_scale"}},
    "hybrid": {"mc_weight": 1.0},
    "selfsup": {"mri": "ei", "sr": "ei"},
    "ssdu": {"loss_fraction": 0.4, "center_fraction": 0.08},
    "ei": {"weight": 1.0, "rotate": True, "angles": "right", "mc_weight": 1.0, "operators": "one"},
    # Equivariant Splitting's group (spade.losses.random_group_element)
    "es": {"group": "rotations"},
    "distill": {"weight": 1.0},
    "recipes": {"budget": 3, "jacobian_weight": 0.001},
})

# Timing (spade.benchmark, spade.options.BenchmarkOptions). `deploy_runtime` None: the first
# of `runtimes`, the one rule the API, the CLI and the workflow share.
BENCHMARK = MappingProxyType({
    "batch_sizes": [1], "warmup": 1, "repeats": 1, "threads": None, "crop": 48, "images": 3, "rounds": 6,
    "spread_check": False, "breakdown_repeats": 5, "runtimes": ["eager"], "deploy_runtime": None,
    "channels_last": False, "compile": False, "speed_target": None,
})


def fit_defaults() -> dict:
    """A fresh copy of :data:`FIT`."""
    return dict(FIT)


def strategy_settings() -> dict:
    """A fresh, deep copy of :data:`STRATEGY_SETTINGS` (a caller may change what it gets)."""
    return copy.deepcopy(dict(STRATEGY_SETTINGS))


def benchmark_defaults() -> dict:
    """A fresh, deep copy of :data:`BENCHMARK`."""
    return copy.deepcopy(dict(BENCHMARK))
