rule train_unpruned:
    input:
        train="results/data/{task}/train.h5",
        val="results/data/{task}/val.h5",
    output:
        model=protect("results/models/{task}/{arch}/unpruned.pt"),
        history="results/models/{task}/{arch}/unpruned_history.csv",
    log:
        "logs/train/{task}/{arch}.log",
    benchmark:
        "benchmarks/train/{task}/{arch}.tsv"
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        device=config["device"],
        arch_cfg=network_config,
        opts=lambda wildcards: fit_options("train", wildcards),
        seed=config["seed"],
        # Not an output, so a failed or interrupted run keeps it and a rerun resumes.
        state="results/models/{task}/{arch}/unpruned.state.pt",
    script:
        "../scripts/train_unpruned.py"


# The control of every pruning result: the pruned widths trained from random init with
# the unpruned network's own supervised budget.
rule train_scratch:
    input:
        pruned="results/pruned/{task}/{arch}/{criterion}-r{ratio}.pt",
        train="results/data/{task}/train.h5",
        val="results/data/{task}/val.h5",
    output:
        model="results/scratch/{task}/{arch}/{criterion}-r{ratio}.pt",
        history="results/scratch/{task}/{arch}/{criterion}-r{ratio}_history.csv",
    log:
        "logs/scratch/{task}/{arch}/{criterion}-r{ratio}.log",
    benchmark:
        "benchmarks/scratch/{task}/{arch}/{criterion}-r{ratio}.tsv"
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        device=config["device"],
        opts=lambda wildcards: fit_options("train", wildcards),
        seed=config["seed"],
        state="results/scratch/{task}/{arch}/{criterion}-r{ratio}.state.pt",
    script:
        "../scripts/train_scratch.py"
