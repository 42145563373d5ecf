rule prune:
    input:
        model="results/models/{task}/{arch}/unpruned.pt",
        # measurements only: the example input, and the taylor criterion's label-free loss
        data="results/data/{task}/unlabelled.h5",
    output:
        model="results/pruned/{task}/{arch}/{criterion}-r{ratio}.pt",
    log:
        "logs/prune/{task}/{arch}/{criterion}-r{ratio}.log",
    benchmark:
        "benchmarks/prune/{task}/{arch}/{criterion}-r{ratio}.tsv"
    wildcard_constraints:
        ratio="[0-9.]+",
    conda:
        "../envs/spade.yaml"
    params:
        ratio=lambda wildcards: float(wildcards.ratio),
        seed=config["seed"],
        round_to=config.get("round_to"),
        taylor_images=config.get("taylor_images", 8),
    script:
        "../scripts/prune.py"


# Prune to a speed target (config `target_speedups`): the smallest ratio of the search grid
# whose measured speedup reaches it; its path stands "x2.0" for the ratio, its model
# records the ratio found. Timed like the benchmark: the whole machine.
rule prune_to_speed:
    input:
        model="results/models/{task}/{arch}/unpruned.pt",
        data="results/data/{task}/unlabelled.h5",
    output:
        model="results/pruned/{task}/{arch}/{criterion}-rx{speedup}.pt",
        search="results/target/{task}/{arch}/{criterion}-x{speedup}.json",
    log:
        "logs/prune/{task}/{arch}/{criterion}-rx{speedup}.log",
    wildcard_constraints:
        speedup="[0-9.]+",
    conda:
        "../envs/spade.yaml"
    threads: 1024
    resources:
        speed_benchmark=1,
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        target=lambda wildcards: float(wildcards.speedup),
        opts=config["target_search"],
        seed=config["seed"],
        device=config["device"],
        round_to=config.get("round_to"),
        taylor_images=config["taylor_images"],
        # SR: timed at the benchmark's input size
        crop=config["benchmark"]["crop"],
    script:
        "../scripts/prune_to_speed.py"
