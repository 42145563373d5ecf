rule finetune:
    input:
        unpack(finetune_inputs),
    output:
        model="results/finetuned/{task}/{arch}/{criterion}-r{ratio}/{strategy}.pt",
        history="results/finetuned/{task}/{arch}/{criterion}-r{ratio}/{strategy}_history.csv",
    log:
        "logs/finetune/{task}/{arch}/{criterion}-r{ratio}/{strategy}.log",
    benchmark:
        "benchmarks/finetune/{task}/{arch}/{criterion}-r{ratio}/{strategy}.tsv"
    wildcard_constraints:
        strategy="|".join(config["strategies"]),
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["finetune"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        device=config["device"],
        opts=lambda wildcards: fit_options("finetune", wildcards),
        seed=config["seed"],
        taylor_images=config["taylor_images"],
        state="results/finetuned/{task}/{arch}/{criterion}-r{ratio}/{strategy}.state.pt",
    script:
        "../scripts/finetune.py"
