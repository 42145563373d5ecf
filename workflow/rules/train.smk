rule train_base:
    input:
        train="results/data/{task}/train.h5",
        val="results/data/{task}/val.h5",
    output:
        model="results/models/{task}/{arch}/base.pt",
        history="results/models/{task}/{arch}/base_history.csv",
    log:
        "logs/train/{task}/{arch}.log",
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=gpu_slots(),
    params:
        device=config["device"],
        arch_cfg=network_config,
        opts=lambda wildcards: fit_options("train", wildcards),
        seed=config["seed"],
        # Not an output, so a failed or interrupted run keeps it and a rerun resumes.
        state="results/models/{task}/{arch}/base.state.pt",
    script:
        "../scripts/train_base.py"
