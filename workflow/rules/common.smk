# Config validation, target lists, input functions and wildcard constraints.
# The only Python of the workflow; the science lives in the spade package.

import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml
from snakemake.logging import logger
from snakemake.utils import validate

# The strategy table and the variant vocabulary live in the spade package (one place).
sys.path.insert(0, str(Path(workflow.basedir).parent))
from spade.config import check_config
from spade.provenance import CONFIG_DIGEST_VAR, config_digest

# Strict first (unknown keys named with their path, command-line numbers converted, what
# each task and arch needs), then Snakemake's validation, which fills in the defaults.
SCHEMA = Path(workflow.basedir) / "schemas" / "config.schema.yaml"
for warning in check_config(config, yaml.safe_load(SCHEMA.read_text())):
    logger.warning(f"Warning: {warning}")
validate(config, schema="../schemas/config.schema.yaml")
# Every job records this digest of the resolved config in its provenance
# (results/config.yaml holds the same), local and cluster jobs alike.
os.environ[CONFIG_DIGEST_VAR] = config_digest(config)
from spade.variants import (
    FIXED_ITERATION_ARCHS,
    PRIOR_OFF,
    PRUNED,
    SCRATCH,
    UNPRUNED,
    is_shifted,
    parse_strategy,
    ratio_label,
    shift_split,
    strategy_rule,
    target_label,
)

STRATEGIES = [PRUNED] + list(config["strategies"])
SCRATCH_RATIOS = [
    ratio_label(r) for r in config.get("scratch_ratios", []) if r in config["ratios"]
]


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


wildcard_constraints:
    task="|".join(config["tasks"]),
    arch="|".join(config["archs"]),
    criterion="|".join(config["criteria"]),
    ratio="x?[0-9.]+",
    strategy="|".join(STRATEGIES + [SCRATCH]),
    split="train|val|test|unlabelled|external|shift_[a-z0-9]+",
    shift="[a-z0-9]+",
    setting="[A-Za-z0-9_]+",
    kind=f"{UNPRUNED}|{PRIOR_OFF}",


def data_sources(wildcards):
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


def evaluate_convention(wildcards):
    """The metric convention of a task (None: the task's default, see spade/metrics.py)."""
    return config["evaluate"].get("conventions", {}).get(wildcards.task)


def study():
    """(task, arch) pairs studied: each arch of `archs` that has a model for the task."""
    return [
        (task, arch)
        for task in config["tasks"]
        for arch in config["archs"]
        if task in config["models"].get(arch, {})
    ]


def network_config(wildcards):
    """The network of task x arch (its `models` entry without the training overrides)."""
    cfg = config["models"][wildcards.arch][wildcards.task]
    return {k: v for k, v in cfg.items() if k not in ("train", "finetune")}


def fit_options(stage, wildcards):
    """`train` or `finetune` settings of task x arch: the task's, with any key the arch
    sets for itself (`models.<arch>.<task>.<stage>`) replaced, since archs differ widely
    in cost per epoch and in how fast they recover from pruning."""
    opts = {
        **config[stage][wildcards.task],
        **config["models"][wildcards.arch][wildcards.task].get(stage, {}),
    }
    if stage == "finetune":
        opts.update(
            {
                k: config["finetune"][k]
                for k in ("selfsup", "ssdu", "ei", "distill", "recipes")
            }
        )
    return opts


def budgets():
    """Every fit budget the rules receive, per stage, task and arch (results/config.yaml)."""
    return {
        stage: {
            task: {
                arch: fit_options(stage, SimpleNamespace(task=task, arch=arch))
                for t, arch in study()
                if t == task
            }
            for task in config["tasks"]
        }
        for stage in ("train", "finetune")
    }


def ratio_labels():
    return [ratio_label(r) for r in config["ratios"]]


def target_labels():
    """Path labels of the speed targets (config `target_speedups`): "x2.0" for 2.0."""
    return [target_label(t) for t in config["target_speedups"]]


def has_external(task):
    """MRI on the embedded data has an external test set: real MR from sources that no
    split trains on (spade.data.embedded.build_mri_external)."""
    return (
        task == "mri" and config["data"]["mri"].get("source", "embedded") == "embedded"
    )


def shift_splits(task):
    """The shifted test sets of a task (config `shifts`), as split names."""
    return [shift_split(name) for name in config["shifts"].get(task, {})]


def eval_splits(task):
    """The labelled splits every variant of a task is scored on for the summary: test, the
    external set where there is one, and every shifted test set."""
    return ["test"] + (["external"] if has_external(task) else []) + shift_splits(task)


