"""One module per pipeline stage, each taking paths and config blocks.

The Snakemake scripts call these and nothing else; so can any user without Snakemake.
Every stage starts its job the same way (:mod:`spade.study.stages.context`).
"""

from spade.study.stages.benchmark import run_benchmark
from spade.study.stages.classical import benchmark_cs, choose_cs, evaluate_cs
from spade.study.stages.context import load_physics, resolve_device, timing_input
from spade.study.stages.data import make_data, make_external, make_shift
from spade.study.stages.evaluate import evaluate, evaluate_many, load_variant
from spade.study.stages.finetune import finetune
from spade.study.stages.labelfree import label_free_scores
from spade.study.stages.noharm import no_harm_scores
from spade.study.stages.prune import latency_table, prune, prune_to_speed
from spade.study.stages.scale import scale_table, time_scale
from spade.study.stages.train import train_scratch, train_unpruned, train_unpruned_long

__all__ = ["benchmark_cs", "choose_cs", "evaluate", "evaluate_cs", "evaluate_many", "finetune", "label_free_scores", "latency_table", "load_physics", "load_variant", "make_data", "make_external",
           "make_shift", "no_harm_scores", "prune", "prune_to_speed", "resolve_device", "run_benchmark", "scale_table", "time_scale",
           "timing_input", "train_scratch", "train_unpruned", "train_unpruned_long"]
