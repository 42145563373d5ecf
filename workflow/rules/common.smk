# Config validation, wildcard constraints and input functions: the only Python of the
# workflow. The study's design (which variants exist, where each artifact lives, what each
# table reads) lives in spade.study, where it is unit-tested; these functions call it.

import os
import shutil
import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir).parent))
import spade.study.paths as paths
from spade.study.config import check_config, load_schema
from spade.study.provenance import CONFIG_DIGEST_VAR, config_digest
from spade.study.speed_options import settings as speed_settings
from spade.study import Study
from spade.study.variants import (
    FIXED_ITERATION_ARCHS,
    PRIOR_OFF,
    SCRATCH,
    UNPRUNED,
    Variant,
)

# Strict first (unknown keys named with their path, command-line numbers converted, what
# each task and arch needs, strategy names from the registry), then Snakemake's
# validation, which fills in the defaults.
for warning in check_config(
    config, load_schema(Path(workflow.basedir) / "schemas" / "config.schema.yaml")
):
    logger.warning(f"Warning: {warning}")
validate(config, schema="../schemas/config.schema.yaml")
# Every job records this digest of the resolved config in its provenance
# (results/config.yaml holds the same), local and cluster jobs alike.
os.environ[CONFIG_DIGEST_VAR] = config_digest(config)
STUDY = Study(config)
# The path templates of the repeats with further seeds (`seeds.repeat`; {seed} a wildcard).
SEEDED = STUDY.seeded("{seed}") if STUDY.repeat_seeds else None


def gpu_slots():
    """GPUs a network job asks for: none under `device: cpu`; one under `cuda...`; under
    `auto`, one on a cluster executor (the nodes have the GPUs, not the submit host) or
    where this host has an NVIDIA driver. Locally, the default profile's `gpu=1` limit lets
    no two such jobs share a card. Evaluated per job, once the executor is known."""
    device = config["device"]
    if device == "cpu":
        return 0
    if device == "auto" and workflow.local_exec and shutil.which("nvidia-smi") is None:
        return 0
    return 1


def gpu_count(wildcards):
    """`gpu` resource (sbatch --gpus=N) of a network job; 0 under `gpu_request: gres`."""
    return gpu_slots() if config["gpu_request"] == "gpus" else 0


def gpu_gres(wildcards):
    """`gres` resource (sbatch --gres=gpu:N) of a network job under `gpu_request: gres`;
    empty (no --gres) otherwise: each job asks for its GPU in exactly one spelling."""
    n = gpu_slots() if config["gpu_request"] == "gres" else 0
    return f"gpu:{n}" if n else ""


def protect(path):
    """An output made read-only once written under `protect: true` (datasets and base
    networks: a rerun that would replace one stops before any job, naming it)."""
    return protected(path) if config["protect"] else path


# {key}: a pruned variant's path key, "<criterion>-r<ratio>" or "<criterion>-x<speedup>"
# (spade.study.variants.Variant.key).
CRITERION = "|".join(config["criteria"])


# The DEQ runs recipes no other arch runs (-jac): its evaluation jobs write other files, so
# they are a rule of their own (rules/evaluate.smk).
NON_DEQ_ARCHS = (
    "|".join(a for a in config["archs"] if a in FIXED_ITERATION_ARCHS) or "none"
)


wildcard_constraints:
    task="|".join(config["tasks"]),
    arch="|".join(config["archs"]),
    key=f"({CRITERION})-[rx][0-9.]+",
    strategy="|".join(STUDY.strategies + [SCRATCH]),
    split="train|val|test|unlabelled|external|shift_[a-z0-9]+",
    shift="[a-z0-9]+",
    setting="[A-Za-z0-9_]+",
    kind=f"{UNPRUNED}|{PRIOR_OFF}",
    # "" for the study, "seeds/<seed>/" for a repeat with a further seed (spade.study)
    run="(seeds/[0-9]+/)?",
    seed="[0-9]+",
    method="tv|isotv|wavelet",
    steps="[0-9]+",


def variant(wildcards, strategy=None):
    """The variant of a rule's wildcards: Snakemake's strings converted once, here."""
    return Variant.from_key(
        wildcards.task,
        wildcards.arch,
        wildcards.key,
        strategy or wildcards.get("strategy", "none"),
    )