def variants():
    """(criterion, ratio, strategy) of every pruned variant, the scratch controls included;
    the strategies of `first_criterion_only` with the first criterion at the grid ratios
    alone (not at the speed targets)."""
    first = set(config["first_criterion_only"])
    return (
        [
            (c, r, s)
            for c in config["criteria"]
            for r in ratio_labels()
            for s in STRATEGIES
            if c == config["criteria"][0] or s not in first
        ]
        + [(c, r, SCRATCH) for c in config["criteria"] for r in SCRATCH_RATIOS]
        # pruned to each speed target with the first criterion, then fine-tuned alike
        + [
            (config["criteria"][0], t, s)
            for t in target_labels()
            for s in STRATEGIES
            if s not in first
        ]
    )


def unpruned_path(task, arch):
    return f"results/models/{task}/{arch}/unpruned.pt"


def pruned_path(task, arch, criterion, ratio):
    return f"results/pruned/{task}/{arch}/{criterion}-r{ratio}.pt"


def model_path(task, arch, criterion, ratio, strategy):
    """The artifact of a variant: the pruned model itself for strategy "none"."""
    if strategy == PRUNED:
        return pruned_path(task, arch, criterion, ratio)
    if strategy == SCRATCH:
        return f"results/scratch/{task}/{arch}/{criterion}-r{ratio}.pt"
    return f"results/finetuned/{task}/{arch}/{criterion}-r{ratio}/{strategy}.pt"


def finetune_inputs(wildcards):
    """A strategy's inputs, from the strategy table: supervised and distill train on the
    labelled training split; label-free strategies on `finetune.label_free_data` (the
    unlabelled split, or the test measurements in the paper's test-time variant); school
    and distill also read the unpruned network, their teacher. The iterative recipe prunes
    the unpruned network itself, reading the measurements pruning reads."""
    needs = strategy_rule(wildcards.strategy)
    data = config["finetune"].get("label_free_data", "unlabelled")
    split = "train" if needs.needs_target else data
    inputs = {
        "pruned": pruned_path(
            wildcards.task, wildcards.arch, wildcards.criterion, wildcards.ratio
        ),
        "train": f"results/data/{wildcards.task}/{split}.h5",
        "val": f"results/data/{wildcards.task}/val.h5",
    }
    if needs.needs_teacher:
        inputs["teacher"] = unpruned_path(wildcards.task, wildcards.arch)
    if parse_strategy(wildcards.strategy)[1] == "iter":
        inputs["base"] = unpruned_path(wildcards.task, wildcards.arch)
        inputs["prune_data"] = f"results/data/{wildcards.task}/unlabelled.h5"
    return inputs


def evaluate_model(wildcards):
    return model_path(
        wildcards.task,
        wildcards.arch,
        wildcards.criterion,
        wildcards.ratio,
        wildcards.strategy,
    )


def benchmark_variants(task, arch):
    """Every variant timed side by side for task x arch: the unpruned network, its
    prior-off control, and every pruned kind. A network with a fixed number of prior
    calls is timed once per architecture (its pruned model stands for every strategy and
    the scratch control of a ratio); a DEQ for every kind, since its iterations depend on
    its weights."""
    timed = [
        {"path": unpruned_path(task, arch)},
        {"path": unpruned_path(task, arch), "prior_off": True},
    ]
    for c, r, s in variants():
        if arch in FIXED_ITERATION_ARCHS and s != PRUNED:
            continue
        timed.append({"path": model_path(task, arch, c, r, s)})
    return timed


def metric_paths(split, task=None):
    """Per-image score files of every variant of the study on `split`. On the shifted test
    sets and the external set, the variants of the first criterion (every strategy but
    those of `first_criterion_only`, the scratch control, the speed targets) stand for the
    rest: robustness compares pruned with unpruned, not one criterion or recipe with another.
    """
    first = set(config["first_criterion_only"])
    kinds = [
        v
        for v in variants()
        if not is_shifted(split)
        or (v[0] == config["criteria"][0] and v[2] not in first)
    ]
    paths = []
    for t in [task] if task else config["tasks"]:
        paths.append(f"results/metrics/{split}/{t}/classical.csv")
        for arch in [a for tt, a in study() if tt == t]:
            paths += [
                f"results/metrics/{split}/{t}/{arch}/{k}.csv"
                for k in (UNPRUNED, PRIOR_OFF)
            ]
            paths += [
                f"results/metrics/{split}/{t}/{arch}/{c}-r{r}/{s}.csv"
                for c, r, s in kinds
            ]
    return paths


def cost_models():
    """Every trained or pruned artifact of the study (the summary's cost columns)."""
    return [unpruned_path(t, a) for t, a in study()] + [
        model_path(t, a, c, r, s) for t, a in study() for c, r, s in variants()
    ]


