# The equal-latency comparison (config `equal_latency`): every way of buying speed of a task
# x arch (pruned, scratch, distilled, fewer steps, a DEQ's solver options, INT8) scored on
# the test split and timed in the deploy runtime side by side; the Pareto front marked.


rule fewer_steps_fit:
    input:
        unpruned=lambda wildcards: STUDY.unpruned_path(wildcards.task, wildcards.arch),
        train=paths.split_file("train"),
        val=paths.split_file("val"),
    output:
        model=f"{paths.FEWER_STEPS}.pt",
        history=f"{paths.FEWER_STEPS}_history.csv",
    log:
        "logs/fewer_steps/{task}/{arch}/steps{steps}.log",
    benchmark:
        "benchmarks/fewer_steps/{task}/{arch}/steps{steps}.tsv"
    conda:
        "../envs/spade.yaml"
    threads: config["threads"]["finetune"]
    resources:
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        device=config["device"],
        # the pruned networks' supervised fine-tuning budget: equal compute
        opts=get_fit_options("finetune"),
        seed=config["seed"],
        state=f"{paths.FEWER_STEPS}.state.pt",
    script:
        "../scripts/fewer_steps.py"


rule equal_latency:
    input:
        models=lambda wildcards: [
            m["path"]
            for m in STUDY.equal_latency_models(wildcards.task, wildcards.arch)
        ],
        train=paths.split_file("train"),
        val=paths.split_file("val"),
        test=paths.split_file("test"),
    output:
        csv=f"{paths.EQUAL_LATENCY}.csv",
        scores=f"{paths.EQUAL_LATENCY}_scores.csv",
    log:
        "logs/equal_latency/{task}/{arch}.log",
    benchmark:
        "benchmarks/equal_latency/{task}/{arch}.tsv"
    conda:
        "../envs/spade.yaml"
    # a timing job: the whole machine, no other job beside it (as rule benchmark)
    threads: 1024
    resources:
        speed_benchmark=1,
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        models=lambda wildcards: STUDY.equal_latency_models(
            wildcards.task, wildcards.arch
        ),
        settings=speed_settings(config.get("equal_latency")),
        bench=config["benchmark"],
        seed=config["seed"],
        device=config["device"],
        convention=get_convention,
    script:
        "../scripts/equal_latency.py"


rule equal_latency_table:
    input:
        tables=STUDY.equal_latency_tables(),
        scores=STUDY.equal_latency_tables("_scores.csv"),
    output:
        csv=report(
            "results/tables/equal_latency.csv",
            caption="../report/equal_latency.rst",
            category="Tables",
        ),
        md="results/tables/equal_latency.md",
        figure=report(
            "results/figures/equal_latency.png",
            caption="../report/equal_latency.rst",
            category="Figures",
        ),
    log:
        "logs/equal_latency/table.log",
    conda:
        "../envs/spade.yaml"
    params:
        targets=speed_settings(config.get("equal_latency"))["targets"],
        seed=config["seed"],
    script:
        "../scripts/equal_latency_table.py"
