rule train_unpruned:
    input:
        train=paths.split_file("train"),
        val=paths.split_file("val"),
    output:
        model=protect(paths.UNPRUNED_MODEL),
        history=paths.UNPRUNED_HISTORY,
    log:
        "logs/{run}train/{task}/{arch}.log",
    benchmark:
        "benchmarks/{run}train/{task}/{arch}.tsv"
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        device=config["device"],
        arch_cfg=get_network_config,
        opts=get_fit_options("train"),
        seed=get_seed,
        # Not an output, so a failed or interrupted run keeps it and a rerun resumes.
        state=paths.UNPRUNED_STATE,
    script:
        "../scripts/train_unpruned.py"


# The control of every pruning result: the pruned widths trained from random init with the
# unpruned network's recipe for the epochs of pruning's whole path (training + fine-tuning).
rule train_scratch:
    input:
        pruned=paths.PRUNED_MODEL,
        train=paths.split_file("train"),
        val=paths.split_file("val"),
    output:
        model=f"{paths.SCRATCH_MODEL}.pt",
        history=f"{paths.SCRATCH_MODEL}_history.csv",
    log:
        "logs/{run}scratch/{task}/{arch}/{key}.log",
    benchmark:
        "benchmarks/{run}scratch/{task}/{arch}/{key}.tsv"
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        device=config["device"],
        opts=get_scratch_options,
        seed=get_seed,
        state=f"{paths.SCRATCH_MODEL}.state.pt",
    script:
        "../scripts/train_scratch.py"


# The control beside every recipe (-long, -iter): the unpruned network trained on with the
# supervised loss for the epochs a recipe spends.
rule train_unpruned_long:
    input:
        model=paths.UNPRUNED_MODEL,
        train=paths.split_file("train"),
        val=paths.split_file("val"),
    output:
        model=f"{paths.UNPRUNED_LONG_MODEL}.pt",
        history=f"{paths.UNPRUNED_LONG_MODEL}_history.csv",
    log:
        "logs/{run}train/{task}/{arch}_unpruned_long.log",
    benchmark:
        "benchmarks/{run}train/{task}/{arch}_unpruned_long.tsv"
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["finetune"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        device=config["device"],
        opts=get_unpruned_long_options,
        seed=get_seed,
        state=f"{paths.UNPRUNED_LONG_MODEL}.state.pt",
    script:
        "../scripts/train_unpruned_long.py"
