rule prune:
    input:
        model="results/models/{task}/{arch}/unpruned.pt",
        data="results/data/{task}/train.h5",
    output:
        model="results/pruned/{task}/{arch}/{criterion}-r{ratio}.pt",
    log:
        "logs/prune/{task}/{arch}/{criterion}-r{ratio}.log",
    benchmark:
        "benchmarks/prune/{task}/{arch}/{criterion}-r{ratio}.tsv"
    conda:
        "../envs/spade.yaml"
    params:
        ratio=lambda wildcards: float(wildcards.ratio),
        seed=config["seed"],
        round_to=config.get("round_to"),
    script:
        "../scripts/prune.py"
