rule benchmark:
    input:
        models=lambda wildcards: sorted(
            {v["path"] for v in benchmark_variants(wildcards.task, wildcards.arch)}
        ),
        test="results/data/{task}/test.h5",
    output:
        table="results/bench/{task}/{arch}.csv",
        info="results/bench/{task}/{arch}.json",
    log:
        "logs/bench/{task}/{arch}.log",
    conda:
        "../envs/spade.yaml"
    # Snakemake caps threads at --cores: the timing job takes the whole machine, so no
    # other job runs beside it (cluster profiles set their own count with set-threads).
    threads: 1024
    resources:
        speed_benchmark=1,
        gpu=gpu_count,
        gres=gpu_gres,
    params:
        variants=lambda wildcards: benchmark_variants(wildcards.task, wildcards.arch),
        opts=config["benchmark"],
        device=config["device"],
    script:
        "../scripts/benchmark.py"
