"""SPADE: structured pruning and fine-tuning of model-based deep learning networks.

The package holds the science of the pipeline (physics, models, pruning, losses,
training, metrics, timing, tables and plots) and imports nothing from Snakemake.
"""

__version__ = "0.1.0"

# The API for one's own network (spade.api; docs/api.md), imported on first use so that
# the workflow, which imports spade.variants and spade.config, does not load torch for it.
__all__ = ["Measurements", "Pairs", "PruneReport", "PruningError", "benchmark_variants", "candidate_priors",
           "export", "find_priors", "finetune", "load_network", "prune_priors", "save_network"]


def __getattr__(name):
    if name in __all__:
        from spade import api

        return getattr(api, name)
    import importlib

    try:  # a submodule (spade.prune, spade.stats, ...), imported on first use
        return importlib.import_module(f"spade.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"spade.{name}":
            raise
    raise AttributeError(f"module 'spade' has no attribute {name!r}")
