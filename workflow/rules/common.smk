# Config validation, target lists, input functions and wildcard constraints.
# The only Python of the workflow; the science lives in the spade package.

import shutil

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

STRATEGIES = ["none"] + list(config["strategies"])
# Networks with a fixed number of iterations run in the same time whatever their
# weights, so only their pruned model (strategy "none") is timed.
FIXED_ITERATION_ARCHS = {"du", "varnet"}


def gpu_slots():
    """GPUs a network job holds: 1 when it may run on a GPU (`cuda...`, or `auto` on a
    host with an NVIDIA driver), else 0. With the local profile's `gpu=1` limit no two
    such jobs share a card; cluster profiles set `gpu` per rule themselves."""
    device = config["device"]
    if device == "cpu" or (device == "auto" and shutil.which("nvidia-smi") is None):
        return 0
    return 1


wildcard_constraints:
    task="|".join(config["tasks"]),
    arch="|".join(config["archs"]),
    criterion="|".join(config["criteria"]),
    ratio="[0-9.]+",
    strategy="|".join(STRATEGIES),
    split="train|val|test",


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
        opts.update({k: config["finetune"][k] for k in ("selfsup", "ssdu", "ei")})
    return opts


def ratio_labels():
    return [str(r) for r in config["ratios"]]


def variants():
    """(criterion, ratio, strategy) of every pruned variant."""
    return [
        (c, r, s)
        for c in config["criteria"]
        for r in ratio_labels()
        for s in STRATEGIES
    ]


def model_path(task, arch, criterion, ratio, strategy):
    """The artifact of a variant; strategy "none" is the pruned model itself."""
    if strategy == "none":
        return f"results/pruned/{task}/{arch}/{criterion}-r{ratio}.pt"
    return f"results/finetuned/{task}/{arch}/{criterion}-r{ratio}/{strategy}.pt"


def finetune_inputs(wildcards):
    inputs = {
        "pruned": f"results/pruned/{wildcards.task}/{wildcards.arch}/{wildcards.criterion}-r{wildcards.ratio}.pt",
        "train": f"results/data/{wildcards.task}/train.h5",
        "val": f"results/data/{wildcards.task}/val.h5",
    }
    if wildcards.strategy == "school":
        inputs["teacher"] = f"results/models/{wildcards.task}/{wildcards.arch}/base.pt"
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
    """{label: artifact} of every variant timed side by side for task x arch."""
    timed = {"base": f"results/models/{task}/{arch}/base.pt"}
    for c, r, s in variants():
        if arch in FIXED_ITERATION_ARCHS and s != "none":
            continue
        timed[f"{c}-r{r}-{s}"] = model_path(task, arch, c, r, s)
    return timed


def metric_records():
    """What the summary reads: one record per evaluated variant."""
    records = []
    for task in config["tasks"]:
        records.append(
            dict(
                task=task,
                arch="classical",
                criterion="",
                ratio=0.0,
                strategy="classical",
                path=f"results/metrics/{task}/baseline.csv",
            )
        )
        for arch in [a for t, a in study() if t == task]:
            records.append(
                dict(
                    task=task,
                    arch=arch,
                    criterion="",
                    ratio=0.0,
                    strategy="unpruned",
                    path=f"results/metrics/{task}/{arch}/base.csv",
                )
            )
            for c, r, s in variants():
                records.append(
                    dict(
                        task=task,
                        arch=arch,
                        criterion=c,
                        ratio=r,
                        strategy=s,
                        path=f"results/metrics/{task}/{arch}/{c}-r{r}/{s}.csv",
                    )
                )
    return records


def example_inputs(wildcards):
    """Example reconstructions for the grid: baseline, unpruned, every strategy at the
    middle ratio of the first criterion, for each arch."""
    task = wildcards.task
    mid = ratio_labels()[len(config["ratios"]) // 2]
    crit = config["criteria"][0]
    inputs = {"classical": f"results/metrics/{task}/baseline.npz"}
    for arch in [a for t, a in study() if t == task]:
        inputs[f"{arch} unpruned"] = f"results/metrics/{task}/{arch}/base.npz"
        for s in STRATEGIES:
            inputs[f"{arch} r{mid} {s}"] = (
                f"results/metrics/{task}/{arch}/{crit}-r{mid}/{s}.npz"
            )
    return inputs


def all_outputs():
    return [
        "results/tables/summary.csv",
        "results/tables/summary.md",
        "results/figures/psnr_vs_ratio.png",
        "results/figures/speedup_vs_ratio.png",
        "results/figures/psnr_vs_latency.png",
    ] + [f"results/figures/examples_{task}.png" for task in config["tasks"]]
