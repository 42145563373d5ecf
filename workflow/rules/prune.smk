# Prune the unpruned network at a ratio of the grid: {key} is "<criterion>-r<ratio>".
rule prune:
    input:
        # round_to: auto reads the latency table (rule latency_table)
        unpack(get_latency_input),
        model=paths.UNPRUNED_MODEL,
        # measurements only: the example input, and the taylor criterion's label-free loss
        data=paths.split_file("unlabelled"),
    output:
        model=paths.PRUNED_MODEL,
    log:
        "logs/{run}prune/{task}/{arch}/{key}.log",
    benchmark:
        "benchmarks/{run}prune/{task}/{arch}/{key}.tsv"
    wildcard_constraints:
        key=f"({CRITERION})-r[0-9.]+",
    conda:
        "../envs/spade.yaml"
    params:
        variant=variant,
        seed=get_seed,
        round_to=config.get("round_to"),
        taylor_images=config["taylor_images"],
        runtime=width_runtime(),
    script:
        "../scripts/prune.py"


# Prune to a speed target (config `target_speedups`): {key} is "<criterion>-x<speedup>", the
# smallest ratio of the search grid whose measured speedup reaches it; its model records
# the ratio found. Timed like the benchmark: the whole machine.
rule prune_to_speed:
    input:
        unpack(get_latency_input),
        model=paths.UNPRUNED_MODEL,
        data=paths.split_file("unlabelled"),
    output:
        model=paths.PRUNED_MODEL,
        search=paths.TARGET_SEARCH,
    log:
        "logs/{run}prune/{task}/{arch}/{key}.log",
    wildcard_constraints:
        key=f"({CRITERION})-x[0-9.]+",
    conda:
        "../envs/spade.yaml"
    threads: 1024
    resources:
        speed_benchmark=1,
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        variant=variant,
        opts=config["target_search"],
        seed=get_seed,
        device=config["device"],
        round_to=config.get("round_to"),
        taylor_images=config["taylor_images"],
        # SR: timed at the benchmark's input size
        crop=config["benchmark"]["crop"],
        # timed in the runtime the benchmark reports it in
        runtime=STUDY.deploy_runtime,
    script:
        "../scripts/prune_to_speed.py"


# round_to: auto: the latency of every pruned prior the width choice tries, measured
# once per task on the study's device, in the deploy runtime, with the whole machine (random weights: the choice
# depends on the architecture only); pruning jobs read it and time nothing.
rule latency_table:
    input:
        data=paths.split_file("unlabelled"),
    output:
        paths.LATENCY,
    log:
        "logs/latency/{task}.log",
    conda:
        "../envs/spade.yaml"
    threads: 1024
    resources:
        speed_benchmark=1,
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        specs=get_latency_specs,
        ratios=STUDY.latency_ratios(),
        seed=config["seed"],
        device=config["device"],
        runtime=STUDY.deploy_runtime,
    script:
        "../scripts/latency_table.py"