def summary_metrics():
    return [
        p for t in config["tasks"] for s in eval_splits(t) for p in metric_paths(s, t)
    ]


def example_inputs(wildcards):
    """Example reconstructions for the grid: classical, prior-off, unpruned, every kind
    at the middle ratio of the first criterion, for each arch (test split)."""
    task = wildcards.task
    mid = ratio_labels()[len(config["ratios"]) // 2]
    crit = config["criteria"][0]
    root = f"results/metrics/test/{task}"
    inputs = {"classical": f"{root}/classical.npz"}
    for arch in [a for t, a in study() if t == task]:
        inputs[f"{arch} {PRIOR_OFF}"] = f"{root}/{arch}/{PRIOR_OFF}.npz"
        inputs[f"{arch} {UNPRUNED}"] = f"{root}/{arch}/{UNPRUNED}.npz"
        for c, r, s in variants():
            if c == crit and r == mid:
                inputs[f"{arch} r{mid} {s}"] = f"{root}/{arch}/{c}-r{r}/{s}.npz"
    return inputs


def label_free_options(wildcards):
    """Fine-tuning settings of one label-free ablation setting: the arch's `finetune`
    options with the setting's self-supervised loss, EI and SSDU keys replaced and its
    epochs times its `budget`."""
    setting = config["label_free_ablation"]["settings"][wildcards.setting]
    opts = fit_options("finetune", wildcards)
    opts["selfsup"] = {
        **opts["selfsup"],
        wildcards.task: setting.get("selfsup", opts["selfsup"][wildcards.task]),
    }
    opts["ei"] = {**opts["ei"], **setting.get("ei", {})}
    opts["ssdu"] = {**opts["ssdu"], **setting.get("ssdu", {})}
    opts["epochs"] = int(opts["epochs"]) * int(setting.get("budget", 1))
    return opts


def label_free_settings():
    """(input key, arch, setting) of every network the label-free table scores: per arch,
    the unpruned network, the pruned one and each setting's fit."""
    block = config["label_free_ablation"]
    return [
        (f"{arch}_{i}", arch, name)
        for arch in block["archs"]
        for i, name in enumerate([UNPRUNED, PRUNED, *block["settings"]])
    ]


def label_free_inputs(wildcards):
    block = config["label_free_ablation"]
    task, ratio = block["task"], ratio_label(block["ratio"])
    inputs = {"val": f"results/data/{task}/val.h5"}
    for key, arch, name in label_free_settings():
        if name == UNPRUNED:
            inputs[key] = unpruned_path(task, arch)
        elif name == PRUNED:
            inputs[key] = pruned_path(task, arch, config["criteria"][0], ratio)
        else:
            inputs[key] = f"results/labelfree/{task}/{arch}/{name}.pt"
    return inputs


def scale_specs():
    """(scale, arch) -> what `time_scale` times: the study's MRI networks at the study's
    image size and coils (scale "study", embedded data), and each `scale_timing.scales`
    entry's networks; every scale with the study's mask settings."""
    block, mri = config["scale_timing"], config["data"].get("mri", {})
    common = {
        "acceleration": mri.get("acceleration", 4),
        "center_fraction": mri.get("center_fraction", 0.08),
    }
    specs = {}
    if "mri" in config["tasks"] and "image_size" in mri:
        for task, arch in study():
            if task == "mri":
                net = network_config(SimpleNamespace(task="mri", arch=arch))
                specs[("study", arch)] = {
                    **common,
                    "size": mri["image_size"],
                    "coils": mri.get("coils", 1),
                    "network": {"arch": arch, **net},
                }
    for name, scale in block["scales"].items():
        for arch, net in scale["networks"].items():
            specs[(name, arch)] = {
                **common,
                "size": scale["size"],
                "coils": scale["coils"],
                "network": {"arch": arch, **net},
            }
    return specs


def all_outputs():
    return (
        [
            "results/config.yaml",
            "results/tables/summary.csv",
            "results/tables/summary.md",
            "results/figures/psnr_vs_ratio.png",
            "results/figures/speedup_vs_ratio.png",
            "results/figures/psnr_vs_latency.png",
            "results/figures/psnr_vs_speedup.png",
        ]
        + [f"results/figures/examples_{task}.png" for task in config["tasks"]]
        + (
            ["results/tables/robustness.csv", "results/figures/robustness.png"]
            if any(shift_splits(task) for task in config["tasks"])
            else []
        )
        + (
            ["results/tables/label_free.csv"]
            if config.get("label_free_ablation")
            else []
        )
        + (["results/tables/scale.csv"] if config.get("scale_timing") else [])
    )
