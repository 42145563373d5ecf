"""SPADE: structured pruning and fine-tuning of model-based deep learning networks.

The package holds the science of the pipeline (physics, models, pruning, losses,
training, metrics, timing, tables and plots) and imports nothing from Snakemake.
"""

__version__ = "0.1.0"
