"""SPADE: structured pruning and fine-tuning of model-based deep learning networks.

The library (this package's top level, physics/ and models/: find, prune, fine-tune, time,
export and save a network's priors; distribution ``spade-mbdl``) and, in :mod:`spade.study`,
the reproducible study built on it (design, stages, data, reports: the Snakemake workflow's
science). Neither imports Snakemake; no library module imports the study.
"""

__version__ = "0.1.0"

# The API for one's own network (spade.api; docs/api.md), imported on first use so that
# the workflow, which imports spade.study.variants and spade.study.config, does not load torch for it.
__all__ = ["Measurements", "Pairs", "PruneReport", "PruningError", "benchmark_variants", "candidate_priors",
           "export", "find_priors", "finetune", "load_network", "prune_priors", "save_network"]


def __getattr__(name):
    if name in __all__:
        from spade import api

        return getattr(api, name)
    import importlib

    try:  # a submodule (spade.prune, spade.study.stats, ...), imported on first use
        return importlib.import_module(f"spade.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"spade.{name}":
            raise
    raise AttributeError(f"module 'spade' has no attribute {name!r}")