def study_of(wildcards):
    """The study a rule's wildcards belong to: the study, or its repeat with a seed."""
    if "seed" in wildcards.keys():
        return STUDY.seeded(int(wildcards.seed))
    return STUDY.for_run(wildcards.get("run", ""))


def get_seed(wildcards):
    """The seed of a job's training or fine-tuning: the study's, or its repeat's."""
    return int(study_of(wildcards).config["seed"])


def get_data_sources(wildcards):
    """The local files a task's data come from (none for the embedded data), so that a
    missing path stops the dry run and changed data rebuild the splits."""
    cfg = config["data"][wildcards.task]
    source = cfg.get("source", "embedded")
    if source == "fastmri":
        root = cfg["fastmri"]["root"]
        parts = root.values() if isinstance(root, dict) else [root]
    elif source == "folders":
        block = cfg["folders"]
        parts = [block["train"], block.get("train_lr"), block.get("val")]
        parts += list(block["test"].values())
    else:
        return []
    paths = []
    for part in parts:
        if part:
            paths += [part] if isinstance(part, str) else list(part)
    return sorted(set(paths))


def get_cs_lambdas(wildcards):
    """The lambda choices of a task's compressed-sensing baselines (rule choose_cs_lambda)."""
    return [
        STUDY.cs_lambda_path(wildcards.task, m)
        for m in STUDY.cs_methods(wildcards.task)
    ]


def get_convention(wildcards):
    """The metric convention of a task (None: the task's default, see spade/metrics.py)."""
    return config["evaluate"].get("conventions", {}).get(wildcards.task)


def get_latency_input(wildcards):
    return STUDY.latency_inputs(wildcards.task)


def get_latency_specs(wildcards):
    return STUDY.latency_specs(wildcards.task)


def width_runtime():
    """The runtime a pruning job's widths were timed in: the deploy runtime under
    `round_to: auto`, None for widths the config fixes (so that no change of the runtime
    reruns those pruning jobs)."""
    return STUDY.deploy_runtime if config.get("round_to") == "auto" else None


def get_network_config(wildcards):
    return STUDY.network_config(wildcards.task, wildcards.arch)


def get_fit_options(stage):
    """The `train` or `finetune` options of a rule's task x arch (spade.study)."""
    return lambda wildcards: study_of(wildcards).fit_options(
        stage, wildcards.task, wildcards.arch
    )


def get_scratch_options(wildcards):
    return study_of(wildcards).scratch_options(wildcards.task, wildcards.arch)


def get_unpruned_long_options(wildcards):
    return study_of(wildcards).unpruned_long_options(wildcards.task, wildcards.arch)


def get_finetune_inputs(wildcards):
    return study_of(wildcards).finetune_inputs(variant(wildcards))


def get_evaluation_jobs(wildcards):
    return study_of(wildcards).evaluation_jobs(
        wildcards.split, wildcards.task, wildcards.arch
    )


def get_evaluation_models(wildcards):
    return sorted({job["model"] for job in get_evaluation_jobs(wildcards)})


def get_timed_variants(wildcards):
    return STUDY.timed_variants(wildcards.task, wildcards.arch)


def get_example_inputs(wildcards):
    return STUDY.example_inputs(wildcards.task)


def get_label_free_pruned(wildcards):
    return STUDY.model_path(STUDY.label_free_pruned(wildcards.arch))


def get_label_free_train(wildcards):
    return STUDY.label_free_data(wildcards.task, wildcards.setting)[0]


def get_label_free_fraction(wildcards):
    return STUDY.label_free_data(wildcards.task, wildcards.setting)[1]


def get_label_free_options(wildcards):
    return STUDY.label_free_options(wildcards.task, wildcards.arch, wildcards.setting)


def get_label_free_inputs(wildcards):
    return STUDY.label_free_inputs()


def get_no_harm_inputs(wildcards):
    return STUDY.no_harm_inputs(wildcards.task, wildcards.arch, wildcards.strategy)


def get_no_harm_table_inputs(wildcards):
    return STUDY.no_harm_table_inputs()


def get_seed_metrics(wildcards):
    """Every seed's validation and test score files of the repeated comparison, named
    `seed_<n>` (spade.study.Study.seed_metric_paths)."""
    return {f"seed_{seed}": paths for seed, paths in STUDY.seed_metric_paths().items()}


def get_scale_setting(wildcards):
    return STUDY.scale_specs()[(wildcards.scale, wildcards.arch)]
