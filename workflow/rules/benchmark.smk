rule benchmark:
    input:
        models=lambda wildcards: list(
            benchmark_variants(wildcards.task, wildcards.arch).values()
        ),
        test="results/data/{task}/test.h5",
    output:
        table="results/bench/{task}/{arch}.csv",
        info="results/bench/{task}/{arch}.json",
    log:
        "logs/bench/{task}/{arch}.log",
    conda:
        "../envs/spade.yaml"
    # Every core: no other job may run beside a timing job.
    threads: workflow.cores
    resources:
        speed_benchmark=1,
    params:
        variants=lambda wildcards: benchmark_variants(wildcards.task, wildcards.arch),
        opts=config["benchmark"],
        device=config["device"],
    script:
        "../scripts/benchmark.py"
