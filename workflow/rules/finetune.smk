rule finetune:
    input:
        unpack(get_finetune_inputs),
    output:
        model=f"{paths.FINETUNED}.pt",
        history=f"{paths.FINETUNED}_history.csv",
    log:
        "logs/{run}finetune/{task}/{arch}/{key}/{strategy}.log",
    benchmark:
        "benchmarks/{run}finetune/{task}/{arch}/{key}/{strategy}.tsv"
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
        opts=get_fit_options("finetune"),
        seed=get_seed,
        taylor_images=config["taylor_images"],
        state=f"{paths.FINETUNED}.state.pt",
    script:
        "../scripts/finetune.py"
