rule finetune:
    input:
        unpack(finetune_inputs),
    output:
        model="results/finetuned/{task}/{arch}/{criterion}-r{ratio}/{strategy}.pt",
        history="results/finetuned/{task}/{arch}/{criterion}-r{ratio}/{strategy}_history.csv",
    wildcard_constraints:
        strategy="supervised|school|selfsup",
    params:
        opts=lambda wildcards: {
            **config["finetune"][wildcards.task],
            **{k: config["finetune"][k] for k in ("selfsup", "ssdu", "ei")},
        },
        seed=config["seed"],
        state="results/finetuned/{task}/{arch}/{criterion}-r{ratio}/{strategy}.state.pt",
    threads: config["threads"]["finetune"]
    log:
        "logs/finetune/{task}/{arch}/{criterion}-r{ratio}/{strategy}.log",
    script:
        "../scripts/finetune.py"
